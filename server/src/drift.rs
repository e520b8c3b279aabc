//! The daily drift check of active models: PSI and Kolmogorov–Smirnov per
//! feature and on the model's outputs, the recent bars against the training
//! window. Drift queues a retraining job whose model is promoted only when
//! its walk-forward result is at least as good (registry::decide).

use std::path::Path;

use anyhow::Context;
use engine::Timeframe;
use engine::drift::{self, DriftReport, DriftThresholds};
use models::artifact::LoadedModel;
use models::backend::Backend;
use models::data::{Dataset, Series};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::config::DriftSettings;
use crate::db::models as db;
use crate::registry::Promote;
use crate::training::{self, TrainJobParams};

/// The job kind that checks one active model for drift.
pub const KIND: &str = "drift";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriftParams {
    #[serde(default = "universal")]
    pub scope: String,
    pub timeframe: Timeframe,
    /// Overrides of the `[drift]` settings.
    #[serde(default)]
    pub recent_bars: Option<usize>,
    #[serde(default)]
    pub thresholds: Option<DriftThresholds>,
    #[serde(default)]
    pub retrain: Option<bool>,
}

fn universal() -> String {
    "universal".into()
}

/// What a check found and did.
#[derive(Debug, Clone, Serialize)]
pub struct DriftOutcome {
    pub model: i64,
    pub version: i32,
    pub report: DriftReport,
    /// Columns over a threshold, worst PSI first.
    pub drifted: Vec<String>,
    pub retrain_job: Option<i64>,
}

/// Feature columns and model-output columns of `samples`.
fn columns(
    model: &LoadedModel,
    ds: &Dataset,
    samples: &[models::data::Sample],
) -> anyhow::Result<Vec<Vec<f64>>> {
    let w = ds.width();
    let mut cols = vec![Vec::with_capacity(samples.len()); w + 3];
    for s in samples {
        if let Some(row) = &ds.series[s.series as usize].rows[s.bar as usize] {
            for (j, v) in ds.select(row).enumerate() {
                cols[j].push(v);
            }
        }
    }
    let p = model.score(ds, samples)?.pooled;
    for (probs, m) in p.probs.iter().zip(&p.moves) {
        cols[w].push(probs[0] as f64);
        cols[w + 1].push(probs[2] as f64);
        cols[w + 2].push(*m as f64);
    }
    Ok(cols)
}

/// Compares the recent bars with the training window of the active model.
pub async fn check(
    pool: &PgPool,
    p: &DriftParams,
    settings: &DriftSettings,
    backend: Backend,
) -> anyhow::Result<DriftOutcome> {
    let tf = p.timeframe.to_string();
    let active = db::active(pool, &p.scope, &tf)
        .await?
        .with_context(|| format!("no active model for {} {tf}", p.scope))?;
    let model = tokio::task::block_in_place(|| LoadedModel::load(Path::new(&active.dir), backend))?;
    let range = &model.manifest.data;
    let recent_bars = p.recent_bars.unwrap_or(settings.recent_bars);
    let thresholds = p.thresholds.unwrap_or(DriftThresholds {
        psi: settings.psi,
        ks: settings.ks,
    });
    let mut series = Vec::new();
    for symbol in &range.symbols {
        let candles =
            crate::db::candles::stored_candles_of(pool, symbol, p.timeframe, None, None).await?;
        let groups = &model.config.pipeline.groups;
        let alt = crate::altdata::inputs_for(pool, symbol, &candles, groups).await?;
        series.push(Series::with_groups(
            symbol,
            p.timeframe,
            &candles,
            model.config.target,
            groups,
            &alt,
        ));
    }
    let (reference, recent) = tokio::task::block_in_place(|| -> anyhow::Result<_> {
        let window = model.config.net.window;
        let ds = Dataset::new(series.clone(), window, model.config.target.horizon)?;
        // Recent: the last `recent_bars` windows of each series, labelled or not.
        let mut recent_ds = Vec::new();
        for s in &series {
            let inf = Dataset::for_inference(s.clone(), window, model.config.target.horizon);
            let from = inf.samples.len().saturating_sub(recent_bars);
            let samples = inf.samples[from..].to_vec();
            recent_ds.push((inf, samples));
        }
        let in_training = |t: i64| t >= range.from && t <= range.to;
        let ref_samples: Vec<_> = ds
            .samples
            .iter()
            .copied()
            .filter(|s| in_training(ds.series[s.series as usize].times[s.bar as usize]))
            .collect();
        let reference = columns(&model, &ds, &ref_samples)?;
        let mut recent = vec![Vec::new(); model.config.features.len() + 3];
        for (inf, samples) in &recent_ds {
            for (all, c) in recent.iter_mut().zip(columns(&model, inf, samples)?) {
                all.extend(c);
            }
        }
        Ok((reference, recent))
    })?;
    let names: Vec<String> = model
        .config
        .features
        .iter()
        .cloned()
        .chain(["model_p_up", "model_p_down", "model_expected_move"].map(String::from))
        .collect();
    let report = drift::report(&names, &reference, &recent, thresholds);
    let mut drifted: Vec<_> = report.columns.iter().filter(|c| c.drifted).collect();
    drifted.sort_by(|a, b| b.psi.total_cmp(&a.psi));
    let drifted: Vec<String> = drifted.iter().map(|c| c.name.clone()).collect();

    let mut retrain_job = None;
    if report.drifted && p.retrain.unwrap_or(settings.retrain) {
        let params = TrainJobParams {
            symbols: range
                .symbols
                .iter()
                .map(|s| engine::Symbol::parse(s))
                .collect::<Result<_, _>>()?,
            timeframe: p.timeframe,
            exchange: None,
            market: None,
            pipeline: model.config.pipeline.clone(),
            // Retrained the way it was trained.
            backend: Some(model.config.backend),
            horizon: Some(model.config.target.horizon),
            barrier: model.config.target.barrier,
            per_symbol: p.scope != "universal",
            profile: crate::config::default_profile(),
            capital: crate::config::default_capital(),
            min_net_profit: None,
            out: Path::new(&active.dir).parent().map(Path::to_path_buf),
            promote: Promote::IfBetter,
            universe: None,
        };
        let job =
            crate::db::jobs::enqueue(pool, training::KIND, &serde_json::to_value(&params)?).await?;
        retrain_job = Some(job.id);
    }
    let worst = |f: fn(&drift::ColumnDrift) -> f64| {
        report
            .columns
            .iter()
            .max_by(|a, b| f(a).total_cmp(&f(b)))
            .map(|c| serde_json::json!({ "column": c.name, "value": f(c) }))
    };
    db::log(
        pool,
        &p.scope,
        &tf,
        Some(active.id),
        "drift_check",
        &serde_json::json!({
            "drifted": report.drifted,
            "columns": drifted,
            "max_psi": worst(|c| c.psi),
            "max_ks": worst(|c| c.ks),
            "thresholds": thresholds,
            "reference_rows": report.reference_rows,
            "recent_rows": report.recent_rows,
            "retrain_job": retrain_job,
        }),
    )
    .await?;
    Ok(DriftOutcome {
        model: active.id,
        version: active.version,
        report,
        drifted,
        retrain_job,
    })
}

/// Runs a claimed drift job.
pub async fn run_job(
    pool: &PgPool,
    job: &crate::db::jobs::Job,
    settings: &DriftSettings,
) -> anyhow::Result<(crate::db::jobs::JobStatus, serde_json::Value)> {
    let p: DriftParams =
        serde_json::from_value(job.params.clone()).context("reading drift parameters")?;
    let out = check(pool, &p, settings, Backend::preferred()).await?;
    Ok((
        crate::db::jobs::JobStatus::Succeeded,
        serde_json::to_value(&out)?,
    ))
}

/// Queues a drift job for every active model that had none in the last
/// `every_hours` (the worker calls this; many workers may race, the
/// advisory lock lets one through).
pub async fn schedule(pool: &PgPool, every_hours: f64) -> anyhow::Result<Vec<i64>> {
    let mut tx = pool.begin().await?;
    let locked: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtext('drift-schedule'))")
            .fetch_one(&mut *tx)
            .await?;
    if !locked {
        return Ok(Vec::new());
    }
    let due: Vec<(String, String)> = sqlx::query_as(
        "SELECT m.scope, m.timeframe FROM models m
         WHERE m.status = 'active' AND NOT EXISTS (
           SELECT 1 FROM jobs j WHERE j.kind = $1
             AND j.params->>'scope' = m.scope AND j.params->>'timeframe' = m.timeframe
             AND j.created_at > now() - make_interval(secs => $2))",
    )
    .bind(KIND)
    .bind(every_hours * 3600.0)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut ids = Vec::new();
    for (scope, timeframe) in due {
        let params = serde_json::json!({ "scope": scope, "timeframe": timeframe });
        ids.push(crate::db::jobs::enqueue(pool, KIND, &params).await?.id);
    }
    Ok(ids)
}
