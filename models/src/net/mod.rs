//! The universal BiGRU-attention network: one model for every symbol.
//!
//! 60 bars × 18 features → BiGRU(128) + LayerNorm → BiGRU(64) + LayerNorm →
//! additive self-attention (context vector) ⧺ last hidden state →
//! Dense(128, ReLU) + LayerNorm + Dropout(0.2) → Dense(64, ReLU) +
//! Dropout(0.15) → class logits (UP / NEUTRAL / DOWN) and expected % move.

mod gru;
mod init;
pub mod transformer;

pub use gru::{BiGru, tanh};

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, LayerNorm, LayerNormConfig};
use burn::tensor::activation::{relu, softmax};
use burn::tensor::{Device, Tensor};
use rand::Rng;
use serde::{Deserialize, Serialize};

use init::uniform;

/// Layer sizes. The defaults are the production architecture; tests shrink them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetConfig {
    pub features: usize,
    pub window: usize,
    pub gru1: usize,
    pub gru2: usize,
    pub attention: usize,
    pub dense1: usize,
    pub dense2: usize,
    pub dropout1: f64,
    pub dropout2: f64,
    pub classes: usize,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            features: engine::features::COUNT,
            window: 60,
            gru1: 128,
            gru2: 64,
            attention: 128,
            dense1: 128,
            dense2: 64,
            dropout1: 0.2,
            dropout2: 0.15,
            classes: 3,
        }
    }
}

/// A dense layer `y = x·W + b` with PyTorch's default initialisation.
#[derive(Module, Debug)]
pub struct Dense {
    pub weight: Param<Tensor<2>>,
    pub bias: Param<Tensor<1>>,
}

impl Dense {
    pub fn new(d_in: usize, d_out: usize, rng: &mut impl Rng, device: &Device) -> Dense {
        let k = 1.0 / (d_in as f64).sqrt();
        Dense {
            weight: uniform([d_in, d_out], k, rng, device),
            bias: uniform([d_out], k, rng, device),
        }
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        burn::tensor::module::linear(x, self.weight.val(), Some(self.bias.val()))
    }
}

/// Additive (Bahdanau) self-attention over time: e_t = v·tanh(W·h_t + b),
/// α = softmax(e), context = Σ α_t h_t.
#[derive(Module, Debug)]
pub struct Attention {
    pub proj: Dense,
    pub score: Param<Tensor<2>>,
}

impl Attention {
    pub fn new(d_in: usize, d_att: usize, rng: &mut impl Rng, device: &Device) -> Attention {
        Attention {
            proj: Dense::new(d_in, d_att, rng, device),
            score: uniform([d_att, 1], 1.0 / (d_att as f64).sqrt(), rng, device),
        }
    }

    /// `h`: `[B, T, D]` → (context `[B, D]`, weights `[B, T]`).
    pub fn forward(&self, h: Tensor<3>) -> (Tensor<2>, Tensor<2>) {
        let [b, t, d] = h.dims();
        let e = self.proj.forward(h.clone());
        let e = tanh(e)
            .reshape([b * t, self.score.dims()[0]])
            .matmul(self.score.val())
            .reshape([b, t]);
        let alpha = softmax(e, 1);
        let context = alpha
            .clone()
            .unsqueeze_dim::<3>(1)
            .matmul(h)
            .reshape([b, d]);
        (context, alpha)
    }
}

/// A network the trainer fits and scores: the BiGRU-attention net or the
/// sequence transformer. `x`: `[B, T, features]`.
pub trait SequenceModel: Module + 'static {
    fn forward(&self, x: Tensor<3>) -> Output;
}

impl SequenceModel for UniversalNet {
    fn forward(&self, x: Tensor<3>) -> Output {
        UniversalNet::forward(self, x)
    }
}

impl SequenceModel for transformer::SeqTransformer {
    fn forward(&self, x: Tensor<3>) -> Output {
        transformer::SeqTransformer::forward(self, x)
    }
}

/// The network's two heads for a batch.
#[derive(Debug, Clone)]
pub struct Output {
    /// Class logits `[B, 3]` (UP, NEUTRAL, DOWN).
    pub logits: Tensor<2>,
    /// Expected move in percent, `[B]`.
    pub expected_move: Tensor<1>,
}

#[derive(Module, Debug)]
pub struct UniversalNet {
    pub gru1: BiGru,
    pub norm1: LayerNorm,
    pub gru2: BiGru,
    pub norm2: LayerNorm,
    pub attention: Attention,
    pub dense1: Dense,
    pub norm3: LayerNorm,
    pub drop1: Dropout,
    pub dense2: Dense,
    pub drop2: Dropout,
    pub class_head: Dense,
    pub move_head: Dense,
}

impl UniversalNet {
    pub fn new(cfg: &NetConfig, rng: &mut impl Rng, device: &Device) -> UniversalNet {
        let d1 = 2 * cfg.gru1;
        let d2 = 2 * cfg.gru2;
        UniversalNet {
            gru1: BiGru::new(cfg.features, cfg.gru1, rng, device),
            norm1: LayerNormConfig::new(d1).init(device),
            gru2: BiGru::new(d1, cfg.gru2, rng, device),
            norm2: LayerNormConfig::new(d2).init(device),
            attention: Attention::new(d2, cfg.attention, rng, device),
            dense1: Dense::new(2 * d2, cfg.dense1, rng, device),
            norm3: LayerNormConfig::new(cfg.dense1).init(device),
            drop1: DropoutConfig::new(cfg.dropout1).init(),
            dense2: Dense::new(cfg.dense1, cfg.dense2, rng, device),
            drop2: DropoutConfig::new(cfg.dropout2).init(),
            class_head: Dense::new(cfg.dense2, cfg.classes, rng, device),
            move_head: Dense::new(cfg.dense2, 1, rng, device),
        }
    }

    /// `x`: `[B, T, features]` (data, not tracked by autodiff).
    pub fn forward(&self, x: Tensor<3>) -> Output {
        let [b, t, f] = x.dims();
        // Per-step tensors through both GRUs (see gru.rs for why not [B, T, ·]).
        let xs: Vec<Tensor<2>> = (0..t)
            .map(|i| x.clone().narrow(1, i, 1).reshape([b, f]))
            .collect();
        let h1: Vec<Tensor<2>> = self
            .gru1
            .forward_steps(&xs)
            .into_iter()
            .map(|h| self.norm1.forward(h))
            .collect();
        let h2: Vec<Tensor<2>> = self
            .gru2
            .forward_steps(&h1)
            .into_iter()
            .map(|h| self.norm2.forward(h))
            .collect();
        let last = h2[t - 1].clone();
        let h: Tensor<3> = Tensor::stack(h2, 1);
        let (context, _) = self.attention.forward(h);
        let z = Tensor::cat(vec![context, last], 1);
        let z = self
            .drop1
            .forward(self.norm3.forward(relu(self.dense1.forward(z))));
        let z = self.drop2.forward(relu(self.dense2.forward(z)));
        Output {
            logits: self.class_head.forward(z.clone()),
            expected_move: self.move_head.forward(z).reshape([b]),
        }
    }
}
