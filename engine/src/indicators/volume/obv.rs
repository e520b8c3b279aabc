use crate::indicators::Indicator;

/// On-balance volume (TA-Lib `OBV`): starts at the first bar's volume, then
/// adds the volume on up closes and subtracts it on down closes. Lookback 0.
#[derive(Debug, Clone, Default)]
pub struct Obv {
    started: bool,
    prev_close: f64,
    value: f64,
}

impl Obv {
    pub fn new() -> Self {
        Obv::default()
    }
}

impl Indicator for Obv {
    /// (close, volume)
    type Input = (f64, f64);
    type Output = f64;

    fn update(&mut self, (close, volume): (f64, f64)) -> Option<f64> {
        if !self.started {
            self.started = true;
            self.value = volume;
        } else if close > self.prev_close {
            self.value += volume;
        } else if close < self.prev_close {
            self.value -= volume;
        }
        self.prev_close = close;
        Some(self.value)
    }

    fn reset(&mut self) {
        *self = Obv::default();
    }

    fn lookback(&self) -> usize {
        0
    }
}
