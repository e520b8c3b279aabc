use crate::indicators::{Indicator, ParamError, Sma, check};
use std::collections::VecDeque;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BbandsValue {
    pub upper: f64,
    pub middle: f64,
    pub lower: f64,
}

/// Bollinger bands on an SMA (TA-Lib `BBANDS`, SMA type). The deviation is
/// TA-Lib's: population variance as `mean(x²) - mean²` from a running sum of
/// squares, and 0 when that is below 1e-8 (which matters for sub-cent
/// prices). Lookback `period - 1`.
#[derive(Debug, Clone)]
pub struct Bbands {
    period: usize,
    dev_up: f64,
    dev_down: f64,
    sma: Sma,
    squares: f64,
    window: VecDeque<f64>,
}

impl Bbands {
    pub fn new(period: usize, dev_up: f64, dev_down: f64) -> Result<Self, ParamError> {
        let period = check("BBANDS", "period", period, 2)?;
        Ok(Bbands {
            period,
            dev_up,
            dev_down,
            sma: Sma::new(period)?,
            squares: 0.0,
            window: VecDeque::with_capacity(period + 1),
        })
    }
}

impl Indicator for Bbands {
    type Input = f64;
    type Output = BbandsValue;

    fn update(&mut self, x: f64) -> Option<BbandsValue> {
        let mid = self.sma.update(x);
        self.squares += x * x;
        self.window.push_back(x);
        let middle = mid?;
        let mut var = self.squares / self.period as f64;
        if let Some(old) = self.window.pop_front() {
            self.squares -= old * old;
        }
        var -= middle * middle;
        let sd = if var < 0.000_000_01 { 0.0 } else { var.sqrt() };
        let (up, down) = if self.dev_up == self.dev_down {
            (sd * self.dev_up, sd * self.dev_up)
        } else {
            (sd * self.dev_up, sd * self.dev_down)
        };
        Some(BbandsValue {
            upper: middle + up,
            middle,
            lower: middle - down,
        })
    }

    fn reset(&mut self) {
        self.sma.reset();
        self.squares = 0.0;
        self.window.clear();
    }

    fn lookback(&self) -> usize {
        self.period - 1
    }
}
