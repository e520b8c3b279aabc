//! Walk-forward splits with purge and embargo (López de Prado, AFML ch. 7).
//!
//! Sample i's label is decided by bars i ..= i + label_horizon. A training
//! sample is *purged* when that window overlaps the span any test sample's
//! label reads (test.start ..= test.end − 1 + label_horizon), and
//! *embargoed* when it starts within `embargo` bars after the end of a test
//! window — serial correlation leaks across the boundary otherwise.

use serde::{Deserialize, Serialize};
use std::ops::Range;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Train on everything before the test window.
    Expanding,
    /// Train on a fixed number of bars before the test window.
    Rolling,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WalkForwardConfig {
    pub scheme: Scheme,
    pub folds: usize,
    /// Bars in each test window; 0 = split what follows the first training
    /// window evenly into `folds`.
    pub test_bars: usize,
    /// Bars of the first training window (and of every window when rolling).
    pub train_bars: usize,
    pub label_horizon: usize,
    /// Fraction of all bars embargoed after each test window.
    pub embargo_frac: f64,
}

impl Default for WalkForwardConfig {
    fn default() -> Self {
        WalkForwardConfig {
            scheme: Scheme::Expanding,
            folds: 5,
            test_bars: 0,
            train_bars: 0,
            label_horizon: 48,
            embargo_frac: 0.01,
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WalkForwardError {
    #[error("folds must be at least 1")]
    NoFolds,
    #[error("embargo_frac must be within [0, 0.5), got {0}")]
    Embargo(f64),
    #[error(
        "{bars} bars cannot hold {folds} test windows of {test_bars} bars after {train_bars} training bars"
    )]
    TooShort {
        bars: usize,
        folds: usize,
        test_bars: usize,
        train_bars: usize,
    },
}

/// One fold as index ranges into the sample array, half-open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fold {
    pub index: usize,
    /// Disjoint, increasing.
    pub train: Vec<Range<usize>>,
    pub test: Range<usize>,
    /// Training samples dropped because their labels overlap the test span.
    pub purged: usize,
    /// Training samples dropped by the embargo.
    pub embargoed: usize,
}

impl Fold {
    pub fn train_len(&self) -> usize {
        self.train.iter().map(|r| r.len()).sum()
    }

    pub fn train_indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.train.iter().flat_map(|r| r.clone())
    }
}

/// The folds for `bars` samples.
pub fn split(bars: usize, cfg: &WalkForwardConfig) -> Result<Vec<Fold>, WalkForwardError> {
    if cfg.folds == 0 {
        return Err(WalkForwardError::NoFolds);
    }
    if !(0.0..0.5).contains(&cfg.embargo_frac) {
        return Err(WalkForwardError::Embargo(cfg.embargo_frac));
    }
    let train0 = if cfg.train_bars > 0 {
        cfg.train_bars
    } else {
        bars / (cfg.folds + 1)
    };
    let test_bars = if cfg.test_bars > 0 {
        cfg.test_bars
    } else {
        bars.saturating_sub(train0) / cfg.folds
    };
    let too_short = WalkForwardError::TooShort {
        bars,
        folds: cfg.folds,
        test_bars,
        train_bars: train0,
    };
    if train0 == 0 || test_bars == 0 || train0 + cfg.folds * test_bars > bars {
        return Err(too_short);
    }
    let embargo = (bars as f64 * cfg.embargo_frac).ceil() as usize;
    let h = cfg.label_horizon;
    let tests: Vec<Range<usize>> = (0..cfg.folds)
        .map(|k| {
            let s = train0 + k * test_bars;
            s..s + test_bars
        })
        .collect();
    let folds = tests
        .iter()
        .enumerate()
        .map(|(k, test)| {
            let start = match cfg.scheme {
                Scheme::Expanding => 0,
                Scheme::Rolling => test.start.saturating_sub(train0),
            };
            let (mut train, mut purged, mut embargoed) = (Vec::<Range<usize>>::new(), 0, 0);
            for i in start..test.start {
                if i + h >= test.start {
                    purged += 1;
                } else if tests[..k].iter().any(|t| i >= t.end && i < t.end + embargo) {
                    embargoed += 1;
                } else {
                    match train.last_mut() {
                        Some(r) if r.end == i => r.end = i + 1,
                        _ => train.push(i..i + 1),
                    }
                }
            }
            Fold {
                index: k,
                train,
                test: test.clone(),
                purged,
                embargoed,
            }
        })
        .collect();
    Ok(folds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn expanding_folds_purge_the_label_horizon_before_each_test_window() {
        let cfg = WalkForwardConfig {
            folds: 3,
            label_horizon: 10,
            embargo_frac: 0.0,
            ..Default::default()
        };
        let f = split(1000, &cfg).unwrap();
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].test, 250..500);
        assert_eq!(f[0].train, vec![0..240]);
        assert_eq!(f[0].purged, 10);
        assert_eq!(f[2].test, 750..1000);
        assert_eq!(f[2].train, vec![0..740]);
    }

    #[test]
    fn rolling_keeps_a_fixed_window_and_embargo_cuts_after_earlier_tests() {
        let cfg = WalkForwardConfig {
            scheme: Scheme::Rolling,
            folds: 4,
            train_bars: 300,
            test_bars: 100,
            label_horizon: 5,
            embargo_frac: 0.02,
        };
        let f = split(1000, &cfg).unwrap();
        assert_eq!(f[0].train, vec![0..295]);
        // Fold 2 tests 500..600; its window 200..500 holds fold 0's test (300..400), then a 20-bar embargo.
        assert_eq!(f[2].train, vec![200..400, 420..495]);
        assert_eq!((f[2].purged, f[2].embargoed), (5, 20));
    }

    #[test]
    fn bad_configurations_are_named() {
        let cfg = WalkForwardConfig {
            folds: 10,
            train_bars: 900,
            test_bars: 50,
            ..Default::default()
        };
        assert!(matches!(
            split(1000, &cfg),
            Err(WalkForwardError::TooShort { .. })
        ));
        let cfg = WalkForwardConfig {
            embargo_frac: 0.7,
            ..Default::default()
        };
        assert_eq!(split(1000, &cfg), Err(WalkForwardError::Embargo(0.7)));
    }

    proptest! {
        #[test]
        fn no_training_label_window_touches_any_test_span(
            bars in 50usize..3000,
            folds in 1usize..8,
            horizon in 0usize..60,
            embargo in 0.0f64..0.1,
            rolling in any::<bool>(),
            train_frac in 0.05f64..0.6,
        ) {
            let cfg = WalkForwardConfig {
                scheme: if rolling { Scheme::Rolling } else { Scheme::Expanding },
                folds,
                test_bars: 0,
                train_bars: (bars as f64 * train_frac) as usize,
                label_horizon: horizon,
                embargo_frac: embargo,
            };
            let Ok(all) = split(bars, &cfg) else { return Ok(()); };
            let emb = (bars as f64 * embargo).ceil() as usize;
            for f in &all {
                let test_label_end = f.test.end - 1 + horizon;
                for i in f.train_indices() {
                    // [i, i + h] against [test.start, test_label_end]
                    prop_assert!(i + horizon < f.test.start || i > test_label_end, "fold {} sample {}", f.index, i);
                    prop_assert!(!f.test.contains(&i));
                    for t in all.iter().filter(|t| t.index < f.index) {
                        prop_assert!(i < t.test.end || i >= t.test.end + emb, "sample {} embargoed after {:?}", i, t.test);
                    }
                }
                prop_assert!(f.train.windows(2).all(|w| w[0].end < w[1].start));
                prop_assert!(f.test.end <= bars);
            }
        }
    }
}
