//! The jobs table: enqueue, claim (FOR UPDATE SKIP LOCKED), heartbeat,
//! checkpoint, finish, cancel.

use super::DbError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> Result<Self, DbError> {
        Ok(match s {
            "queued" => JobStatus::Queued,
            "running" => JobStatus::Running,
            "succeeded" => JobStatus::Succeeded,
            "failed" => JobStatus::Failed,
            "cancelled" => JobStatus::Cancelled,
            other => return Err(DbError::Corrupt(format!("unknown job status {other:?}"))),
        })
    }

    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Cancelled
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub params: serde_json::Value,
    pub status: JobStatus,
    pub progress: f64,
    pub detail: serde_json::Value,
    pub checkpoint: Option<serde_json::Value>,
    pub error: Option<String>,
    pub attempts: i32,
    pub owner: Option<String>,
    pub cancel_requested: bool,
    /// The user who asked for it (none for CLI and scheduled jobs).
    pub created_by: Option<i64>,
    pub heartbeat_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct JobRow {
    id: i64,
    kind: String,
    params: serde_json::Value,
    status: String,
    progress: f64,
    detail: serde_json::Value,
    checkpoint: Option<serde_json::Value>,
    error: Option<String>,
    attempts: i32,
    owner: Option<String>,
    cancel_requested: bool,
    created_by: Option<i64>,
    heartbeat_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
}

impl TryFrom<JobRow> for Job {
    type Error = DbError;
    fn try_from(r: JobRow) -> Result<Self, DbError> {
        Ok(Job {
            id: r.id,
            kind: r.kind,
            params: r.params,
            status: JobStatus::parse(&r.status)?,
            progress: r.progress,
            detail: r.detail,
            checkpoint: r.checkpoint,
            error: r.error,
            attempts: r.attempts,
            owner: r.owner,
            cancel_requested: r.cancel_requested,
            created_by: r.created_by,
            heartbeat_at: r.heartbeat_at,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
        })
    }
}

const COLUMNS: &str = "id, kind, params, status, progress, detail, checkpoint, error, attempts, owner, cancel_requested, created_by, heartbeat_at, created_at, started_at, finished_at";

/// The channel on which every job change is announced (LISTEN/NOTIFY), so
/// any server replica can forward progress to its WebSocket clients.
pub const NOTIFY_CHANNEL: &str = "job_events";

async fn notify(conn: &mut PgConnection, id: i64) -> Result<(), DbError> {
    sqlx::query(
        // NOTIFY payloads stop at 8000 bytes: a large detail (a finished
        // training's report) is left for listeners to read from the row.
        "SELECT pg_notify($1, json_build_object('id', id, 'kind', kind, 'status', status, 'progress', progress,
                 'created_by', created_by, 'detail', CASE WHEN octet_length(detail::text) <= 6000 THEN detail END)::text)
         FROM jobs WHERE id = $2",
    )
    .bind(NOTIFY_CHANNEL)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn enqueue(
    pool: &PgPool,
    kind: &str,
    params: &serde_json::Value,
) -> Result<Job, DbError> {
    enqueue_for(pool, kind, params, None).await
}

/// Queues a job on behalf of a user.
pub async fn enqueue_for(
    pool: &PgPool,
    kind: &str,
    params: &serde_json::Value,
    created_by: Option<i64>,
) -> Result<Job, DbError> {
    let mut tx = pool.begin().await?;
    let row: JobRow = sqlx::query_as(&format!(
        "INSERT INTO jobs (kind, params, created_by) VALUES ($1, $2, $3) RETURNING {COLUMNS}"
    ))
    .bind(kind)
    .bind(params)
    .bind(created_by)
    .fetch_one(&mut *tx)
    .await?;
    notify(&mut tx, row.id).await?;
    tx.commit().await?;
    row.try_into()
}

pub async fn get(pool: &PgPool, id: i64) -> Result<Option<Job>, DbError> {
    let row: Option<JobRow> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM jobs WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.map(Job::try_from).transpose()
}

pub async fn list(pool: &PgPool, limit: i64) -> Result<Vec<Job>, DbError> {
    let rows: Vec<JobRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM jobs ORDER BY id DESC LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(Job::try_from).collect()
}

/// The newest jobs a user started.
pub async fn list_by(pool: &PgPool, user: i64, limit: i64) -> Result<Vec<Job>, DbError> {
    let rows: Vec<JobRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM jobs WHERE created_by = $1 ORDER BY id DESC LIMIT $2"
    ))
    .bind(user)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(Job::try_from).collect()
}

/// Jobs running now (system page, metrics).
pub async fn running_count(pool: &PgPool) -> Result<i64, DbError> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM jobs WHERE status = 'running'")
            .fetch_one(pool)
            .await?,
    )
}

/// Claims the oldest queued job, or a running one whose owner stopped
/// heartbeating `stale_after_s` ago. Many workers may call this at once.
pub async fn claim_next(
    pool: &PgPool,
    owner: &str,
    kinds: &[&str],
    stale_after_s: f64,
) -> Result<Option<Job>, DbError> {
    let kinds: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
    let mut tx = pool.begin().await?;
    let row: Option<JobRow> = sqlx::query_as(&format!(
        "UPDATE jobs SET status = 'running', owner = $1, heartbeat_at = now(), started_at = COALESCE(started_at, now()),
                attempts = attempts + 1, updated_at = now(), error = NULL
         WHERE id = (
            SELECT id FROM jobs
            WHERE kind = ANY($2) AND NOT cancel_requested
              AND (status = 'queued' OR (status = 'running' AND heartbeat_at < now() - make_interval(secs => $3)))
            ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
         RETURNING {COLUMNS}"
    ))
    .bind(owner)
    .bind(&kinds)
    .bind(stale_after_s)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(r) = &row {
        notify(&mut tx, r.id).await?;
    }
    tx.commit().await?;
    row.map(Job::try_from).transpose()
}

/// Takes job `id` for `owner` if it is queued, failed, cancelled, or running
/// under `expected_owner` (a dead or stale owner the caller has checked).
/// Returns None when someone else holds it.
pub async fn claim(
    pool: &PgPool,
    id: i64,
    owner: &str,
    expected_owner: Option<&str>,
) -> Result<Option<Job>, DbError> {
    let mut tx = pool.begin().await?;
    let row: Option<JobRow> = sqlx::query_as(&format!(
        "UPDATE jobs SET status = 'running', owner = $2, heartbeat_at = now(), started_at = COALESCE(started_at, now()),
                attempts = attempts + 1, cancel_requested = false, finished_at = NULL, error = NULL, updated_at = now()
         WHERE id = $1 AND (status IN ('queued', 'failed', 'cancelled') OR (status = 'running' AND owner IS NOT DISTINCT FROM $3))
         RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(owner)
    .bind(expected_owner)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(r) = &row {
        notify(&mut tx, r.id).await?;
    }
    tx.commit().await?;
    row.map(Job::try_from).transpose()
}

/// Records progress and the whole checkpoint, in the caller's transaction so
/// they commit together with the work they describe. Returns whether
/// cancellation was requested, and fails when this worker no longer owns the job.
pub async fn checkpoint(
    conn: &mut PgConnection,
    id: i64,
    owner: &str,
    progress: f64,
    detail: &serde_json::Value,
    checkpoint: &serde_json::Value,
) -> Result<bool, DbError> {
    checkpoint_entry(conn, id, owner, &[], checkpoint, progress, detail).await
}

/// Like [`checkpoint`], but replaces only the entry at `path` inside the
/// checkpoint (the whole checkpoint when `path` is empty). Concurrent tasks
/// of one job each commit their own entry with their own page, so no task
/// can publish another's uncommitted progress.
pub async fn checkpoint_entry(
    conn: &mut PgConnection,
    id: i64,
    owner: &str,
    path: &[String],
    value: &serde_json::Value,
    progress: f64,
    detail: &serde_json::Value,
) -> Result<bool, DbError> {
    let cancel: Option<bool> = sqlx::query_scalar(
        "UPDATE jobs SET checkpoint = CASE WHEN cardinality($3::text[]) = 0 THEN $4
                                           ELSE jsonb_set(COALESCE(checkpoint, '{}'::jsonb), $3, $4, true) END,
                progress = $5, detail = $6, heartbeat_at = now(), updated_at = now()
         WHERE id = $1 AND owner = $2 AND status = 'running' RETURNING cancel_requested",
    )
    .bind(id)
    .bind(owner)
    .bind(path)
    .bind(value)
    .bind(progress.clamp(0.0, 1.0))
    .bind(detail)
    .fetch_optional(&mut *conn)
    .await?;
    let cancel = cancel
        .ok_or_else(|| DbError::Corrupt(format!("job {id} is no longer owned by {owner}")))?;
    notify(conn, id).await?;
    Ok(cancel)
}

/// Keeps the claim alive while a job waits (rate limits, slow pages).
/// Returns whether cancellation was requested.
pub async fn heartbeat(pool: &PgPool, id: i64, owner: &str) -> Result<bool, DbError> {
    let cancel: Option<bool> = sqlx::query_scalar("UPDATE jobs SET heartbeat_at = now() WHERE id = $1 AND owner = $2 AND status = 'running' RETURNING cancel_requested")
        .bind(id)
        .bind(owner)
        .fetch_optional(pool)
        .await?;
    Ok(cancel.unwrap_or(true))
}

/// Ends a job. `error` is kept for failed jobs.
pub async fn finish(
    pool: &PgPool,
    id: i64,
    owner: &str,
    status: JobStatus,
    detail: Option<&serde_json::Value>,
    error: Option<&str>,
) -> Result<(), DbError> {
    let mut tx = pool.begin().await?;
    let finished: Option<(String, i32)> = sqlx::query_as(
        "UPDATE jobs SET status = $3, detail = COALESCE($4, detail), error = $5, finished_at = now(), updated_at = now(),
                progress = CASE WHEN $3 = 'succeeded' THEN 1 ELSE progress END
         WHERE id = $1 AND owner = $2 RETURNING kind, attempts",
    )
    .bind(id)
    .bind(owner)
    .bind(status.as_str())
    .bind(detail)
    .bind(error)
    .fetch_optional(&mut *tx)
    .await?;
    if let (Some((kind, attempt)), JobStatus::Failed) = (&finished, status) {
        let d = crate::notify::compose::Draft::new(format!("Job {id} ({kind}) failed"))
            .field("Attempt", attempt)
            .line(crate::notify::message::truncate(
                error.unwrap_or("no error recorded"),
                1500,
            ));
        crate::notify::emit(
            &mut tx,
            &d.event(
                crate::notify::EventKind::JobFailed,
                format!("job_failed:{id}:{attempt}"),
            ),
        )
        .await?;
    }
    notify(&mut tx, id).await?;
    tx.commit().await?;
    Ok(())
}

/// Gives a running job back to the queue (this worker is shutting down): its
/// checkpoint stays, so whoever claims it next resumes where it stopped.
/// False when this worker no longer owns it.
pub async fn release(pool: &PgPool, id: i64, owner: &str) -> Result<bool, DbError> {
    let mut tx = pool.begin().await?;
    let n = sqlx::query(
        "UPDATE jobs SET status = 'queued', owner = NULL, heartbeat_at = NULL, updated_at = now()
         WHERE id = $1 AND owner = $2 AND status = 'running'",
    )
    .bind(id)
    .bind(owner)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    notify(&mut tx, id).await?;
    tx.commit().await?;
    Ok(n == 1)
}

/// Asks a job to stop. A queued job is cancelled at once; a running one stops
/// at its next checkpoint. Returns the job as it is now.
pub async fn request_cancel(pool: &PgPool, id: i64) -> Result<Option<Job>, DbError> {
    let mut tx = pool.begin().await?;
    let row: Option<JobRow> = sqlx::query_as(&format!(
        "UPDATE jobs SET cancel_requested = true, updated_at = now(),
                status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,
                finished_at = CASE WHEN status = 'queued' THEN now() ELSE finished_at END
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    if row.is_some() {
        notify(&mut tx, id).await?;
    }
    tx.commit().await?;
    row.map(Job::try_from).transpose()
}

/// Puts a failed or cancelled job back in the queue for any worker.
pub async fn requeue(pool: &PgPool, id: i64) -> Result<Option<Job>, DbError> {
    let mut tx = pool.begin().await?;
    let row: Option<JobRow> = sqlx::query_as(&format!(
        "UPDATE jobs SET status = 'queued', cancel_requested = false, owner = NULL, finished_at = NULL, error = NULL, updated_at = now()
         WHERE id = $1 AND status IN ('failed', 'cancelled') RETURNING {COLUMNS}"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    if row.is_some() {
        notify(&mut tx, id).await?;
    }
    tx.commit().await?;
    row.map(Job::try_from).transpose()
}

/// Number of jobs waiting, for the system page and metrics.
pub async fn queue_depth(pool: &PgPool) -> Result<i64, DbError> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM jobs WHERE status = 'queued'")
            .fetch_one(pool)
            .await?,
    )
}
