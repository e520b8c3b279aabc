//! The follower's rows: each followed series' freshness, and flagged bars.

use super::DbError;
use engine::TimeMs;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use std::collections::HashMap;

/// One followed series' state as the follower last wrote it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct FollowRow {
    pub series_id: i32,
    pub universe: String,
    pub role: String,
    /// `live`, `catching_up`, `stale`.
    pub state: String,
    pub reason: Option<String>,
    pub detail: Option<String>,
    pub since: Option<TimeMs>,
    pub clock_now: TimeMs,
    pub clock_speed: f64,
    pub demo: bool,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl FollowRow {
    /// Now on the follower's clock, extrapolated from when the row was written
    /// (a replay clock runs `clock_speed` times the wall clock).
    pub fn clock_at(&self, wall_now: chrono::DateTime<chrono::Utc>) -> TimeMs {
        let wall_ms = (wall_now - self.updated_at).num_milliseconds().max(0) as f64;
        self.clock_now + (wall_ms * self.clock_speed) as TimeMs
    }
}

/// What the follower writes for one series.
#[derive(Debug, Clone, PartialEq)]
pub struct StateUpdate<'a> {
    pub series_id: i32,
    pub universe: &'a str,
    pub role: &'a str,
    pub state: &'a str,
    pub stale: Option<(&'a str, String, TimeMs)>,
    pub clock_now: TimeMs,
    pub clock_speed: f64,
    pub demo: bool,
    /// The wall time at which `clock_now` was read (rows extrapolate from it).
    pub wall: chrono::DateTime<chrono::Utc>,
}

pub async fn upsert_state(pool: &PgPool, u: &StateUpdate<'_>) -> Result<(), DbError> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO follow_state (series_id, universe, role, state, reason, detail, since, clock_now, clock_speed, demo, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (series_id) DO UPDATE SET universe = EXCLUDED.universe, role = EXCLUDED.role,
             state = EXCLUDED.state, reason = EXCLUDED.reason, detail = EXCLUDED.detail,
             since = EXCLUDED.since, clock_now = EXCLUDED.clock_now, clock_speed = EXCLUDED.clock_speed,
             demo = EXCLUDED.demo, updated_at = EXCLUDED.updated_at",
    )
    .bind(u.series_id)
    .bind(u.universe)
    .bind(u.role)
    .bind(u.state)
    .bind(u.stale.as_ref().map(|s| s.0))
    .bind(u.stale.as_ref().map(|s| s.1.as_str()))
    .bind(u.stale.as_ref().map(|s| s.2))
    .bind(u.clock_now)
    .bind(u.clock_speed)
    .bind(u.demo)
    .bind(u.wall)
    .execute(&mut *tx)
    .await?;
    // Admins hear of each stale spell of a base series once (its start is the key).
    if let (Some((reason, detail, since)), "base") = (&u.stale, u.role) {
        let label: Option<String> = sqlx::query_scalar(
            "SELECT exchange || ' ' || market || ' ' || symbol || ' ' || timeframe FROM series WHERE id = $1",
        )
        .bind(u.series_id)
        .fetch_optional(&mut *tx)
        .await?;
        let d = crate::notify::compose::Draft::new(format!(
            "Stale data: {}",
            label.unwrap_or_else(|| format!("series {}", u.series_id))
        ))
        .field("Reason", reason)
        .field("Since", crate::time::iso(*since))
        .line(detail.clone())
        .line("No signals or paper steps on it until it is live again.");
        crate::notify::emit(
            &mut tx,
            &d.event(
                crate::notify::EventKind::Stale,
                format!("stale:{}:{since}", u.series_id),
            ),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Every followed series' state, by series id.
pub async fn states(pool: &PgPool) -> Result<HashMap<i32, FollowRow>, DbError> {
    let rows: Vec<FollowRow> = sqlx::query_as(
        "SELECT series_id, universe, role, state, reason, detail, since, clock_now, clock_speed, demo, updated_at
         FROM follow_state",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.series_id, r)).collect())
}

/// Series no longer followed stop being reported: those of `universe` not
/// in `keep`, and any other universe's that no follower has refreshed for a
/// minute (left behind when an admin changed the venue market).
pub async fn forget_others(pool: &PgPool, universe: &str, keep: &[i32]) -> Result<u64, DbError> {
    let done = sqlx::query(
        "DELETE FROM follow_state WHERE NOT (series_id = ANY($2))
           AND (universe = $1 OR updated_at < now() - interval '1 minute')",
    )
    .bind(universe)
    .bind(keep)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Records a flag on a stored bar (in the transaction that stores it).
pub async fn flag_bar(
    conn: &mut PgConnection,
    series_id: i32,
    open_time: TimeMs,
    kind: &str,
    detail: &str,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO bar_flags (series_id, open_time, kind, detail) VALUES ($1, $2, $3, $4)
         ON CONFLICT (series_id, open_time) DO UPDATE SET kind = EXCLUDED.kind, detail = EXCLUDED.detail",
    )
    .bind(series_id)
    .bind(open_time)
    .bind(kind)
    .bind(detail)
    .execute(conn)
    .await?;
    Ok(())
}

/// The flag of a series' bar at `open_time`, if any: `(kind, detail)`.
pub async fn flag_of(
    pool: &PgPool,
    series_id: i32,
    open_time: TimeMs,
) -> Result<Option<(String, String)>, DbError> {
    Ok(
        sqlx::query_as(
            "SELECT kind, detail FROM bar_flags WHERE series_id = $1 AND open_time = $2",
        )
        .bind(series_id)
        .bind(open_time)
        .fetch_optional(pool)
        .await?,
    )
}

/// Flags of `series_id` in `[from, to]`, by open time.
pub async fn flags_between(
    pool: &PgPool,
    series_id: i32,
    from: TimeMs,
    to: TimeMs,
) -> Result<HashMap<TimeMs, (String, String)>, DbError> {
    let rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT open_time, kind, detail FROM bar_flags WHERE series_id = $1 AND open_time BETWEEN $2 AND $3",
    )
    .bind(series_id)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(t, k, d)| (t, (k, d))).collect())
}

/// Whether a bar is stored (duplicates from a stream are skipped, not flagged).
pub async fn bar_exists(pool: &PgPool, series_id: i32, open_time: TimeMs) -> Result<bool, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM candles WHERE series_id = $1 AND open_time = $2)",
    )
    .bind(series_id)
    .bind(open_time)
    .fetch_one(pool)
    .await?)
}

/// The universe's follower lock, held by a session connection for as long
/// as the follower runs: `Some` when this process may follow `universe`.
/// The connection leaves the pool (a session lock must not go back to it)
/// and the lock ends when it is dropped or the process dies.
pub async fn try_follow_lock(
    pool: &PgPool,
    universe: &str,
) -> Result<Option<PgConnection>, DbError> {
    let mut conn = pool.acquire().await?.detach();
    let mine: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext('traderai:follow:' || $1))")
            .bind(universe)
            .fetch_one(&mut conn)
            .await?;
    Ok(mine.then_some(conn))
}

/// The admin's edit of the followed universe and when it was made.
pub async fn config_edit(
    pool: &PgPool,
) -> Result<Option<(app::types::FollowEdit, chrono::DateTime<chrono::Utc>)>, DbError> {
    let row: Option<(serde_json::Value, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as("SELECT edit, updated_at FROM follow_config")
            .fetch_optional(pool)
            .await?;
    row.map(|(v, at)| {
        serde_json::from_value(v)
            .map(|e| (e, at))
            .map_err(|e| DbError::Corrupt(format!("follow_config: {e}")))
    })
    .transpose()
}

pub async fn save_config_edit(
    pool: &PgPool,
    edit: &app::types::FollowEdit,
    by: Option<i64>,
) -> Result<chrono::DateTime<chrono::Utc>, DbError> {
    let v = serde_json::to_value(edit).map_err(|e| DbError::Corrupt(e.to_string()))?;
    Ok(sqlx::query_scalar(
        "INSERT INTO follow_config (id, edit, updated_by, updated_at) VALUES (true, $1, $2, clock_timestamp())
         ON CONFLICT (id) DO UPDATE SET edit = EXCLUDED.edit, updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at
         RETURNING updated_at",
    )
    .bind(v)
    .bind(by)
    .fetch_one(pool)
    .await?)
}
