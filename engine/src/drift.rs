//! Distribution drift between a reference (training) window and a recent one:
//! Population Stability Index and the two-sample Kolmogorov–Smirnov statistic.

use serde::{Deserialize, Serialize};

/// Thresholds above which a column counts as drifted (config: `[drift]`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriftThresholds {
    pub psi: f64,
    pub ks: f64,
}

impl Default for DriftThresholds {
    fn default() -> Self {
        DriftThresholds { psi: 0.15, ks: 0.1 }
    }
}

/// PSI bins: deciles of the reference window.
pub const PSI_BINS: usize = 10;

/// Σ (a − e)·ln(a / e) over the reference's decile bins; empty bins count as
/// 1e-4 so one empty bin does not make the index infinite.
pub fn psi(reference: &[f64], recent: &[f64]) -> f64 {
    if reference.is_empty() || recent.is_empty() {
        return 0.0;
    }
    let mut sorted: Vec<f64> = reference
        .iter()
        .copied()
        .filter(|x| x.is_finite())
        .collect();
    sorted.sort_by(f64::total_cmp);
    let edges: Vec<f64> = (1..PSI_BINS)
        .map(|k| sorted[(k * sorted.len() / PSI_BINS).min(sorted.len() - 1)])
        .collect();
    let shares = |xs: &[f64]| {
        let mut counts = [0usize; PSI_BINS];
        let mut n = 0usize;
        for &x in xs.iter().filter(|x| x.is_finite()) {
            counts[edges.partition_point(|&e| e < x)] += 1;
            n += 1;
        }
        counts.map(|c| (c as f64 / n.max(1) as f64).max(1e-4))
    };
    let (e, a) = (shares(reference), shares(recent));
    e.iter().zip(&a).map(|(e, a)| (a - e) * (a / e).ln()).sum()
}

/// sup |F_ref(x) − F_recent(x)| over the pooled sample.
pub fn ks(reference: &[f64], recent: &[f64]) -> f64 {
    let clean = |xs: &[f64]| {
        let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let (a, b) = (clean(reference), clean(recent));
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let (mut i, mut j, mut d) = (0usize, 0usize, 0.0f64);
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / a.len() as f64 - j as f64 / b.len() as f64).abs());
    }
    d
}

/// Drift of one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnDrift {
    pub name: String,
    pub psi: f64,
    pub ks: f64,
    pub drifted: bool,
}

/// A drift check over named columns (features and model outputs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftReport {
    pub thresholds: DriftThresholds,
    pub reference_rows: usize,
    pub recent_rows: usize,
    pub columns: Vec<ColumnDrift>,
    pub drifted: bool,
}

pub fn report(
    names: &[String],
    reference: &[Vec<f64>],
    recent: &[Vec<f64>],
    thresholds: DriftThresholds,
) -> DriftReport {
    let columns: Vec<ColumnDrift> = names
        .iter()
        .zip(reference.iter().zip(recent))
        .map(|(name, (r, c))| {
            let (p, k) = (psi(r, c), ks(r, c));
            ColumnDrift {
                name: name.clone(),
                psi: p,
                ks: k,
                drifted: p > thresholds.psi || k > thresholds.ks,
            }
        })
        .collect();
    DriftReport {
        thresholds,
        reference_rows: reference.first().map_or(0, Vec::len),
        recent_rows: recent.first().map_or(0, Vec::len),
        drifted: columns.iter().any(|c| c.drifted),
        columns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_distribution_has_no_drift() {
        let a: Vec<f64> = (0..1000).map(|i| (i as f64 * 0.618).fract()).collect();
        let b: Vec<f64> = (0..1000)
            .map(|i| (i as f64 * 0.618 + 0.3).fract())
            .collect();
        assert!(psi(&a, &b) < 0.01, "{}", psi(&a, &b));
        assert!(ks(&a, &b) < 0.02, "{}", ks(&a, &b));
    }

    #[test]
    fn shifted_distribution_drifts() {
        let a: Vec<f64> = (0..1000).map(|i| i as f64 / 1000.0).collect();
        let b: Vec<f64> = a.iter().map(|x| x + 0.5).collect();
        // Half of b lies above the reference's top: KS 0.5 (± one step).
        assert!((ks(&a, &b) - 0.5).abs() <= 1e-3, "{}", ks(&a, &b));
        assert!(psi(&a, &b) > 1.0);
        let r = report(
            &["x".into()],
            std::slice::from_ref(&a),
            &[b],
            DriftThresholds::default(),
        );
        assert!(r.drifted && r.columns[0].drifted);
    }

    #[test]
    fn ks_matches_a_hand_computed_case() {
        // F_a steps at 1,2,3; F_b at 2,3,4 → the largest gap is 1/3.
        assert!((ks(&[1.0, 2.0, 3.0], &[2.0, 3.0, 4.0]) - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(ks(&[1.0, 2.0], &[1.0, 2.0]), 0.0);
    }
}
