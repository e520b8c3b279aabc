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
use engine::calibration::conformal_quantile;

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
        let move_scores = moves
            .iter()
            .zip(target_moves)
            .map(|(m, y)| (y - m).abs() as f64)
            .collect();
        let class_threshold = conformal_quantile(class_scores, level).ok_or_else(too_few)?;
        let move_halfwidth = conformal_quantile(move_scores, level).ok_or_else(too_few)?;
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
