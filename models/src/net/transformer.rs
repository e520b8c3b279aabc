//! The sequence transformer: the window's bars as tokens (a linear embedding
//! plus a learned position embedding), pre-norm encoder layers with causal
//! multi-head self-attention (each bar attends to itself and the bars
//! before it), and the last bar's state read out into the same two heads as
//! the BiGRU network. Weights start from the seeded host generator like the
//! other members', so a seed gives the same model on either backend.

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, LayerNorm, LayerNormConfig};
use burn::tensor::activation::{gelu, softmax};
use burn::tensor::{Bool, Device, Tensor};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::init::uniform;
use super::{Dense, NetConfig, Output};

/// Layer sizes of the transformer (window, features and classes are the
/// network's, [`NetConfig`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransformerConfig {
    pub d_model: usize,
    pub heads: usize,
    pub layers: usize,
    pub d_ff: usize,
    pub dropout: f64,
}

impl Default for TransformerConfig {
    fn default() -> Self {
        TransformerConfig {
            d_model: 32,
            heads: 4,
            layers: 2,
            d_ff: 64,
            dropout: 0.1,
        }
    }
}

impl TransformerConfig {
    /// Refuses shapes the layers cannot take.
    pub fn check(&self) -> Result<(), String> {
        if self.d_model == 0 || self.heads == 0 || self.layers == 0 || self.d_ff == 0 {
            return Err(format!(
                "transformer: every size must be positive ({self:?})"
            ));
        }
        if !self.d_model.is_multiple_of(self.heads) {
            return Err(format!(
                "transformer: d_model {} must split evenly into {} heads",
                self.d_model, self.heads
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!(
                "transformer: dropout {} is not in [0, 1)",
                self.dropout
            ));
        }
        Ok(())
    }
}

/// One pre-norm encoder layer: x + Attn(LN(x)), then x + FF(LN(x)).
#[derive(Module, Debug)]
pub struct EncoderLayer {
    pub norm1: LayerNorm,
    pub query: Dense,
    pub key: Dense,
    pub value: Dense,
    pub out: Dense,
    pub norm2: LayerNorm,
    pub ff1: Dense,
    pub ff2: Dense,
    pub drop: Dropout,
    pub heads: usize,
}

impl EncoderLayer {
    pub fn new(cfg: &TransformerConfig, rng: &mut impl Rng, device: &Device) -> EncoderLayer {
        let d = cfg.d_model;
        EncoderLayer {
            norm1: LayerNormConfig::new(d).init(device),
            query: Dense::new(d, d, rng, device),
            key: Dense::new(d, d, rng, device),
            value: Dense::new(d, d, rng, device),
            out: Dense::new(d, d, rng, device),
            norm2: LayerNormConfig::new(d).init(device),
            ff1: Dense::new(d, cfg.d_ff, rng, device),
            ff2: Dense::new(cfg.d_ff, d, rng, device),
            drop: DropoutConfig::new(cfg.dropout).init(),
            heads: cfg.heads,
        }
    }

    /// `x`: `[B, T, D]`; `mask`: `[T, T]`, true where attention is barred.
    pub fn forward(&self, x: Tensor<3>, mask: Tensor<2, Bool>) -> Tensor<3> {
        let [b, t, d] = x.dims();
        let (h, dh) = (self.heads, d / self.heads);
        let y = self.norm1.forward(x.clone());
        let split = |z: Tensor<3>| z.reshape([b, t, h, dh]).swap_dims(1, 2);
        let q = split(self.query.forward(y.clone()));
        let k = split(self.key.forward(y.clone()));
        let v = split(self.value.forward(y));
        let scores = q.matmul(k.swap_dims(2, 3)).div_scalar((dh as f64).sqrt());
        let mask = mask.unsqueeze::<4>().expand([b, h, t, t]);
        let att = softmax(scores.mask_fill(mask, -1e9), 3);
        let ctx = att.matmul(v).swap_dims(1, 2).reshape([b, t, d]);
        let x = x + self.drop.forward(self.out.forward(ctx));
        let y = self.norm2.forward(x.clone());
        let y = self
            .ff2
            .forward(self.drop.forward(gelu(self.ff1.forward(y))));
        x + self.drop.forward(y)
    }
}

#[derive(Module, Debug)]
pub struct SeqTransformer {
    pub embed: Dense,
    /// One learned vector per position in the window, `[T, D]`.
    pub position: Param<Tensor<2>>,
    pub layers: Vec<EncoderLayer>,
    pub norm: LayerNorm,
    pub class_head: Dense,
    pub move_head: Dense,
}

impl SeqTransformer {
    pub fn new(
        net: &NetConfig,
        cfg: &TransformerConfig,
        rng: &mut impl Rng,
        device: &Device,
    ) -> SeqTransformer {
        let d = cfg.d_model;
        SeqTransformer {
            embed: Dense::new(net.features, d, rng, device),
            position: uniform([net.window, d], 0.1, rng, device),
            layers: (0..cfg.layers)
                .map(|_| EncoderLayer::new(cfg, rng, device))
                .collect(),
            norm: LayerNormConfig::new(d).init(device),
            class_head: Dense::new(d, net.classes, rng, device),
            move_head: Dense::new(d, 1, rng, device),
        }
    }

    /// `x`: `[B, T, features]` → the two heads, read from the last bar.
    pub fn forward(&self, x: Tensor<3>) -> Output {
        let [b, t, _] = x.dims();
        let device = x.device();
        let e = self.embed.forward(x);
        let d = e.dims()[2];
        let pos = self
            .position
            .val()
            .narrow(0, 0, t)
            .unsqueeze::<3>()
            .expand([b, t, d]);
        let mut h = e + pos;
        // Above the diagonal: later bars, barred.
        let mask = Tensor::<2, Bool>::tril_mask([t, t], 0, &device);
        for layer in &self.layers {
            h = layer.forward(h, mask.clone());
        }
        let last = self.norm.forward(h.narrow(1, t - 1, 1).reshape([b, d]));
        Output {
            logits: self.class_head.forward(last.clone()),
            expected_move: self.move_head.forward(last).reshape([b]),
        }
    }
}
