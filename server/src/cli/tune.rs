//! `traderai tune`: a hyperparameter study, here or as a job.

use super::models::{ModelArgs, PromoteArg, report_epoch};
use super::research::{RiskArgs, SourceArgs, load};
use super::{Cli, connect, print_json};
use crate::config::Settings;
use crate::training::TrainOptions;
use crate::tune::{self, Phase, TuneJobParams, TuneOptions};
use anyhow::{Context, bail};
use clap::Args;
use models::train::Control;
use models::tune::SearchSpace;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct TuneArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// The base pipeline and training flags (a trial's assignment changes them).
    #[command(flatten)]
    pub model: ModelArgs,
    /// The trader of each trial's held-out backtest and of the best model's.
    #[command(flatten)]
    pub risk: RiskArgs,
    /// The study's name: run again with the same arguments to resume it.
    #[arg(long)]
    pub study: String,
    /// Trials in the study; more than a finished study holds extends it
    /// (its trials are kept and told to the sampler).
    #[arg(long, default_value_t = 20)]
    pub trials: usize,
    /// Random trials before TPE models the results (the pruner waits for as many).
    #[arg(long, default_value_t = tune::default_startup())]
    pub startup: usize,
    /// The search space as JSON: knob → {"kind": "int"|"float", "low", "high", "log"} or {"kind": "bool"}
    /// (knobs: ensemble, transformer, width, window, learning_rate, dropout, threshold_scale, tree_depth,
    /// tree_leaves, tree_rounds). Default: all of them.
    #[arg(long)]
    pub space: Option<PathBuf>,
    /// Where the best model's directory is written (and the study's checkpoints).
    #[arg(long, short, default_value = "model-out")]
    pub out: PathBuf,
    /// Whether the best model serves once registered.
    #[arg(long, value_enum, default_value_t = PromoteArg::IfBetter)]
    pub promote: PromoteArg,
    /// Queue a tune job for the workers (stored series only) instead of running here.
    #[arg(long)]
    pub enqueue: bool,
}

impl TuneArgs {
    fn space(&self) -> anyhow::Result<SearchSpace> {
        match &self.space {
            None => Ok(SearchSpace::default()),
            Some(p) => serde_json::from_str(
                &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
            )
            .with_context(|| format!("{}: not a search space", p.display())),
        }
    }
}

pub(super) async fn tune_cmd(cli: &Cli, settings: &Settings, a: &TuneArgs) -> anyhow::Result<()> {
    let base = a.model.config()?;
    let space = a.space()?;
    space
        .check(&base, a.model.barrier.is_some())
        .map_err(|e| anyhow::anyhow!(e))?;
    let pool = connect(cli).await?;
    if a.enqueue {
        if !a.source.input.is_empty() {
            bail!("--enqueue tunes stored series: use --symbol, not --input");
        }
        let source = a.source.source()?;
        let params = TuneJobParams {
            study: a.study.clone(),
            symbols: source.symbols.clone(),
            timeframe: a.source.timeframe,
            exchange: source.exchange.clone(),
            market: a.source.market,
            universe: a.source.universe.clone(),
            trials: a.trials,
            startup: a.startup,
            space: Some(space),
            pipeline: base,
            backend: Some(a.model.backend),
            horizon: a.model.horizon,
            barrier: a.model.barrier,
            profile: a.risk.profile,
            capital: a.risk.capital,
            min_net_profit: a.risk.min_net_profit,
            out: Some(a.out.clone()),
            promote: a.promote.into(),
        };
        let job =
            crate::db::jobs::enqueue(&pool, tune::KIND, &serde_json::to_value(&params)?).await?;
        if cli.json {
            return print_json(&job);
        }
        println!(
            "queued tune job {} for study {:?} (watch: traderai jobs watch {})",
            job.id, a.study, job.id
        );
        return Ok(());
    }
    let mut loaded = load(cli, &a.source).await?;
    if !base.groups.is_empty() {
        crate::altdata::attach(&pool, &mut loaded, &base.groups).await?;
    }
    let backtest = crate::research::backtest_config(settings, &a.risk.trader(), &loaded)?;
    let o = TuneOptions {
        study: a.study.clone(),
        trials: a.trials,
        startup: a.startup,
        space,
        base,
        train: TrainOptions {
            timeframe: a.source.timeframe,
            backend: a.model.backend,
            horizon: a.model.horizon,
            barrier: a.model.barrier,
            threshold_scale: None,
            backtest,
            out: a.out.clone(),
            checkpoints: tune::checkpoint_dir(&a.out, &a.study),
        },
        promote: a.promote.into(),
    };
    let report = tune::run_study(&pool, &o, &loaded, &mut |phase, stage, r| {
        let scope = match phase {
            Phase::Trial(n) => format!("trial {n}"),
            Phase::Best => "best".into(),
        };
        report_epoch(cli, &scope, stage, r);
        Control::Continue
    })
    .await?;
    if cli.json {
        return print_json(&report);
    }
    let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
    println!(
        "study {}: {} trials ({} complete, {} pruned, {} failed); objective: {}",
        report.study,
        report.trials["total"],
        report.trials["complete"],
        report.trials["pruned"],
        report.trials["failed"],
        report.objective
    );
    println!(
        "  {:>5} {:<9} {:>9} {:>7} {:>8}  params",
        "trial", "state", "skill", "trades", "Sharpe"
    );
    for t in report.trials["all"].as_array().into_iter().flatten() {
        println!(
            "  {:>5} {:<9} {:>9} {:>7} {:>8}  {}",
            t["number"],
            t["state"].as_str().unwrap_or("?"),
            f(t["objective"].as_f64()),
            t["backtest"]["trades"]
                .as_u64()
                .map_or("-".into(), |n| n.to_string()),
            f(t["backtest"]["sharpe"].as_f64()),
            t["params"]
        );
    }
    println!(
        "  best: trial {} (skill {}); {} configurations tried on this data",
        report.best["number"],
        f(report.best["objective"].as_f64()),
        report.ledger_trials
    );
    match (&report.pbo, &report.pbo_error) {
        (Some(p), _) => println!(
            "  PBO {:.2} over {} trials ({} splits of {} blocks)",
            p.pbo, p.trials, p.splits, p.blocks
        ),
        (None, Some(e)) => println!("  no PBO: {e}"),
        (None, None) => {}
    }
    println!(
        "  model {} ({}): {}",
        report.model["dir"].as_str().unwrap_or("?"),
        report.registry["model"]["status"].as_str().unwrap_or("?"),
        report.registry["reason"].as_str().unwrap_or("")
    );
    Ok(())
}
