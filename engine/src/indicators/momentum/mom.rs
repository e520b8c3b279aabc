use crate::indicators::{Indicator, Lag, ParamError, check};

/// Momentum (TA-Lib `MOM`): `x - x[-n]`. Lookback `period`.
#[derive(Debug, Clone)]
pub struct Mom {
    period: usize,
    lag: Lag,
}

impl Mom {
    pub fn new(period: usize) -> Result<Self, ParamError> {
        let period = check("MOM", "period", period, 1)?;
        Ok(Mom {
            period,
            lag: Lag::new(period),
        })
    }
}

impl Indicator for Mom {
    type Input = f64;
    type Output = f64;

    fn update(&mut self, x: f64) -> Option<f64> {
        let old = self.lag.push(x)?;
        Some(x - old)
    }

    fn reset(&mut self) {
        self.lag.reset();
    }

    fn lookback(&self) -> usize {
        self.period
    }
}
