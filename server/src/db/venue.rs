//! Venue connections of paper accounts and their journal.

use super::DbError;
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Row, Transaction};

#[derive(Debug, Clone)]
pub struct ConnectionRow {
    pub id: i64,
    pub account_id: i64,
    pub venue: String,
    pub base_url: String,
    pub key_hint: String,
    pub api_key: Vec<u8>,
    pub api_secret: Vec<u8>,
    pub mode: String,
    pub live_by: Option<String>,
    pub live_at: Option<DateTime<Utc>>,
    pub noted: i32,
    pub traded: i32,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, account_id, venue, base_url, key_hint, api_key, api_secret, mode, live_by, live_at, noted, traded, created_at";

fn row(r: &sqlx::postgres::PgRow) -> Result<ConnectionRow, DbError> {
    Ok(ConnectionRow {
        id: r.try_get("id")?,
        account_id: r.try_get("account_id")?,
        venue: r.try_get("venue")?,
        base_url: r.try_get("base_url")?,
        key_hint: r.try_get("key_hint")?,
        api_key: r.try_get("api_key")?,
        api_secret: r.try_get("api_secret")?,
        mode: r.try_get("mode")?,
        live_by: r.try_get("live_by")?,
        live_at: r.try_get("live_at")?,
        noted: r.try_get("noted")?,
        traded: r.try_get("traded")?,
        created_at: r.try_get("created_at")?,
    })
}

/// A new connection, in dry-run; `None` when the account has one already.
pub async fn insert(
    pool: &PgPool,
    account_id: i64,
    venue: &str,
    base_url: &str,
    key_hint: &str,
    api_key: &[u8],
    api_secret: &[u8],
) -> Result<Option<ConnectionRow>, DbError> {
    let r = sqlx::query(&format!(
        "INSERT INTO venue_connections (account_id, venue, base_url, key_hint, api_key, api_secret)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (account_id) DO NOTHING RETURNING {COLUMNS}"
    ))
    .bind(account_id)
    .bind(venue)
    .bind(base_url)
    .bind(key_hint)
    .bind(api_key)
    .bind(api_secret)
    .fetch_optional(pool)
    .await?;
    r.as_ref().map(row).transpose()
}

pub async fn of_account(pool: &PgPool, account_id: i64) -> Result<Option<ConnectionRow>, DbError> {
    let r = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM venue_connections WHERE account_id = $1"
    ))
    .bind(account_id)
    .fetch_optional(pool)
    .await?;
    r.as_ref().map(row).transpose()
}

/// The account's connection and its checkpoint, locked for this step.
pub async fn lock(
    tx: &mut Transaction<'_, Postgres>,
    account_id: i64,
) -> Result<Option<(ConnectionRow, Option<Vec<u8>>)>, DbError> {
    let r = sqlx::query(&format!(
        "SELECT {COLUMNS}, checkpoint FROM venue_connections WHERE account_id = $1 FOR UPDATE"
    ))
    .bind(account_id)
    .fetch_optional(&mut **tx)
    .await?;
    match r {
        Some(r) => Ok(Some((row(&r)?, r.try_get("checkpoint")?))),
        None => Ok(None),
    }
}

pub async fn save(
    tx: &mut Transaction<'_, Postgres>,
    id: i64,
    checkpoint: &[u8],
    noted: i32,
    traded: i32,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE venue_connections SET checkpoint = $2, noted = $3, traded = $4 WHERE id = $1",
    )
    .bind(id)
    .bind(checkpoint)
    .bind(noted)
    .bind(traded)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Live (`by` an admin) or back to dry-run; false when there is no connection.
pub async fn set_mode(
    pool: &PgPool,
    account_id: i64,
    live_by: Option<&str>,
) -> Result<bool, DbError> {
    let r = sqlx::query(
        "UPDATE venue_connections SET
             mode = CASE WHEN $2::text IS NULL THEN 'dry_run' ELSE 'live' END,
             live_by = $2, live_at = CASE WHEN $2::text IS NULL THEN NULL ELSE now() END
         WHERE account_id = $1",
    )
    .bind(account_id)
    .bind(live_by)
    .execute(pool)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn delete(pool: &PgPool, account_id: i64) -> Result<bool, DbError> {
    let r = sqlx::query("DELETE FROM venue_connections WHERE account_id = $1")
        .bind(account_id)
        .execute(pool)
        .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn journal(
    tx: &mut Transaction<'_, Postgres>,
    connection_id: i64,
    time: i64,
    kind: &str,
    detail: &serde_json::Value,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO venue_journal (connection_id, time, kind, detail) VALUES ($1, $2, $3, $4)",
    )
    .bind(connection_id)
    .bind(time)
    .bind(kind)
    .bind(detail)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A journal line.
#[derive(Debug, Clone)]
pub struct JournalRow {
    pub time: i64,
    pub kind: String,
    pub detail: serde_json::Value,
}

/// The newest `limit` lines, oldest first.
pub async fn journal_list(
    pool: &PgPool,
    connection_id: i64,
    limit: i64,
) -> Result<Vec<JournalRow>, DbError> {
    let rows = sqlx::query(
        "SELECT time, kind, detail FROM (SELECT id, time, kind, detail FROM venue_journal
             WHERE connection_id = $1 ORDER BY id DESC LIMIT $2) j ORDER BY id",
    )
    .bind(connection_id)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(JournalRow {
                time: r.try_get("time")?,
                kind: r.try_get("kind")?,
                detail: r.try_get("detail")?,
            })
        })
        .collect()
}

/// Journal lines of one kind (tests, summaries).
pub async fn journal_count(pool: &PgPool, connection_id: i64, kind: &str) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM venue_journal WHERE connection_id = $1 AND kind = $2",
    )
    .bind(connection_id)
    .bind(kind)
    .fetch_one(pool)
    .await?)
}
