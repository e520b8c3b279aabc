//! Training on real bundled daily series with a shrunken network (flex):
//! learning happens, runs are reproducible, an interrupted run resumes to
//! the same result, and saved weights give the same outputs when reloaded.

mod common;

use models::backend::Backend;
use models::train::{self, Checkpoints, Control, StopReason};

const WINDOW: usize = 20;

#[test]
fn trains_resumes_and_reloads() {
    let ds = common::daily(&["btc-usd-1d", "msft-1d"], WINDOW);
    let h = ds.holdout(&ds.samples, 0.15, 0.0).unwrap();
    assert!(
        h.fit.len() > 1000 && h.validation.len() > 150,
        "{} {}",
        h.fit.len(),
        h.validation.len()
    );
    // Nothing in the fit part reads a label from the validation time span.
    let val_start = h.validation.iter().map(|s| s.at).min().unwrap();
    assert!(h.fit.iter().all(|s| s.label_end < val_start));
    let scaler = ds.fit_scaler(&h.fit).unwrap();
    let cfg = common::tiny(WINDOW, 4);

    // Uninterrupted, with checkpoints.
    let dir_a = tempfile::tempdir().unwrap();
    let cp_a = Checkpoints {
        dir: dir_a.path().to_path_buf(),
    };
    let mut seen = Vec::new();
    let a = train::train(
        &ds,
        &scaler,
        &h.fit,
        &h.validation,
        &cfg,
        Backend::Flex,
        Some(&cp_a),
        "data",
        &mut |r| {
            seen.push(r.epoch);
            Control::Continue
        },
    )
    .unwrap();
    assert_eq!(seen, [1, 2, 3, 4]);
    assert_eq!(a.stop, StopReason::MaxEpochs);
    let first = &a.history[0];
    let last = a.history.last().unwrap();
    assert!(last.train_loss < first.train_loss, "{first:?} → {last:?}");
    for r in &a.history {
        assert!(r.val_loss.is_finite() && r.val_log_loss.is_finite());
        assert!((0.0..=1.0).contains(&r.val_accuracy));
        assert!(r.eta_seconds >= 0.0 && r.learning_rate > 0.0);
    }
    // The best epoch is the one with the lowest validation loss.
    let best = a
        .history
        .iter()
        .min_by(|x, y| x.val_loss.total_cmp(&y.val_loss))
        .unwrap();
    assert_eq!(a.best_epoch, best.epoch);

    // Cancelled after epoch 2, then started again on the same checkpoints.
    let dir_b = tempfile::tempdir().unwrap();
    let cp_b = Checkpoints {
        dir: dir_b.path().to_path_buf(),
    };
    let b1 = train::train(
        &ds,
        &scaler,
        &h.fit,
        &h.validation,
        &cfg,
        Backend::Flex,
        Some(&cp_b),
        "data",
        &mut |r| {
            if r.epoch == 2 {
                Control::Cancel
            } else {
                Control::Continue
            }
        },
    )
    .unwrap();
    assert_eq!((b1.stop, b1.history.len()), (StopReason::Cancelled, 2));
    let b2 = train::train(
        &ds,
        &scaler,
        &h.fit,
        &h.validation,
        &cfg,
        Backend::Flex,
        Some(&cp_b),
        "data",
        &mut |_| Control::Continue,
    )
    .unwrap();
    assert_eq!(b2.resumed_from, 2);
    assert_eq!(b2.history.len(), 4);
    for (x, y) in a.history.iter().zip(&b2.history) {
        assert!((x.val_loss - y.val_loss).abs() < 1e-5, "{x:?} vs {y:?}");
        assert!((x.train_loss - y.train_loss).abs() < 1e-5, "{x:?} vs {y:?}");
    }
    // Other data: the checkpoint is not resumed.
    let c = train::train(
        &ds,
        &scaler,
        &h.fit,
        &h.validation,
        &common::tiny(WINDOW, 1),
        Backend::Flex,
        Some(&cp_b),
        "other",
        &mut |_| Control::Continue,
    )
    .unwrap();
    assert_eq!(c.resumed_from, 0);

    // Safetensors round trip: same outputs after reloading.
    let device = Backend::Flex.device().unwrap();
    let probe: Vec<_> = h.validation.iter().take(50).copied().collect();
    let before = train::predict(&a.net, &ds, &scaler, &probe, 16, &device);
    let path = dir_a.path().join("model.safetensors");
    train::save_weights(&a.net, &path).unwrap();
    let loaded = train::load_weights(&cfg.net, &path, &device).unwrap();
    let after = train::predict(&loaded, &ds, &scaler, &probe, 16, &device);
    for (p, q) in before.probs.iter().zip(&after.probs) {
        for k in 0..3 {
            assert!((p[k] - q[k]).abs() < 1e-6);
        }
    }
    assert_eq!(before.moves, after.moves);
    // Probabilities are probabilities.
    for p in &before.probs {
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    }
}

/// Four parts in time order, each purged of labels reaching the next, so
/// the ensemble's weights come from rows neither member trained or stopped
/// early on, and calibration from rows the weights never saw.
#[test]
fn the_blend_part_sits_between_validation_and_calibration() {
    let ds = common::daily(&["btc-usd-1d", "msft-1d"], WINDOW);
    let h = ds.holdout_with_blend(&ds.samples, 0.15, 0.1, 0.15).unwrap();
    let span = |p: &[models::data::Sample]| {
        (
            p.iter().map(|s| s.at).min().unwrap(),
            p.iter().map(|s| s.at).max().unwrap(),
        )
    };
    let parts = [&h.fit, &h.validation, &h.blend, &h.calibration];
    for w in parts.windows(2) {
        let next_start = span(w[1]).0;
        assert!(span(w[0]).1 < next_start, "parts overlap in time");
        assert!(
            w[0].iter().all(|s| s.label_end < next_start),
            "a label reaches into the next part"
        );
    }
    let steps = |p: &[models::data::Sample]| {
        let mut at: Vec<u32> = p.iter().map(|s| s.at).collect();
        at.dedup();
        at.len()
    };
    let all = steps(&h.fit) + steps(&h.validation) + steps(&h.blend) + steps(&h.calibration);
    let blend = steps(&h.blend) as f64 / all as f64;
    assert!((0.08..0.11).contains(&blend), "blend share {blend}");
    assert!(h.purged > 0);
    // Without a blend part the split is the plain holdout.
    let plain = ds.holdout(&ds.samples, 0.15, 0.15).unwrap();
    let none = ds.holdout_with_blend(&ds.samples, 0.15, 0.0, 0.15).unwrap();
    assert!(none.blend.is_empty());
    assert_eq!(
        (
            plain.fit.len(),
            plain.validation.len(),
            plain.calibration.len()
        ),
        (
            none.fit.len(),
            none.validation.len(),
            none.calibration.len()
        )
    );
}
