//! `traderai evaluate`: does the edge survive? The pipeline's walk-forward
//! trains on each fold's past; only the held-out windows are then traded —
//! by the model, the hybrid and the plain (calibrated) technical rule, with
//! costs from config and the product's gates — beside buy-and-hold and, for
//! each, random entries at its rate with the same exits. The comparison's trials deflate the
//! Sharpe ratios, CSCV over the three strategies' returns gives the
//! probability of backtest overfitting, and the verdict says in words when
//! a gate let nothing through. Nothing in the output depends on the clock,
//! so a rerun of the recorded configuration on the same data writes the
//! same bytes.

use std::collections::BTreeMap;

use anyhow::bail;
use engine::backtest::BacktestConfig;
use engine::backtest::metrics::{self, Metrics};
use engine::backtest::pbo::{self, Pbo};
use engine::backtest::report::{self, ReportSpec, SeriesData};
use engine::backtest::strategy::{self, Strategy};
use engine::signals::{Prediction, TechnicalRule};
use models::backend::Backend;
use models::metrics::ClassMetrics;
use models::pipeline::{self, PipelineConfig, Stage};
use models::train::{Control, EpochReport};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::research::Loaded;

/// Blocks the held-out span is cut into for CSCV.
const PBO_BLOCKS: usize = 8;

/// What an evaluation needs besides the data and the pipeline.
#[derive(Debug, Clone)]
pub struct EvaluateOptions {
    pub timeframe: engine::Timeframe,
    pub backend: Backend,
    pub horizon: Option<usize>,
    /// Triple-barrier labels instead of the direction ones.
    pub barrier: Option<models::data::BarrierTarget>,
    /// Trader, costs and gates of the held-out backtests.
    pub backtest: BacktestConfig,
    /// The model's share of the hybrid's confidence.
    pub hybrid_weight: f64,
    /// Configurations tried on this data before and including this one
    /// (the trial ledger); the strategies compared add theirs.
    pub trials: usize,
}

/// The answer, as written to `evaluation.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub code_version: String,
    pub timeframe: String,
    pub symbols: Vec<String>,
    pub pipeline: PipelineConfig,
    /// What the model learned to predict: horizon, and direction or barrier labels.
    pub target: models::data::TargetConfig,
    pub backtest: BacktestConfig,
    pub hybrid_weight: f64,
    /// SHA-256 of the candles (and alternative data) trained and traded on.
    pub data_sha256: String,
    /// SHA-256 of every out-of-sample prediction: what the fold models said.
    pub predictions_sha256: String,
    pub held_out: HeldOut,
    /// The model's classification on the held-out windows, pooled.
    pub classification: ClassMetrics,
    /// The class-prior forecast on the same windows.
    pub prior_baseline: ClassMetrics,
    /// Trials the deflated Sharpe ratios count.
    pub trials: usize,
    /// Model, hybrid, technical rule: the strategies compared.
    pub strategies: Vec<StrategyResult>,
    pub buy_and_hold: Metrics,
    /// Probability that the strategy best on one half of the held-out
    /// blocks ranks below the median on the other (CSCV).
    pub pbo: Option<Pbo>,
    /// Why there is no PBO, when there is none.
    pub pbo_error: Option<String>,
    /// The answer in sentences.
    pub verdict: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldOut {
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub bars: usize,
    pub predictions: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrategyResult {
    pub name: String,
    pub metrics: Metrics,
    /// 95 % Wilson interval of the TP1 hit rate (none without trades).
    pub tp1_hit_interval: Option<(f64, f64)>,
    /// Signals the gates stopped, by reason.
    pub rejections: BTreeMap<String, usize>,
    /// Random entries at this strategy's entry rate, with its exits.
    pub random: Metrics,
}

/// SHA-256 of a value's JSON.
pub fn sha256_json<T: Serialize>(v: &T) -> anyhow::Result<String> {
    Ok(hex::encode(Sha256::digest(serde_json::to_vec(v)?)))
}

/// Runs the walk-forward on `series` and trades its held-out windows.
pub fn evaluate(
    a: &EvaluateOptions,
    cfg: &PipelineConfig,
    series: &[Loaded],
    on_epoch: &mut dyn FnMut(Stage, &EpochReport) -> Control,
) -> anyhow::Result<Evaluation> {
    if cfg.folds == 0 {
        bail!(
            "evaluate needs walk-forward folds (--folds 1 or more): it reports on held-out windows only"
        );
    }
    let prepared = crate::training::prepare(a.timeframe, a.horizon, a.barrier, None, cfg, series)?;
    let ds = &prepared.ds;
    let mut cfg = cfg.clone();
    cfg.train.net.features = ds.width();
    if let Some(b) = &cfg.boost {
        b.check(ds.window)?;
    }
    // No checkpoints: an evaluation is rerun, not resumed.
    let (walk, oos) = pipeline::evaluate(ds, &cfg, a.backend, &|_| None, &prepared.hash, on_epoch)?;
    let Some(held) = crate::training::HeldOut::of(series, ds, &oos) else {
        bail!("the walk-forward made no out-of-sample prediction: too little data for its folds");
    };
    let backtest = held.config(a.timeframe, &a.backtest);
    let data = &held.series;
    // The rule's calibrated fires over each series' whole history: its
    // calibration reads only the past, so the held-out span starts warm.
    let rule: Vec<Vec<Option<Prediction>>> = data
        .iter()
        .map(|s| {
            let fs = engine::features::compute(&s.symbol, a.timeframe, &s.candles);
            let fires =
                strategy::technical_fires(&s.candles, &fs, &TechnicalRule::default(), a.timeframe);
            strategy::calibrated_only(&fires)
        })
        .collect();
    let with = |preds: Vec<Vec<Option<Prediction>>>| -> Vec<SeriesData> {
        data.iter()
            .zip(preds)
            .map(|(d, p)| SeriesData {
                predictions: Some(p),
                ..d.clone()
            })
            .collect()
    };
    let hybrid: Vec<Vec<Option<Prediction>>> = data
        .iter()
        .zip(&rule)
        .map(|(d, r)| {
            strategy::hybrid_of(r, d.predictions.as_deref().unwrap_or(&[]), a.hybrid_weight)
        })
        .collect();
    // The model against the hybrid and the rule: three configurations
    // compared on the held-out span, beside the ones tried before.
    let strategies = [
        ("model", data.to_vec()),
        ("hybrid", with(hybrid)),
        ("technical", with(rule)),
    ];
    let trials = a.trials.max(1) + strategies.len() - 1;
    let mut results = Vec::new();
    let mut curves = Vec::new();
    let mut buy_and_hold = None;
    for (name, data) in strategies {
        // Each strategy's signals are given per bar, so the engine trades them as given.
        let spec = ReportSpec {
            timeframe: a.timeframe,
            config: backtest.clone(),
            strategy: Strategy::Model,
            trials,
            random_seed: cfg.train.seed,
            code_version: crate::code_version(),
        };
        let (rep, result) = report::run_report(&data, &spec);
        let m = rep.metrics;
        results.push(StrategyResult {
            name: name.to_string(),
            tp1_hit_interval: m
                .tp1_hit_rate
                .and_then(|h| metrics::wilson(h * m.trades as f64, m.trades)),
            metrics: m,
            rejections: rep.rejections.clone(),
            random: rep.baselines.random,
        });
        curves.push(result.returns());
        buy_and_hold.get_or_insert(rep.baselines.buy_and_hold);
    }
    let buy_and_hold = buy_and_hold.expect("three strategies ran");
    // Flat curves tie at every rank: with fewer than two strategies
    // trading there is no in-sample winner to follow out of sample.
    let traded = results.iter().filter(|r| r.metrics.trades > 0).count();
    let (pbo, pbo_error) = if traded < 2 {
        (
            None,
            Some(format!(
                "{traded} of the {} strategies traded on the held-out span: nothing to rank",
                results.len()
            )),
        )
    } else {
        match pbo::cscv(&curves, PBO_BLOCKS) {
            Ok(p) => (Some(p), None),
            Err(e) => (None, Some(e.to_string())),
        }
    };
    let gates = &a.backtest.plan;
    let mut verdict = Vec::new();
    for r in &results {
        let m = &r.metrics;
        if m.trades == 0 {
            let stopped: Vec<String> = r
                .rejections
                .iter()
                .map(|(k, v)| format!("{v} {k}"))
                .collect();
            verdict.push(format!(
                "{}: the gates (expected net ≥ {} %, confidence ≥ {}) let no held-out signal through{}",
                r.name,
                gates.min_net_profit_pct,
                gates.min_confidence,
                if stopped.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", stopped.join(", "))
                }
            ));
            continue;
        }
        let beats = m.total_return_pct > buy_and_hold.total_return_pct;
        verdict.push(format!(
            "{}: {} trades, return {:.2} % vs buy-and-hold {:.2} % and random entries at its rate {:.2} % ({}); {} {}",
            r.name,
            m.trades,
            m.total_return_pct,
            buy_and_hold.total_return_pct,
            r.random.total_return_pct,
            if beats { "beats buy-and-hold" } else { "does not beat buy-and-hold" },
            m.sharpe_test_name(),
            m.deflated_sharpe
                .map_or("-".into(), |d| format!("{d:.3}")),
        ));
    }
    if let Some(p) = &pbo {
        verdict.push(format!(
            "PBO {:.2} over the {} strategies: {}",
            p.pbo,
            p.trials,
            if p.pbo > 0.5 {
                "the in-sample winner usually loses out of sample"
            } else {
                "the in-sample winner mostly holds out of sample"
            }
        ));
    }
    Ok(Evaluation {
        code_version: crate::code_version(),
        timeframe: a.timeframe.to_string(),
        symbols: series.iter().map(|s| s.symbol.clone()).collect(),
        target: prepared.target,
        pipeline: cfg,
        backtest: a.backtest.clone(),
        hybrid_weight: a.hybrid_weight,
        data_sha256: prepared.hash.clone(),
        predictions_sha256: sha256_json(&oos)?,
        held_out: HeldOut {
            from: Some(held.from),
            to: data
                .iter()
                .filter_map(|d| d.candles.last())
                .map(|c| c.open_time)
                .max(),
            bars: held.bars(),
            predictions: oos.len(),
        },
        classification: walk.metrics,
        prior_baseline: walk.prior_baseline,
        trials,
        strategies: results,
        buy_and_hold,
        pbo,
        pbo_error,
        verdict,
    })
}

/// Records an evaluation's configuration in the trial ledger (the same as
/// training's: evaluating a pipeline is trying it) and returns the count.
pub async fn record_trial(
    pool: &sqlx::PgPool,
    a: &EvaluateOptions,
    cfg: &PipelineConfig,
    series: &[Loaded],
) -> anyhow::Result<usize> {
    let subject = crate::training::trial_subject("universal", a.timeframe, series);
    let hash = crate::training::trial_hash(cfg, a.horizon, a.barrier, None);
    Ok(crate::db::trials::record(pool, &subject, &hash).await?)
}

/// The job kind that runs an evaluation on stored series.
pub const KIND: &str = "evaluate";

/// Parameters of an evaluation job (the admin panel's and the API's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluateJobParams {
    pub symbols: Vec<engine::Symbol>,
    pub timeframe: engine::Timeframe,
    #[serde(default)]
    pub exchange: Option<String>,
    #[serde(default)]
    pub market: Option<engine::Market>,
    #[serde(default)]
    pub universe: Option<String>,
    #[serde(default)]
    pub pipeline: PipelineConfig,
    #[serde(default)]
    pub backend: Option<Backend>,
    #[serde(default)]
    pub horizon: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub barrier: Option<models::data::BarrierTarget>,
    #[serde(default = "crate::config::default_profile")]
    pub profile: engine::risk::RiskProfile,
    #[serde(default = "crate::config::default_capital")]
    pub capital: f64,
    #[serde(default)]
    pub min_net_profit: Option<f64>,
    /// The model's share of the hybrid's confidence (default: `[signals] model_weight`).
    #[serde(default)]
    pub hybrid_weight: Option<f64>,
}

/// Runs a claimed evaluation job: epochs on the job row, cancellation
/// through the heartbeat, the evaluation as the finished job's detail.
pub async fn run_job(
    pool: &sqlx::PgPool,
    settings: &crate::config::Settings,
    job: &crate::db::jobs::Job,
    owner: &str,
) -> anyhow::Result<(crate::db::jobs::JobStatus, serde_json::Value)> {
    use crate::db::jobs::JobStatus;

    let p: EvaluateJobParams = serde_json::from_value(job.params.clone())
        .map_err(|e| anyhow::anyhow!("reading evaluation parameters: {e}"))?;
    let series = crate::training::load_stored(
        pool,
        job.id,
        &crate::training::StoredSet {
            symbols: &p.symbols,
            timeframe: p.timeframe,
            exchange: p.exchange.as_deref(),
            market: p.market,
            universe: p.universe.as_deref(),
        },
        &p.pipeline.groups,
    )
    .await?;
    crate::config::check_capital(p.capital).map_err(|e| anyhow::anyhow!(e))?;
    let weight = p.hybrid_weight.unwrap_or(settings.signals.model_weight);
    if !(0.0..=1.0).contains(&weight) {
        bail!("hybrid_weight: a share, 0 to 1 (got {weight})");
    }
    let risk = crate::config::Trader {
        profile: p.profile,
        capital: p.capital,
        min_net_profit: p.min_net_profit,
    };
    let backtest = crate::research::backtest_config(settings, &risk, &series)?;
    let mut opts = EvaluateOptions {
        timeframe: p.timeframe,
        backend: p.backend.unwrap_or_else(Backend::preferred),
        horizon: p.horizon,
        barrier: p.barrier,
        backtest,
        hybrid_weight: weight,
        trials: 1,
    };
    opts.trials = record_trial(pool, &opts, &p.pipeline, &series).await?;
    let link = crate::training::JobLink::start(pool, job.id, owner);
    let cfg = p.pipeline.clone();
    let result = tokio::task::spawn_blocking(move || {
        let stages = cfg.folds.max(1);
        evaluate(
            &opts,
            &cfg,
            &series,
            &mut |stage: Stage, r: &EpochReport| {
                let k = stage.index(&cfg).min(stages - 1);
                let progress = ((k as f64 + r.epoch as f64 / r.max_epochs.max(1) as f64)
                    / stages as f64)
                    .min(0.999);
                let detail = serde_json::json!({ "stage": stage, "stages": stages, "epoch": r });
                link.publish("evaluation", progress, &detail)
            },
        )
    })
    .await;
    match result? {
        Ok(e) => Ok((JobStatus::Succeeded, serde_json::to_value(e)?)),
        Err(e) if matches!(e.downcast_ref(), Some(pipeline::PipelineError::Cancelled)) => Ok((
            JobStatus::Cancelled,
            serde_json::json!({ "cancelled": true }),
        )),
        Err(e) => Err(e),
    }
}
