//! Training: the models crate driven over loaded series, with a
//! walk-forward backtest of the out-of-sample signals and a model directory
//! as the result; and the training job.

use crate::config::{Trader, check_capital};
use crate::registry::{self, Promote};
use crate::research::Loaded;
use anyhow::{Context, bail};
use engine::backtest::BacktestConfig;
use engine::backtest::report::{self, ReportSpec, SeriesData};
use engine::backtest::strategy::Strategy;
use engine::risk::RiskProfile;
use engine::signals::Prediction;
use engine::{Candle, TimeMs, Timeframe};
use models::artifact::{self, ArtifactParts, DataRange, ModelConfig};
use models::backend::Backend;
use models::data::{Dataset, Series, TargetConfig};
use models::pipeline::{self, PipelineConfig, Stage};
use models::train::{Checkpoints, Control, EpochReport};
use serde::Serialize;
use std::path::PathBuf;

/// What a training run needs besides the data and the pipeline config.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub timeframe: Timeframe,
    pub backend: Backend,
    pub horizon: Option<usize>,
    /// Train on triple-barrier labels instead of the direction ones.
    pub barrier: Option<models::data::BarrierTarget>,
    /// The direction labels' threshold as a multiple of the timeframe's
    /// (a searched knob; `None`: the timeframe's own).
    pub threshold_scale: Option<f64>,
    /// Trader and costs of the walk-forward backtest.
    pub backtest: BacktestConfig,
    /// Where model directories are written.
    pub out: PathBuf,
    /// Checkpoints of this run (resumed when present).
    pub checkpoints: PathBuf,
}

/// What one trained model directory holds, as printed.
#[derive(Debug, Serialize)]
pub struct TrainSummary {
    pub dir: PathBuf,
    pub scope: String,
    pub sha256: String,
    pub samples: usize,
    pub epochs: usize,
    pub best_epoch: usize,
    pub stop: models::train::StopReason,
    /// Epochs of the final model done before this process (resumed from a checkpoint).
    pub resumed_from: usize,
    pub evaluation: Option<pipeline::EvaluationReport>,
    pub backtest: Option<report::Report>,
}

/// One model over all series ("universal"), or one per symbol.
pub fn scopes(series: Vec<Loaded>, per_symbol: bool) -> Vec<(String, Vec<Loaded>)> {
    if per_symbol {
        series
            .into_iter()
            .map(|l| (l.symbol.clone(), vec![l]))
            .collect()
    } else {
        vec![("universal".to_string(), series)]
    }
}

/// What the trial ledger calls the data of a scope: its timeframe and its
/// series, sorted (the same data trained on by the CLI or a job).
pub fn trial_subject(scope: &str, tf: Timeframe, series: &[Loaded]) -> String {
    crate::research::trial_subject(&format!("training {scope}"), tf, series)
}

/// The configuration a training trial is: the pipeline (seed included:
/// picking the best of several seeds is a search too), the horizon and the
/// target (direction or barrier labels).
pub fn trial_hash(
    cfg: &PipelineConfig,
    horizon: Option<usize>,
    barrier: Option<models::data::BarrierTarget>,
    threshold_scale: Option<f64>,
) -> String {
    use sha2::{Digest, Sha256};
    // Keys appear only when set, so a configuration's hash is the same as
    // before they existed.
    let mut v = serde_json::json!({ "pipeline": cfg, "horizon": horizon });
    if let Some(b) = barrier {
        v["barrier"] = serde_json::json!(b);
    }
    if let Some(t) = threshold_scale {
        v["threshold_scale"] = serde_json::json!(t);
    }
    hex::encode(Sha256::digest(v.to_string().as_bytes()))
}

/// Records this scope's configuration in the trial ledger: how many have
/// been tried on its data, this one included.
pub async fn record_trial(
    pool: &sqlx::PgPool,
    a: &TrainOptions,
    cfg: &PipelineConfig,
    scope: &str,
    series: &[Loaded],
) -> anyhow::Result<usize> {
    let subject = trial_subject(scope, a.timeframe, series);
    let hash = trial_hash(cfg, a.horizon, a.barrier, a.threshold_scale);
    Ok(crate::db::trials::record(pool, &subject, &hash).await?)
}

/// A scope's training data: the dataset, its target and the hash of
/// everything it was built from.
#[derive(Debug)]
pub struct Prepared {
    pub ds: Dataset,
    pub target: TargetConfig,
    pub hash: String,
}

pub fn prepare(
    tf: Timeframe,
    horizon: Option<usize>,
    barrier: Option<models::data::BarrierTarget>,
    threshold_scale: Option<f64>,
    cfg: &PipelineConfig,
    series: &[Loaded],
) -> anyhow::Result<Prepared> {
    let mut target = TargetConfig::for_timeframe(tf);
    if let Some(h) = horizon {
        target.horizon = h;
    }
    target.barrier = barrier;
    if let Some(k) = threshold_scale {
        target.threshold_pct *= k;
    }
    let ds = Dataset::new(
        series
            .iter()
            .map(|s| Series::with_groups(&s.symbol, tf, &s.candles, target, &cfg.groups, &s.alt))
            .collect(),
        cfg.train.net.window,
        target.horizon,
    )?;
    let hash = data_sha256(&cfg.groups, series);
    Ok(Prepared { ds, target, hash })
}

/// SHA-256 of what a pipeline with these feature groups reads of `series`.
pub fn data_sha256(groups: &[models::data::FeatureGroup], series: &[Loaded]) -> String {
    let hash = report::candles_sha256(series.iter().map(|s| (s.symbol.as_str(), &s.candles[..])));
    if groups.is_empty() {
        return hash;
    }
    // The groups' inputs are data too: the same candles with other news train another model.
    crate::altdata::digest(&hash, series.iter().map(|s| &s.alt))
}

/// The walk-forward's out-of-sample predictions on the whole of each
/// series, ready for the backtester: bars before the first held-out one
/// were training data and only warm up the indicators and the rule's
/// calibration (its held-out fires are as calibrated as the live scanner's).
#[derive(Debug)]
pub struct HeldOut {
    pub series: Vec<SeriesData>,
    /// Open time of the first held-out bar.
    pub from: TimeMs,
}

impl HeldOut {
    /// The walk-forward's held-out span: `None` when it predicted nothing.
    pub fn of(series: &[Loaded], ds: &Dataset, oos: &[pipeline::OosPrediction]) -> Option<Self> {
        let from = oos
            .iter()
            .map(|p| ds.series[p.series as usize].times[p.bar as usize])
            .min()?;
        let mut preds: Vec<Vec<Option<Prediction>>> =
            series.iter().map(|s| vec![None; s.candles.len()]).collect();
        for p in oos {
            preds[p.series as usize][p.bar as usize] = Some(p.prediction);
        }
        let series = series
            .iter()
            .zip(preds)
            .filter(|(s, _)| s.candles.last().is_some_and(|c| c.open_time >= from))
            .map(|(s, p)| SeriesData {
                symbol: s.symbol.clone(),
                candles: s.candles.clone(),
                predictions: Some(p),
                lower: None,
                // The walk-forward's backtests charge the constant (their reports say so).
                funding: None,
            })
            .collect();
        Some(HeldOut { series, from })
    }

    /// `base` trading from the first held-out bar's close on.
    pub fn config(&self, tf: Timeframe, base: &BacktestConfig) -> BacktestConfig {
        let first_close = self.from + tf.duration_ms();
        BacktestConfig {
            trade_from: Some(base.trade_from.map_or(first_close, |t| t.max(first_close))),
            ..base.clone()
        }
    }

    /// Held-out bars over all series.
    pub fn bars(&self) -> usize {
        self.series
            .iter()
            .map(|d| {
                d.candles
                    .iter()
                    .filter(|c| c.open_time >= self.from)
                    .count()
            })
            .sum()
    }
}

/// Trains one model (universal or one symbol's) and writes its directory.
/// `trials`: the configurations tried on this data so far, this one
/// included (the walk-forward's ablations without each feature group are
/// compared on the same folds, and count too).
pub fn train_scope(
    a: &TrainOptions,
    cfg: &PipelineConfig,
    scope: &str,
    series: &[Loaded],
    trials: usize,
    on_epoch: &mut dyn FnMut(Stage, &EpochReport) -> Control,
) -> anyhow::Result<TrainSummary> {
    let tf = a.timeframe;
    let Prepared { ds, target, hash } =
        prepare(tf, a.horizon, a.barrier, a.threshold_scale, cfg, series)?;
    let cp_root = a.checkpoints.join(scope.replace('/', "-"));
    let checkpoints = |stage: Stage| {
        Some(Checkpoints {
            dir: cp_root.join(stage.checkpoint_dir()),
        })
    };
    let run = pipeline::run(&ds, cfg, a.backend, &checkpoints, &hash, on_epoch)?;

    // The walk-forward's out-of-sample signals through the backtester.
    let backtest = HeldOut::of(series, &ds, &run.oos).map(|held| {
        let spec = ReportSpec {
            timeframe: tf,
            config: held.config(tf, &a.backtest),
            strategy: Strategy::Model,
            trials: trials.max(1) + cfg.groups.len(),
            random_seed: cfg.train.seed,
            code_version: crate::code_version(),
        };
        report::run_report(&held.series, &spec).0
    });

    let created_at = chrono::Utc::now().timestamp_millis();
    let dir = a.out.join(format!(
        "{}-{}",
        scope.replace('/', "-"),
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ")
    ));
    let model_cfg = ModelConfig {
        architecture: [
            Some("bigru-attention"),
            cfg.boost.as_ref().map(|_| "lightgbm"),
            cfg.transformer.as_ref().map(|_| "transformer"),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("+"),
        scope: scope.to_string(),
        timeframe: tf,
        features: ds.names.clone(),
        net: models::net::NetConfig {
            features: ds.width(),
            ..cfg.train.net.clone()
        },
        target,
        pipeline: cfg.clone(),
        backend: a.backend,
    };
    let metrics = serde_json::json!({
        "evaluation": run.evaluation,
        "backtest": backtest,
        "calibration": run.model.calibrator,
        "final": {
            "best_epoch": run.model.best_epoch,
            "stop": run.model.stop,
            "train_samples": run.model.train_samples,
            "trees": run.model.boost,
            "ensemble": run.model.ensemble.weights,
        },
    });
    let range =
        |f: fn(&[Candle]) -> Option<TimeMs>| series.iter().filter_map(move |s| f(&s.candles));
    let manifest = artifact::write(
        &dir,
        ArtifactParts {
            ensemble: &run.model.ensemble,
            calibrator: &run.model.calibrator,
            config: &model_cfg,
            metrics: &metrics,
            history: &serde_json::to_value(&run.model.history)?,
            data: DataRange {
                symbols: series.iter().map(|s| s.symbol.clone()).collect(),
                from: range(|c| c.first().map(|c| c.open_time)).min().unwrap_or(0),
                to: range(|c| c.last().map(|c| c.open_time)).max().unwrap_or(0),
                samples: ds.samples.len(),
                sha256: hash,
            },
            code_version: crate::code_version(),
            created_at,
        },
    )?;
    Ok(TrainSummary {
        dir,
        scope: scope.to_string(),
        sha256: manifest.sha256,
        samples: ds.samples.len(),
        epochs: run.model.history.len(),
        best_epoch: run.model.best_epoch,
        stop: run.model.stop,
        resumed_from: run.model.resumed_from,
        evaluation: run.evaluation,
        backtest,
    })
}

/// The job kind that trains a model from stored series.
pub const KIND: &str = "train";

/// Parameters of a training job (the API's and admin panel's request body).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainJobParams {
    pub symbols: Vec<engine::Symbol>,
    pub timeframe: Timeframe,
    /// Exchange and market of the stored series; when absent, each symbol's
    /// one stored series at the timeframe, whatever its source.
    #[serde(default)]
    pub exchange: Option<String>,
    #[serde(default)]
    pub market: Option<engine::Market>,
    #[serde(default)]
    pub pipeline: PipelineConfig,
    #[serde(default)]
    pub backend: Option<Backend>,
    #[serde(default)]
    pub horizon: Option<usize>,
    /// Triple-barrier labels (upper and lower widths in ATRs) instead of direction ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub barrier: Option<models::data::BarrierTarget>,
    #[serde(default)]
    pub per_symbol: bool,
    #[serde(default = "crate::config::default_profile")]
    pub profile: RiskProfile,
    #[serde(default = "crate::config::default_capital")]
    pub capital: f64,
    #[serde(default)]
    pub min_net_profit: Option<f64>,
    /// Where model directories go (default: `$TRADERAI_MODEL_DIR` or `var/models`).
    #[serde(default)]
    pub out: Option<PathBuf>,
    /// Each trained model is registered; this decides whether it serves.
    #[serde(default)]
    pub promote: Promote,
    /// The shipped universe `symbols` came from: a member with nothing
    /// stored is skipped and named instead of failing the job.
    #[serde(default)]
    pub universe: Option<String>,
}

/// Where training jobs write model directories unless told otherwise:
/// `$TRADERAI_MODEL_DIR`, else `var/models` (outside the source folders).
pub fn default_model_dir() -> PathBuf {
    std::env::var_os("TRADERAI_MODEL_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("var/models"))
}

/// Runs a claimed training job: epochs are published on the job row (and
/// so over LISTEN/NOTIFY), cancellation is checked after every epoch and by
/// the heartbeat, and a job taken over after a crash resumes from the epoch
/// checkpoints under `out/checkpoints/job-<id>`.
pub async fn run_job(
    pool: &sqlx::PgPool,
    settings: &crate::config::Settings,
    job: &crate::db::jobs::Job,
    owner: &str,
) -> anyhow::Result<(crate::db::jobs::JobStatus, serde_json::Value)> {
    use crate::db::jobs::{self as jobs_db, JobStatus};

    let p: TrainJobParams =
        serde_json::from_value(job.params.clone()).context("reading training parameters")?;
    let series = load_stored(
        pool,
        job.id,
        &StoredSet {
            symbols: &p.symbols,
            timeframe: p.timeframe,
            exchange: p.exchange.as_deref(),
            market: p.market,
            universe: p.universe.as_deref(),
        },
        &p.pipeline.groups,
    )
    .await?;
    check_capital(p.capital).map_err(|e| anyhow::anyhow!(e))?;
    let out = p.out.clone().unwrap_or_else(default_model_dir);
    let risk = Trader {
        profile: p.profile,
        capital: p.capital,
        min_net_profit: p.min_net_profit,
    };
    let opts = TrainOptions {
        timeframe: p.timeframe,
        backend: p.backend.unwrap_or_else(Backend::preferred),
        horizon: p.horizon,
        barrier: p.barrier,
        threshold_scale: None,
        backtest: crate::research::backtest_config(settings, &risk, &series)?,
        checkpoints: out.join("checkpoints").join(format!("job-{}", job.id)),
        out,
    };
    let groups = scopes(series, p.per_symbol);

    let link = JobLink::start(pool, job.id, owner);
    let mut trials = Vec::with_capacity(groups.len());
    for (scope, series) in &groups {
        trials.push(record_trial(pool, &opts, &p.pipeline, scope, series).await?);
    }
    let stages = p.pipeline.stages() * groups.len();
    let cfg = p.pipeline.clone();
    let result = tokio::task::spawn_blocking(move || {
        let mut summaries = Vec::new();
        for (g, (scope, series)) in groups.iter().enumerate() {
            // This stage's curves so far (the page draws them): [epoch,
            // train loss, val loss, train acc, val acc], 4 decimals, so the
            // row's notification stays under PostgreSQL's payload limit.
            let mut curve: Vec<[f64; 5]> = Vec::new();
            let mut curve_stage = None;
            let mut on_epoch = |stage: Stage, r: &EpochReport| {
                let k = g * cfg.stages() + stage.index(&cfg);
                if curve_stage != Some(k) {
                    curve.clear();
                    curve_stage = Some(k);
                }
                let r4 = |v: f64| (v * 1e4).round() / 1e4;
                curve.push([
                    r.epoch as f64,
                    r4(r.train_loss),
                    r4(r.val_loss),
                    r4(r.train_accuracy),
                    r4(r.val_accuracy),
                ]);
                let progress =
                    (k as f64 + r.epoch as f64 / r.max_epochs.max(1) as f64) / stages as f64;
                let detail = serde_json::json!({
                    "scope": scope,
                    "stage": stage,
                    "stage_index": k,
                    "stages": stages,
                    "epoch": r,
                    "curve": curve,
                });
                link.publish("training", progress, &detail)
            };
            summaries.push(train_scope(
                &opts,
                &cfg,
                scope,
                series,
                trials[g],
                &mut on_epoch,
            )?);
        }
        anyhow::Ok(summaries)
    })
    .await;
    match result? {
        Ok(summaries) => {
            let mut registered = Vec::new();
            for s in &summaries {
                registered.push(registry::register_and_decide(pool, &s.dir, p.promote).await?);
            }
            let mut detail = serde_json::json!({ "models": summaries, "registry": registered });
            // The last stage's epoch and curves stay on the finished job, so
            // its page still draws them.
            if let Some(last) = jobs_db::get(pool, job.id).await?.map(|j| j.detail)
                && let (Some(d), Some(last)) = (detail.as_object_mut(), last.as_object())
            {
                for k in ["scope", "stage", "stage_index", "stages", "epoch", "curve"] {
                    if let Some(v) = last.get(k) {
                        d.insert(k.to_owned(), v.clone());
                    }
                }
            }
            Ok((JobStatus::Succeeded, detail))
        }
        Err(e) if matches!(e.downcast_ref(), Some(pipeline::PipelineError::Cancelled)) => Ok((
            JobStatus::Cancelled,
            serde_json::json!({ "cancelled": true }),
        )),
        Err(e) => Err(e),
    }
}

/// The stored series a job trains on.
#[derive(Debug)]
pub struct StoredSet<'a> {
    pub symbols: &'a [engine::Symbol],
    pub timeframe: Timeframe,
    pub exchange: Option<&'a str>,
    pub market: Option<engine::Market>,
    /// The shipped universe the symbols came from: a member with nothing
    /// stored is skipped and named instead of failing the job.
    pub universe: Option<&'a str>,
}

/// Loads a job's stored series (with the alternative data its feature
/// groups read).
pub async fn load_stored(
    pool: &sqlx::PgPool,
    job: i64,
    set: &StoredSet<'_>,
    groups: &[models::data::FeatureGroup],
) -> anyhow::Result<Vec<Loaded>> {
    let mut series = Vec::new();
    let mut missing = Vec::new();
    for symbol in set.symbols {
        let (key, candles) = crate::db::candles::stored_series_of(
            pool,
            symbol.as_str(),
            set.timeframe,
            set.exchange,
            set.market,
        )
        .await?;
        if candles.is_empty() {
            if set.universe.is_some() {
                tracing::warn!(job, %symbol, timeframe = %set.timeframe, "universe member has no stored candles; trained without it");
                missing.push(symbol.to_string());
                continue;
            }
            bail!("no stored candles for {symbol} {}", set.timeframe);
        }
        series.push(Loaded {
            symbol: symbol.to_string(),
            exchange: Some(key.exchange),
            candles,
            skipped: 0,
            alt: Default::default(),
        });
    }
    crate::altdata::attach(pool, &mut series, groups).await?;
    if series.is_empty() {
        bail!(
            "no stored candles at {} for any of {} ({}); backfill them first",
            set.timeframe,
            set.universe.unwrap_or("the symbols"),
            missing.join(", ")
        );
    }
    Ok(series)
}

/// A long job's link to its row from the thread doing the work: a
/// heartbeat keeps the claim alive and carries cancellation (a cancel
/// request or a worker's shutdown); [`JobLink::publish`] records progress
/// and says whether to go on. Dropping it stops the heartbeat.
#[derive(Debug)]
pub struct JobLink {
    pool: sqlx::PgPool,
    id: i64,
    owner: String,
    cancel: std::sync::Arc<std::sync::atomic::AtomicBool>,
    beat: tokio::task::JoinHandle<()>,
    handle: tokio::runtime::Handle,
}

impl JobLink {
    /// Starts the heartbeat (inside the runtime).
    pub fn start(pool: &sqlx::PgPool, id: i64, owner: &str) -> JobLink {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let cancel = Arc::new(AtomicBool::new(false));
        let beat = {
            let (pool, owner, cancel) = (pool.clone(), owner.to_string(), cancel.clone());
            tokio::spawn(async move {
                loop {
                    // A shutdown stops training after the epoch in hand (its
                    // checkpoint is written), as a cancel does.
                    if crate::jobs::sleep_unless_releasing(std::time::Duration::from_secs(5)).await
                    {
                        cancel.store(true, Ordering::Relaxed);
                    }
                    if let Ok(true) = crate::db::jobs::heartbeat(&pool, id, &owner).await {
                        cancel.store(true, Ordering::Relaxed);
                    }
                }
            })
        };
        JobLink {
            pool: pool.clone(),
            id,
            owner: owner.to_string(),
            cancel,
            beat,
            handle: tokio::runtime::Handle::current(),
        }
    }

    /// Records `progress` and `detail` on the row (announced to listeners)
    /// from a blocking thread; `Cancel` when asked to stop or when the row
    /// cannot be written (`what` names the work in the log).
    pub fn publish(&self, what: &str, progress: f64, detail: &serde_json::Value) -> Control {
        let stop = self.handle.block_on(async {
            let mut conn = self.pool.acquire().await?;
            crate::db::jobs::checkpoint(&mut conn, self.id, &self.owner, progress, detail, detail)
                .await
        });
        match stop {
            Ok(false) if !self.cancel.load(std::sync::atomic::Ordering::Relaxed) => {
                Control::Continue
            }
            Ok(_) => Control::Cancel,
            Err(e) => {
                tracing::error!(job = self.id, error = %e, "could not record {what} progress; stopping");
                Control::Cancel
            }
        }
    }
}

impl Drop for JobLink {
    fn drop(&mut self) {
        self.beat.abort();
    }
}
