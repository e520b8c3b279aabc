//! Technical indicators, equal to TA-Lib's C implementation (within 1e-9
//! relative, proven against golden files in `engine/tests/golden/`).
//!
//! Every indicator is streaming: [`Indicator::update`] takes one bar in O(1)
//! (O(period) for CCI's mean deviation, as in TA-Lib) and returns `None`
//! during TA-Lib's lookback. [`batch`] runs the same code over a slice, so
//! batch and streaming agree bar for bar by construction.
//!
//! Written out rather than taken from the `ta` crate: TA-Lib's exact seeding
//! (EMA from an SMA, MACD's late fast seed, Wilder averages starting from a
//! simple mean) and its zero guards are what the golden files demand, and
//! are easier to guarantee here than to verify in a third-party crate.

pub mod average;
pub mod momentum;
pub mod table;
pub mod volatility;
pub mod volume;

pub use average::{ema::Ema, sma::Sma};
pub use momentum::{
    adx::Adx, cci::Cci, macd::Macd, mom::Mom, roc::Roc, rsi::Rsi, stoch::Stoch, willr::Willr,
};
pub use volatility::{atr::Atr, bbands::Bbands};
pub use volume::obv::Obv;

/// TA-Lib's test for "zero" in its divisions.
pub(crate) fn is_zero(v: f64) -> bool {
    -0.000_000_01 < v && v < 0.000_000_01
}

/// A streaming indicator.
pub trait Indicator {
    type Input: Copy;
    type Output: Copy;
    /// Feeds one bar; the value once past the lookback, else `None`.
    fn update(&mut self, input: Self::Input) -> Option<Self::Output>;
    /// Forgets everything, as if new.
    fn reset(&mut self);
    /// Bars consumed before the first value (TA-Lib's `*_Lookback`).
    fn lookback(&self) -> usize;
}

/// Runs `ind` over `inputs` from a fresh state: one output per input.
pub fn batch<I: Indicator>(
    ind: &mut I,
    inputs: impl IntoIterator<Item = I::Input>,
) -> Vec<Option<I::Output>> {
    ind.reset();
    inputs.into_iter().map(|x| ind.update(x)).collect()
}

/// A parameter outside its valid range, named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{indicator}: {parameter} must be at least {min}, got {value}")]
pub struct ParamError {
    pub indicator: &'static str,
    pub parameter: &'static str,
    pub min: usize,
    pub value: usize,
}

pub(crate) fn check(
    indicator: &'static str,
    parameter: &'static str,
    value: usize,
    min: usize,
) -> Result<usize, ParamError> {
    if value >= min {
        Ok(value)
    } else {
        Err(ParamError {
            indicator,
            parameter,
            min,
            value,
        })
    }
}

/// High, low and close of a bar, for indicators that need the range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hlc {
    pub high: f64,
    pub low: f64,
    pub close: f64,
}

impl From<crate::Candle> for Hlc {
    fn from(c: crate::Candle) -> Self {
        Hlc {
            high: c.high,
            low: c.low,
            close: c.close,
        }
    }
}

/// TA-Lib's TRANGE of a bar given the previous close.
pub(crate) fn true_range(high: f64, low: f64, prev_close: f64) -> f64 {
    let mut greatest = high - low;
    let v2 = (prev_close - high).abs();
    if v2 > greatest {
        greatest = v2;
    }
    let v3 = (prev_close - low).abs();
    if v3 > greatest {
        greatest = v3;
    }
    greatest
}

/// The value `n` bars back: `push` returns it once `n + 1` values were seen.
#[derive(Debug, Clone)]
pub(crate) struct Lag {
    n: usize,
    window: std::collections::VecDeque<f64>,
}

impl Lag {
    pub(crate) fn new(n: usize) -> Self {
        Lag {
            n,
            window: std::collections::VecDeque::with_capacity(n + 1),
        }
    }

    pub(crate) fn push(&mut self, x: f64) -> Option<f64> {
        self.window.push_back(x);
        if self.window.len() <= self.n {
            None
        } else {
            self.window.pop_front()
        }
    }

    pub(crate) fn reset(&mut self) {
        self.window.clear();
    }
}

/// Rolling maximum or minimum over the last `n` values, as TA-Lib tracks
/// it: keep the extreme and its index; rescan the window only when the
/// extreme leaves it. Amortised O(1) on market data, no allocation per bar.
#[derive(Debug, Clone)]
pub(crate) struct RollingExtreme {
    max: bool,
    seen: usize,
    ring: Vec<f64>,
    best: f64,
    best_at: usize,
}

impl RollingExtreme {
    pub(crate) fn new(n: usize, max: bool) -> Self {
        RollingExtreme {
            max,
            seen: 0,
            ring: vec![0.0; n.max(1)],
            best: 0.0,
            best_at: 0,
        }
    }

    #[inline]
    fn beats(&self, a: f64, b: f64) -> bool {
        if self.max { a > b } else { a < b }
    }

    #[inline]
    pub(crate) fn push(&mut self, v: f64) -> f64 {
        let i = self.seen;
        self.seen += 1;
        let n = self.ring.len();
        self.ring[i % n] = v;
        let first = i.saturating_sub(n - 1);
        if i == 0 || self.best_at < first {
            // The extreme left the window (or none yet): rescan, earliest wins ties.
            self.best_at = first;
            self.best = self.ring[first % n];
            for j in first + 1..=i {
                let x = self.ring[j % n];
                if self.beats(x, self.best) {
                    self.best = x;
                    self.best_at = j;
                }
            }
        } else if !self.beats(self.best, v) {
            self.best = v;
            self.best_at = i;
        }
        self.best
    }

    pub(crate) fn reset(&mut self) {
        self.seen = 0;
        self.best_at = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolling_extremes_match_brute_force() {
        let xs = [
            3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0, 5.0, 8.0, 9.0, 7.0, 9.0,
        ];
        for n in 1..6 {
            let (mut hi, mut lo) = (RollingExtreme::new(n, true), RollingExtreme::new(n, false));
            for (i, &x) in xs.iter().enumerate() {
                let w = &xs[i.saturating_sub(n - 1)..=i];
                assert_eq!(hi.push(x), w.iter().cloned().fold(f64::MIN, f64::max));
                assert_eq!(lo.push(x), w.iter().cloned().fold(f64::MAX, f64::min));
            }
        }
    }

    #[test]
    fn true_range_takes_gaps_into_account() {
        assert_eq!(true_range(10.0, 8.0, 9.0), 2.0);
        assert_eq!(true_range(10.0, 8.0, 12.0), 4.0);
        assert_eq!(true_range(10.0, 8.0, 5.0), 5.0);
    }
}
