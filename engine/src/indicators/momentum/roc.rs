use crate::indicators::{Indicator, Lag, ParamError, check};

/// Rate of change in percent (TA-Lib `ROC`): `(x / x[-n] - 1) * 100`, 0 when
/// `x[-n]` is 0. Lookback `period`.
#[derive(Debug, Clone)]
pub struct Roc {
    period: usize,
    lag: Lag,
}

impl Roc {
    pub fn new(period: usize) -> Result<Self, ParamError> {
        let period = check("ROC", "period", period, 1)?;
        Ok(Roc {
            period,
            lag: Lag::new(period),
        })
    }
}

impl Indicator for Roc {
    type Input = f64;
    type Output = f64;

    fn update(&mut self, x: f64) -> Option<f64> {
        let old = self.lag.push(x)?;
        Some(if old != 0.0 {
            (x / old - 1.0) * 100.0
        } else {
            0.0
        })
    }

    fn reset(&mut self) {
        self.lag.reset();
    }

    fn lookback(&self) -> usize {
        self.period
    }
}
