//! The ensemble of the network, the boosted trees and the sequence
//! transformer: a linear pool whose weights are chosen on recent
//! out-of-sample predictions of every member (the blend hold-out, which
//! none trained or stopped on), on a 0.05 grid over the members' shares,
//! minimising log loss for the classes and mean absolute error for the move.

use burn::tensor::Device;
use engine::features::Scaler;
use serde::{Deserialize, Serialize};

use crate::boost::{BoostError, Boosted};
use crate::data::{Dataset, Sample};
use crate::metrics;
use crate::net::UniversalNet;
use crate::net::transformer::SeqTransformer;
use crate::train::{self, Predictions};

/// Grid steps between 0 and 1.
const STEPS: usize = 20;

/// The pool's shares. The trees get what the network and the transformer
/// leave (none when there are no trees).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnsembleWeights {
    /// Share of the network in the class probabilities.
    pub net_class: f64,
    /// Share of the network in the expected move.
    pub net_move: f64,
    /// Shares of the transformer (0 in models without one).
    #[serde(default)]
    pub transformer_class: f64,
    #[serde(default)]
    pub transformer_move: f64,
    /// Out-of-sample predictions the weights were chosen on.
    pub samples: usize,
    /// Each member's and the pool's log loss / move MAE on those predictions.
    pub net_log_loss: f64,
    pub trees_log_loss: Option<f64>,
    #[serde(default)]
    pub transformer_log_loss: Option<f64>,
    pub ensemble_log_loss: f64,
    pub net_move_mae: f64,
    pub trees_move_mae: Option<f64>,
    #[serde(default)]
    pub transformer_move_mae: Option<f64>,
    pub ensemble_move_mae: f64,
}

/// Every member's predictions on the same rows.
#[derive(Debug, Clone, Copy)]
pub struct Members<'a> {
    pub net: &'a Predictions,
    pub trees: Option<&'a Predictions>,
    pub transformer: Option<&'a Predictions>,
}

impl EnsembleWeights {
    /// Weights from the members' predictions on the same out-of-sample rows.
    pub fn choose(m: Members<'_>, classes: &[u8], targets: &[f32]) -> EnsembleWeights {
        let step = 1.0 / STEPS as f64;
        // (network, transformer) shares; the trees take the rest.
        let grid: Vec<(f64, f64)> = (0..=STEPS)
            .flat_map(|a| (0..=STEPS - a).map(move |c| (a as f64 * step, c as f64 * step)))
            .filter(|&(a, c)| {
                let b = 1.0 - a - c;
                (m.trees.is_some() || b.abs() < 1e-9) && (m.transformer.is_some() || c == 0.0)
            })
            .collect();
        let members = 1 + m.trees.is_some() as usize + m.transformer.is_some() as usize;
        let equal = 1.0 / members as f64;
        // Distance from the equal mix of the members present.
        let spread = |(a, c): (f64, f64)| {
            let b = 1.0 - a - c;
            (a - equal).abs()
                + m.trees.map_or(0.0, |_| (b - equal).abs())
                + m.transformer.map_or(0.0, |_| (c - equal).abs())
        };
        let ll = |w: (f64, f64)| log_loss(&blend_probs(w, m), classes);
        let mae = |w: (f64, f64)| move_mae(&blend_moves(w, m), targets);
        // Ties go to the equal mix: the smaller the evidence, the safer.
        let best = |f: &dyn Fn((f64, f64)) -> f64| {
            grid.iter()
                .map(|&w| (f(w), spread(w), w))
                .min_by(|x, y| x.0.total_cmp(&y.0).then(x.1.total_cmp(&y.1)))
                .map_or((equal, 0.0), |t| t.2)
        };
        let (wc, wm) = (best(&ll), best(&mae));
        let alone_trees = (0.0, 0.0);
        let alone_transformer = (0.0, 1.0);
        EnsembleWeights {
            net_class: wc.0,
            net_move: wm.0,
            transformer_class: wc.1,
            transformer_move: wm.1,
            samples: classes.len(),
            net_log_loss: ll((1.0, 0.0)),
            trees_log_loss: m.trees.map(|_| ll(alone_trees)),
            transformer_log_loss: m.transformer.map(|_| ll(alone_transformer)),
            ensemble_log_loss: ll(wc),
            net_move_mae: mae((1.0, 0.0)),
            trees_move_mae: m.trees.map(|_| mae(alone_trees)),
            transformer_move_mae: m.transformer.map(|_| mae(alone_transformer)),
            ensemble_move_mae: mae(wm),
        }
    }

    /// The pool of the members' predictions.
    pub fn blend(&self, m: Members<'_>) -> Predictions {
        Predictions {
            probs: blend_probs((self.net_class, self.transformer_class), m),
            moves: blend_moves((self.net_move, self.transformer_move), m),
        }
    }
}

/// The members of a model and how they are pooled.
#[derive(Debug)]
pub struct Ensemble {
    pub net: UniversalNet,
    pub scaler: Scaler,
    pub trees: Option<Boosted>,
    pub transformer: Option<SeqTransformer>,
    /// The pool's weights: present with more than the network.
    pub weights: Option<EnsembleWeights>,
}

/// Each member's predictions and the pooled one (what is shipped).
#[derive(Debug, Clone, Default)]
pub struct Scored {
    pub net: Predictions,
    pub trees: Option<Predictions>,
    pub transformer: Option<Predictions>,
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
        let trees = match &self.trees {
            Some(t) => Some(t.predict(ds, samples)?),
            None => None,
        };
        let transformer = self
            .transformer
            .as_ref()
            .map(|t| train::predict(t, ds, &self.scaler, samples, 256, device));
        let pooled = match &self.weights {
            Some(w) => w.blend(Members {
                net: &net,
                trees: trees.as_ref(),
                transformer: transformer.as_ref(),
            }),
            None => net.clone(),
        };
        Ok(Scored {
            net,
            trees,
            transformer,
            pooled,
        })
    }
}

/// `w`: the network's and the transformer's shares; the trees get the rest.
fn blend_probs(w: (f64, f64), m: Members<'_>) -> Vec<[f32; 3]> {
    let (a, c) = (w.0 as f32, w.1 as f32);
    let b = 1.0 - a - c;
    (0..m.net.probs.len())
        .map(|i| {
            std::array::from_fn(|k| {
                let mut p = a * m.net.probs[i][k];
                if let Some(t) = m.trees {
                    p += b * t.probs[i][k];
                }
                if let Some(t) = m.transformer {
                    p += c * t.probs[i][k];
                }
                p
            })
        })
        .collect()
}

fn blend_moves(w: (f64, f64), m: Members<'_>) -> Vec<f32> {
    let (a, c) = (w.0 as f32, w.1 as f32);
    let b = 1.0 - a - c;
    (0..m.net.moves.len())
        .map(|i| {
            let mut v = a * m.net.moves[i];
            if let Some(t) = m.trees {
                v += b * t.moves[i];
            }
            if let Some(t) = m.transformer {
                v += c * t.moves[i];
            }
            v
        })
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

    fn two<'a>(net: &'a Predictions, trees: &'a Predictions) -> Members<'a> {
        Members {
            net,
            trees: Some(trees),
            transformer: None,
        }
    }

    fn knows(classes: &[u8]) -> Vec<[f32; 3]> {
        classes
            .iter()
            .map(|&c| std::array::from_fn(|k| if k == c as usize { 0.9 } else { 0.05 }))
            .collect()
    }

    /// Three members: the transformer alone knows the classes, the trees
    /// alone the move; each gets all of what it knows, and shares sum to 1.
    #[test]
    fn with_a_transformer_the_weights_cover_three_members() {
        let classes = vec![0u8, 2, 1, 0, 2, 1];
        let targets = vec![1.0f32, -2.0, 0.1, 0.7, -1.5, 0.2];
        let uniform = vec![[1.0 / 3.0; 3]; 6];
        let net = preds(uniform.clone(), vec![0.0; 6]);
        let trees = preds(uniform, targets.clone());
        let transformer = preds(knows(&classes), vec![0.5; 6]);
        let m = Members {
            net: &net,
            trees: Some(&trees),
            transformer: Some(&transformer),
        };
        let w = EnsembleWeights::choose(m, &classes, &targets);
        assert_eq!((w.net_class, w.transformer_class), (0.0, 1.0), "{w:?}");
        assert_eq!((w.net_move, w.transformer_move), (0.0, 0.0), "{w:?}");
        let b = w.blend(m);
        assert_eq!(b.probs, transformer.probs);
        assert_eq!(b.moves, trees.moves);
        assert!(w.transformer_log_loss.unwrap() < w.net_log_loss);
        // No evidence at all (every move 0): the nearest grid point to the equal mix.
        let flat = EnsembleWeights::choose(
            Members {
                net: &net,
                trees: Some(&net),
                transformer: Some(&net),
            },
            &classes,
            &[0.0; 6],
        );
        let shares = [
            flat.net_move,
            1.0 - flat.net_move - flat.transformer_move,
            flat.transformer_move,
        ];
        assert!(
            shares.iter().all(|s| (s - 1.0 / 3.0).abs() < 0.05),
            "{shares:?}"
        );
        // Without trees the network and the transformer share everything.
        let pair = EnsembleWeights::choose(
            Members {
                net: &net,
                trees: None,
                transformer: Some(&transformer),
            },
            &classes,
            &targets,
        );
        assert_eq!(pair.trees_log_loss, None);
        assert!(((pair.net_class + pair.transformer_class) - 1.0).abs() < 1e-9);
        assert_eq!(pair.transformer_class, 1.0);
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
        let m = two(&net, &trees);
        let w = EnsembleWeights::choose(m, &classes, &targets);
        assert_eq!(w.net_class, 1.0);
        assert_eq!(w.net_move, 0.0);
        assert_eq!(w.transformer_class, 0.0);
        let trees_ll = w.trees_log_loss.unwrap();
        assert!(w.ensemble_log_loss <= w.net_log_loss.min(trees_ll) + 1e-12);
        assert!(w.trees_move_mae.unwrap() < 1e-6 && w.net_move_mae > 0.5);
        assert_eq!(w.transformer_log_loss, None);
        let b = w.blend(m);
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
        let w = EnsembleWeights::choose(two(&net, &trees), &classes, &[0.0; 4]);
        assert!(w.net_class > 0.0 && w.net_class < 1.0, "{w:?}");
        let trees_ll = w.trees_log_loss.unwrap();
        assert!(w.ensemble_log_loss < w.net_log_loss && w.ensemble_log_loss < trees_ll);
        // No evidence on the move: the tie goes to the equal mix.
        assert_eq!(w.net_move, 0.5);
    }
}
