use crate::indicators::{Indicator, ParamError, check};

/// Simple moving average (TA-Lib `SMA`). Lookback `period - 1`.
///
/// Same arithmetic order as TA-Lib: add the new value, divide, then remove
/// the oldest, so the running sum drifts exactly as TA-Lib's does.
#[derive(Debug, Clone)]
pub struct Sma {
    period: usize,
    sum: f64,
    /// The last `period` values, written round-robin at `seen % period`.
    ring: Vec<f64>,
    seen: usize,
}

impl Sma {
    pub fn new(period: usize) -> Result<Self, ParamError> {
        let period = check("SMA", "period", period, 1)?;
        Ok(Sma {
            period,
            sum: 0.0,
            ring: vec![0.0; period],
            seen: 0,
        })
    }
}

impl Indicator for Sma {
    type Input = f64;
    type Output = f64;

    fn update(&mut self, x: f64) -> Option<f64> {
        self.sum += x;
        let slot = self.seen % self.period;
        self.ring[slot] = x;
        self.seen += 1;
        if self.seen < self.period {
            return None;
        }
        let out = self.sum / self.period as f64;
        // The oldest value in the window is the one after this slot.
        self.sum -= self.ring[(slot + 1) % self.period];
        Some(out)
    }

    fn reset(&mut self) {
        self.sum = 0.0;
        self.seen = 0;
        self.ring.iter_mut().for_each(|v| *v = 0.0);
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
    fn averages_and_warms_up() {
        let out = batch(
            &mut Sma::new(3).unwrap(),
            [1.0, 2.0, 3.0, 4.0, f64::NAN, 6.0, 7.0, 8.0, 9.0],
        );
        assert_eq!(&out[..4], &[None, None, Some(2.0), Some(3.0)]);
        assert!(
            out[4].unwrap().is_nan() && out[6].unwrap().is_nan(),
            "NaN poisons its window"
        );
        assert_eq!(
            batch(&mut Sma::new(1).unwrap(), [5.0, 6.0]),
            vec![Some(5.0), Some(6.0)]
        );
        assert!(Sma::new(0).unwrap_err().to_string().contains("period"));
    }
}
