//! Times one training step (batch 64 × 60 × 18) and one inference batch of
//! the universal network: `cargo run --release -p models --example train_step -- flex`.

use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Tensor, TensorData};
use models::backend::Backend;
use models::net::{NetConfig, UniversalNet};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn main() {
    let backend: Backend = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "flex".into())
        .parse()
        .expect("backend");
    let steps: usize = std::env::args()
        .nth(2)
        .map_or(20, |s| s.parse().expect("steps"));
    let cfg = NetConfig::default();
    let device = backend.device().expect("device").autodiff();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut net = UniversalNet::new(&cfg, &mut rng, &device);
    let (b, t, f) = (64, cfg.window, cfg.features);
    let x: Vec<f32> = (0..b * t * f)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let y: Vec<f32> = (0..b * 3).map(|i| (i % 3 == 0) as u8 as f32).collect();
    let mut optim = AdamConfig::new().init();
    let mut step = |net: UniversalNet| {
        let xt = Tensor::<3>::from_data(TensorData::new(x.clone(), [b, t, f]), &device);
        let yt = Tensor::<2>::from_data(TensorData::new(y.clone(), [b, 3]), &device);
        let out = net.forward(xt);
        let loss = (log_softmax(out.logits, 1) * yt)
            .sum()
            .neg()
            .div_scalar(b as f64)
            + out.expected_move.square().mean().mul_scalar(0.3);
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        optim.step(5e-4, net, grads)
    };
    for _ in 0..3 {
        net = step(net);
    }
    let started = Instant::now();
    for _ in 0..steps {
        net = step(net);
    }
    let train_ms = started.elapsed().as_secs_f64() * 1e3 / steps as f64;

    let eval = net.valid();
    let inner = backend.device().expect("device");
    let xs = Tensor::<3>::from_data(TensorData::new(x.clone(), [b, t, f]), &inner);
    let _ = eval.forward(xs.clone()).logits.into_data();
    let started = Instant::now();
    for _ in 0..steps {
        let _ = eval.forward(xs.clone()).logits.into_data();
    }
    let infer_ms = started.elapsed().as_secs_f64() * 1e3 / steps as f64;
    println!(
        "{{\"backend\":\"{}\",\"params\":{},\"train_step_ms\":{train_ms:.1},\"infer_batch_ms\":{infer_ms:.1}}}",
        backend.describe(),
        net.num_params()
    );
}
