//! Probability of backtest overfitting by combinatorially symmetric
//! cross-validation (Bailey, Borwein, López de Prado & Zhu, 2015).
//!
//! Given the per-period returns of every configuration tried over the same
//! periods, split the periods into `S` blocks; for each way of choosing half
//! of them as "in sample", take the configuration with the best in-sample
//! Sharpe and see where it ranks among all of them on the other half. PBO is
//! the share of splits where the in-sample winner lands in the bottom half
//! out of sample: how often choosing the best backtest picked a loser.

use serde::{Deserialize, Serialize};

/// The outcome of CSCV over a trials × periods matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pbo {
    /// Share of splits whose in-sample best ranks at or below the median
    /// out of sample (logit ≤ 0).
    pub pbo: f64,
    /// Configurations compared.
    pub trials: usize,
    /// Blocks the periods were cut into, and the splits that gave.
    pub blocks: usize,
    pub splits: usize,
    /// Each split's logit of the in-sample winner's relative rank out of sample.
    pub logits: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PboError {
    #[error("PBO compares configurations: {0} given, at least 2 needed")]
    TooFewTrials(usize),
    #[error("trial {trial} has {got} periods, the first has {want}")]
    Ragged {
        trial: usize,
        got: usize,
        want: usize,
    },
    #[error("blocks must be even and at least 2, got {0}")]
    Blocks(usize),
    #[error("{periods} periods cannot fill {blocks} blocks of at least 2")]
    TooFewPeriods { periods: usize, blocks: usize },
}

/// CSCV with `blocks` (even) contiguous blocks of equal size over
/// `returns[trial][period]`; trailing periods that do not fill a block are
/// left out, as the paper's equal-sized submatrices require. The
/// statistic is the per-period Sharpe ratio (mean over standard deviation;
/// a flat trial scores 0).
pub fn cscv(returns: &[Vec<f64>], blocks: usize) -> Result<Pbo, PboError> {
    let n = returns.len();
    if n < 2 {
        return Err(PboError::TooFewTrials(n));
    }
    let t = returns[0].len();
    if let Some((trial, r)) = returns.iter().enumerate().find(|(_, r)| r.len() != t) {
        return Err(PboError::Ragged {
            trial,
            got: r.len(),
            want: t,
        });
    }
    if blocks < 2 || !blocks.is_multiple_of(2) {
        return Err(PboError::Blocks(blocks));
    }
    let size = t / blocks;
    if size < 2 {
        return Err(PboError::TooFewPeriods { periods: t, blocks });
    }
    // Per trial and block: count, sum and sum of squares, so a split's
    // Sharpe is a sum over its blocks.
    let moments: Vec<Vec<[f64; 3]>> = returns
        .iter()
        .map(|r| {
            (0..blocks)
                .map(|b| {
                    r[b * size..(b + 1) * size]
                        .iter()
                        .fold([0.0; 3], |[c, s, q], &x| [c + 1.0, s + x, q + x * x])
                })
                .collect()
        })
        .collect();
    let sharpe = |trial: usize, chosen: &[bool], side: bool| {
        let [c, s, q] = moments[trial]
            .iter()
            .zip(chosen)
            .filter(|(_, in_sample)| **in_sample == side)
            .fold([0.0; 3], |a, (m, _)| {
                [a[0] + m[0], a[1] + m[1], a[2] + m[2]]
            });
        let mean = s / c;
        let var = (q - c * mean * mean) / (c - 1.0);
        if var > 0.0 { mean / var.sqrt() } else { 0.0 }
    };
    let mut logits = Vec::new();
    let mut chosen = vec![false; blocks];
    for combo in combinations(blocks, blocks / 2) {
        chosen.iter_mut().for_each(|c| *c = false);
        for &b in &combo {
            chosen[b] = true;
        }
        let is: Vec<f64> = (0..n).map(|k| sharpe(k, &chosen, true)).collect();
        // The first of equals wins, as a search keeping its first best would.
        let best = (0..n).fold(0, |b, k| if is[k] > is[b] { k } else { b });
        let oos: Vec<f64> = (0..n).map(|k| sharpe(k, &chosen, false)).collect();
        // Rank 1..=n from the bottom; ties share their average rank.
        let below = oos.iter().filter(|&&x| x < oos[best]).count() as f64;
        let equal = oos.iter().filter(|&&x| x == oos[best]).count() as f64;
        let rank = below + (equal + 1.0) / 2.0;
        let omega = rank / (n as f64 + 1.0);
        logits.push((omega / (1.0 - omega)).ln());
    }
    let overfit = logits.iter().filter(|&&l| l <= 0.0).count();
    Ok(Pbo {
        pbo: overfit as f64 / logits.len() as f64,
        trials: n,
        blocks,
        splits: logits.len(),
        logits,
    })
}

/// Every `k`-subset of `0..n`, in lexicographic order.
fn combinations(n: usize, k: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut c: Vec<usize> = (0..k).collect();
    loop {
        out.push(c.clone());
        let Some(i) = (0..k).rev().find(|&i| c[i] < n - k + i) else {
            return out;
        };
        c[i] += 1;
        for j in i + 1..k {
            c[j] = c[j - 1] + 1;
        }
    }
}

/// CSCV over equity curves sampled at times ((time, equity) pairs, e.g.
/// the thinned curves of backtests over overlapping ranges): the
/// per-period returns between the times every curve has; a ruined curve
/// (equity ≤ 0) earns 0 from then on.
pub fn cscv_over_curves(
    curves: &[&[(crate::TimeMs, f64)]],
    blocks: usize,
) -> Result<Pbo, PboError> {
    use std::collections::{HashMap, HashSet};
    let mut shared: Vec<crate::TimeMs> = curves
        .first()
        .map(|c| c.iter().map(|p| p.0).collect())
        .unwrap_or_default();
    for c in curves.iter().skip(1) {
        let times: HashSet<crate::TimeMs> = c.iter().map(|p| p.0).collect();
        shared.retain(|t| times.contains(t));
    }
    let returns: Vec<Vec<f64>> = curves
        .iter()
        .map(|c| {
            let at: HashMap<crate::TimeMs, f64> = c.iter().copied().collect();
            shared
                .windows(2)
                .map(|w| match (at[&w[0]], at[&w[1]]) {
                    (a, b) if a > 0.0 => b / a - 1.0,
                    _ => 0.0,
                })
                .collect()
        })
        .collect();
    cscv(&returns, blocks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn combinations_count_as_binomials() {
        assert_eq!(combinations(4, 2).len(), 6);
        assert_eq!(combinations(16, 8).len(), 12_870);
        assert_eq!(combinations(4, 2)[5], vec![2, 3]);
    }

    /// Worked by hand: two trials over four blocks of two periods. Trial 0
    /// gains in blocks 0 and 1 and loses in 2 and 3; trial 1 alternates
    /// +2 % and −0.5 % (Sharpe 0.52 on any half). In-sample {0,1} picks
    /// trial 0 (Sharpe 2.71), worst out of sample (−1.94); {2,3} picks
    /// trial 1, beaten out of sample by trial 0's 2.71. Every mixed half
    /// gives trial 0 a Sharpe of 0 to 0.27, so trial 1 wins in and out of
    /// sample. Rank 1 of 2 is ω = 1/3, logit ln ½; rank 2 is ω = 2/3, ln 2.
    #[test]
    fn a_hand_worked_matrix() {
        let m = vec![
            vec![0.04, 0.02, 0.03, 0.05, -0.03, -0.01, -0.02, -0.04],
            vec![0.02, -0.005, 0.02, -0.005, 0.02, -0.005, 0.02, -0.005],
        ];
        let p = cscv(&m, 4).unwrap();
        assert_eq!((p.trials, p.blocks, p.splits), (2, 4, 6));
        let pure = [0, 5]; // {0,1} and {2,3}
        for (k, l) in p.logits.iter().enumerate() {
            let want = if pure.contains(&k) {
                0.5f64.ln()
            } else {
                2f64.ln()
            };
            assert!((l - want).abs() < 1e-12, "split {k}: {l} vs {want}");
        }
        assert!((p.pbo - 2.0 / 6.0).abs() < 1e-12);
    }

    /// The paper's experiment (§5): trials with no skill, returns i.i.d.
    /// normal, so choosing the best in sample is choosing by luck and PBO
    /// tends to 1/2; one trial with a true edge drives it towards 0.
    #[test]
    fn no_skill_overfits_half_the_time_and_a_real_edge_does_not() {
        let mut rng = ChaCha8Rng::seed_from_u64(2015);
        let mut normal = || {
            // Box–Muller: two uniforms, one standard normal.
            let (u, v): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        };
        let mut m: Vec<Vec<f64>> = (0..50)
            .map(|_| (0..1000).map(|_| normal() * 0.01).collect())
            .collect();
        let luck = cscv(&m, 16).unwrap();
        assert_eq!(luck.splits, 12_870);
        assert!((0.35..0.65).contains(&luck.pbo), "no skill: {}", luck.pbo);
        // Trial 7 earns an annualised Sharpe of about 3 (0.19 per day).
        for x in &mut m[7] {
            *x += 0.0019;
        }
        let edge = cscv(&m, 16).unwrap();
        assert!(edge.pbo < 0.1, "one real edge: {}", edge.pbo);
        assert!(edge.pbo < luck.pbo);
    }

    #[test]
    fn bad_matrices_are_refused_with_what_is_wrong() {
        assert_eq!(cscv(&[vec![0.0; 8]], 4), Err(PboError::TooFewTrials(1)));
        assert_eq!(
            cscv(&[vec![0.0; 8], vec![0.0; 7]], 4),
            Err(PboError::Ragged {
                trial: 1,
                got: 7,
                want: 8
            })
        );
        assert_eq!(
            cscv(&[vec![0.0; 8], vec![0.0; 8]], 3),
            Err(PboError::Blocks(3))
        );
        assert_eq!(
            cscv(&[vec![0.0; 6], vec![0.0; 6]], 4),
            Err(PboError::TooFewPeriods {
                periods: 6,
                blocks: 4
            })
        );
    }

    #[test]
    fn curves_are_compared_on_the_times_they_share() {
        // A from t=0, B from t=4 with a point A lacks; both wiggle differently.
        let a: Vec<(crate::TimeMs, f64)> = (0..=16)
            .map(|t| (t, 100.0 + (t as f64).sin() + t as f64 * 0.1))
            .collect();
        let mut b: Vec<(crate::TimeMs, f64)> = (4..=16)
            .map(|t| (t, 100.0 + (t as f64 * 1.7).cos()))
            .collect();
        b.push((100, 50.0));
        let on_shared = |c: &[(crate::TimeMs, f64)]| -> Vec<f64> {
            let v: Vec<f64> = c
                .iter()
                .filter(|p| (4..=16).contains(&p.0))
                .map(|p| p.1)
                .collect();
            v.windows(2).map(|w| w[1] / w[0] - 1.0).collect()
        };
        let by_hand = cscv(&[on_shared(&a), on_shared(&b)], 4).unwrap();
        assert_eq!(cscv_over_curves(&[&a, &b], 4).unwrap(), by_hand);
        assert_eq!(by_hand.trials, 2);
        assert_eq!(cscv_over_curves(&[&a], 4), Err(PboError::TooFewTrials(1)));
    }
}
