//! Split-conformal calibration on a held-out fold.
//!
//! Classes: the score of a sample is 1 − p(true class); a class joins the
//! prediction set when 1 − p(class) ≤ q̂, the ⌈(n+1)·level⌉-th smallest
//! calibration score (Vovk; Angelopoulos & Bates, "A gentle introduction",
//! §1). Expected move: the score is |y − ŷ| and the interval ŷ ± q̂.
//! The confidence shown to users is the top class probability mapped through
//! an isotonic fit of "was the top class right" on the same fold.

use serde::{Deserialize, Serialize};

use crate::metrics::argmax;
pub use engine::calibration::Isotonic;
use engine::calibration::{conformal_quantile, conformal_quantile_sorted};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibrator {
    /// Promised coverage of sets and intervals, e.g. 0.9.
    pub level: f64,
    pub samples: usize,
    /// Classes with 1 − p ≤ this join the set.
    pub class_threshold: f64,
    /// Half-width of the expected-move interval, percentage points.
    pub move_halfwidth: f64,
    pub isotonic: Isotonic,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CalibrationError {
    #[error("level must be inside (0, 1), got {0}")]
    Level(f64),
    #[error("{have} calibration samples cannot promise {level} coverage: need at least {need}")]
    TooFew {
        have: usize,
        need: usize,
        level: f64,
    },
}

impl Calibrator {
    pub fn fit(
        probs: &[[f32; 3]],
        classes: &[u8],
        moves: &[f32],
        target_moves: &[f32],
        level: f64,
    ) -> Result<Calibrator, CalibrationError> {
        if !(level > 0.0 && level < 1.0) {
            return Err(CalibrationError::Level(level));
        }
        let n = probs.len();
        let need = engine::calibration::conformal_need(level);
        let too_few = || CalibrationError::TooFew {
            have: n,
            need,
            level,
        };
        let class_scores = probs
            .iter()
            .zip(classes)
            .map(|(p, &y)| 1.0 - p[y as usize] as f64)
            .collect();
        let move_scores = self::move_scores(moves, target_moves);
        let class_threshold = conformal_quantile(class_scores, level).ok_or_else(too_few)?;
        let move_halfwidth = conformal_quantile_sorted(&move_scores, level).ok_or_else(too_few)?;
        let points: Vec<(f64, f64)> = probs
            .iter()
            .zip(classes)
            .map(|(p, &y)| {
                let top = argmax(p);
                (p[top] as f64, (top == y as usize) as u8 as f64)
            })
            .collect();
        Ok(Calibrator {
            level,
            samples: n,
            class_threshold,
            move_halfwidth,
            isotonic: Isotonic::fit(points),
        })
    }

    /// Which classes (UP, NEUTRAL, DOWN) the prediction set holds.
    pub fn set(&self, p: &[f32; 3]) -> [bool; 3] {
        p.map(|pc| 1.0 - pc as f64 <= self.class_threshold)
    }

    /// The prediction set by class name, e.g. `["UP", "NEUTRAL"]`.
    pub fn set_names(&self, p: &[f32; 3]) -> Vec<&'static str> {
        self.set(p)
            .iter()
            .zip(["UP", "NEUTRAL", "DOWN"])
            .filter_map(|(&inside, n)| inside.then_some(n))
            .collect()
    }

    pub fn interval(&self, expected_move: f32) -> (f64, f64) {
        let m = expected_move as f64;
        (m - self.move_halfwidth, m + self.move_halfwidth)
    }

    /// Calibrated probability that the top class is right.
    pub fn confidence(&self, p: &[f32; 3]) -> f64 {
        self.isotonic.predict(p[argmax(p)] as f64)
    }

    /// Empirical coverage on a fold the calibrator never saw.
    pub fn coverage(
        &self,
        probs: &[[f32; 3]],
        classes: &[u8],
        moves: &[f32],
        target_moves: &[f32],
    ) -> Coverage {
        let n = probs.len();
        let (mut in_set, mut set_size, mut in_interval) = (0usize, 0usize, 0usize);
        for i in 0..n {
            let s = self.set(&probs[i]);
            in_set += s[classes[i] as usize] as usize;
            set_size += s.iter().filter(|&&b| b).count();
            let (lo, hi) = self.interval(moves[i]);
            let y = target_moves[i] as f64;
            in_interval += (lo <= y && y <= hi) as usize;
        }
        let nf = n.max(1) as f64;
        // Sampling error of the measured coverage: the test fold's binomial
        // error plus the calibration fold's (the threshold is itself an
        // estimate from n_cal samples), and conformal's slack 1/(n_cal + 1).
        let std_error =
            (self.level * (1.0 - self.level) * (1.0 / nf + 1.0 / self.samples.max(1) as f64))
                .sqrt();
        let tolerance = 3.0 * std_error + 1.0 / (self.samples as f64 + 1.0);
        let set_coverage = in_set as f64 / nf;
        let interval_coverage = in_interval as f64 / nf;
        Coverage {
            level: self.level,
            samples: n,
            set_coverage,
            mean_set_size: set_size as f64 / nf,
            interval_coverage,
            interval_width: 2.0 * self.move_halfwidth,
            std_error,
            set_within_error: (set_coverage - self.level).abs() <= tolerance,
            interval_within_error: (interval_coverage - self.level).abs() <= tolerance,
        }
    }
}

/// |target − predicted| move scores of a calibration fold, ascending: what
/// the adaptive interval reads its quantiles from.
pub fn move_scores(moves: &[f32], target_moves: &[f32]) -> Vec<f64> {
    let mut s: Vec<f64> = moves
        .iter()
        .zip(target_moves)
        .map(|(m, y)| (y - m).abs() as f64)
        .collect();
    s.sort_by(f64::total_cmp);
    s
}

/// Step size of the adaptive interval's level (Gibbs & Candès use 0.005).
pub const ADAPTIVE_GAMMA: f64 = 0.005;

/// The move interval under adaptive conformal inference (Gibbs & Candès,
/// "Adaptive conformal inference under distribution shift", NeurIPS 2021)
/// on a test fold in time order: each sample's interval is ŷ ± the
/// calibration scores' (1 − αₜ) quantile, and αₜ moves by γ·(α − missₛ)
/// whenever an earlier sample s's outcome becomes known (`times[i]` is the
/// sample's (timeline position, position its label is known at)). A run of
/// misses under a regime shift widens the interval until it covers again.
/// The interval is bounded by the largest calibration score (where ACI
/// would give the whole line).
pub fn adaptive_interval_coverage(
    scores: &[f64],
    moves: &[f32],
    target_moves: &[f32],
    times: &[(u32, u32)],
    level: f64,
    gamma: f64,
) -> AdaptiveCoverage {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let n_cal = scores.len();
    let target_miss = 1.0 - level;
    let mut alpha = target_miss;
    // (label known at, missed), soonest first.
    let mut pending: BinaryHeap<Reverse<(u32, bool)>> = BinaryHeap::new();
    let (mut inside, mut width, mut n) = (0usize, 0.0, 0usize);
    for (i, &(at, known_at)) in times.iter().enumerate() {
        while let Some(&Reverse((t, missed))) = pending.peek() {
            if t > at {
                break;
            }
            pending.pop();
            alpha += gamma * (target_miss - f64::from(u8::from(missed)));
        }
        let (Some(&m), Some(&y)) = (moves.get(i), target_moves.get(i)) else {
            break;
        };
        let q = if n_cal == 0 {
            0.0
        } else {
            let k = ((n_cal as f64 + 1.0) * (1.0 - alpha)).ceil();
            if k < 1.0 {
                0.0
            } else {
                scores[(k as usize).min(n_cal) - 1]
            }
        };
        let missed = ((y - m).abs() as f64) > q;
        inside += usize::from(!missed);
        width += 2.0 * q;
        n += 1;
        pending.push(Reverse((known_at, missed)));
    }
    let nf = n.max(1) as f64;
    let std_error = (level * (1.0 - level) * (1.0 / nf + 1.0 / n_cal.max(1) as f64)).sqrt();
    let coverage = inside as f64 / nf;
    AdaptiveCoverage {
        gamma,
        samples: n,
        interval_coverage: coverage,
        mean_interval_width: width / nf,
        final_alpha: alpha,
        within_error: (coverage - level).abs() <= 3.0 * std_error + 1.0 / (n_cal as f64 + 1.0),
    }
}

/// The adaptive move interval on a test fold, beside the split one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdaptiveCoverage {
    pub gamma: f64,
    pub samples: usize,
    pub interval_coverage: f64,
    /// Mean of 2·q̂ₜ: what the adaptivity cost (or saved) in width.
    pub mean_interval_width: f64,
    /// The miscoverage level reached by the fold's end.
    pub final_alpha: f64,
    /// Within the split interval's sampling error of the promised level.
    pub within_error: bool,
}

/// Coverage on a test fold next to the promised level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    pub level: f64,
    pub samples: usize,
    pub set_coverage: f64,
    pub mean_set_size: f64,
    pub interval_coverage: f64,
    pub interval_width: f64,
    /// √(level·(1−level)·(1/n_test + 1/n_cal)): sampling error of the coverage.
    pub std_error: f64,
    /// |coverage − level| ≤ 3 standard errors + 1/(n_cal+1).
    pub set_within_error: bool,
    pub interval_within_error: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn too_few_samples_and_bad_levels_are_refused() {
        let p = vec![[0.5, 0.3, 0.2]; 5];
        let err = Calibrator::fit(&p, &[0; 5], &[0.0; 5], &[0.0; 5], 0.9).unwrap_err();
        assert_eq!(
            err,
            CalibrationError::TooFew {
                have: 5,
                need: 9,
                level: 0.9
            }
        );
        assert!(matches!(
            Calibrator::fit(&p, &[0; 5], &[0.0; 5], &[0.0; 5], 1.0),
            Err(CalibrationError::Level(_))
        ));
    }

    /// A regime shift (the noise 1.5 times the calibration fold's): the
    /// split interval under-covers, the adaptive one recovers its level.
    #[test]
    fn the_adaptive_interval_recovers_coverage_after_a_shift() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut normal = move || {
            let (u, v): (f64, f64) = (rng.random_range(1e-12..1.0), rng.random());
            (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        };
        let cal_moves = vec![0.0f32; 1000];
        let cal_targets: Vec<f32> = (0..1000).map(|_| normal() as f32).collect();
        let cal = Calibrator::fit(
            &vec![[0.4, 0.3, 0.3]; 1000],
            &[0; 1000],
            &cal_moves,
            &cal_targets,
            0.9,
        )
        .unwrap();
        let n = 6000;
        let moves = vec![0.0f32; n];
        let targets: Vec<f32> = (0..n).map(|_| (1.5 * normal()) as f32).collect();
        // Each label is known 5 positions later.
        let times: Vec<(u32, u32)> = (0..n as u32).map(|t| (t, t + 5)).collect();
        let split = cal.coverage(&vec![[0.4, 0.3, 0.3]; n], &vec![0; n], &moves, &targets);
        assert!(split.interval_coverage < 0.8, "{split:?}");
        assert!(!split.interval_within_error);
        let scores = move_scores(&cal_moves, &cal_targets);
        let a = adaptive_interval_coverage(&scores, &moves, &targets, &times, 0.9, ADAPTIVE_GAMMA);
        assert_eq!(a.samples, n);
        assert!((a.interval_coverage - 0.9).abs() < 0.02, "{a:?}");
        assert!(a.within_error, "{a:?}");
        assert!(
            a.mean_interval_width > split.interval_width,
            "it widened: {a:?}"
        );
        assert!(a.final_alpha < 0.1, "{a:?}");
        // With no shift it stays where split conformal is.
        let same: Vec<f32> = (0..n).map(|_| normal() as f32).collect();
        let b = adaptive_interval_coverage(&scores, &moves, &same, &times, 0.9, ADAPTIVE_GAMMA);
        assert!((b.interval_coverage - 0.9).abs() < 0.02, "{b:?}");
    }

    /// Exchangeable synthetic data: the coverage promise holds.
    #[test]
    fn coverage_holds_on_exchangeable_data() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut draw = |n: usize| {
            let mut probs = Vec::new();
            let mut classes = Vec::new();
            let mut moves = Vec::new();
            let mut targets = Vec::new();
            for _ in 0..n {
                let a: f32 = rng.random_range(0.2..0.8);
                let b: f32 = rng.random_range(0.0..(1.0 - a));
                let p = [a, b, 1.0 - a - b];
                let u: f32 = rng.random();
                let y = if u < p[0] {
                    0
                } else if u < p[0] + p[1] {
                    1
                } else {
                    2
                };
                probs.push(p);
                classes.push(y);
                let m: f32 = rng.random_range(-2.0..2.0);
                moves.push(m);
                targets.push(m + rng.random_range(-1.0..1.0f32));
            }
            (probs, classes, moves, targets)
        };
        let (p, c, m, t) = draw(2000);
        let cal = Calibrator::fit(&p, &c, &m, &t, 0.9).unwrap();
        assert!(
            (cal.move_halfwidth - 0.9).abs() < 0.05,
            "{}",
            cal.move_halfwidth
        );
        let (p, c, m, t) = draw(4000);
        let cov = cal.coverage(&p, &c, &m, &t);
        assert!(cov.set_within_error, "{cov:?}");
        assert!(cov.interval_within_error, "{cov:?}");
        assert!(cov.mean_set_size > 1.0 && cov.mean_set_size < 3.0);
        // The calibrated confidence tracks the observed hit rate.
        let hits = p
            .iter()
            .zip(&c)
            .filter(|(p, c)| argmax(p) == **c as usize)
            .count();
        let mean_conf: f64 = p.iter().map(|p| cal.confidence(p)).sum::<f64>() / p.len() as f64;
        assert!((mean_conf - hits as f64 / p.len() as f64).abs() < 0.03);
    }
}
