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
