//! Higher-timeframe confirmation joined onto base bars without look-ahead.

use crate::indicators::{Indicator, Rsi, Sma};
use crate::{Candle, TimeMs, Timeframe};
use serde::{Deserialize, Serialize};

/// Trend and RSI of the last *closed* higher-timeframe bar.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HtfValue {
    /// Close against the SMA-20 of higher-timeframe closes, in percent.
    pub trend_pct: f64,
    /// RSI-14 of higher-timeframe closes.
    pub rsi: f64,
    /// When that higher bar closed (its open time + its duration).
    pub closed_at: TimeMs,
}

/// Builds higher-timeframe bars from base bars as they close and publishes a
/// higher bar's values only once it has closed: on the base bar that ends its
/// window, or, when that bar is missing, on the first bar of a later window.
#[derive(Debug, Clone)]
pub struct HtfJoin {
    base_ms: TimeMs,
    tf: Timeframe,
    window: Option<(TimeMs, f64)>,
    sma: Sma,
    rsi: Rsi,
    last: Option<HtfValue>,
}

impl HtfJoin {
    pub fn new(base: Timeframe, tf: Timeframe) -> Self {
        HtfJoin {
            base_ms: base.duration_ms(),
            tf,
            window: None,
            sma: Sma::new(20).expect("valid"),
            rsi: Rsi::new(14).expect("valid"),
            last: None,
        }
    }

    pub fn timeframe(&self) -> Timeframe {
        self.tf
    }

    /// Feeds a base bar that just closed; the latest closed higher bar's values.
    pub fn update(&mut self, c: &Candle) -> Option<HtfValue> {
        let start = self.tf.floor(c.open_time);
        if let Some((s, close)) = self.window
            && s != start
        {
            self.close_window(s, close);
        }
        self.window = Some((start, c.close));
        if c.open_time + self.base_ms >= start + self.tf.duration_ms() {
            self.close_window(start, c.close);
        }
        self.last
    }

    fn close_window(&mut self, start: TimeMs, close: f64) {
        self.window = None;
        let (sma, rsi) = (self.sma.update(close), self.rsi.update(close));
        if let (Some(sma), Some(rsi)) = (sma, rsi) {
            self.last = Some(HtfValue {
                trend_pct: (close / sma - 1.0) * 100.0,
                rsi,
                closed_at: start + self.tf.duration_ms(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::tests::wave;

    #[test]
    fn a_higher_bar_is_seen_only_from_the_base_bar_that_closes_it() {
        let c = wave(4 * 24 * 30, Timeframe::M15);
        let mut join = HtfJoin::new(Timeframe::M15, Timeframe::H1);
        let mut first = None;
        for bar in &c {
            if let Some(v) = join.update(bar) {
                // Known at this bar's close, so it closed no later than that.
                assert!(v.closed_at <= bar.open_time + Timeframe::M15.duration_ms());
                first.get_or_insert((bar.open_time, v));
            }
        }
        let (t, v) = first.unwrap();
        // RSI-14 needs 15 hourly closes and SMA-20 needs 20: the 20th hour's last 15m bar.
        assert_eq!(t, 20 * 3_600_000 - 900_000);
        let closes: Vec<f64> = (0..20).map(|h| c[h * 4 + 3].close).collect();
        let sma = closes.iter().sum::<f64>() / 20.0;
        assert!((v.trend_pct - (closes[19] / sma - 1.0) * 100.0).abs() < 1e-9);
    }

    #[test]
    fn a_window_missing_its_last_bar_closes_when_the_next_window_starts() {
        let mut c = wave(4 * 40, Timeframe::M15);
        c.retain(|b| (b.open_time / 900_000) % 4 != 3 || b.open_time > 30 * 3_600_000);
        let mut join = HtfJoin::new(Timeframe::M15, Timeframe::H1);
        for bar in &c {
            if let Some(v) = join.update(bar) {
                assert!(v.closed_at <= bar.open_time);
                return;
            }
        }
        panic!("no higher bar published");
    }
}
