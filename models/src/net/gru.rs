//! A bidirectional GRU that runs both directions as one batched recurrence.
//!
//! burn's stock `BiGru` runs six small matmuls per time step and direction.
//! Here the input projections of every step and both directions are one
//! matmul up front (as cuDNN and PyTorch do), and each step is a single
//! batched `[2, B, H] × [2, H, 3H]` matmul followed by the gate arithmetic.
//! Gate order and the reset-after formulation follow PyTorch's `nn.GRU`:
//!   r = σ(x·W_ir + b_ir + h·W_hr + b_hr)
//!   z = σ(x·W_iz + b_iz + h·W_hz + b_hz)
//!   n = tanh(x·W_in + b_in + r ⊙ (h·W_hn + b_hn))
//!   h' = n + z ⊙ (h − n)

use burn::module::{Module, Param};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor};
use rand::Rng;

use super::init::uniform;

#[derive(Module, Debug)]
pub struct BiGru {
    /// Input weights, `[d_input, 6H]`: forward r|z|n then backward r|z|n.
    pub w_ih: Param<Tensor<2>>,
    /// Input biases, `[6H]`.
    pub b_ih: Param<Tensor<1>>,
    /// Recurrent weights per direction, `[2, H, 3H]`.
    pub w_hh: Param<Tensor<3>>,
    /// Recurrent biases per direction, `[2, 1, 3H]`.
    pub b_hh: Param<Tensor<3>>,
    pub hidden: usize,
}

impl BiGru {
    /// PyTorch's default initialisation: U(−1/√H, 1/√H) for every weight.
    pub fn new(d_input: usize, hidden: usize, rng: &mut impl Rng, device: &Device) -> BiGru {
        let k = 1.0 / (hidden as f64).sqrt();
        BiGru {
            w_ih: uniform([d_input, 6 * hidden], k, rng, device),
            b_ih: uniform([6 * hidden], k, rng, device),
            w_hh: uniform([2, hidden, 3 * hidden], k, rng, device),
            b_hh: uniform([2, 1, 3 * hidden], k, rng, device),
            hidden,
        }
    }

    /// `x`: `[B, T, d_input]` → `[B, T, 2H]` (forward states, then backward
    /// states, both aligned to the input's time steps).
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [b, t, d] = x.dims();
        let h = self.hidden;
        let proj = x
            .reshape([b * t, d])
            .matmul(self.w_ih.val())
            .add(self.b_ih.val().unsqueeze_dim(0))
            .reshape([b, t, 6 * h]);
        let fwd = proj.clone().narrow(2, 0, 3 * h);
        let bwd = proj.narrow(2, 3 * h, 3 * h).flip([1]);
        // [2, B, T, 3H] → per step [2, B, 3H].
        let xs: Tensor<4> = Tensor::stack(vec![fwd, bwd], 0);
        let steps: Vec<Tensor<3>> = xs
            .swap_dims(0, 2)
            .iter_dim(0)
            .map(|s| s.reshape([2, b, 3 * h]))
            .collect();

        let w_hh = self.w_hh.val();
        let b_hh = self.b_hh.val();
        let mut state: Tensor<3> = Tensor::zeros([2, b, h], &steps[0].device());
        let mut outs = Vec::with_capacity(t);
        for xt in steps {
            let hp = state.clone().matmul(w_hh.clone()).add(b_hh.clone());
            let rz = sigmoid(xt.clone().narrow(2, 0, 2 * h) + hp.clone().narrow(2, 0, 2 * h));
            let r = rz.clone().narrow(2, 0, h);
            let z = rz.narrow(2, h, h);
            let n = (xt.narrow(2, 2 * h, h) + r * hp.narrow(2, 2 * h, h)).tanh();
            state = n.clone() + z * (state - n);
            outs.push(state.clone());
        }
        // [T, 2, B, H] → [2, B, T, H]
        let all: Tensor<4> = Tensor::stack(outs, 0).permute([1, 2, 0, 3]);
        let f = all.clone().narrow(0, 0, 1).reshape([b, t, h]);
        let bw = all.narrow(0, 1, 1).reshape([b, t, h]).flip([1]);
        Tensor::cat(vec![f, bw], 2)
    }
}
