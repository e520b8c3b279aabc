//! The ensemble of the network and the boosted trees: a linear pool whose
//! weights are chosen on recent out-of-sample predictions of both members
//! (the validation hold-out, which neither trained on), the weight of the
//! network on a 0.05 grid minimising log loss for the classes and mean
//! absolute error for the move.

use burn::tensor::Device;
use engine::features::Scaler;
use serde::{Deserialize, Serialize};

use crate::boost::{BoostError, Boosted};
use crate::data::{Dataset, Sample};
use crate::metrics;
use crate::net::UniversalNet;
use crate::train::{self, Predictions};

/// Grid steps between 0 and 1.
const STEPS: usize = 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnsembleWeights {
    /// Share of the network in the class probabilities (trees: 1 − this).
    pub net_class: f64,
    /// Share of the network in the expected move.
    pub net_move: f64,
    /// Out-of-sample predictions the weights were chosen on.
    pub samples: usize,
    /// Each member's and the pool's log loss / move MAE on those predictions.
    pub net_log_loss: f64,
    pub trees_log_loss: f64,
    pub ensemble_log_loss: f64,
    pub net_move_mae: f64,
    pub trees_move_mae: f64,
    pub ensemble_move_mae: f64,
}

impl EnsembleWeights {
    /// Weights from both members' predictions on the same out-of-sample rows.
    pub fn choose(
        net: &Predictions,
        trees: &Predictions,
        classes: &[u8],
        targets: &[f32],
    ) -> EnsembleWeights {
        let grid = (0..=STEPS).map(|k| k as f64 / STEPS as f64);
        let ll = |w: f64| log_loss(&blend_probs(w, &net.probs, &trees.probs), classes);
        let mae = |w: f64| move_mae(&blend_moves(w, &net.moves, &trees.moves), targets);
        // Ties go to the equal mix: the smaller the evidence, the safer.
        let best = |f: &dyn Fn(f64) -> f64| {
            grid.clone()
                .map(|w| (f(w), (w - 0.5).abs(), w))
                .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)))
                .map_or(0.5, |t| t.2)
        };
        let (wc, wm) = (best(&ll), best(&mae));
        EnsembleWeights {
            net_class: wc,
            net_move: wm,
            samples: classes.len(),
            net_log_loss: ll(1.0),
            trees_log_loss: ll(0.0),
            ensemble_log_loss: ll(wc),
            net_move_mae: mae(1.0),
            trees_move_mae: mae(0.0),
            ensemble_move_mae: mae(wm),
        }
    }

    /// The pool of both members' predictions.
    pub fn blend(&self, net: &Predictions, trees: &Predictions) -> Predictions {
        Predictions {
            probs: blend_probs(self.net_class, &net.probs, &trees.probs),
            moves: blend_moves(self.net_move, &net.moves, &trees.moves),
        }
    }
}

/// The members of a model and how they are pooled.
#[derive(Debug)]
pub struct Ensemble {
    pub net: UniversalNet,
    pub scaler: Scaler,
    /// The boosted trees and the pool's weights; `None`: the network alone.
    pub trees: Option<(Boosted, EnsembleWeights)>,
}

/// Each member's predictions and the pooled one (what is shipped).
#[derive(Debug, Clone, Default)]
pub struct Scored {
    pub net: Predictions,
    pub trees: Option<Predictions>,
    pub pooled: Predictions,
}

impl Ensemble {
    pub fn predict(
        &self,
        ds: &Dataset,
        samples: &[Sample],
        device: &Device,
    ) -> Result<Scored, BoostError> {
        let net = train::predict(&self.net, ds, &self.scaler, samples, 256, device);
        Ok(match &self.trees {
            Some((trees, w)) => {
                let t = trees.predict(ds, samples)?;
                Scored {
                    pooled: w.blend(&net, &t),
                    trees: Some(t),
                    net,
                }
            }
            None => Scored {
                pooled: net.clone(),
                trees: None,
                net,
            },
        })
    }
}

fn blend_probs(w: f64, a: &[[f32; 3]], b: &[[f32; 3]]) -> Vec<[f32; 3]> {
    let w = w as f32;
    a.iter()
        .zip(b)
        .map(|(p, q)| std::array::from_fn(|c| w * p[c] + (1.0 - w) * q[c]))
        .collect()
}

fn blend_moves(w: f64, a: &[f32], b: &[f32]) -> Vec<f32> {
    let w = w as f32;
    a.iter()
        .zip(b)
        .map(|(x, y)| w * x + (1.0 - w) * y)
        .collect()
}

fn log_loss(probs: &[[f32; 3]], classes: &[u8]) -> f64 {
    let zeros = vec![0.0; probs.len()];
    metrics::classification(probs, classes, &zeros, &zeros).log_loss
}

fn move_mae(moves: &[f32], targets: &[f32]) -> f64 {
    let n = moves.len().max(1) as f64;
    moves
        .iter()
        .zip(targets)
        .map(|(a, b)| (a - b).abs() as f64)
        .sum::<f64>()
        / n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preds(probs: Vec<[f32; 3]>, moves: Vec<f32>) -> Predictions {
        Predictions { probs, moves }
    }

    #[test]
    fn the_better_member_gets_the_weight() {
        // Net knows the class, trees are uniform; trees know the move, net says 0.
        let classes = vec![0u8, 2, 1, 0, 2];
        let targets = vec![1.0f32, -2.0, 0.1, 0.7, -1.5];
        let net = preds(
            classes
                .iter()
                .map(|&c| std::array::from_fn(|k| if k == c as usize { 0.9 } else { 0.05 }))
                .collect(),
            vec![0.0; 5],
        );
        let trees = preds(vec![[1.0 / 3.0; 3]; 5], targets.clone());
        let w = EnsembleWeights::choose(&net, &trees, &classes, &targets);
        assert_eq!(w.net_class, 1.0);
        assert_eq!(w.net_move, 0.0);
        assert!(w.ensemble_log_loss <= w.net_log_loss.min(w.trees_log_loss) + 1e-12);
        assert!(w.trees_move_mae < 1e-6 && w.net_move_mae > 0.5);
        let b = w.blend(&net, &trees);
        assert_eq!(b.probs, net.probs);
        assert_eq!(b.moves, trees.moves);
    }

    #[test]
    fn a_mix_can_beat_both_members() {
        // Each member is confidently wrong on a different half.
        let classes = vec![0u8, 0, 2, 2];
        let net = preds(
            vec![
                [0.98, 0.01, 0.01],
                [0.98, 0.01, 0.01],
                [0.98, 0.01, 0.01],
                [0.01, 0.01, 0.98],
            ],
            vec![0.0; 4],
        );
        let trees = preds(
            vec![
                [0.01, 0.01, 0.98],
                [0.98, 0.01, 0.01],
                [0.01, 0.01, 0.98],
                [0.01, 0.01, 0.98],
            ],
            vec![0.0; 4],
        );
        let w = EnsembleWeights::choose(&net, &trees, &classes, &[0.0; 4]);
        assert!(w.net_class > 0.0 && w.net_class < 1.0, "{w:?}");
        assert!(w.ensemble_log_loss < w.net_log_loss && w.ensemble_log_loss < w.trees_log_loss);
        // No evidence on the move: the tie goes to the equal mix.
        assert_eq!(w.net_move, 0.5);
    }
}
