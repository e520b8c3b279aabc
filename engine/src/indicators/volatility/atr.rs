use crate::indicators::Hlc;
use crate::indicators::{Indicator, ParamError, check, true_range};

/// Average true range, Wilder's smoothing (TA-Lib `ATR`): the first value is
/// the simple average of the first `period` true ranges (which start at the
/// second bar). Lookback `period`.
#[derive(Debug, Clone)]
pub struct Atr {
    period: usize,
    seen: usize,
    prev_close: f64,
    value: f64,
}

impl Atr {
    pub fn new(period: usize) -> Result<Self, ParamError> {
        Ok(Atr {
            period: check("ATR", "period", period, 2)?,
            seen: 0,
            prev_close: 0.0,
            value: 0.0,
        })
    }
}

impl Indicator for Atr {
    type Input = Hlc;
    type Output = f64;

    fn update(&mut self, bar: Hlc) -> Option<f64> {
        self.seen += 1;
        let prev = std::mem::replace(&mut self.prev_close, bar.close);
        if self.seen == 1 {
            return None;
        }
        let tr = true_range(bar.high, bar.low, prev);
        let n = self.period as f64;
        if self.seen <= self.period + 1 {
            self.value += tr;
            if self.seen <= self.period {
                return None;
            }
            self.value /= n;
            return Some(self.value);
        }
        self.value *= n - 1.0;
        self.value += tr;
        self.value /= n;
        Some(self.value)
    }

    fn reset(&mut self) {
        self.seen = 0;
        self.prev_close = 0.0;
        self.value = 0.0;
    }

    fn lookback(&self) -> usize {
        self.period
    }
}
