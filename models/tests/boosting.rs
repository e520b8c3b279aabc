//! The boosted trees on real bundled daily series: they learn something the
//! class prior does not know, stop early on the validation hold-out, and
//! come back from their text form with the same predictions.

mod common;

use models::boost::{BoostConfig, BoostError, Boosted, Trees};
use models::metrics;

#[test]
fn trees_beat_the_prior_in_sample_stop_early_and_round_trip() {
    let ds = common::daily(&["btc-usd-1d", "msft-1d", "nflx-1d"], 30);
    let h = ds.holdout(&ds.samples, 0.15, 0.15).unwrap();
    let cfg = BoostConfig {
        max_rounds: 400,
        early_stopping_rounds: 20,
        ..BoostConfig::default()
    };
    let (trees, report) = Boosted::fit(&ds, &h.fit, &h.validation, &cfg).unwrap();
    assert_eq!(report.fit_samples, h.fit.len());
    // Stopped before the cap (daily returns are mostly noise).
    assert!(
        report.classifier_rounds >= 1 && report.classifier_rounds < 400,
        "{report:?}"
    );
    assert!(report.regressor_rounds >= 1 && report.regressor_rounds < 400);

    // On its own fit data the booster must beat the class prior it starts from.
    let (classes, targets): (Vec<u8>, Vec<f32>) = h.fit.iter().map(|s| ds.target(s)).unzip();
    let p = trees.predict(&ds, &h.fit).unwrap();
    let m = metrics::classification(&p.probs, &classes, &p.moves, &targets);
    let mut counts = [0f32; 3];
    classes.iter().for_each(|&c| counts[c as usize] += 1.0);
    let prior = counts.map(|c| c / classes.len() as f32);
    let zeros = vec![0.0; classes.len()];
    let base = metrics::classification(&vec![prior; classes.len()], &classes, &zeros, &targets);
    assert!(
        m.balanced_accuracy > base.balanced_accuracy + 0.02,
        "{m:?} vs {base:?}"
    );
    for q in &p.probs {
        assert!((q.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }

    // Text round trip: identical predictions.
    let again = Boosted {
        config: cfg.clone(),
        classifier: Trees::from_text(trees.classifier.text().to_string()).unwrap(),
        regressor: Trees::from_text(trees.regressor.text().to_string()).unwrap(),
    };
    let q = again.predict(&ds, &h.calibration).unwrap();
    let r = trees.predict(&ds, &h.calibration).unwrap();
    assert_eq!(q.probs, r.probs);
    assert_eq!(q.moves, r.moves);
    assert_eq!(cfg.columns(&ds.names).len(), cfg.lags.len() * 18);
    assert!(cfg.columns(&ds.names).contains(&"RSI_lag5".to_string()));

    // A lag outside the window is refused, not read out of bounds.
    let bad = BoostConfig {
        lags: vec![0, 30],
        ..BoostConfig::default()
    };
    assert!(matches!(
        Boosted::fit(&ds, &h.fit, &h.validation, &bad),
        Err(BoostError::Lag {
            lag: 30,
            window: 30
        })
    ));
    assert!(Trees::from_text("not a model".into()).is_err());
}
