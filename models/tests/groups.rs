//! Feature groups: the columns they add, that rows stay usable exactly when
//! they are without them (so a comparison runs on the same samples), and
//! that the walk-forward's with/without comparison measures a group that
//! carries information as helping, on the same folds.

mod common;

use engine::Timeframe;
use engine::altdata::sentiment::Item;
use engine::labels::forward_return;
use models::backend::Backend;
use models::boost::BoostConfig;
use models::data::{AltInputs, Dataset, FeatureGroup, Series, TargetConfig, feature_names};
use models::pipeline::{self, PipelineConfig, Stage};
use models::train::Control;

const WINDOW: usize = 20;
const HOUR: i64 = 3_600_000;

fn with_news(name: &str, informative: bool) -> Series {
    let candles = common::candles(name);
    let target = TargetConfig::for_timeframe(Timeframe::D1);
    let fwd = forward_return(&candles, target.horizon);
    // One item an hour into each bar: about what happens next when
    // informative (a leak by construction, to have something to find), noise otherwise.
    let items: Vec<Item> = candles
        .iter()
        .zip(&fwd)
        .enumerate()
        .map(|(i, (c, r))| Item {
            time: c.open_time + HOUR,
            score: if informative {
                r.map_or(0.0, |r| (r / 2.0).tanh())
            } else {
                ((i * 7919) % 13) as f64 / 6.5 - 1.0
            },
        })
        .collect();
    let alt = AltInputs {
        sentiment: items,
        ..Default::default()
    };
    Series::with_groups(
        name,
        Timeframe::D1,
        &candles,
        target,
        &[FeatureGroup::Sentiment, FeatureGroup::Macro],
        &alt,
    )
}

#[test]
fn group_columns_keep_the_samples_and_drop_cleanly() {
    let target = TargetConfig::for_timeframe(Timeframe::D1);
    let plain = Series::new(
        "msft-1d",
        Timeframe::D1,
        &common::candles("msft-1d"),
        target,
    );
    let grouped = with_news("msft-1d", false);
    assert_eq!(
        grouped.rows[grouped.rows.len() - 1].as_ref().unwrap().len(),
        feature_names(&[FeatureGroup::Sentiment, FeatureGroup::Macro]).len()
    );
    // Usable exactly where the technical row is.
    for (a, b) in plain.rows.iter().zip(&grouped.rows) {
        assert_eq!(a.is_some(), b.is_some());
        if let (Some(a), Some(b)) = (a, b) {
            assert_eq!(a[..], b[..a.len()]);
        }
    }
    let ds = Dataset::new(vec![grouped], WINDOW, target.horizon).unwrap();
    let plain_ds = Dataset::new(vec![plain], WINDOW, target.horizon).unwrap();
    assert_eq!(ds.samples, plain_ds.samples);
    let less = ds
        .without(FeatureGroup::Macro)
        .without(FeatureGroup::Sentiment);
    assert_eq!(less.names, plain_ds.names);
    assert_eq!(less.samples, ds.samples);
    let s = ds.samples[ds.samples.len() / 2];
    let row = ds.series[0].rows[s.bar as usize].as_ref().unwrap();
    let plain_row = plain_ds.series[0].rows[s.bar as usize].as_ref().unwrap();
    assert_eq!(less.select(row).collect::<Vec<_>>(), plain_row.to_vec());
    // Series built with other groups do not mix.
    let odd = Series::new(
        "msft-1d",
        Timeframe::D1,
        &common::candles("msft-1d"),
        target,
    );
    assert!(Dataset::new(vec![with_news("msft-1d", false), odd], WINDOW, 1).is_err());
}

#[test]
fn the_walk_forward_measures_a_group_without_it_on_the_same_folds() {
    let ds = Dataset::new(
        vec![with_news("btc-usd-1d", true), with_news("msft-1d", true)],
        WINDOW,
        1,
    )
    .unwrap();
    let cfg = PipelineConfig {
        train: common::tiny(WINDOW, 2),
        boost: Some(BoostConfig {
            lags: vec![0, 1, 5],
            max_rounds: 60,
            early_stopping_rounds: 15,
            ..BoostConfig::default()
        }),
        folds: 2,
        groups: vec![FeatureGroup::Sentiment, FeatureGroup::Macro],
        ..PipelineConfig::default()
    };
    let mut stages = Vec::new();
    let run = pipeline::run(
        &ds,
        &cfg,
        Backend::Flex,
        &|_| None,
        "test",
        &mut |stage, _| {
            if stages.last() != Some(&stage) {
                stages.push(stage);
            }
            Control::Continue
        },
    )
    .unwrap();
    let e = run.evaluation.unwrap();
    assert_eq!(e.groups.len(), 2);
    for g in &e.groups {
        assert_eq!(g.folds_without.len(), e.folds.len());
        for (with, without) in e.folds.iter().zip(&g.folds_without) {
            assert_eq!(with.test_samples, without.samples, "same test windows");
        }
    }
    let sentiment = &e.groups[0];
    assert_eq!(sentiment.group, FeatureGroup::Sentiment);
    assert!(
        sentiment.log_loss_change < -0.05 && sentiment.folds_better == 2,
        "news about the next bar must help: {sentiment:?}"
    );
    // Stages: the folds, then each group's comparison folds, then the final model.
    assert_eq!(
        stages,
        vec![
            Stage::Fold(0),
            Stage::Fold(1),
            Stage::Without(FeatureGroup::Sentiment, 0),
            Stage::Without(FeatureGroup::Sentiment, 1),
            Stage::Without(FeatureGroup::Macro, 0),
            Stage::Without(FeatureGroup::Macro, 1),
            Stage::Final,
        ]
    );
    assert_eq!(
        stages.iter().map(|s| s.index(&cfg)).collect::<Vec<_>>(),
        (0..cfg.stages()).collect::<Vec<_>>()
    );
}
