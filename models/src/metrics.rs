//! Classification and regression metrics on held-out predictions.

use serde::{Deserialize, Serialize};

/// Out-of-sample quality of one set of predictions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub samples: usize,
    pub accuracy: f64,
    /// Mean recall over the classes present.
    pub balanced_accuracy: f64,
    pub log_loss: f64,
    /// Expected calibration error of the top-class probability (15 bins).
    pub calibration_error: f64,
    /// Mean absolute error of the expected move, percentage points.
    pub move_mae: f64,
    /// Rows: true class; columns: predicted class (UP, NEUTRAL, DOWN).
    pub confusion: [[usize; 3]; 3],
}

pub const ECE_BINS: usize = 15;

/// `probs[i]` = (p_up, p_neutral, p_down); `classes[i]` = true class index.
pub fn classification(
    probs: &[[f32; 3]],
    classes: &[u8],
    moves: &[f32],
    target_moves: &[f32],
) -> ClassMetrics {
    let n = probs.len();
    if n == 0 {
        return ClassMetrics::default();
    }
    let mut m = ClassMetrics {
        samples: n,
        ..Default::default()
    };
    let mut bins = [(0usize, 0.0f64, 0.0f64); ECE_BINS];
    let mut correct = 0usize;
    let mut ll = 0.0;
    for (p, &y) in probs.iter().zip(classes) {
        let pred = argmax(p);
        m.confusion[y as usize][pred] += 1;
        let hit = pred == y as usize;
        correct += hit as usize;
        ll -= (p[y as usize] as f64).clamp(1e-15, 1.0).ln();
        let conf = p[pred] as f64;
        let b = ((conf * ECE_BINS as f64) as usize).min(ECE_BINS - 1);
        bins[b].0 += 1;
        bins[b].1 += conf;
        bins[b].2 += hit as u8 as f64;
    }
    m.accuracy = correct as f64 / n as f64;
    m.log_loss = ll / n as f64;
    m.calibration_error = bins
        .iter()
        .filter(|b| b.0 > 0)
        .map(|&(c, conf, hits)| (c as f64 / n as f64) * ((hits - conf) / c as f64).abs())
        .sum();
    let recalls: Vec<f64> = (0..3)
        .filter_map(|c| {
            let row: usize = m.confusion[c].iter().sum();
            (row > 0).then(|| m.confusion[c][c] as f64 / row as f64)
        })
        .collect();
    m.balanced_accuracy = recalls.iter().sum::<f64>() / recalls.len().max(1) as f64;
    m.move_mae = moves
        .iter()
        .zip(target_moves)
        .map(|(a, b)| (a - b).abs() as f64)
        .sum::<f64>()
        / n as f64;
    m
}

pub fn argmax(p: &[f32; 3]) -> usize {
    let mut best = 0;
    for c in 1..3 {
        if p[c] > p[best] {
            best = c;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_and_uniform_predictions() {
        let classes = [0u8, 1, 2, 2];
        let perfect: Vec<[f32; 3]> = classes
            .iter()
            .map(|&c| {
                let mut p = [0.0; 3];
                p[c as usize] = 1.0;
                p
            })
            .collect();
        let m = classification(&perfect, &classes, &[1.0; 4], &[1.0; 4]);
        assert_eq!(m.accuracy, 1.0);
        assert_eq!(m.balanced_accuracy, 1.0);
        assert!(m.log_loss < 1e-12);
        assert!(m.calibration_error < 1e-12);
        assert_eq!(m.move_mae, 0.0);

        let uniform = vec![[1.0 / 3.0; 3]; 4];
        let m = classification(&uniform, &classes, &[0.0; 4], &[1.0, -1.0, 2.0, 0.0]);
        // Ties go to UP: only the first sample is right.
        assert_eq!(m.accuracy, 0.25);
        assert!((m.balanced_accuracy - 1.0 / 3.0).abs() < 1e-12);
        assert!((m.log_loss - 3f64.ln()).abs() < 1e-6);
        assert!((m.calibration_error - (0.25 - 1.0 / 3.0f64).abs()).abs() < 1e-6);
        assert_eq!(m.move_mae, 1.0);
        assert_eq!(m.confusion[2][0], 2);
    }
}
