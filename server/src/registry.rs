//! The model registry: trained model directories as versions per scope, the
//! active one, promotion by walk-forward result, rollback, ZIP download with
//! its hash, and pruning beyond the kept backups. Every decision is logged
//! in `model_events` with its numbers.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use models::artifact::{self, ModelConfig, sha256_hex};
use models::pipeline::EvaluationReport;
use serde::Serialize;
use sqlx::PgPool;

use crate::db::models::{self as db, ModelRow, ModelStatus, NewModel};

/// Models kept besides the active one, per scope (newest first).
pub const KEEP_BACKUPS: i64 = 7;

/// When a freshly trained model replaces the active one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Promote {
    /// Register only.
    Never,
    /// When its walk-forward log loss is at most the active model's.
    #[default]
    IfBetter,
    /// Always.
    Always,
}

/// The walk-forward numbers of a model directory (from metrics.json): the
/// pooled log loss and balanced accuracy promotion compares, and a summary.
fn walk_forward(dir: &Path) -> anyhow::Result<(Option<f64>, Option<f64>, serde_json::Value)> {
    let path = dir.join(artifact::METRICS);
    let m: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?,
    )
    .with_context(|| format!("{}: not JSON", path.display()))?;
    let eval: Option<EvaluationReport> = serde_json::from_value(m["evaluation"].clone())
        .with_context(|| {
            format!(
                "{}: evaluation is not a walk-forward report",
                path.display()
            )
        })?;
    let summary = serde_json::json!({
        "evaluation": eval.as_ref().map(|e| &e.metrics),
        "prior_baseline": eval.as_ref().map(|e| &e.prior_baseline),
        "net": eval.as_ref().map(|e| &e.net),
        "trees": eval.as_ref().and_then(|e| e.trees.as_ref()),
        "transformer": eval.as_ref().and_then(|e| e.transformer.as_ref()),
        "backtest": m["backtest"]["metrics"],
        "final": m["final"],
    });
    Ok((
        eval.as_ref().map(|e| e.metrics.log_loss),
        eval.as_ref().map(|e| e.metrics.balanced_accuracy),
        summary,
    ))
}

/// Verifies a model directory and records it as the next version of its scope.
pub async fn register(pool: &PgPool, dir: &Path) -> anyhow::Result<(ModelRow, bool)> {
    let dir = dir
        .canonicalize()
        .with_context(|| format!("model directory {}", dir.display()))?;
    let manifest = artifact::verify(&dir)?;
    let cfg_path = dir.join(artifact::CONFIG);
    let config: ModelConfig = serde_json::from_str(&std::fs::read_to_string(&cfg_path)?)
        .with_context(|| format!("{}: not a model config", cfg_path.display()))?;
    let zip = artifact::zip(&dir)?;
    let (log_loss, bal_acc, summary) = walk_forward(&dir)?;
    let dir_s = dir.to_string_lossy().to_string();
    let tf = config.timeframe.to_string();
    db::insert(
        pool,
        &NewModel {
            scope: &config.scope,
            timeframe: &tf,
            sha256: &manifest.sha256,
            dir: &dir_s,
            zip_sha256: &sha256_hex(&zip),
            zip_bytes: zip.len() as i64,
            wf_log_loss: log_loss,
            wf_balanced_accuracy: bal_acc,
            summary: &summary,
        },
    )
    .await
    .map_err(Into::into)
}

/// What happened to a candidate.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    pub model: ModelRow,
    pub promoted: bool,
    /// The model it was compared with (the active one before).
    pub against: Option<i64>,
    pub reason: String,
}

/// Promotes `id` under `policy`, comparing walk-forward log loss with the
/// active model of its scope; a worse model is kept aside (status rejected).
pub async fn decide(pool: &PgPool, id: i64, policy: Promote) -> anyhow::Result<Decision> {
    let cand = db::get(pool, id)
        .await?
        .with_context(|| format!("no model {id}"))?;
    let active = db::active(pool, &cand.scope, &cand.timeframe).await?;
    let numbers = |m: &ModelRow| serde_json::json!({ "id": m.id, "version": m.version, "wf_log_loss": m.wf_log_loss, "wf_balanced_accuracy": m.wf_balanced_accuracy });
    let (promote, reason) = match (policy, &active) {
        (Promote::Never, _) => (false, "registered only (--promote never)".to_string()),
        (_, Some(a)) if a.id == cand.id => (false, "already active".to_string()),
        (Promote::Always, _) => (true, "promoted on request".to_string()),
        (Promote::IfBetter, None) => (true, "first model of its scope".to_string()),
        (Promote::IfBetter, Some(a)) => match (cand.wf_log_loss, a.wf_log_loss) {
            (Some(c), Some(b)) if c <= b => (
                true,
                format!(
                    "walk-forward log loss {c:.4} ≤ active v{}'s {b:.4}",
                    a.version
                ),
            ),
            (Some(c), Some(b)) => (
                false,
                format!(
                    "walk-forward log loss {c:.4} > active v{}'s {b:.4}: kept aside",
                    a.version
                ),
            ),
            (None, _) => (
                false,
                "no walk-forward evaluation (trained with 0 folds): kept aside".to_string(),
            ),
            (Some(c), None) => (
                true,
                format!("walk-forward log loss {c:.4}; the active model has none"),
            ),
        },
    };
    let detail = serde_json::json!({
        "policy": policy,
        "reason": reason,
        "candidate": numbers(&cand),
        "active": active.as_ref().map(numbers),
    });
    let model = if promote {
        db::activate(pool, id, ModelStatus::Backup, "promoted", &detail)
            .await?
            .0
    } else if policy == Promote::IfBetter && active.as_ref().is_some_and(|a| a.id != id) {
        db::set_status(pool, id, ModelStatus::Rejected, "kept_aside", &detail).await?
    } else {
        cand
    };
    prune(pool, &model.scope, &model.timeframe).await?;
    Ok(Decision {
        promoted: promote,
        against: active.map(|a| a.id),
        reason,
        model,
    })
}

/// Registers a freshly trained model directory and decides whether it serves.
pub async fn register_and_decide(
    pool: &PgPool,
    dir: &Path,
    policy: Promote,
) -> anyhow::Result<Decision> {
    let (row, _) = register(pool, dir).await?;
    decide(pool, row.id, policy).await
}

/// Restores the most recently served backup; the active model is withdrawn.
pub async fn rollback(pool: &PgPool, scope: &str, timeframe: &str) -> anyhow::Result<Decision> {
    let Some(active) = db::active(pool, scope, timeframe).await? else {
        bail!("no active model for {scope} {timeframe}");
    };
    let Some(backup) = db::last_backup(pool, scope, timeframe).await? else {
        bail!(
            "no backup to roll back to for {scope} {timeframe} (active: v{})",
            active.version
        );
    };
    let detail = serde_json::json!({
        "from": { "id": active.id, "version": active.version },
        "to": { "id": backup.id, "version": backup.version },
    });
    let (model, _) = db::activate(
        pool,
        backup.id,
        ModelStatus::Rejected,
        "rolled_back",
        &detail,
    )
    .await?;
    Ok(Decision {
        promoted: true,
        against: Some(active.id),
        reason: format!(
            "rolled back from v{} to v{}",
            active.version, backup.version
        ),
        model,
    })
}

/// Keeps the newest [`KEEP_BACKUPS`] non-active models of a scope; older
/// ones lose their directory.
pub async fn prune(pool: &PgPool, scope: &str, timeframe: &str) -> anyhow::Result<Vec<i64>> {
    let mut pruned = Vec::new();
    for m in db::beyond_kept(pool, scope, timeframe, KEEP_BACKUPS).await? {
        let dir = PathBuf::from(&m.dir);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("removing pruned model {}", dir.display()))?;
        }
        db::set_status(
            pool,
            m.id,
            ModelStatus::Pruned,
            "pruned",
            &serde_json::json!({ "version": m.version, "dir": m.dir, "keep": KEEP_BACKUPS }),
        )
        .await?;
        pruned.push(m.id);
    }
    Ok(pruned)
}

/// The model's ZIP, checked against the hash the registry published.
pub async fn download(pool: &PgPool, id: i64) -> anyhow::Result<(ModelRow, Vec<u8>)> {
    let m = db::get(pool, id)
        .await?
        .with_context(|| format!("no model {id}"))?;
    if m.status == ModelStatus::Pruned {
        bail!("model {id} (v{}) was pruned; its files are gone", m.version);
    }
    let bytes = artifact::zip(Path::new(&m.dir))?;
    let actual = sha256_hex(&bytes);
    if actual != m.zip_sha256 {
        bail!(
            "model {id}: its files changed since registration (ZIP SHA-256 {actual}, registered {})",
            m.zip_sha256
        );
    }
    Ok((m, bytes))
}
