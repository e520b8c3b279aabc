//! Calibration primitives shared by the models and the technical rule:
//! isotonic regression (pool-adjacent-violators) and the split-conformal
//! quantile.

use serde::{Deserialize, Serialize};

/// The ⌈(n+1)·level⌉-th smallest score (Vovk; Angelopoulos & Bates, "A
/// gentle introduction", §1); `None` when n is too small for it.
pub fn conformal_quantile(mut scores: Vec<f64>, level: f64) -> Option<f64> {
    scores.sort_by(f64::total_cmp);
    conformal_quantile_sorted(&scores, level)
}

/// [`conformal_quantile`] of scores already in ascending order.
pub fn conformal_quantile_sorted(sorted: &[f64], level: f64) -> Option<f64> {
    let n = sorted.len();
    let k = ((n as f64 + 1.0) * level).ceil() as usize;
    (k >= 1 && k <= n).then(|| sorted[k - 1])
}

/// The smallest n for which [`conformal_quantile`] at `level` exists.
pub fn conformal_need(level: f64) -> usize {
    (1..)
        .find(|&m: &usize| ((m as f64 + 1.0) * level).ceil() as usize <= m)
        .unwrap_or(usize::MAX)
}

/// A non-decreasing step function fitted by pool-adjacent-violators.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Isotonic {
    /// (upper x of the block, fitted value), x ascending.
    pub blocks: Vec<(f64, f64)>,
}

impl Isotonic {
    pub fn fit(points: Vec<(f64, f64)>) -> Isotonic {
        Isotonic::fit_weighted(points.into_iter().map(|(x, y)| (x, y, 1.0)).collect())
    }

    /// The fit over `(x, sum of y, count)` groups: many points sharing an x
    /// (a rule with few distinct raw scores) cost one group each.
    pub fn fit_weighted(mut points: Vec<(f64, f64, f64)>) -> Isotonic {
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        // (x_hi, sum_y, count)
        let mut blocks: Vec<(f64, f64, f64)> = Vec::with_capacity(points.len());
        for (x, y, n) in points.into_iter().filter(|p| p.2 > 0.0) {
            blocks.push((x, y, n));
            while blocks.len() > 1 {
                let (xb, sb, cb) = blocks[blocks.len() - 1];
                let (_, sa, ca) = blocks[blocks.len() - 2];
                if sa / ca <= sb / cb {
                    break;
                }
                blocks.pop();
                let last = blocks.len() - 1;
                blocks[last] = (xb, sa + sb, ca + cb);
            }
        }
        Isotonic {
            blocks: blocks.into_iter().map(|(x, s, c)| (x, s / c)).collect(),
        }
    }

    /// The fitted value of the first block reaching `x` (the last block beyond).
    pub fn predict(&self, x: f64) -> f64 {
        let i = self.blocks.partition_point(|b| b.0 < x);
        self.blocks
            .get(i)
            .or(self.blocks.last())
            .map_or(0.0, |b| b.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_is_the_finite_sample_rank() {
        let s: Vec<f64> = (1..=9).map(f64::from).collect();
        // ⌈10 · 0.9⌉ = 9th smallest.
        assert_eq!(conformal_quantile(s.clone(), 0.9), Some(9.0));
        assert_eq!(conformal_quantile(s.clone(), 0.5), Some(5.0));
        assert_eq!(conformal_quantile(s, 0.95), None);
        assert_eq!(conformal_need(0.9), 9);
    }

    #[test]
    fn isotonic_pools_violators() {
        let iso = Isotonic::fit(vec![(0.1, 1.0), (0.2, 0.0), (0.3, 0.0), (0.9, 1.0)]);
        // 1, 0, 0 pool into one block of 1/3; then 1.
        assert_eq!(iso.blocks.len(), 2);
        assert!((iso.predict(0.05) - 1.0 / 3.0).abs() < 1e-12);
        assert!((iso.predict(0.25) - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(iso.predict(0.5), 1.0);
        assert_eq!(iso.predict(2.0), 1.0);
        let grouped =
            Isotonic::fit_weighted(vec![(0.1, 1.0, 1.0), (0.2, 0.0, 2.0), (0.9, 1.0, 1.0)]);
        assert_eq!(
            grouped,
            Isotonic::fit(vec![(0.1, 1.0), (0.2, 0.0), (0.2, 0.0), (0.9, 1.0)])
        );
    }
}
