//! `traderai train` and `traderai predict`: the models crate driven over
//! stored series or files, with a walk-forward backtest of the
//! out-of-sample signals and a model directory as the result.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use engine::backtest::BacktestConfig;
use engine::backtest::report::{self, ReportSpec, SeriesData};
use engine::backtest::strategy::Strategy;
use engine::risk::RiskProfile;
use engine::signals::Prediction;
use engine::{Candle, TimeMs, Timeframe, features};
use models::artifact::{self, ArtifactParts, DataRange, LoadedModel, ModelConfig};
use models::backend::Backend;
use models::data::{Dataset, Series, TargetConfig};
use models::pipeline::{self, PipelineConfig, Stage};
use models::train::{Checkpoints, Control, EpochReport};
use serde::Serialize;

use crate::cli::{Cli, print_json};
use crate::registry::{self, Promote};
use crate::research::{self, Loaded, RiskArgs, SourceArgs};

pub(crate) fn parse_backend(s: &str) -> Result<Backend, String> {
    s.parse()
        .map_err(|e: models::backend::BackendError| e.to_string())
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// libtorch (default when built with it; CUDA when a GPU is seen) or flex.
    #[arg(long, value_parser = parse_backend, default_value_t = Backend::preferred())]
    pub backend: Backend,
    /// Pipeline settings as JSON (network sizes, optimiser, folds, …); flags override it.
    #[arg(long)]
    pub pipeline: Option<PathBuf>,
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Walk-forward test windows for evaluation (0: train the final model only).
    #[arg(long)]
    pub folds: Option<usize>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Bars ahead the model predicts (default: about one day).
    #[arg(long)]
    pub horizon: Option<usize>,
    /// One model per symbol instead of one universal model.
    #[arg(long)]
    pub per_symbol: bool,
    /// The trader of the walk-forward backtest.
    #[command(flatten)]
    pub risk: RiskArgs,
    /// Where model directories are written (one per model).
    #[arg(long, short, default_value = "model-out")]
    pub out: PathBuf,
    /// Checkpoints to resume from after an interruption (default: OUT/checkpoints).
    #[arg(long)]
    pub checkpoints: Option<PathBuf>,
    /// Queue a training job for the workers (stored series only) instead of training here.
    #[arg(long)]
    pub enqueue: bool,
    /// Record each model in the registry (needs the database).
    #[arg(long)]
    pub register: bool,
    /// With --register or --enqueue: whether the new model serves.
    #[arg(long, value_enum, default_value_t = Promote::IfBetter)]
    pub promote: Promote,
}

/// What a training run needs besides the data and the pipeline config.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub timeframe: Timeframe,
    pub backend: Backend,
    pub horizon: Option<usize>,
    /// Trader and costs of the walk-forward backtest.
    pub backtest: BacktestConfig,
    /// Where model directories are written.
    pub out: PathBuf,
    /// Checkpoints of this run (resumed when present).
    pub checkpoints: PathBuf,
}

impl TrainArgs {
    pub fn options(&self) -> TrainOptions {
        TrainOptions {
            timeframe: self.source.timeframe,
            backend: self.backend,
            horizon: self.horizon,
            backtest: self.risk.backtest_config(),
            out: self.out.clone(),
            checkpoints: self
                .checkpoints
                .clone()
                .unwrap_or_else(|| self.out.join("checkpoints")),
        }
    }
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
fn scopes(series: Vec<Loaded>, per_symbol: bool) -> Vec<(String, Vec<Loaded>)> {
    if per_symbol {
        series
            .into_iter()
            .map(|l| (l.symbol.clone(), vec![l]))
            .collect()
    } else {
        vec![("universal".to_string(), series)]
    }
}

pub fn pipeline_config(a: &TrainArgs) -> anyhow::Result<PipelineConfig> {
    let mut cfg: PipelineConfig = match &a.pipeline {
        Some(p) => serde_json::from_str(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        )
        .with_context(|| format!("{}: not a pipeline config", p.display()))?,
        None => PipelineConfig::default(),
    };
    if let Some(e) = a.epochs {
        cfg.train.max_epochs = e;
    }
    if let Some(f) = a.folds {
        cfg.folds = f;
    }
    if let Some(s) = a.seed {
        cfg.train.seed = s;
    }
    Ok(cfg)
}

pub async fn train_cmd(cli: &Cli, a: &TrainArgs) -> anyhow::Result<()> {
    let cfg = pipeline_config(a)?;
    if a.enqueue {
        return enqueue(cli, a, cfg).await;
    }
    let loaded = research::load(cli, &a.source).await?;
    let groups = scopes(loaded, a.per_symbol);
    let opts = a.options();
    let mut summaries = Vec::new();
    for (scope, series) in groups {
        let summary = tokio::task::block_in_place(|| {
            train_scope(&opts, &cfg, &scope, &series, &mut |stage, r| {
                report_epoch(cli, &scope, stage, r);
                Control::Continue
            })
        })?;
        summaries.push(summary);
    }
    let mut decisions = Vec::new();
    if a.register {
        let pool = crate::cli::connect(cli).await?;
        for s in &summaries {
            decisions.push(registry::register_and_decide(&pool, &s.dir, a.promote).await?);
        }
    }
    if cli.json {
        if a.register {
            return print_json(&serde_json::json!({ "models": summaries, "registry": decisions }));
        }
        return print_json(&summaries);
    }
    for d in &decisions {
        println!(
            "registered model {} ({} {} v{}): {}",
            d.model.id, d.model.scope, d.model.timeframe, d.model.version, d.reason
        );
    }
    for s in &summaries {
        println!(
            "{} model → {} (sha256 {}…), {} samples, {} epochs (best {}, {:?})",
            s.scope,
            s.dir.display(),
            &s.sha256[..12],
            s.samples,
            s.epochs,
            s.best_epoch,
            s.stop
        );
        if let Some(e) = &s.evaluation {
            for f in &e.folds {
                println!(
                    "  fold {}: test {} samples | acc {:.3} | bal.acc {:.3} | log loss {:.3} | ECE {:.3} | set coverage {:.3} (promised {:.2}) | move interval coverage {:.3}",
                    f.fold,
                    f.test_samples,
                    f.metrics.accuracy,
                    f.metrics.balanced_accuracy,
                    f.metrics.log_loss,
                    f.metrics.calibration_error,
                    f.coverage.set_coverage,
                    f.coverage.level,
                    f.coverage.interval_coverage
                );
            }
            println!(
                "  all folds: acc {:.3} | bal.acc {:.3} | log loss {:.3} (class-prior baseline: acc {:.3}, log loss {:.3})",
                e.metrics.accuracy,
                e.metrics.balanced_accuracy,
                e.metrics.log_loss,
                e.prior_baseline.accuracy,
                e.prior_baseline.log_loss
            );
            let member = |name: &str, m: &models::metrics::ClassMetrics| {
                println!(
                    "    {name} alone: acc {:.3} | bal.acc {:.3} | log loss {:.3} | move MAE {:.3}",
                    m.accuracy, m.balanced_accuracy, m.log_loss, m.move_mae
                )
            };
            member("network", &e.net);
            if let Some(t) = &e.trees {
                member("trees", t);
            }
        }
        if let Some(b) = &s.backtest {
            let m = &b.metrics;
            println!(
                "  walk-forward backtest: {} trades | return {:.2} % | max DD {:.2} % | buy & hold {:.2} % | technical rule {:.2} %",
                m.trades,
                m.total_return_pct,
                m.max_drawdown_pct,
                b.baselines.buy_and_hold.total_return_pct,
                b.baselines.technical.total_return_pct,
            );
        }
    }
    Ok(())
}

async fn enqueue(cli: &Cli, a: &TrainArgs, cfg: PipelineConfig) -> anyhow::Result<()> {
    if !a.source.input.is_empty() {
        bail!("--enqueue trains stored series: use --symbol, not --input");
    }
    let params = TrainJobParams {
        symbols: a.source.symbol.clone(),
        timeframe: a.source.timeframe,
        exchange: a.source.exchange.clone(),
        market: a.source.market,
        pipeline: cfg,
        backend: Some(a.backend),
        horizon: a.horizon,
        per_symbol: a.per_symbol,
        profile: a.risk.profile,
        capital: a.risk.capital,
        min_net_profit: a.risk.min_net_profit,
        out: Some(a.out.clone()),
        promote: a.promote,
    };
    let pool = crate::cli::connect(cli).await?;
    let job = crate::db::jobs::enqueue(&pool, KIND, &serde_json::to_value(&params)?).await?;
    if cli.json {
        return print_json(&job);
    }
    println!(
        "queued training job {} (watch: traderai jobs watch {})",
        job.id, job.id
    );
    Ok(())
}

fn report_epoch(cli: &Cli, scope: &str, stage: Stage, r: &EpochReport) {
    let stage_name = match stage {
        Stage::Fold(k) => format!("fold {k}"),
        Stage::Final => "final".into(),
    };
    tracing::info!(scope, stage = %stage_name, epoch = r.epoch, train_loss = r.train_loss, val_loss = r.val_loss, "epoch");
    if !cli.json {
        eprintln!(
            "{scope} {stage_name} epoch {}/{}: loss {:.4} acc {:.3} | val loss {:.4} acc {:.3} bal {:.3} | lr {:.1e} | {:.1}s, ETA {:.0}s",
            r.epoch,
            r.max_epochs,
            r.train_loss,
            r.train_accuracy,
            r.val_loss,
            r.val_accuracy,
            r.val_balanced_accuracy,
            r.learning_rate,
            r.epoch_seconds,
            r.eta_seconds
        );
    }
}

/// Trains one model (universal or one symbol's) and writes its directory.
pub fn train_scope(
    a: &TrainOptions,
    cfg: &PipelineConfig,
    scope: &str,
    series: &[Loaded],
    on_epoch: &mut dyn FnMut(Stage, &EpochReport) -> Control,
) -> anyhow::Result<TrainSummary> {
    let tf = a.timeframe;
    let mut target = TargetConfig::for_timeframe(tf);
    if let Some(h) = a.horizon {
        target.horizon = h;
    }
    let ds = Dataset::new(
        series
            .iter()
            .map(|s| Series::new(&s.symbol, tf, &s.candles, target))
            .collect(),
        cfg.train.net.window,
        target.horizon,
    )?;
    let hash = report::candles_sha256(series.iter().map(|s| (s.symbol.as_str(), &s.candles[..])));
    let cp_root = a.checkpoints.join(scope.replace('/', "-"));
    let checkpoints = |stage: Stage| {
        Some(Checkpoints {
            dir: cp_root.join(match stage {
                Stage::Fold(k) => format!("fold-{k}"),
                Stage::Final => "final".into(),
            }),
        })
    };
    let run = pipeline::run(&ds, cfg, a.backend, &checkpoints, &hash, on_epoch)?;

    // The walk-forward's out-of-sample signals through the backtester.
    let backtest = if run.oos.is_empty() {
        None
    } else {
        let mut preds: Vec<Vec<Option<Prediction>>> =
            series.iter().map(|s| vec![None; s.candles.len()]).collect();
        for p in &run.oos {
            preds[p.series as usize][p.bar as usize] = Some(p.prediction);
        }
        // Only the span the walk-forward tested: earlier bars were training data.
        let first_at = run
            .oos
            .iter()
            .map(|p| ds.series[p.series as usize].times[p.bar as usize])
            .min();
        let data: Vec<SeriesData> = series
            .iter()
            .zip(preds)
            .map(|(s, p)| {
                let from = s.candles.partition_point(|c| Some(c.open_time) < first_at);
                SeriesData {
                    symbol: s.symbol.clone(),
                    candles: s.candles[from..].to_vec(),
                    predictions: Some(p[from..].to_vec()),
                    lower: None,
                }
            })
            .filter(|d| !d.candles.is_empty())
            .collect();
        let spec = ReportSpec {
            timeframe: tf,
            config: a.backtest.clone(),
            strategy: Strategy::Model,
            trials: 1,
            random_seed: cfg.train.seed,
        };
        Some(report::run_report(&data, &spec).0)
    };

    let created_at = chrono::Utc::now().timestamp_millis();
    let dir = a.out.join(format!(
        "{}-{}",
        scope.replace('/', "-"),
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ")
    ));
    let model_cfg = ModelConfig {
        architecture: match cfg.boost {
            Some(_) => "bigru-attention+lightgbm".into(),
            None => "bigru-attention".into(),
        },
        scope: scope.to_string(),
        timeframe: tf,
        features: features::NAMES.iter().map(|s| s.to_string()).collect(),
        net: cfg.train.net.clone(),
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
            "ensemble": run.model.ensemble.trees.as_ref().map(|t| &t.1),
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
            code_version: report::code_version(),
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

#[derive(Debug, Args)]
pub struct PredictArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// A model directory written by `traderai train`.
    #[arg(long)]
    pub model: PathBuf,
    #[arg(long, value_parser = parse_backend, default_value_t = Backend::preferred())]
    pub backend: Backend,
    /// Output CSV (one per series: SYMBOL is replaced by the symbol when several).
    #[arg(long, short)]
    pub out: PathBuf,
}

/// Per-bar predictions in the format `traderai backtest --signals` reads.
pub async fn predict_cmd(cli: &Cli, a: &PredictArgs) -> anyhow::Result<()> {
    let model = LoadedModel::load(&a.model, a.backend)?;
    if model.config.timeframe != a.source.timeframe {
        bail!(
            "{}: trained on {} bars, asked for {}",
            a.model.display(),
            model.config.timeframe,
            a.source.timeframe
        );
    }
    let series = research::load(cli, &a.source).await?;
    let mut written = Vec::new();
    for s in &series {
        let preds = tokio::task::block_in_place(|| model.predict_series(&s.symbol, &s.candles))?;
        let path = if series.len() > 1 {
            PathBuf::from(
                a.out
                    .to_string_lossy()
                    .replace("SYMBOL", &s.symbol.replace('/', "-")),
            )
        } else {
            a.out.clone()
        };
        write_predictions(&path, &s.candles, &preds, &model)?;
        written.push(serde_json::json!({
            "symbol": s.symbol,
            "file": path,
            "bars": s.candles.len(),
            "predicted": preds.iter().filter(|p| p.is_some()).count(),
        }));
    }
    let out = serde_json::json!({ "model": model.manifest.sha256, "series": written });
    if cli.json {
        return print_json(&out);
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

fn write_predictions(
    path: &Path,
    candles: &[Candle],
    preds: &[Option<Prediction>],
    model: &LoadedModel,
) -> anyhow::Result<()> {
    let mut w =
        csv::Writer::from_path(path).with_context(|| format!("writing {}", path.display()))?;
    let extra = ["set", "move_low", "move_high"];
    w.write_record(research::PREDICTION_COLUMNS.iter().chain(&extra))?;
    for (c, p) in candles.iter().zip(preds) {
        let Some(p) = p else { continue };
        let probs = [p.p_up as f32, p.p_neutral as f32, p.p_down as f32];
        let set = model.calibrator.set_names(&probs);
        let (lo, hi) = model.calibrator.interval(p.expected_move_pct as f32);
        w.write_record([
            crate::time::iso(c.open_time),
            format!("{:.6}", p.p_up),
            format!("{:.6}", p.p_neutral),
            format!("{:.6}", p.p_down),
            format!("{:.4}", p.expected_move_pct),
            format!("{:.6}", p.confidence),
            set.join("|"),
            format!("{lo:.4}"),
            format!("{hi:.4}"),
        ])?;
    }
    w.flush()?;
    Ok(())
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
    #[serde(default)]
    pub per_symbol: bool,
    #[serde(default = "default_profile")]
    pub profile: RiskProfile,
    #[serde(default = "default_capital")]
    pub capital: f64,
    #[serde(default)]
    pub min_net_profit: Option<f64>,
    /// Where model directories go (default: `$TRADERAI_MODEL_DIR` or `var/models`).
    #[serde(default)]
    pub out: Option<PathBuf>,
    /// Each trained model is registered; this decides whether it serves.
    #[serde(default)]
    pub promote: Promote,
}

/// Where training jobs write model directories unless told otherwise:
/// `$TRADERAI_MODEL_DIR`, else `var/models` (outside the source folders).
pub fn default_model_dir() -> PathBuf {
    std::env::var_os("TRADERAI_MODEL_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("var/models"))
}

pub(crate) fn default_profile() -> RiskProfile {
    RiskProfile::Medium
}

pub(crate) fn default_capital() -> f64 {
    100.0
}

/// Runs a claimed training job: epochs are published on the job row (and
/// so over LISTEN/NOTIFY), cancellation is checked after every epoch and by
/// the heartbeat, and a job taken over after a crash resumes from the epoch
/// checkpoints under `out/checkpoints/job-<id>`.
pub async fn run_job(
    pool: &sqlx::PgPool,
    job: &crate::db::jobs::Job,
    owner: &str,
) -> anyhow::Result<(crate::db::jobs::JobStatus, serde_json::Value)> {
    use crate::db::jobs::{self as jobs_db, JobStatus};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let p: TrainJobParams =
        serde_json::from_value(job.params.clone()).context("reading training parameters")?;
    let mut series = Vec::new();
    for symbol in &p.symbols {
        let candles = research::stored_candles_of(
            pool,
            symbol.as_str(),
            p.timeframe,
            p.exchange.as_deref(),
            p.market,
        )
        .await?;
        if candles.is_empty() {
            bail!("no stored candles for {symbol} {}", p.timeframe);
        }
        series.push(Loaded {
            symbol: symbol.to_string(),
            candles,
            skipped: 0,
        });
    }
    research::check_capital(p.capital).map_err(|e| anyhow::anyhow!(e))?;
    let out = p.out.clone().unwrap_or_else(default_model_dir);
    let risk = RiskArgs {
        profile: p.profile,
        capital: p.capital,
        min_net_profit: p.min_net_profit,
    };
    let opts = TrainOptions {
        timeframe: p.timeframe,
        backend: p.backend.unwrap_or_else(Backend::preferred),
        horizon: p.horizon,
        backtest: risk.backtest_config(),
        checkpoints: out.join("checkpoints").join(format!("job-{}", job.id)),
        out,
    };
    let groups = scopes(series, p.per_symbol);

    // The heartbeat keeps the claim alive through long epochs and carries
    // cancellation requests to the training thread.
    let cancel = Arc::new(AtomicBool::new(false));
    let beat = {
        let (pool, owner, cancel, id) = (pool.clone(), owner.to_string(), cancel.clone(), job.id);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                if let Ok(true) = jobs_db::heartbeat(&pool, id, &owner).await {
                    cancel.store(true, Ordering::Relaxed);
                }
            }
        })
    };
    let stages = (p.pipeline.folds + 1) * groups.len();
    let handle = tokio::runtime::Handle::current();
    let (pool2, owner2, id) = (pool.clone(), owner.to_string(), job.id);
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
                let k = g * (cfg.folds + 1)
                    + match stage {
                        Stage::Fold(k) => k,
                        Stage::Final => cfg.folds,
                    };
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
                let progress = (k as f64 + r.epoch as f64 / r.max_epochs.max(1) as f64) / stages as f64;
                let detail = serde_json::json!({
                    "scope": scope,
                    "stage": stage,
                    "stage_index": k,
                    "stages": stages,
                    "epoch": r,
                    "curve": curve,
                });
                let stop = handle.block_on(async {
                    let mut conn = pool2.acquire().await?;
                    jobs_db::checkpoint(&mut conn, id, &owner2, progress, &detail, &detail).await
                });
                match stop {
                    Ok(false) if !cancel.load(Ordering::Relaxed) => Control::Continue,
                    Ok(_) => Control::Cancel,
                    Err(e) => {
                        tracing::error!(job = id, error = %e, "could not record training progress; stopping");
                        Control::Cancel
                    }
                }
            };
            summaries.push(train_scope(&opts, &cfg, scope, series, &mut on_epoch)?);
        }
        anyhow::Ok(summaries)
    })
    .await;
    beat.abort();
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
