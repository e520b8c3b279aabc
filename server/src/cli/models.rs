//! Model commands: train, predict, the registry, drift checks.

use super::research::{RiskArgs, SourceArgs, load};
use super::{Cli, connect, print_json};
use crate::config::{DriftSettings, Settings};
use crate::db::models as db;
use crate::drift::{DriftParams, check};
use crate::registry::{Promote, decide, download, register, rollback};
use crate::research::Loaded;
use crate::training::{self, TrainJobParams, TrainOptions};
use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use engine::Timeframe;
use engine::drift::DriftThresholds;
use models::artifact::LoadedModel;
use models::backend::Backend;
use models::pipeline::{PipelineConfig, Stage};
use models::train::{Control, EpochReport};
use std::path::PathBuf;

/// When a freshly trained model replaces the active one (`--promote`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PromoteArg {
    /// Register only.
    Never,
    /// When its walk-forward log loss is at most the active model's.
    IfBetter,
    /// Always.
    Always,
}

impl From<PromoteArg> for Promote {
    fn from(p: PromoteArg) -> Self {
        match p {
            PromoteArg::Never => Promote::Never,
            PromoteArg::IfBetter => Promote::IfBetter,
            PromoteArg::Always => Promote::Always,
        }
    }
}

pub(super) fn parse_backend(s: &str) -> Result<Backend, String> {
    s.parse()
        .map_err(|e: models::backend::BackendError| e.to_string())
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub model: ModelArgs,
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
    #[arg(long, value_enum, default_value_t = PromoteArg::IfBetter)]
    pub promote: PromoteArg,
}

impl TrainArgs {
    /// Training options for `loaded`, whose exchange's costs the
    /// walk-forward backtest charges.
    fn options(&self, settings: &Settings, loaded: &[Loaded]) -> anyhow::Result<TrainOptions> {
        Ok(TrainOptions {
            timeframe: self.source.timeframe,
            backend: self.model.backend,
            horizon: self.model.horizon,
            barrier: self.model.barrier,
            threshold_scale: None,
            backtest: crate::research::backtest_config(settings, &self.risk.trader(), loaded)?,
            out: self.out.clone(),
            checkpoints: self
                .checkpoints
                .clone()
                .unwrap_or_else(|| self.out.join("checkpoints")),
        })
    }
}

/// How a model is trained: what `train` and `evaluate` share.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// libtorch (default when built with it; CUDA when a GPU is seen) or flex.
    #[arg(long, value_parser = parse_backend, default_value_t = Backend::preferred())]
    pub backend: Backend,
    /// Pipeline settings as JSON (network sizes, optimiser, folds, …); flags override it.
    #[arg(long)]
    pub pipeline: Option<PathBuf>,
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Walk-forward test windows (0: `train` fits the final model only;
    /// `evaluate` needs at least 1, it reports on them alone).
    #[arg(long)]
    pub folds: Option<usize>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Bars ahead the model predicts (default: about one day).
    #[arg(long)]
    pub horizon: Option<usize>,
    /// Triple-barrier labels instead of direction ones: the upper and lower
    /// barriers in ATR(14), e.g. 2,1 (the vertical one is the horizon).
    #[arg(long, value_parser = models::data::BarrierTarget::parse)]
    pub barrier: Option<models::data::BarrierTarget>,
    /// Feature groups beside the technical features: sentiment and macro
    /// (the stored alternative data, `traderai altdata`), context (the
    /// higher timeframes and the regime, from the bars). The walk-forward
    /// also runs without each group on the same folds.
    #[arg(long, value_delimiter = ',', value_parser = models::data::FeatureGroup::parse)]
    pub groups: Vec<models::data::FeatureGroup>,
    /// Add the sequence transformer (causal attention over the window) as
    /// a third ensemble member, with the pipeline's sizes or the defaults.
    #[arg(long)]
    pub transformer: bool,
}

impl ModelArgs {
    /// The pipeline file (or the defaults) with the flags that override it.
    pub(super) fn config(&self) -> anyhow::Result<PipelineConfig> {
        let mut cfg: PipelineConfig = match &self.pipeline {
            Some(p) => serde_json::from_str(
                &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
            )
            .with_context(|| format!("{}: not a pipeline config", p.display()))?,
            None => PipelineConfig::default(),
        };
        if let Some(e) = self.epochs {
            cfg.train.max_epochs = e;
        }
        if let Some(f) = self.folds {
            cfg.folds = f;
        }
        if let Some(s) = self.seed {
            cfg.train.seed = s;
        }
        if !self.groups.is_empty() {
            cfg.groups = self.groups.clone();
            cfg.groups.dedup();
        }
        if self.transformer && cfg.transformer.is_none() {
            cfg.transformer = Some(Default::default());
        }
        if let Some(t) = &cfg.transformer {
            t.check().map_err(anyhow::Error::msg)?;
        }
        Ok(cfg)
    }
}

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    /// The trader of the held-out backtests.
    #[command(flatten)]
    pub risk: RiskArgs,
    /// The model's share of the hybrid's confidence (default: `[signals] model_weight`).
    #[arg(long)]
    pub hybrid_weight: Option<f64>,
    /// Where evaluation.json is written.
    #[arg(long, short, default_value = "evaluate-out")]
    pub out: PathBuf,
}

/// `traderai evaluate`: the walk-forward's held-out windows, traded.
pub(super) async fn evaluate_cmd(
    cli: &Cli,
    settings: &Settings,
    a: &EvaluateArgs,
) -> anyhow::Result<()> {
    let cfg = a.model.config()?;
    let weight = a.hybrid_weight.unwrap_or(settings.signals.model_weight);
    if !(0.0..=1.0).contains(&weight) {
        anyhow::bail!("--hybrid-weight: a share, 0 to 1 (got {weight})");
    }
    let mut loaded = load(cli, &a.source).await?;
    let ledger = match a.source.source()?.needs_store() {
        true => Some(connect(cli).await?),
        false => None,
    };
    if let (Some(pool), false) = (&ledger, cfg.groups.is_empty()) {
        crate::altdata::attach(pool, &mut loaded, &cfg.groups).await?;
    }
    let backtest = crate::research::backtest_config(settings, &a.risk.trader(), &loaded)?;
    let mut opts = crate::evaluate::EvaluateOptions {
        timeframe: a.source.timeframe,
        backend: a.model.backend,
        horizon: a.model.horizon,
        barrier: a.model.barrier,
        backtest,
        hybrid_weight: weight,
        trials: 1,
    };
    // The same ledger as training's: evaluating a pipeline is trying it.
    if let Some(pool) = &ledger {
        opts.trials = crate::evaluate::record_trial(pool, &opts, &cfg, &loaded).await?;
    }
    let e = tokio::task::block_in_place(|| {
        crate::evaluate::evaluate(&opts, &cfg, &loaded, &mut |stage, r| {
            report_epoch(cli, "evaluate", stage, r);
            Control::Continue
        })
    })?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let path = a.out.join("evaluation.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&e)?)
        .with_context(|| format!("writing {}", path.display()))?;
    if cli.json {
        return print_json(&e);
    }
    let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
    println!(
        "{} {} held out {} bars ({} predictions): accuracy {:.3}, balanced {:.3}, log loss {:.3} (class prior: {:.3})",
        e.symbols.join(","),
        e.timeframe,
        e.held_out.bars,
        e.held_out.predictions,
        e.classification.accuracy,
        e.classification.balanced_accuracy,
        e.classification.log_loss,
        e.prior_baseline.log_loss
    );
    println!(
        "  {:<16} {:>6} {:>9} {:>15} {:>6} {:>6} {:>8} {:>8} {:>8}",
        "strategy", "trades", "TP1 hit", "95 % interval", "win", "PF", "Sharpe", "DSR", "max DD"
    );
    for r in &e.strategies {
        let m = &r.metrics;
        println!(
            "  {:<16} {:>6} {:>9} {:>15} {:>6} {:>6} {:>8} {:>8} {:>7.2}%",
            r.name,
            m.trades,
            f(m.tp1_hit_rate),
            r.tp1_hit_interval
                .map_or("-".into(), |(lo, hi)| format!("{lo:.2}–{hi:.2}")),
            f(m.win_rate),
            f(m.profit_factor),
            f(m.sharpe),
            f(m.deflated_sharpe),
            m.max_drawdown_pct
        );
    }
    let randoms: Vec<(String, &engine::backtest::metrics::Metrics)> = e
        .strategies
        .iter()
        .filter(|s| s.metrics.trades > 0)
        .map(|s| (format!("random@{}", s.name), &s.random))
        .collect();
    for (name, m) in std::iter::once(("buy & hold".to_string(), &e.buy_and_hold)).chain(randoms) {
        println!(
            "  {:<16} {:>6} {:>9} {:>15} {:>6} {:>6} {:>8} {:>8} {:>7.2}%",
            name,
            m.trades,
            f(m.tp1_hit_rate),
            "",
            f(m.win_rate),
            f(m.profit_factor),
            f(m.sharpe),
            "",
            m.max_drawdown_pct
        );
    }
    for v in &e.verdict {
        println!("  {v}");
    }
    if let Some(err) = &e.pbo_error {
        println!("  no PBO: {err}");
    }
    println!(
        "  {} trials; data {}…, predictions {}…; wrote {}",
        e.trials,
        &e.data_sha256[..12],
        &e.predictions_sha256[..12],
        path.display()
    );
    Ok(())
}

pub(super) async fn train_cmd(cli: &Cli, settings: &Settings, a: &TrainArgs) -> anyhow::Result<()> {
    let cfg = a.model.config()?;
    if a.enqueue {
        return enqueue(cli, a, cfg).await;
    }
    let mut loaded = load(cli, &a.source).await?;
    if !cfg.groups.is_empty() {
        let pool = connect(cli).await?;
        crate::altdata::attach(&pool, &mut loaded, &cfg.groups).await?;
    }
    let opts = a.options(settings, &loaded)?;
    let groups = training::scopes(loaded, a.per_symbol);
    // Stored data has a trial ledger; files count this configuration alone.
    let ledger = match a.source.source()?.needs_store() {
        true => Some(connect(cli).await?),
        false => None,
    };
    let mut summaries = Vec::new();
    for (scope, series) in groups {
        let trials = match &ledger {
            Some(pool) => training::record_trial(pool, &opts, &cfg, &scope, &series).await?,
            None => 1,
        };
        let summary = tokio::task::block_in_place(|| {
            training::train_scope(&opts, &cfg, &scope, &series, trials, &mut |stage, r| {
                report_epoch(cli, &scope, stage, r);
                Control::Continue
            })
        })?;
        summaries.push(summary);
    }
    let mut decisions = Vec::new();
    if a.register {
        let pool = connect(cli).await?;
        for s in &summaries {
            decisions
                .push(crate::registry::register_and_decide(&pool, &s.dir, a.promote.into()).await?);
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
                    "  fold {}: test {} samples | acc {:.3} | bal.acc {:.3} | log loss {:.3} | ECE {:.3} | set coverage {:.3} (promised {:.2}) | move interval coverage {:.3}{}",
                    f.fold,
                    f.test_samples,
                    f.metrics.accuracy,
                    f.metrics.balanced_accuracy,
                    f.metrics.log_loss,
                    f.metrics.calibration_error,
                    f.coverage.set_coverage,
                    f.coverage.level,
                    f.coverage.interval_coverage,
                    f.adaptive.as_ref().map_or(String::new(), |a| format!(
                        ", adaptive {:.3} (width {:.2} vs {:.2})",
                        a.interval_coverage, a.mean_interval_width, f.coverage.interval_width
                    ))
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
            if let Some(t) = &e.transformer {
                member("transformer", t);
            }
            for g in &e.groups {
                println!(
                    "  without {}: acc {:.3} | bal.acc {:.3} | log loss {:.3} → with it: log loss {:+.4}, bal.acc {:+.4}; better on {} of {} folds",
                    g.group.name(),
                    g.without.accuracy,
                    g.without.balanced_accuracy,
                    g.without.log_loss,
                    g.log_loss_change,
                    g.balanced_accuracy_change,
                    g.folds_better,
                    e.folds.len()
                );
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
    let source = a.source.source()?;
    let params = TrainJobParams {
        symbols: source.symbols.clone(),
        timeframe: a.source.timeframe,
        exchange: source.exchange.clone(),
        market: a.source.market,
        pipeline: cfg,
        backend: Some(a.model.backend),
        horizon: a.model.horizon,
        barrier: a.model.barrier,
        per_symbol: a.per_symbol,
        profile: a.risk.profile,
        capital: a.risk.capital,
        min_net_profit: a.risk.min_net_profit,
        out: Some(a.out.clone()),
        promote: a.promote.into(),
        universe: a.source.universe.clone(),
    };
    let pool = connect(cli).await?;
    let job =
        crate::db::jobs::enqueue(&pool, training::KIND, &serde_json::to_value(&params)?).await?;
    if cli.json {
        return print_json(&job);
    }
    println!(
        "queued training job {} (watch: traderai jobs watch {})",
        job.id, job.id
    );
    Ok(())
}

pub(super) fn report_epoch(cli: &Cli, scope: &str, stage: Stage, r: &EpochReport) {
    let stage_name = stage.label();
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
pub(super) async fn predict_cmd(cli: &Cli, a: &PredictArgs) -> anyhow::Result<()> {
    let model = LoadedModel::load(&a.model, a.backend)?;
    if model.config.timeframe != a.source.timeframe {
        bail!(
            "{}: trained on {} bars, asked for {}",
            a.model.display(),
            model.config.timeframe,
            a.source.timeframe
        );
    }
    let mut series = load(cli, &a.source).await?;
    if !model.config.pipeline.groups.is_empty() {
        let pool = connect(cli).await?;
        crate::altdata::attach(&pool, &mut series, &model.config.pipeline.groups).await?;
    }
    let mut written = Vec::new();
    for s in &series {
        let preds =
            tokio::task::block_in_place(|| model.predict_series(&s.symbol, &s.candles, &s.alt))?;
        let path = if series.len() > 1 {
            PathBuf::from(
                a.out
                    .to_string_lossy()
                    .replace("SYMBOL", &s.symbol.replace('/', "-")),
            )
        } else {
            a.out.clone()
        };
        crate::research::write_predictions(&path, &s.candles, &preds, &model)?;
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

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Registered models, newest version first.
    List {
        #[arg(long)]
        scope: Option<String>,
    },
    /// One model with its walk-forward summary.
    Show { id: i64 },
    /// Record a model directory written by `traderai train`.
    Register {
        dir: PathBuf,
        #[arg(long, value_enum, default_value_t = PromoteArg::IfBetter)]
        promote: PromoteArg,
    },
    /// Make a model the active one of its scope.
    Promote { id: i64 },
    /// Restore the previous active model of a scope.
    Rollback {
        #[arg(long, default_value = "universal")]
        scope: String,
        #[arg(long)]
        timeframe: engine::Timeframe,
    },
    /// Write a model as ZIP; prints its SHA-256 (the registry's).
    Download {
        id: i64,
        #[arg(long, short)]
        out: PathBuf,
    },
    /// Registry decisions (registered, promoted, kept aside, rolled back, pruned, drift).
    Events {
        #[arg(long)]
        scope: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

pub(super) async fn models_cmd(cli: &Cli, c: &ModelsCommand) -> anyhow::Result<()> {
    let pool = connect(cli).await?;
    match c {
        ModelsCommand::List { scope } => {
            let rows = db::list(&pool, scope.as_deref()).await?;
            if cli.json {
                return print_json(&rows);
            }
            for m in rows {
                println!(
                    "{:>4}  {} {} v{:<3} {:<9} log loss {:>7} bal.acc {:>6}  {}  {}",
                    m.id,
                    m.scope,
                    m.timeframe,
                    m.version,
                    m.status.as_str(),
                    m.wf_log_loss.map_or("-".into(), |v| format!("{v:.4}")),
                    m.wf_balanced_accuracy
                        .map_or("-".into(), |v| format!("{v:.3}")),
                    &m.sha256[..12],
                    m.dir
                );
            }
            Ok(())
        }
        ModelsCommand::Show { id } => {
            let m = db::get(&pool, *id)
                .await?
                .with_context(|| format!("no model {id}"))?;
            print_json(&m)
        }
        ModelsCommand::Register { dir, promote } => {
            let (row, created) = register(&pool, dir).await?;
            let decision = decide(&pool, row.id, (*promote).into()).await?;
            let out = serde_json::json!({ "created": created, "decision": decision });
            if cli.json {
                return print_json(&out);
            }
            println!(
                "model {} = {} {} v{} ({}): {}",
                row.id,
                row.scope,
                row.timeframe,
                row.version,
                if created { "new" } else { "already registered" },
                decision.reason
            );
            Ok(())
        }
        ModelsCommand::Promote { id } => {
            let d = decide(&pool, *id, Promote::Always).await?;
            if cli.json {
                return print_json(&d);
            }
            println!(
                "{} {} v{}: {}",
                d.model.scope, d.model.timeframe, d.model.version, d.reason
            );
            Ok(())
        }
        ModelsCommand::Rollback { scope, timeframe } => {
            let d = rollback(&pool, scope, &timeframe.to_string()).await?;
            if cli.json {
                return print_json(&d);
            }
            println!("{scope} {timeframe}: {}", d.reason);
            Ok(())
        }
        ModelsCommand::Download { id, out } => {
            let (m, bytes) = download(&pool, *id).await?;
            std::fs::write(out, &bytes).with_context(|| format!("writing {}", out.display()))?;
            let info = serde_json::json!({ "id": m.id, "file": out, "bytes": bytes.len(), "sha256": m.zip_sha256 });
            if cli.json {
                return print_json(&info);
            }
            println!(
                "{}  {} ({} bytes)",
                m.zip_sha256,
                out.display(),
                bytes.len()
            );
            Ok(())
        }
        ModelsCommand::Events { scope, limit } => {
            let ev = db::events(&pool, scope.as_deref(), *limit).await?;
            if cli.json {
                return print_json(&ev);
            }
            for e in ev {
                println!(
                    "{} {} {} {:<12} model {:?}  {}",
                    e.at.format("%Y-%m-%d %H:%M:%S"),
                    e.scope,
                    e.timeframe,
                    e.action,
                    e.model_id,
                    e.detail
                );
            }
            Ok(())
        }
    }
}

#[derive(Debug, Args)]
pub struct DriftArgs {
    #[arg(long, default_value = "universal")]
    pub scope: String,
    #[arg(long)]
    pub timeframe: Timeframe,
    /// Bars per series in the recent window (default from `[drift]`).
    #[arg(long)]
    pub recent_bars: Option<usize>,
    /// Queue a retraining job when drift is found (default from `[drift]`).
    #[arg(long)]
    pub retrain: Option<bool>,
    /// Thresholds (default from `[drift]`: PSI 0.15, KS 0.1).
    #[arg(long)]
    pub psi: Option<f64>,
    #[arg(long)]
    pub ks: Option<f64>,
}

pub(super) async fn drift_cmd(
    cli: &Cli,
    settings: &DriftSettings,
    a: &DriftArgs,
) -> anyhow::Result<()> {
    let pool = connect(cli).await?;
    let p = DriftParams {
        scope: a.scope.clone(),
        timeframe: a.timeframe,
        recent_bars: a.recent_bars,
        thresholds: Some(DriftThresholds {
            psi: a.psi.unwrap_or(settings.psi),
            ks: a.ks.unwrap_or(settings.ks),
        }),
        retrain: a.retrain,
    };
    let out = check(&pool, &p, settings, Backend::preferred()).await?;
    if cli.json {
        return print_json(&out);
    }
    println!(
        "{} {} model {} (v{}): {} reference rows vs {} recent",
        a.scope,
        a.timeframe,
        out.model,
        out.version,
        out.report.reference_rows,
        out.report.recent_rows
    );
    for c in &out.report.columns {
        println!(
            "  {:<22} PSI {:>7.4}  KS {:>6.4}{}",
            c.name,
            c.psi,
            c.ks,
            if c.drifted { "  DRIFT" } else { "" }
        );
    }
    match out.retrain_job {
        Some(id) => println!(
            "drift in {}: retraining job {id} queued",
            out.drifted.join(", ")
        ),
        None if out.report.drifted => {
            println!("drift in {} (retraining off)", out.drifted.join(", "))
        }
        None => println!("no drift"),
    }
    Ok(())
}
