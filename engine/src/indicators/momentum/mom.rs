use crate::indicators::{Indicator, ParamError, check};
use std::collections::VecDeque;

/// Momentum (TA-Lib `MOM`): `x - x[-n]`. Lookback `period`.
#[derive(Debug, Clone)]
pub struct Mom {
    period: usize,
    window: VecDeque<f64>,
}

impl Mom {
    pub fn new(period: usize) -> Result<Self, ParamError> {
        let period = check("MOM", "period", period, 1)?;
        Ok(Mom {
            period,
            window: VecDeque::with_capacity(period + 1),
        })
    }
}

impl Indicator for Mom {
    type Input = f64;
    type Output = f64;

    fn update(&mut self, x: f64) -> Option<f64> {
        self.window.push_back(x);
        if self.window.len() <= self.period {
            return None;
        }
        Some(x - self.window.pop_front()?)
    }

    fn reset(&mut self) {
        self.window.clear();
    }

    fn lookback(&self) -> usize {
        self.period
    }
}
