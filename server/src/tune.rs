//! Hyperparameter search (`traderai tune` and the tune job): a named study
//! over a declared space, trial by trial. Each trial runs the purged
//! walk-forward (pruned on its first fold when that falls below the median
//! of the finished trials), stores its numbers and is counted in the trial
//! ledger; when all are done the best is trained as a model, registered and
//! promoted by the registry's policy, and PBO over the trials says how much
//! choosing the best of them can be trusted.
//!
//! The objective is the walk-forward's log-loss skill over the class-prior
//! forecast of the same labels (1 − model/prior), so trials with different
//! label thresholds compare fairly. Everything lives in PostgreSQL: a
//! process killed at any point resumes the study from its stored trials
//! (the one it was in is run again with the same assignment, from its epoch
//! checkpoints).

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use engine::backtest::metrics::Metrics;
use engine::backtest::pbo::{self, Pbo};
use engine::backtest::report::{self, ReportSpec};
use engine::backtest::strategy::Strategy;
use models::pipeline::{self, EvaluationReport, PipelineConfig, PipelineError, Stage};
use models::train::{Checkpoints, Control, EpochReport};
use models::tune::{self, Assignment, Sampler, SearchSpace};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::db::tune::{self as db, StudyStatus, TrialEnd, TrialState};
use crate::registry::{self, Promote};
use crate::research::Loaded;
use crate::training::{self, TrainOptions};

/// The job kind that runs a study.
pub const KIND: &str = "tune";

/// Blocks the trials' common tested span is cut into for CSCV.
const PBO_BLOCKS: usize = 8;

/// What a study needs besides the data.
#[derive(Debug, Clone)]
pub struct TuneOptions {
    pub study: String,
    /// Trials in the study (those already stored count).
    pub trials: usize,
    /// Trials drawn at random before TPE, and finished trials the pruner waits for.
    pub startup: usize,
    pub space: SearchSpace,
    /// The pipeline a trial's assignment changes; its seed seeds the sampler.
    pub base: PipelineConfig,
    /// Timeframe, backend, target, the held-out backtest's trader and
    /// costs, where the best model is written and checkpointed.
    pub train: TrainOptions,
    pub promote: Promote,
}

/// What makes two runs the same study (hashed; a resumed run must match).
/// The number of trials is not part of it: a rerun with more extends the study.
#[derive(Debug, Serialize)]
struct Definition<'a> {
    space: &'a SearchSpace,
    base: &'a PipelineConfig,
    startup: usize,
    timeframe: engine::Timeframe,
    backend: models::backend::Backend,
    horizon: Option<usize>,
    barrier: Option<models::data::BarrierTarget>,
    backtest: &'a engine::backtest::BacktestConfig,
    /// The trial ledger's name for the data, and its hash.
    subject: &'a str,
    data_sha256: &'a str,
}

/// Where the search is, for progress reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "phase", content = "trial")]
pub enum Phase {
    Trial(usize),
    /// Training the best trial's configuration as the model.
    Best,
}

/// One finished trial as reported.
#[derive(Debug, Clone, Serialize)]
pub struct TrialSummary {
    pub number: usize,
    pub state: TrialState,
    pub params: serde_json::Value,
    pub objective: Option<f64>,
    pub folds: Option<serde_json::Value>,
    /// The held-out backtest of the trial's out-of-sample signals.
    pub backtest: Option<serde_json::Value>,
    pub error: Option<String>,
}

/// A finished study.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StudyReport {
    pub study: String,
    pub objective: String,
    pub trials: serde_json::Value,
    pub best: serde_json::Value,
    /// Configurations tried on this data (the ledger): what the best
    /// model's deflated Sharpe counts.
    pub ledger_trials: usize,
    /// CSCV over the complete trials' per-bar skill gains.
    pub pbo: Option<Pbo>,
    pub pbo_error: Option<String>,
    /// The best configuration trained as a model, and the registry's decision.
    pub model: serde_json::Value,
    pub registry: serde_json::Value,
}

enum Outcome {
    Complete {
        objective: f64,
        folds: Vec<f64>,
        evaluation: Box<EvaluationReport>,
        backtest: Box<Metrics>,
        periods: Vec<(i64, f64)>,
    },
    Pruned {
        first_fold: f64,
    },
    Failed(String),
}

/// Which top-level keys of two definitions differ (for the refusal).
fn differing(a: &serde_json::Value, b: &serde_json::Value) -> Vec<String> {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return vec!["definition".into()];
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect()
}

/// Runs (or resumes) the study to its end: every trial, then the best
/// trained, registered and decided on. `on_epoch` sees every epoch; its
/// `Cancel` stops the study where it is (resumable).
pub async fn run_study(
    pool: &PgPool,
    o: &TuneOptions,
    series: &[Loaded],
    on_epoch: &mut (dyn FnMut(Phase, Stage, &EpochReport) -> Control + Send),
) -> anyhow::Result<StudyReport> {
    if o.trials == 0 {
        bail!("a study needs at least one trial (--trials)");
    }
    o.space
        .check(&o.base, o.train.barrier.is_some())
        .map_err(|e| anyhow::anyhow!(e))?;
    if o.base.folds == 0 {
        bail!("tuning compares walk-forward results: the pipeline needs folds (--folds 1 or more)");
    }
    let subject = training::trial_subject("universal", o.train.timeframe, series);
    let data = training::data_sha256(&o.base.groups, series);
    let definition = serde_json::to_value(Definition {
        space: &o.space,
        base: &o.base,
        startup: o.startup,
        timeframe: o.train.timeframe,
        backend: o.train.backend,
        horizon: o.train.horizon,
        barrier: o.train.barrier,
        backtest: &o.train.backtest,
        subject: &subject,
        data_sha256: &data,
    })?;
    let sha = crate::evaluate::sha256_json(&definition)?;
    let study = db::open(pool, &o.study, &sha, &definition).await?;
    if study.definition_sha256 != sha {
        // Studies stored before the trial count left the definition carry it.
        let mut stored = study.definition.clone();
        let legacy = stored.as_object_mut().and_then(|m| m.remove("trials"));
        if legacy.is_some() && crate::evaluate::sha256_json(&stored)? == sha {
            db::redefine(pool, study.id, &sha, &definition).await?;
        } else {
            bail!(
                "study {:?} was started with another definition (differs in: {}); resume it with the same arguments or name a new study",
                o.study,
                differing(&study.definition, &definition).join(", ")
            );
        }
    }
    if study.status == StudyStatus::Done {
        let report: StudyReport =
            serde_json::from_value(study.report.context("a done study has its report")?)?;
        let stored = report.trials["total"].as_u64().unwrap_or(0) as usize;
        if o.trials <= stored {
            return Ok(report);
        }
        // More trials asked of a finished study: it goes on from its last
        // trial, told everything the stored ones found.
        tracing::info!(study = %o.study, from = stored, to = o.trials, "extending a finished study");
        db::extend(pool, study.id).await?;
    }
    match run_open_study(pool, o, series, study.id, &subject, on_epoch).await {
        Ok(r) => Ok(r),
        Err(e) if is_cancel(&e) => Err(e),
        Err(e) => {
            db::fail(pool, study.id, &format!("{e:#}")).await?;
            Err(e)
        }
    }
}

fn is_cancel(e: &anyhow::Error) -> bool {
    matches!(e.downcast_ref(), Some(PipelineError::Cancelled))
}

async fn run_open_study(
    pool: &PgPool,
    o: &TuneOptions,
    series: &[Loaded],
    study: i64,
    subject: &str,
    on_epoch: &mut (dyn FnMut(Phase, Stage, &EpochReport) -> Control + Send),
) -> anyhow::Result<StudyReport> {
    let sampler = Sampler {
        space: o.space.clone(),
        seed: o.base.train.seed,
        startup: o.startup,
    };
    let stored = db::trials(pool, study).await?;
    let mut told: Vec<(Assignment, f64)> = Vec::new();
    let mut first_folds: Vec<f64> = Vec::new();
    let mut rows: BTreeMap<usize, db::Trial> = BTreeMap::new();
    for t in stored {
        rows.insert(t.number as usize, t);
    }
    let note = |t: &db::Trial, told: &mut Vec<(Assignment, f64)>, first: &mut Vec<f64>| {
        if let (Some(v), Ok(a)) = (t.objective, serde_json::from_value(t.params.clone())) {
            if matches!(t.state, TrialState::Complete | TrialState::Pruned) {
                told.push((a, v));
            }
            if t.state == TrialState::Complete
                && let Some(f) = t
                    .folds
                    .as_ref()
                    .and_then(|f| f.get(0))
                    .and_then(|f| f.as_f64())
            {
                first.push(f);
            }
        }
    };
    // Trials stored beyond what was asked (a study once extended) are kept
    // and finished too: none is left `running`.
    let total = o.trials.max(rows.keys().next_back().map_or(0, |n| n + 1));
    for number in 0..total {
        // Trials are told in order: a resumed study asks what an
        // uninterrupted one asked.
        if let Some(t) = rows.get(&number)
            && t.state != TrialState::Running
        {
            note(t, &mut told, &mut first_folds);
            continue;
        }
        let assignment = match rows.get(&number) {
            Some(t) => serde_json::from_value(t.params.clone())
                .with_context(|| format!("trial {number}: stored parameters"))?,
            None => sampler.suggest(number, &told),
        };
        let params = serde_json::to_value(&assignment)?;
        db::start_trial(pool, study, number as i32, &params).await?;
        let (cfg, scale) = o.space.apply(&assignment, &o.base);
        let hash = training::trial_hash(&cfg, o.train.horizon, o.train.barrier, scale);
        let ledger_trials = crate::db::trials::record(pool, subject, &hash).await?;
        tracing::info!(study = %o.study, trial = number, ?params, "trial started");
        let checkpoints = o.train.checkpoints.join(format!("trial-{number}"));
        let outcome = tokio::task::block_in_place(|| {
            run_trial(
                o,
                &cfg,
                scale,
                series,
                &first_folds,
                ledger_trials,
                &checkpoints,
                &mut |stage, r| on_epoch(Phase::Trial(number), stage, r),
            )
        })?;
        let end = match outcome {
            Outcome::Complete {
                objective,
                folds,
                evaluation,
                backtest,
                periods,
            } => TrialEnd {
                state: TrialState::Complete,
                objective: Some(objective),
                folds: Some(serde_json::to_value(folds)?),
                evaluation: Some(serde_json::to_value(evaluation)?),
                backtest: Some(serde_json::to_value(backtest)?),
                periods: Some(serde_json::to_value(periods)?),
                error: None,
            },
            Outcome::Pruned { first_fold } => TrialEnd {
                state: TrialState::Pruned,
                objective: Some(first_fold),
                folds: Some(serde_json::json!([first_fold])),
                evaluation: None,
                backtest: None,
                periods: None,
                error: None,
            },
            Outcome::Failed(error) => {
                tracing::warn!(study = %o.study, trial = number, %error, "trial failed");
                TrialEnd {
                    state: TrialState::Failed,
                    objective: None,
                    folds: None,
                    evaluation: None,
                    backtest: None,
                    periods: None,
                    error: Some(error),
                }
            }
        };
        let t = db::finish_trial(pool, study, number as i32, &end).await?;
        // Its checkpoints served their purpose.
        let _ = std::fs::remove_dir_all(&checkpoints);
        note(&t, &mut told, &mut first_folds);
        rows.insert(number, t);
    }
    finish_study(pool, o, series, study, subject, rows, on_epoch).await
}

#[allow(clippy::too_many_arguments)]
fn run_trial(
    o: &TuneOptions,
    cfg: &PipelineConfig,
    scale: Option<f64>,
    series: &[Loaded],
    first_folds: &[f64],
    ledger_trials: usize,
    checkpoints: &std::path::Path,
    on_epoch: &mut dyn FnMut(Stage, &EpochReport) -> Control,
) -> anyhow::Result<Outcome> {
    let a = &o.train;
    let prepared = match training::prepare(a.timeframe, a.horizon, a.barrier, scale, cfg, series) {
        Ok(p) => p,
        Err(e) => return Ok(Outcome::Failed(format!("{e:#}"))),
    };
    let ds = &prepared.ds;
    let mut cfg = cfg.clone();
    cfg.train.net.features = ds.width();
    let stage_dir = |stage: Stage| {
        Some(Checkpoints {
            dir: checkpoints.join(stage.checkpoint_dir()),
        })
    };
    let mut first: Option<f64> = None;
    let mut pruned = false;
    let result = pipeline::evaluate_with(
        ds,
        &cfg,
        a.backend,
        &stage_dir,
        &prepared.hash,
        on_epoch,
        &mut |f| {
            if first.is_some() {
                return Control::Continue;
            }
            let s = tune::skill(
                f.metrics.log_loss,
                f.prior.as_ref().map_or(0.0, |p| p.log_loss),
            );
            first = Some(s);
            if tune::prune(s, first_folds, o.startup) {
                pruned = true;
                Control::Cancel
            } else {
                Control::Continue
            }
        },
    );
    let (evaluation, oos) = match result {
        Ok(r) => r,
        Err(PipelineError::Cancelled) if pruned => {
            return Ok(Outcome::Pruned {
                first_fold: first.unwrap_or(f64::NEG_INFINITY),
            });
        }
        Err(PipelineError::Cancelled) => return Err(PipelineError::Cancelled.into()),
        Err(e) => return Ok(Outcome::Failed(e.to_string())),
    };
    let Some(held) = training::HeldOut::of(series, ds, &oos) else {
        return Ok(Outcome::Failed(
            "the walk-forward made no out-of-sample prediction: too little data for its folds"
                .into(),
        ));
    };
    let objective = tune::skill(
        evaluation.metrics.log_loss,
        evaluation.prior_baseline.log_loss,
    );
    let folds: Vec<f64> = evaluation
        .folds
        .iter()
        .map(|f| {
            tune::skill(
                f.metrics.log_loss,
                f.prior.as_ref().map_or(0.0, |p| p.log_loss),
            )
        })
        .collect();
    let periods = tune::skill_gains(ds, &evaluation, &oos);
    let spec = ReportSpec {
        timeframe: a.timeframe,
        config: held.config(a.timeframe, &a.backtest),
        strategy: Strategy::Model,
        trials: ledger_trials.max(1),
        random_seed: cfg.train.seed,
        code_version: crate::code_version(),
    };
    let backtest = report::run_report(&held.series, &spec).0.metrics;
    Ok(Outcome::Complete {
        objective,
        folds,
        evaluation: Box::new(evaluation),
        backtest: Box::new(backtest),
        periods,
    })
}

/// CSCV over the complete trials, on the bars every one of them tested.
fn trials_pbo(rows: &BTreeMap<usize, db::Trial>) -> Result<Pbo, String> {
    let series: Vec<BTreeMap<i64, f64>> = rows
        .values()
        .filter(|t| t.state == TrialState::Complete)
        .filter_map(|t| {
            let v: Vec<(i64, f64)> = serde_json::from_value(t.periods.clone()?).ok()?;
            Some(v.into_iter().collect())
        })
        .collect();
    let Some(first) = series.first() else {
        return Err("no complete trial".into());
    };
    let common: Vec<i64> = first
        .keys()
        .filter(|t| series.iter().all(|s| s.contains_key(t)))
        .copied()
        .collect();
    let matrix: Vec<Vec<f64>> = series
        .iter()
        .map(|s| common.iter().map(|t| s[t]).collect())
        .collect();
    pbo::cscv(&matrix, PBO_BLOCKS).map_err(|e| e.to_string())
}

async fn finish_study(
    pool: &PgPool,
    o: &TuneOptions,
    series: &[Loaded],
    study: i64,
    subject: &str,
    rows: BTreeMap<usize, db::Trial>,
    on_epoch: &mut (dyn FnMut(Phase, Stage, &EpochReport) -> Control + Send),
) -> anyhow::Result<StudyReport> {
    let count = |s: TrialState| rows.values().filter(|t| t.state == s).count();
    let best = rows
        .values()
        .filter(|t| t.state == TrialState::Complete)
        .filter_map(|t| t.objective.map(|v| (t, v)))
        // Highest objective; the earlier trial on a tie.
        .max_by(|(a, x), (b, y)| x.total_cmp(y).then(b.number.cmp(&a.number)))
        .map(|(t, _)| t);
    let Some(best) = best else {
        let errors: Vec<String> = rows
            .values()
            .filter_map(|t| t.error.as_ref().map(|e| format!("trial {}: {e}", t.number)))
            .take(3)
            .collect();
        bail!(
            "no trial completed ({} pruned, {} failed){}",
            count(TrialState::Pruned),
            count(TrialState::Failed),
            match errors.is_empty() {
                true => String::new(),
                false => format!(": {}", errors.join("; ")),
            }
        );
    };
    let (pbo, pbo_error) = match trials_pbo(&rows) {
        Ok(p) => (Some(p), None),
        Err(e) => (None, Some(e)),
    };
    let assignment: Assignment = serde_json::from_value(best.params.clone())?;
    let (cfg, scale) = o.space.apply(&assignment, &o.base);
    let ledger_trials = crate::db::trials::record(
        pool,
        subject,
        &training::trial_hash(&cfg, o.train.horizon, o.train.barrier, scale),
    )
    .await?;
    let mut opts = o.train.clone();
    opts.threshold_scale = scale;
    opts.checkpoints = o.train.checkpoints.join("best");
    let summary = tokio::task::block_in_place(|| {
        training::train_scope(
            &opts,
            &cfg,
            "universal",
            series,
            ledger_trials,
            &mut |stage, r| on_epoch(Phase::Best, stage, r),
        )
    })?;
    let decision = registry::register_and_decide(pool, &summary.dir, o.promote).await?;
    let _ = std::fs::remove_dir_all(&opts.checkpoints);
    let report = StudyReport {
        study: o.study.clone(),
        objective:
            "walk-forward log-loss skill over the class prior (1 − model/prior; higher is better)"
                .into(),
        trials: serde_json::json!({
            "total": rows.len(),
            "complete": count(TrialState::Complete),
            "pruned": count(TrialState::Pruned),
            "failed": count(TrialState::Failed),
            "all": rows.values().map(summary_of).collect::<Vec<_>>(),
        }),
        best: serde_json::to_value(summary_of(best))?,
        ledger_trials,
        pbo,
        pbo_error,
        model: serde_json::json!({
            "dir": summary.dir,
            "sha256": summary.sha256,
            "evaluation": summary.evaluation.as_ref().map(|e| &e.metrics),
            "backtest": summary.backtest.as_ref().map(|b| &b.metrics),
        }),
        registry: serde_json::to_value(&decision)?,
    };
    db::finish(pool, study, &serde_json::to_value(&report)?).await?;
    Ok(report)
}

fn summary_of(t: &db::Trial) -> TrialSummary {
    TrialSummary {
        number: t.number as usize,
        state: t.state,
        params: t.params.clone(),
        objective: t.objective,
        folds: t.folds.clone(),
        backtest: t.backtest.clone(),
        error: t.error.clone(),
    }
}

/// Parameters of a tune job (the API's request body).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TuneJobParams {
    pub study: String,
    pub symbols: Vec<engine::Symbol>,
    pub timeframe: engine::Timeframe,
    #[serde(default)]
    pub exchange: Option<String>,
    #[serde(default)]
    pub market: Option<engine::Market>,
    #[serde(default)]
    pub universe: Option<String>,
    pub trials: usize,
    #[serde(default = "default_startup")]
    pub startup: usize,
    /// The declared space (default: every knob over the shipped ranges).
    #[serde(default)]
    pub space: Option<SearchSpace>,
    #[serde(default)]
    pub pipeline: PipelineConfig,
    #[serde(default)]
    pub backend: Option<models::backend::Backend>,
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
    #[serde(default)]
    pub out: Option<std::path::PathBuf>,
    #[serde(default)]
    pub promote: Promote,
}

pub fn default_startup() -> usize {
    5
}

/// Runs a claimed tune job: progress on the job row, cancellation through
/// the heartbeat; a job taken over after a crash resumes the study.
pub async fn run_job(
    pool: &PgPool,
    settings: &crate::config::Settings,
    job: &crate::db::jobs::Job,
    owner: &str,
) -> anyhow::Result<(crate::db::jobs::JobStatus, serde_json::Value)> {
    use crate::db::jobs::JobStatus;

    let p: TuneJobParams =
        serde_json::from_value(job.params.clone()).context("reading tune parameters")?;
    let series = training::load_stored(
        pool,
        job.id,
        &training::StoredSet {
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
    let risk = crate::config::Trader {
        profile: p.profile,
        capital: p.capital,
        min_net_profit: p.min_net_profit,
    };
    let out = p.out.clone().unwrap_or_else(training::default_model_dir);
    let backtest = crate::research::backtest_config(settings, &risk, &series)?;
    let o = TuneOptions {
        trials: p.trials,
        startup: p.startup,
        space: p.space.clone().unwrap_or_default(),
        base: p.pipeline.clone(),
        train: TrainOptions {
            timeframe: p.timeframe,
            backend: p
                .backend
                .unwrap_or_else(models::backend::Backend::preferred),
            horizon: p.horizon,
            barrier: p.barrier,
            threshold_scale: None,
            backtest,
            checkpoints: checkpoint_dir(&out, &p.study),
            out,
        },
        promote: p.promote,
        study: p.study.clone(),
    };
    let link = training::JobLink::start(pool, job.id, owner);
    let trials = p.trials;
    let stages = p.pipeline.stages().max(1);
    let mut on_epoch = |phase: Phase, stage: Stage, r: &EpochReport| {
        let done = match phase {
            Phase::Trial(n) => n,
            Phase::Best => trials,
        };
        let within = (stage.index(&p.pipeline) as f64
            + r.epoch as f64 / r.max_epochs.max(1) as f64)
            / stages as f64;
        let progress = ((done as f64 + within.min(1.0)) / (trials + 1) as f64).min(0.999);
        let detail = serde_json::json!({
            "study": p.study,
            "phase": phase,
            "trials": trials,
            "stage": stage,
            "epoch": r,
        });
        link.publish("tune", progress, &detail)
    };
    let result = run_study(pool, &o, &series, &mut on_epoch).await;
    drop(link);
    match result {
        Ok(report) => Ok((JobStatus::Succeeded, serde_json::to_value(report)?)),
        Err(e) if is_cancel(&e) => Ok((
            JobStatus::Cancelled,
            serde_json::json!({ "cancelled": true, "study": p.study }),
        )),
        Err(e) => Err(e),
    }
}

/// Where a study's epoch checkpoints live (per trial, and for the best).
pub fn checkpoint_dir(out: &std::path::Path, study: &str) -> std::path::PathBuf {
    let safe: String = study
        .chars()
        .map(
            |c| match c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                true => c,
                false => '-',
            },
        )
        .collect();
    out.join("checkpoints").join(format!("tune-{safe}"))
}
