//! Weights saved as safetensors load on either backend with the same
//! outputs: trained on libtorch, scored on flex, and the other way round —
//! the network and the sequence transformer.
#![cfg(feature = "tch")]

mod common;

use std::path::Path;

use burn::tensor::Device;
use engine::features::Scaler;
use models::backend::Backend;
use models::data::{Dataset, Sample};
use models::net::SequenceModel;
use models::train::{self, Control, Trained};

const WINDOW: usize = 20;

fn max_diff(a: &train::Predictions, b: &train::Predictions) -> f32 {
    let p = a
        .probs
        .iter()
        .zip(&b.probs)
        .flat_map(|(p, q)| (0..3).map(move |k| (p[k] - q[k]).abs()))
        .fold(0f32, f32::max);
    let m = a
        .moves
        .iter()
        .zip(&b.moves)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    p.max(m)
}

/// Trains on one backend and scores there, saves the weights, loads them on
/// the other and scores again — both ways round. `spread`: how much the
/// outputs must differ between bars (not trivially equal).
fn both_ways<M: SequenceModel>(
    name: &str,
    spread: f32,
    train: impl Fn(&Dataset, &Scaler, &[Sample], &[Sample], Backend) -> Trained<M>,
    load: impl Fn(&Path, &Device) -> M,
) {
    let ds = common::daily(&["btc-usd-1d", "msft-1d"], WINDOW);
    let h = ds.holdout(&ds.samples, 0.15, 0.0).unwrap();
    let scaler = ds.fit_scaler(&h.fit).unwrap();
    let probe: Vec<_> = h.validation.iter().take(100).copied().collect();
    let dir = tempfile::tempdir().unwrap();
    for (from, to) in [
        (Backend::Libtorch, Backend::Flex),
        (Backend::Flex, Backend::Libtorch),
    ] {
        let trained = train(&ds, &scaler, &h.fit, &h.validation, from);
        assert_eq!(trained.history.len(), 2);
        let here = train::predict(
            &trained.net,
            &ds,
            &scaler,
            &probe,
            32,
            &from.device().unwrap(),
        );
        let path = dir.path().join(format!("{name}-{from}.safetensors"));
        train::save_weights(&trained.net, &path).unwrap();
        let device = to.device().unwrap();
        let loaded = load(&path, &device);
        let there = train::predict(&loaded, &ds, &scaler, &probe, 32, &device);
        let d = max_diff(&here, &there);
        assert!(d < 1e-4, "{name} {from} → {to}: outputs differ by {d}");
        // Not trivially equal: the model says different things about different bars.
        assert!(
            here.probs
                .windows(2)
                .any(|w| (w[0][0] - w[1][0]).abs() > spread)
        );
    }
}

#[test]
fn safetensors_give_the_same_outputs_on_libtorch_and_flex() {
    let cfg = common::tiny(WINDOW, 2);
    both_ways(
        "network",
        1e-4,
        |ds, scaler, fit, validation, backend| {
            train::train(
                ds,
                scaler,
                fit,
                validation,
                &cfg,
                backend,
                None,
                "data",
                &mut |_| Control::Continue,
            )
            .unwrap()
        },
        |path, device| train::load_weights(&cfg.net, path, device).unwrap(),
    );
}

#[test]
fn the_transformer_gives_the_same_outputs_on_libtorch_and_flex() {
    let cfg = common::tiny(WINDOW, 2);
    let tc = models::net::transformer::TransformerConfig {
        d_model: 8,
        heads: 2,
        layers: 1,
        d_ff: 16,
        dropout: 0.1,
    };
    both_ways(
        "transformer",
        1e-5,
        |ds, scaler, fit, validation, backend| {
            train::train_transformer(
                ds,
                scaler,
                fit,
                validation,
                &cfg,
                &tc,
                backend,
                None,
                "data",
                &mut |_| Control::Continue,
            )
            .unwrap()
        },
        |path, device| train::load_transformer(&cfg.net, &tc, path, device).unwrap(),
    );
}
