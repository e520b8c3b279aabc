use crate::indicators::{Hlc, Indicator, ParamError, RollingExtreme, check};

/// Williams %R (TA-Lib `WILLR`), from -100 to 0. Lookback `period - 1`.
#[derive(Debug, Clone)]
pub struct Willr {
    period: usize,
    seen: usize,
    hi: RollingExtreme,
    lo: RollingExtreme,
}

impl Willr {
    pub fn new(period: usize) -> Result<Self, ParamError> {
        let period = check("WILLR", "period", period, 2)?;
        Ok(Willr {
            period,
            seen: 0,
            hi: RollingExtreme::new(period, true),
            lo: RollingExtreme::new(period, false),
        })
    }
}

impl Indicator for Willr {
    type Input = Hlc;
    type Output = f64;

    fn update(&mut self, bar: Hlc) -> Option<f64> {
        self.seen += 1;
        let (highest, lowest) = (self.hi.push(bar.high), self.lo.push(bar.low));
        if self.seen < self.period {
            return None;
        }
        let diff = (highest - lowest) * -0.01;
        Some(if diff != 0.0 {
            (highest - bar.close) / diff
        } else {
            0.0
        })
    }

    fn reset(&mut self) {
        self.seen = 0;
        self.hi.reset();
        self.lo.reset();
    }

    fn lookback(&self) -> usize {
        self.period - 1
    }
}
