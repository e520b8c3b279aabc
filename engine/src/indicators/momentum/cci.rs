use crate::indicators::{Hlc, Indicator, ParamError, check};

/// Commodity channel index (TA-Lib `CCI`) on the typical price
/// `(h + l + c) / 3`. Sums run over TA-Lib's circular buffer in its physical
/// order so rounding matches; O(period) per bar, as in TA-Lib.
/// Lookback `period - 1`.
#[derive(Debug, Clone)]
pub struct Cci {
    period: usize,
    seen: usize,
    buf: Vec<f64>,
}

impl Cci {
    pub fn new(period: usize) -> Result<Self, ParamError> {
        let period = check("CCI", "period", period, 2)?;
        Ok(Cci {
            period,
            seen: 0,
            buf: vec![0.0; period],
        })
    }
}

impl Indicator for Cci {
    type Input = Hlc;
    type Output = f64;

    fn update(&mut self, bar: Hlc) -> Option<f64> {
        let tp = (bar.high + bar.low + bar.close) / 3.0;
        self.buf[self.seen % self.period] = tp;
        self.seen += 1;
        if self.seen < self.period {
            return None;
        }
        let n = self.period as f64;
        let avg = self.buf.iter().fold(0.0, |a, b| a + b) / n;
        let dev = self.buf.iter().fold(0.0, |a, b| a + (b - avg).abs());
        let diff = tp - avg;
        Some(if diff != 0.0 && dev != 0.0 {
            diff / (0.015 * (dev / n))
        } else {
            0.0
        })
    }

    fn reset(&mut self) {
        self.seen = 0;
        self.buf.iter_mut().for_each(|x| *x = 0.0);
    }

    fn lookback(&self) -> usize {
        self.period - 1
    }
}
