//! Weight initialisation from a seeded generator on the host, so a seed gives
//! the same starting weights on every backend.

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;

/// U(−k, k), PyTorch's default for recurrent and linear layers (k = 1/√fan_in).
pub fn uniform<const D: usize>(
    shape: [usize; D],
    k: f64,
    rng: &mut impl Rng,
    device: &Device,
) -> Param<Tensor<D>> {
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|_| rng.random_range(-k..k) as f32).collect();
    Param::from_data(TensorData::new(values, shape), device)
}
