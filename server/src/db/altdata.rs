//! Scored news/social items and released macro values.

use super::DbError;
use engine::TimeMs;
use engine::altdata::{macro_series::Observation, sentiment::Item};
use sqlx::PgPool;

/// One scored item about one ticker.
#[derive(Debug, Clone, PartialEq)]
pub struct SentimentRow {
    pub source: String,
    pub item_id: String,
    pub ticker: String,
    pub published_ms: TimeMs,
    pub score: f64,
    pub text: Option<String>,
}

/// One released macro value.
#[derive(Debug, Clone, PartialEq)]
pub struct MacroRow {
    pub series: String,
    pub period_ms: TimeMs,
    pub released_ms: TimeMs,
    pub value: f64,
    pub source: String,
}

/// Rows written per statement (PostgreSQL binds arrays, not rows).
const CHUNK: usize = 5_000;

/// Stores items not stored yet (by source, id and ticker); returns how many were new.
pub async fn insert_sentiment(pool: &PgPool, rows: &[SentimentRow]) -> Result<u64, DbError> {
    let mut new = 0;
    for chunk in rows.chunks(CHUNK) {
        let col = |f: fn(&SentimentRow) -> String| chunk.iter().map(f).collect::<Vec<_>>();
        let done = sqlx::query(
            "INSERT INTO sentiment_items (source, item_id, ticker, published_ms, score, text)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::float8[], $6::text[])
             ON CONFLICT DO NOTHING",
        )
        .bind(col(|r| r.source.clone()))
        .bind(col(|r| r.item_id.clone()))
        .bind(col(|r| r.ticker.clone()))
        .bind(chunk.iter().map(|r| r.published_ms).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.score).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.text.clone()).collect::<Vec<_>>())
        .execute(pool)
        .await?;
        new += done.rows_affected();
    }
    Ok(new)
}

/// A ticker's items published in `[from, to)`, oldest first.
pub async fn sentiment_of(
    pool: &PgPool,
    ticker: &str,
    from: TimeMs,
    to: TimeMs,
) -> Result<Vec<Item>, DbError> {
    let rows: Vec<(i64, f64)> = sqlx::query_as(
        "SELECT published_ms, score FROM sentiment_items
         WHERE ticker = $1 AND published_ms >= $2 AND published_ms < $3
         ORDER BY published_ms",
    )
    .bind(ticker)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(time, score)| Item { time, score })
        .collect())
}

/// Stores values not stored yet (by series, period and release); returns how many were new.
pub async fn insert_macro(pool: &PgPool, rows: &[MacroRow]) -> Result<u64, DbError> {
    let mut new = 0;
    for chunk in rows.chunks(CHUNK) {
        let done = sqlx::query(
            "INSERT INTO macro_observations (series, period_ms, released_ms, value, source)
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::float8[], $5::text[])
             ON CONFLICT DO NOTHING",
        )
        .bind(chunk.iter().map(|r| r.series.clone()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.period_ms).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.released_ms).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.value).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.source.clone()).collect::<Vec<_>>())
        .execute(pool)
        .await?;
        new += done.rows_affected();
    }
    Ok(new)
}

/// Every stored value of `series`, each with its release.
pub async fn macro_of(pool: &PgPool, series: &str) -> Result<Vec<Observation>, DbError> {
    let rows: Vec<(i64, i64, f64)> = sqlx::query_as(
        "SELECT period_ms, released_ms, value FROM macro_observations
         WHERE series = $1 ORDER BY released_ms, period_ms",
    )
    .bind(series)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(period, released, value)| Observation {
            period,
            released,
            value,
        })
        .collect())
}

/// What is stored, per source and ticker (sentiment) and per series (macro).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Stored {
    pub sentiment: Vec<SentimentCount>,
    pub macro_series: Vec<MacroCount>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct SentimentCount {
    pub source: String,
    pub ticker: String,
    pub items: i64,
    pub first_ms: i64,
    pub last_ms: i64,
    pub mean_score: f64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct MacroCount {
    pub series: String,
    pub periods: i64,
    /// Values beyond one per period: revisions.
    pub revisions: i64,
    pub first_period_ms: i64,
    pub last_release_ms: i64,
}

pub async fn stored(pool: &PgPool) -> Result<Stored, DbError> {
    let sentiment = sqlx::query_as(
        "SELECT source, ticker, count(*) AS items, min(published_ms) AS first_ms,
                max(published_ms) AS last_ms, avg(score) AS mean_score
         FROM sentiment_items GROUP BY source, ticker ORDER BY ticker, source",
    )
    .fetch_all(pool)
    .await?;
    let macro_series = sqlx::query_as(
        "SELECT series, count(DISTINCT period_ms) AS periods,
                count(*) - count(DISTINCT period_ms) AS revisions,
                min(period_ms) AS first_period_ms, max(released_ms) AS last_release_ms
         FROM macro_observations GROUP BY series ORDER BY series",
    )
    .fetch_all(pool)
    .await?;
    Ok(Stored {
        sentiment,
        macro_series,
    })
}

/// The newest publish time stored for a source and ticker (where a fetch resumes).
pub async fn newest_item(
    pool: &PgPool,
    source: &str,
    ticker: &str,
) -> Result<Option<TimeMs>, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT max(published_ms) FROM sentiment_items WHERE source = $1 AND ticker = $2",
    )
    .bind(source)
    .bind(ticker)
    .fetch_one(pool)
    .await?)
}
