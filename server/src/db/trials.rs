//! The ledger of configurations tried on the same data, for the deflated
//! Sharpe's trial count.

use super::DbError;
use sqlx::PgPool;

/// Records `config_hash` as tried on `subject` (once) and returns how many
/// distinct configurations have been tried on it, this one included.
pub async fn record(pool: &PgPool, subject: &str, config_hash: &str) -> Result<usize, DbError> {
    sqlx::query(
        "INSERT INTO research_trials (subject, config_hash) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(subject)
    .bind(config_hash)
    .execute(pool)
    .await?;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM research_trials WHERE subject = $1")
        .bind(subject)
        .fetch_one(pool)
        .await?;
    Ok(n.max(1) as usize)
}

/// Keeps `curve` ((bar open time, equity) pairs) as the latest equity curve
/// of `config_hash` on `subject`, an entry [`record`] made.
pub async fn store_curve(
    pool: &PgPool,
    subject: &str,
    config_hash: &str,
    curve: &[(i64, f64)],
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE research_trials SET curve = $3, curve_at = now() WHERE subject = $1 AND config_hash = $2",
    )
    .bind(subject)
    .bind(config_hash)
    .bind(serde_json::to_value(curve).map_err(|e| DbError::Corrupt(e.to_string()))?)
    .execute(pool)
    .await?;
    Ok(())
}

/// The stored equity curves of the configurations tried on `subject`
/// besides `config_hash`, oldest first: what a PBO ranks it among.
pub async fn other_curves(
    pool: &PgPool,
    subject: &str,
    config_hash: &str,
) -> Result<Vec<Vec<(i64, f64)>>, DbError> {
    let rows: Vec<(String, serde_json::Value)> = sqlx::query_as(
        "SELECT config_hash, curve FROM research_trials
          WHERE subject = $1 AND config_hash <> $2 AND curve IS NOT NULL
          ORDER BY first_at, config_hash",
    )
    .bind(subject)
    .bind(config_hash)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|(hash, v)| {
            serde_json::from_value(v).map_err(|e| {
                DbError::Corrupt(format!("research_trials {subject:?} {hash}: curve: {e}"))
            })
        })
        .collect()
}
