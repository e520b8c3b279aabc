//! The sequence transformer: its attention is causal, it trains as a third
//! ensemble member on the walk-forward's own folds (weighed with the others
//! on the blend hold-out), and a model directory with it reloads to the
//! same predictions.

mod common;

use burn::module::Module;
use burn::tensor::{Tensor, TensorData};
use models::artifact::{self, ArtifactParts, DataRange, LoadedModel, ModelConfig};
use models::backend::Backend;
use models::boost::BoostConfig;
use models::net::transformer::{EncoderLayer, TransformerConfig};
use models::pipeline::{self, PipelineConfig};
use models::train::Control;
use rand::SeedableRng;

const WINDOW: usize = 20;

fn small() -> TransformerConfig {
    TransformerConfig {
        d_model: 8,
        heads: 2,
        layers: 1,
        d_ff: 16,
        dropout: 0.1,
    }
}

/// Changing the last bar changes the last position's state and no other:
/// no bar attends to a later one.
#[test]
fn attention_reads_only_the_bar_itself_and_earlier_ones() {
    let device = Backend::Flex.device().unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let layer = EncoderLayer::new(&small(), &mut rng, &device).valid();
    let (b, t, d) = (2, 6, 8);
    let values: Vec<f32> = (0..b * t * d)
        .map(|i| ((i * 37 % 11) as f32) / 7.0 - 0.6)
        .collect();
    let mut changed = values.clone();
    for k in 0..b {
        for j in 0..d {
            changed[(k * t + t - 1) * d + j] += 1.5;
        }
    }
    let run = |v: Vec<f32>| -> Vec<f32> {
        let x = Tensor::<3>::from_data(TensorData::new(v, [b, t, d]), &device);
        let mask = Tensor::<2, burn::tensor::Bool>::tril_mask([t, t], 0, &device);
        layer
            .forward(x, mask)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    };
    let (a, c) = (run(values), run(changed));
    for k in 0..b {
        for pos in 0..t {
            let at = |v: &[f32]| v[(k * t + pos) * d..(k * t + pos + 1) * d].to_vec();
            let diff = at(&a)
                .iter()
                .zip(at(&c))
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max);
            if pos + 1 < t {
                assert!(diff < 1e-6, "position {pos} saw the last bar: {diff}");
            } else {
                assert!(diff > 1e-3, "the last position ignored its own bar");
            }
        }
    }
}

#[test]
fn bad_shapes_are_refused() {
    let odd = TransformerConfig {
        d_model: 10,
        heads: 3,
        ..small()
    };
    assert!(odd.check().unwrap_err().contains("heads"));
    assert!(small().check().is_ok());
}

#[test]
fn a_transformer_member_is_weighed_on_the_folds_and_reloads_identically() {
    let ds = common::daily(&["btc-usd-1d", "msft-1d"], WINDOW);
    let cfg = PipelineConfig {
        train: common::tiny(WINDOW, 2),
        boost: Some(BoostConfig {
            lags: vec![0, 1, 5],
            max_rounds: 60,
            early_stopping_rounds: 15,
            ..BoostConfig::default()
        }),
        transformer: Some(small()),
        folds: 2,
        ..PipelineConfig::default()
    };
    let mut epochs = 0;
    let run = pipeline::run(&ds, &cfg, Backend::Flex, &|_| None, "test", &mut |_, _| {
        epochs += 1;
        Control::Continue
    })
    .unwrap();
    // Two members trained per fit: (2 folds + the final model) × 2 epochs each.
    assert_eq!(epochs, 3 * 2 * 2);
    let e = run.evaluation.unwrap();
    let t = e
        .transformer
        .as_ref()
        .expect("the transformer scored on every fold");
    assert_eq!(t.samples, e.net.samples);
    assert!(t.log_loss.is_finite());
    for f in &e.folds {
        let w = f.weights.as_ref().unwrap();
        assert!(f.transformer.is_some());
        assert!(f.blend_samples > 0 && w.samples == f.blend_samples);
        assert!(w.transformer_log_loss.is_some() && w.trees_log_loss.is_some());
        let trees = 1.0 - w.net_class - w.transformer_class;
        for share in [w.net_class, w.transformer_class, trees] {
            assert!((-1e-9..=1.0 + 1e-9).contains(&share), "{w:?}");
        }
        // The pool is never worse than its best member where it was chosen.
        let best = w
            .net_log_loss
            .min(w.trees_log_loss.unwrap())
            .min(w.transformer_log_loss.unwrap());
        assert!(w.ensemble_log_loss <= best + 1e-9, "{w:?}");
    }

    let model = run.model;
    assert!(model.ensemble.transformer.is_some());
    let dir = tempfile::tempdir().unwrap();
    let config = ModelConfig {
        architecture: "bigru-attention+lightgbm+transformer".into(),
        scope: "universal".into(),
        timeframe: engine::Timeframe::D1,
        features: ds.names.clone(),
        net: models::net::NetConfig {
            features: ds.width(),
            ..cfg.train.net.clone()
        },
        target: models::data::TargetConfig::for_timeframe(engine::Timeframe::D1),
        pipeline: cfg.clone(),
        backend: Backend::Flex,
    };
    let manifest = artifact::write(
        dir.path(),
        ArtifactParts {
            ensemble: &model.ensemble,
            calibrator: &model.calibrator,
            config: &config,
            metrics: &serde_json::json!({}),
            history: &serde_json::json!([]),
            data: DataRange {
                symbols: vec!["btc-usd-1d".into(), "msft-1d".into()],
                from: 0,
                to: 0,
                samples: ds.samples.len(),
                sha256: "test".into(),
            },
            code_version: "test".into(),
            created_at: 0,
        },
    )
    .unwrap();
    assert!(
        manifest
            .files
            .iter()
            .any(|f| f.path == artifact::TRANSFORMER)
    );
    let loaded = LoadedModel::load(dir.path(), Backend::Flex).unwrap();
    let probe: Vec<_> = ds.samples.iter().rev().take(50).copied().collect();
    let device = Backend::Flex.device().unwrap();
    let here = model.ensemble.predict(&ds, &probe, &device).unwrap();
    let there = loaded.score(&ds, &probe).unwrap();
    let (a, b) = (here.transformer.unwrap(), there.transformer.unwrap());
    for (p, q) in a.probs.iter().zip(&b.probs) {
        for k in 0..3 {
            assert!((p[k] - q[k]).abs() < 1e-6, "{p:?} vs {q:?}");
        }
    }
    for (p, q) in here.pooled.probs.iter().zip(&there.pooled.probs) {
        assert!((p[0] - q[0]).abs() < 1e-6);
    }
    // Not a constant: the transformer says different things about different bars.
    assert!(a.probs.windows(2).any(|w| (w[0][0] - w[1][0]).abs() > 1e-5));
}
