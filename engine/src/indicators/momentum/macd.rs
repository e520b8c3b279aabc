use crate::indicators::{Ema, Indicator, ParamError, check};

/// MACD line, signal line and histogram.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MacdValue {
    pub macd: f64,
    pub signal: f64,
    pub hist: f64,
}

/// MACD (TA-Lib `MACD`). TA-Lib seeds both EMAs at the slow EMA's first
/// value: the slow one with the average of the first `slow` closes, the fast
/// one with the average of the `fast` closes ending there (not the first
/// `fast` closes). The signal EMA is seeded from the first `signal` MACD
/// values. Lookback `slow + signal - 2`.
#[derive(Debug, Clone)]
pub struct Macd {
    fast: usize,
    slow: usize,
    signal_period: usize,
    warm: Vec<f64>,
    fast_ema: Option<Ema>,
    slow_ema: Option<Ema>,
    signal: Ema,
}

impl Macd {
    pub fn new(fast: usize, slow: usize, signal: usize) -> Result<Self, ParamError> {
        let (mut fast, mut slow) = (
            check("MACD", "fast period", fast, 2)?,
            check("MACD", "slow period", slow, 2)?,
        );
        if slow < fast {
            std::mem::swap(&mut fast, &mut slow);
        }
        let signal_period = check("MACD", "signal period", signal, 1)?;
        Ok(Macd {
            fast,
            slow,
            signal_period,
            warm: Vec::with_capacity(slow),
            fast_ema: None,
            slow_ema: None,
            signal: Ema::new(signal_period)?,
        })
    }
}

impl Indicator for Macd {
    type Input = f64;
    type Output = MacdValue;

    fn update(&mut self, x: f64) -> Option<MacdValue> {
        let line = match (&mut self.fast_ema, &mut self.slow_ema) {
            (Some(f), Some(s)) => f.update(x)? - s.update(x)?,
            _ => {
                self.warm.push(x);
                if self.warm.len() < self.slow {
                    return None;
                }
                let mean = |xs: &[f64]| xs.iter().fold(0.0, |a, b| a + b) / xs.len() as f64;
                let slow_seed = mean(&self.warm);
                let fast_seed = mean(&self.warm[self.slow - self.fast..]);
                self.fast_ema = Some(Ema::seeded(self.fast, fast_seed));
                self.slow_ema = Some(Ema::seeded(self.slow, slow_seed));
                fast_seed - slow_seed
            }
        };
        let signal = self.signal.update(line)?;
        Some(MacdValue {
            macd: line,
            signal,
            hist: line - signal,
        })
    }

    fn reset(&mut self) {
        self.warm.clear();
        self.fast_ema = None;
        self.slow_ema = None;
        self.signal.reset();
    }

    fn lookback(&self) -> usize {
        self.slow + self.signal_period - 2
    }
}
