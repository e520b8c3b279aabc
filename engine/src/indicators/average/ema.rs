use crate::indicators::{Indicator, ParamError, check};

/// Exponential moving average (TA-Lib `EMA`, default compatibility): seeded
/// with the simple average of the first `period` values, then
/// `ema += (x - ema) * 2 / (period + 1)`. Lookback `period - 1`.
#[derive(Debug, Clone)]
pub struct Ema {
    period: usize,
    k: f64,
    seen: usize,
    seed_sum: f64,
    value: f64,
}

impl Ema {
    pub fn new(period: usize) -> Result<Self, ParamError> {
        let period = check("EMA", "period", period, 1)?;
        Ok(Ema {
            period,
            k: 2.0 / (period as f64 + 1.0),
            seen: 0,
            seed_sum: 0.0,
            value: 0.0,
        })
    }

    /// Starts from a given seed, as TA-Lib's MACD seeds its EMAs.
    pub(crate) fn seeded(period: usize, seed: f64) -> Self {
        Ema {
            period,
            k: 2.0 / (period as f64 + 1.0),
            seen: period,
            seed_sum: 0.0,
            value: seed,
        }
    }

    pub fn period(&self) -> usize {
        self.period
    }
}

impl Indicator for Ema {
    type Input = f64;
    type Output = f64;

    fn update(&mut self, x: f64) -> Option<f64> {
        self.seen += 1;
        if self.seen < self.period {
            self.seed_sum += x;
            return None;
        }
        if self.seen == self.period {
            self.seed_sum += x;
            self.value = self.seed_sum / self.period as f64;
        } else {
            self.value += (x - self.value) * self.k;
        }
        Some(self.value)
    }

    fn reset(&mut self) {
        self.seen = 0;
        self.seed_sum = 0.0;
        self.value = 0.0;
    }

    fn lookback(&self) -> usize {
        self.period - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::batch;

    #[test]
    fn seeds_with_the_simple_average() {
        let out = batch(&mut Ema::new(3).unwrap(), [1.0, 2.0, 3.0, 5.0]);
        assert_eq!(out, vec![None, None, Some(2.0), Some(3.5)]);
    }
}
