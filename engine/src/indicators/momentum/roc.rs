use crate::indicators::{Indicator, ParamError, check};
use std::collections::VecDeque;

/// Rate of change in percent (TA-Lib `ROC`): `(x / x[-n] - 1) * 100`, 0 when
/// `x[-n]` is 0. Lookback `period`.
#[derive(Debug, Clone)]
pub struct Roc {
    period: usize,
    window: VecDeque<f64>,
}

impl Roc {
    pub fn new(period: usize) -> Result<Self, ParamError> {
        let period = check("ROC", "period", period, 1)?;
        Ok(Roc {
            period,
            window: VecDeque::with_capacity(period + 1),
        })
    }
}

impl Indicator for Roc {
    type Input = f64;
    type Output = f64;

    fn update(&mut self, x: f64) -> Option<f64> {
        self.window.push_back(x);
        if self.window.len() <= self.period {
            return None;
        }
        let old = self.window.pop_front()?;
        Some(if old != 0.0 {
            (x / old - 1.0) * 100.0
        } else {
            0.0
        })
    }

    fn reset(&mut self) {
        self.window.clear();
    }

    fn lookback(&self) -> usize {
        self.period
    }
}
