use crate::indicators::{Hlc, Indicator, ParamError, RollingExtreme, Sma, check};

/// Slow %K and %D.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StochValue {
    pub k: f64,
    pub d: f64,
}

/// Stochastic oscillator (TA-Lib `STOCH` with SMA smoothing): fast %K over
/// `k_period`, slow %K = SMA(fast %K, `slow_k`), %D = SMA(slow %K, `slow_d`).
/// Lookback `k_period + slow_k + slow_d - 3`.
#[derive(Debug, Clone)]
pub struct Stoch {
    k_period: usize,
    hi: RollingExtreme,
    lo: RollingExtreme,
    seen: usize,
    slow_k: Sma,
    slow_d: Sma,
}

impl Stoch {
    pub fn new(k_period: usize, slow_k: usize, slow_d: usize) -> Result<Self, ParamError> {
        let k_period = check("STOCH", "fastk period", k_period, 1)?;
        Ok(Stoch {
            k_period,
            hi: RollingExtreme::new(k_period, true),
            lo: RollingExtreme::new(k_period, false),
            seen: 0,
            slow_k: Sma::new(check("STOCH", "slowk period", slow_k, 1)?)?,
            slow_d: Sma::new(check("STOCH", "slowd period", slow_d, 1)?)?,
        })
    }
}

impl Indicator for Stoch {
    type Input = Hlc;
    type Output = StochValue;

    fn update(&mut self, bar: Hlc) -> Option<StochValue> {
        self.seen += 1;
        let (highest, lowest) = (self.hi.push(bar.high), self.lo.push(bar.low));
        if self.seen < self.k_period {
            return None;
        }
        let diff = (highest - lowest) / 100.0;
        let fast_k = if diff != 0.0 {
            (bar.close - lowest) / diff
        } else {
            0.0
        };
        let k = self.slow_k.update(fast_k)?;
        let d = self.slow_d.update(k)?;
        Some(StochValue { k, d })
    }

    fn reset(&mut self) {
        self.hi.reset();
        self.lo.reset();
        self.seen = 0;
        self.slow_k.reset();
        self.slow_d.reset();
    }

    fn lookback(&self) -> usize {
        self.k_period - 1 + self.slow_k.lookback() + self.slow_d.lookback()
    }
}
