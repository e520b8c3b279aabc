//! Where a training step's time goes on one backend (development probe).
use std::time::Instant;

use burn::tensor::{Distribution, Tensor};
use models::backend::Backend;
use models::net::BiGru;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn time(name: &str, n: usize, mut f: impl FnMut()) {
    f();
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    println!(
        "{name}: {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3 / n as f64
    );
}

fn main() {
    let backend: Backend = std::env::args()
        .nth(1)
        .unwrap_or("flex".into())
        .parse()
        .unwrap();
    let dev = backend.device().unwrap().autodiff();
    let plain = backend.device().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let gru = BiGru::new(18, 128, &mut rng, &dev);
    let x = Tensor::<3>::random([64, 60, 18], Distribution::Default, &dev);
    time("bigru fwd (autodiff)", 5, || {
        let _ = gru.forward(x.clone()).sum().into_scalar::<f32>();
    });
    time("bigru fwd+bwd", 5, || {
        let y = gru.forward(x.clone()).sum();
        let _ = y.backward();
    });
    let h = Tensor::<3>::random([2, 64, 128], Distribution::Default, &plain);
    let w = Tensor::<3>::random([2, 128, 384], Distribution::Default, &plain);
    time("60 x batched matmul [2,64,128]x[2,128,384]", 5, || {
        for _ in 0..60 {
            let _ = h.clone().matmul(w.clone());
        }
        let _ = h.clone().sum().into_scalar::<f32>();
    });
    let h2 = Tensor::<2>::random([128, 128], Distribution::Default, &plain);
    let w2 = Tensor::<2>::random([128, 384], Distribution::Default, &plain);
    time("60 x 2 x matmul [64,128]x[128,384]", 5, || {
        for _ in 0..120 {
            let _ = h2.clone().narrow(0, 0, 64).matmul(w2.clone());
        }
        let _ = h2.clone().sum().into_scalar::<f32>();
    });
    let a = Tensor::<3>::random([2, 64, 384], Distribution::Default, &plain);
    time("60 x 15 elementwise on [2,64,128..384]", 5, || {
        for _ in 0..60 {
            let mut t = a.clone();
            for _ in 0..15 {
                t = (t.clone() + a.clone()).tanh();
            }
        }
        let _ = a.clone().sum().into_scalar::<f32>();
    });
    for (name, op) in [
        ("add", 0),
        ("tanh", 1),
        ("sigmoid", 2),
        ("mul", 3),
        ("exp", 4),
    ] {
        time(&format!("900 x {name} on [2,64,384]"), 3, || {
            for _ in 0..900 {
                let _ = match op {
                    0 => a.clone() + a.clone(),
                    1 => a.clone().tanh(),
                    2 => burn::tensor::activation::sigmoid(a.clone()),
                    3 => a.clone() * a.clone(),
                    _ => a.clone().exp(),
                };
            }
            let _ = a.clone().sum().into_scalar::<f32>();
        });
    }
    let stock = burn::nn::BiGruConfig::new(18, 128, true).init(&dev);
    time("stock BiGru fwd+bwd", 3, || {
        let (y, _) = stock.forward(x.clone(), None);
        let _ = y.sum().backward();
    });
}
