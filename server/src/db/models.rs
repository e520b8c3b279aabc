//! The model registry tables: versions per scope, the active model, and the
//! log of every decision (models, model_events).

use super::DbError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};

/// Where a registered model stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelStatus {
    /// Registered, never served.
    Candidate,
    /// Serving its scope (at most one per scope).
    Active,
    /// Served before; kept for a rollback.
    Backup,
    /// Not promoted: its walk-forward result was worse than the active one's.
    Rejected,
    /// Beyond the kept backups: its directory was deleted.
    Pruned,
}

impl ModelStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelStatus::Candidate => "candidate",
            ModelStatus::Active => "active",
            ModelStatus::Backup => "backup",
            ModelStatus::Rejected => "rejected",
            ModelStatus::Pruned => "pruned",
        }
    }

    fn parse(s: &str) -> Result<Self, DbError> {
        Ok(match s {
            "candidate" => ModelStatus::Candidate,
            "active" => ModelStatus::Active,
            "backup" => ModelStatus::Backup,
            "rejected" => ModelStatus::Rejected,
            "pruned" => ModelStatus::Pruned,
            other => return Err(DbError::Corrupt(format!("unknown model status {other:?}"))),
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelRow {
    pub id: i64,
    pub scope: String,
    pub timeframe: String,
    pub version: i32,
    pub sha256: String,
    pub dir: String,
    pub zip_sha256: String,
    pub zip_bytes: i64,
    pub wf_log_loss: Option<f64>,
    pub wf_balanced_accuracy: Option<f64>,
    pub summary: serde_json::Value,
    pub status: ModelStatus,
    pub created_at: DateTime<Utc>,
    pub promoted_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    scope: String,
    timeframe: String,
    version: i32,
    sha256: String,
    dir: String,
    zip_sha256: String,
    zip_bytes: i64,
    wf_log_loss: Option<f64>,
    wf_balanced_accuracy: Option<f64>,
    summary: serde_json::Value,
    status: String,
    created_at: DateTime<Utc>,
    promoted_at: Option<DateTime<Utc>>,
}

impl TryFrom<Row> for ModelRow {
    type Error = DbError;
    fn try_from(r: Row) -> Result<Self, DbError> {
        Ok(ModelRow {
            id: r.id,
            scope: r.scope,
            timeframe: r.timeframe,
            version: r.version,
            sha256: r.sha256,
            dir: r.dir,
            zip_sha256: r.zip_sha256,
            zip_bytes: r.zip_bytes,
            wf_log_loss: r.wf_log_loss,
            wf_balanced_accuracy: r.wf_balanced_accuracy,
            summary: r.summary,
            status: ModelStatus::parse(&r.status)?,
            created_at: r.created_at,
            promoted_at: r.promoted_at,
        })
    }
}

const COLUMNS: &str = "id, scope, timeframe, version, sha256, dir, zip_sha256, zip_bytes, wf_log_loss, wf_balanced_accuracy, summary, status, created_at, promoted_at";

/// What registering a model directory records.
#[derive(Debug, Clone)]
pub struct NewModel<'a> {
    pub scope: &'a str,
    pub timeframe: &'a str,
    pub sha256: &'a str,
    pub dir: &'a str,
    pub zip_sha256: &'a str,
    pub zip_bytes: i64,
    pub wf_log_loss: Option<f64>,
    pub wf_balanced_accuracy: Option<f64>,
    pub summary: &'a serde_json::Value,
}

/// Inserts the next version of its scope; the same manifest registered twice
/// returns the existing row.
pub async fn insert(pool: &PgPool, m: &NewModel<'_>) -> Result<(ModelRow, bool), DbError> {
    let mut tx = pool.begin().await?;
    // One registration per scope at a time, so versions never collide.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1 || '/' || $2))")
        .bind(m.scope)
        .bind(m.timeframe)
        .execute(&mut *tx)
        .await?;
    let existing: Option<Row> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM models WHERE sha256 = $1"))
            .bind(m.sha256)
            .fetch_optional(&mut *tx)
            .await?;
    if let Some(r) = existing {
        tx.commit().await?;
        return Ok((r.try_into()?, false));
    }
    let row: Row = sqlx::query_as(&format!(
        "INSERT INTO models (scope, timeframe, version, sha256, dir, zip_sha256, zip_bytes, wf_log_loss, wf_balanced_accuracy, summary)
         VALUES ($1, $2, (SELECT coalesce(max(version), 0) + 1 FROM models WHERE scope = $1 AND timeframe = $2),
                 $3, $4, $5, $6, $7, $8, $9)
         RETURNING {COLUMNS}"
    ))
    .bind(m.scope)
    .bind(m.timeframe)
    .bind(m.sha256)
    .bind(m.dir)
    .bind(m.zip_sha256)
    .bind(m.zip_bytes)
    .bind(m.wf_log_loss)
    .bind(m.wf_balanced_accuracy)
    .bind(m.summary)
    .fetch_one(&mut *tx)
    .await?;
    event(
        &mut tx,
        m.scope,
        m.timeframe,
        Some(row.id),
        "registered",
        &serde_json::json!({ "version": row.version, "sha256": m.sha256, "wf_log_loss": m.wf_log_loss }),
    )
    .await?;
    tx.commit().await?;
    Ok((row.try_into()?, true))
}

pub async fn get(pool: &PgPool, id: i64) -> Result<Option<ModelRow>, DbError> {
    let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM models WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.map(ModelRow::try_from).transpose()
}

pub async fn list(pool: &PgPool, scope: Option<&str>) -> Result<Vec<ModelRow>, DbError> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM models WHERE $1::text IS NULL OR scope = $1
         ORDER BY scope, timeframe, version DESC"
    ))
    .bind(scope)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(ModelRow::try_from).collect()
}

pub async fn active(
    pool: &PgPool,
    scope: &str,
    timeframe: &str,
) -> Result<Option<ModelRow>, DbError> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM models WHERE scope = $1 AND timeframe = $2 AND status = 'active'"
    ))
    .bind(scope)
    .bind(timeframe)
    .fetch_optional(pool)
    .await?;
    row.map(ModelRow::try_from).transpose()
}

/// Every active model.
pub async fn all_active(pool: &PgPool) -> Result<Vec<ModelRow>, DbError> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM models WHERE status = 'active' ORDER BY scope, timeframe"
    ))
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(ModelRow::try_from).collect()
}

/// Makes `id` the active model of its scope, in one transaction with what
/// becomes of the one it replaces: a backup (promotion) or rejected, logged
/// as withdrawn (rollback: it must not be a rollback target itself).
/// Returns (new active, replaced).
pub async fn activate(
    pool: &PgPool,
    id: i64,
    replaced_becomes: ModelStatus,
    action: &str,
    detail: &serde_json::Value,
) -> Result<(ModelRow, Option<ModelRow>), DbError> {
    let mut tx = pool.begin().await?;
    let target: Row = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM models WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| DbError::Corrupt(format!("no model {id}")))?;
    let replaced: Option<Row> = sqlx::query_as(&format!(
        "UPDATE models SET status = $4 WHERE scope = $1 AND timeframe = $2 AND status = 'active' AND id <> $3
         RETURNING {COLUMNS}"
    ))
    .bind(&target.scope)
    .bind(&target.timeframe)
    .bind(id)
    .bind(replaced_becomes.as_str())
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(r) = replaced
        .as_ref()
        .filter(|_| replaced_becomes != ModelStatus::Backup)
    {
        event(
            &mut tx,
            &r.scope,
            &r.timeframe,
            Some(r.id),
            "withdrawn",
            detail,
        )
        .await?;
    }
    let row: Row = sqlx::query_as(&format!(
        "UPDATE models SET status = 'active', promoted_at = now() WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    event(
        &mut tx,
        &row.scope,
        &row.timeframe,
        Some(id),
        action,
        detail,
    )
    .await?;
    tx.commit().await?;
    Ok((
        row.try_into()?,
        replaced.map(ModelRow::try_from).transpose()?,
    ))
}

/// Sets a model's status (reject, prune) and logs why.
pub async fn set_status(
    pool: &PgPool,
    id: i64,
    status: ModelStatus,
    action: &str,
    detail: &serde_json::Value,
) -> Result<ModelRow, DbError> {
    let mut tx = pool.begin().await?;
    let row: Row = sqlx::query_as(&format!(
        "UPDATE models SET status = $2 WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(status.as_str())
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| DbError::Corrupt(format!("no model {id}")))?;
    event(
        &mut tx,
        &row.scope,
        &row.timeframe,
        Some(id),
        action,
        detail,
    )
    .await?;
    tx.commit().await?;
    row.try_into()
}

/// The most recently served backup of a scope: what a rollback restores.
pub async fn last_backup(
    pool: &PgPool,
    scope: &str,
    timeframe: &str,
) -> Result<Option<ModelRow>, DbError> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM models WHERE scope = $1 AND timeframe = $2 AND status = 'backup'
         ORDER BY promoted_at DESC NULLS LAST, version DESC LIMIT 1"
    ))
    .bind(scope)
    .bind(timeframe)
    .fetch_optional(pool)
    .await?;
    row.map(ModelRow::try_from).transpose()
}

/// Backups and kept-aside models of a scope beyond the newest `keep`.
pub async fn beyond_kept(
    pool: &PgPool,
    scope: &str,
    timeframe: &str,
    keep: i64,
) -> Result<Vec<ModelRow>, DbError> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM models WHERE scope = $1 AND timeframe = $2
           AND status IN ('backup', 'rejected', 'candidate')
         ORDER BY version DESC OFFSET $3"
    ))
    .bind(scope)
    .bind(timeframe)
    .bind(keep)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(ModelRow::try_from).collect()
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ModelEvent {
    pub id: i64,
    pub scope: String,
    pub timeframe: String,
    pub model_id: Option<i64>,
    pub action: String,
    pub detail: serde_json::Value,
    pub at: DateTime<Utc>,
}

pub async fn events(
    pool: &PgPool,
    scope: Option<&str>,
    limit: i64,
) -> Result<Vec<ModelEvent>, DbError> {
    Ok(sqlx::query_as(
        "SELECT id, scope, timeframe, model_id, action, detail, at FROM model_events
         WHERE $1::text IS NULL OR scope = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(scope)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// Logs a decision that changes no row (a drift check, a kept-aside model).
pub async fn log(
    pool: &PgPool,
    scope: &str,
    timeframe: &str,
    model_id: Option<i64>,
    action: &str,
    detail: &serde_json::Value,
) -> Result<(), DbError> {
    let mut conn = pool.acquire().await?;
    event(&mut conn, scope, timeframe, model_id, action, detail).await
}

async fn event(
    conn: &mut PgConnection,
    scope: &str,
    timeframe: &str,
    model_id: Option<i64>,
    action: &str,
    detail: &serde_json::Value,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO model_events (scope, timeframe, model_id, action, detail) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(scope)
    .bind(timeframe)
    .bind(model_id)
    .bind(action)
    .bind(detail)
    .execute(&mut *conn)
    .await?;
    tracing::info!(scope, timeframe, model = ?model_id, action, %detail, "model registry");
    if let Some(e) = notification(scope, timeframe, model_id, action, detail) {
        crate::notify::emit(conn, &e).await?;
    }
    Ok(())
}

/// The admins' notification of a registry decision or a drift found
/// (a clean drift check, a registration or a pruning tells no one).
fn notification(
    scope: &str,
    timeframe: &str,
    model_id: Option<i64>,
    action: &str,
    detail: &serde_json::Value,
) -> Option<crate::notify::Event> {
    use crate::notify::{EventKind, compose::Draft};
    let model = model_id.map_or("-".to_owned(), |id| format!("#{id}"));
    let key = format!(
        "model:{scope}:{timeframe}:{model}:{action}:{}",
        chrono::Utc::now().timestamp_micros()
    );
    match action {
        "drift_check" if detail.get("drifted").and_then(|v| v.as_bool()) == Some(true) => {
            let cols: Vec<String> = detail
                .get("columns")
                .and_then(|c| c.as_array())
                .map(|a| {
                    a.iter()
                        .take(6)
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let mut d = Draft::new(format!("Drift: model {model} ({scope} {timeframe})"))
                .field("Drifted columns", cols.join(", "));
            d = match detail.get("retrain_job").and_then(|v| v.as_i64()) {
                Some(j) => d.field("Retraining", format!("job {j} queued")),
                None => d.line("No retraining queued ([drift] retrain = false)."),
            };
            Some(d.event(EventKind::Drift, key))
        }
        "promoted" | "kept_aside" | "rolled_back" => {
            let reason = detail
                .get("reason")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
                .unwrap_or_else(|| action.replace('_', " "));
            let d = Draft::new(format!(
                "Registry: model {model} {} ({scope} {timeframe})",
                action.replace('_', " ")
            ))
            .line(reason);
            Some(d.event(EventKind::Registry, key))
        }
        _ => None,
    }
}
