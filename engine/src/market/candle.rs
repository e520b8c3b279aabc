use super::TimeMs;
use serde::{Deserialize, Serialize};

/// One OHLCV bar, keyed by its open time (UTC ms).
///
/// Prices and volume are `f64`: research math runs on them, and every price
/// an exchange publishes (≤ 15 significant digits) survives the round trip.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Candle {
    pub open_time: TimeMs,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

/// What is wrong with a bar's prices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum OhlcError {
    #[error("a price or the volume is not a finite number")]
    NotFinite,
    #[error("a price is zero or negative")]
    NonPositivePrice,
    #[error("volume is negative")]
    NegativeVolume,
    #[error("high is below low")]
    HighBelowLow,
    #[error("open or close lies outside [low, high]")]
    OutsideRange,
}

impl Candle {
    /// Values that cannot be stored at all (not finite, non-positive price,
    /// negative volume). Such a bar is rejected.
    pub fn validate_values(&self) -> Result<(), OhlcError> {
        let all = [self.open, self.high, self.low, self.close, self.volume];
        if all.iter().any(|v| !v.is_finite()) {
            return Err(OhlcError::NotFinite);
        }
        if [self.open, self.high, self.low, self.close]
            .iter()
            .any(|&p| p <= 0.0)
        {
            return Err(OhlcError::NonPositivePrice);
        }
        if self.volume < 0.0 {
            return Err(OhlcError::NegativeVolume);
        }
        Ok(())
    }

    /// An internal inconsistency that data vendors do publish (a close a hair
    /// above the high). Reported, stored as published.
    pub fn consistency(&self) -> Result<(), OhlcError> {
        if self.high < self.low {
            return Err(OhlcError::HighBelowLow);
        }
        let inside = |p: f64| p >= self.low && p <= self.high;
        if !inside(self.open) || !inside(self.close) {
            return Err(OhlcError::OutsideRange);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(o: f64, h: f64, l: f64, c: f64, v: f64) -> Candle {
        Candle {
            open_time: 0,
            open: o,
            high: h,
            low: l,
            close: c,
            volume: v,
        }
    }

    #[test]
    fn value_checks() {
        assert!(bar(1.0, 2.0, 0.5, 1.5, 0.0).validate_values().is_ok());
        assert_eq!(
            bar(f64::NAN, 2.0, 0.5, 1.5, 1.0).validate_values(),
            Err(OhlcError::NotFinite)
        );
        assert_eq!(
            bar(1.0, 2.0, 0.0, 1.5, 1.0).validate_values(),
            Err(OhlcError::NonPositivePrice)
        );
        assert_eq!(
            bar(1.0, 2.0, 0.5, 1.5, -1.0).validate_values(),
            Err(OhlcError::NegativeVolume)
        );
    }

    #[test]
    fn consistency_checks() {
        assert!(bar(1.0, 2.0, 0.5, 1.5, 1.0).consistency().is_ok());
        assert_eq!(
            bar(1.0, 0.4, 0.5, 0.45, 1.0).consistency(),
            Err(OhlcError::HighBelowLow)
        );
        assert_eq!(
            bar(1.0, 2.0, 0.5, 2.5, 1.0).consistency(),
            Err(OhlcError::OutsideRange)
        );
        assert_eq!(
            bar(0.4, 2.0, 0.5, 1.0, 1.0).consistency(),
            Err(OhlcError::OutsideRange)
        );
    }
}
