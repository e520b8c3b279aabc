use crate::indicators::{Indicator, ParamError, check, is_zero};

/// Relative strength index, Wilder's smoothing (TA-Lib `RSI`). The first
/// average gain and loss are simple averages of the first `period` changes.
/// Lookback `period`.
#[derive(Debug, Clone)]
pub struct Rsi {
    period: usize,
    seen: usize,
    prev: f64,
    gain: f64,
    loss: f64,
}

impl Rsi {
    pub fn new(period: usize) -> Result<Self, ParamError> {
        Ok(Rsi {
            period: check("RSI", "period", period, 2)?,
            seen: 0,
            prev: 0.0,
            gain: 0.0,
            loss: 0.0,
        })
    }

    fn value(&self) -> f64 {
        let total = self.gain + self.loss;
        if is_zero(total) {
            0.0
        } else {
            100.0 * (self.gain / total)
        }
    }
}

impl Indicator for Rsi {
    type Input = f64;
    type Output = f64;

    fn update(&mut self, x: f64) -> Option<f64> {
        self.seen += 1;
        if self.seen == 1 {
            self.prev = x;
            return None;
        }
        let change = x - self.prev;
        self.prev = x;
        let n = self.period as f64;
        if self.seen <= self.period + 1 {
            if change < 0.0 {
                self.loss -= change;
            } else {
                self.gain += change;
            }
            if self.seen <= self.period {
                return None;
            }
            self.loss /= n;
            self.gain /= n;
            return Some(self.value());
        }
        self.loss *= n - 1.0;
        self.gain *= n - 1.0;
        if change < 0.0 {
            self.loss -= change;
        } else {
            self.gain += change;
        }
        self.loss /= n;
        self.gain /= n;
        Some(self.value())
    }

    fn reset(&mut self) {
        *self = Rsi {
            period: self.period,
            seen: 0,
            prev: 0.0,
            gain: 0.0,
            loss: 0.0,
        };
    }

    fn lookback(&self) -> usize {
        self.period
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::batch;

    #[test]
    fn edge_cases() {
        let flat = batch(&mut Rsi::new(2).unwrap(), [5.0; 5]);
        assert_eq!(
            flat,
            vec![None, None, Some(0.0), Some(0.0), Some(0.0)],
            "TA-Lib gives 0 when nothing moved"
        );
        let up = batch(&mut Rsi::new(2).unwrap(), [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(up[2..], [Some(100.0), Some(100.0)]);
        assert!(Rsi::new(1).is_err());
    }
}
