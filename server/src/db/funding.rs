//! Perpetual funding: settled rates and the current predicted rate.

use super::DbError;
use engine::TimeMs;
use engine::costs::FundingRate;
use sqlx::PgPool;

/// Stores settlements not stored yet; returns how many were new.
pub async fn insert_settlements(
    pool: &PgPool,
    exchange: &str,
    symbol: &str,
    rows: &[(TimeMs, f64, Option<f64>)],
) -> Result<u64, DbError> {
    if rows.is_empty() {
        return Ok(0);
    }
    let times: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let rates: Vec<f64> = rows.iter().map(|r| r.1).collect();
    let marks: Vec<Option<f64>> = rows.iter().map(|r| r.2).collect();
    let done = sqlx::query(
        "INSERT INTO funding_rates (exchange, symbol, funding_time, rate, mark_price)
         SELECT $1, $2, t, r, m FROM unnest($3::bigint[], $4::float8[], $5::float8[]) AS x(t, r, m)
         ON CONFLICT DO NOTHING",
    )
    .bind(exchange)
    .bind(symbol)
    .bind(&times)
    .bind(&rates)
    .bind(&marks)
    .execute(pool)
    .await?;
    if done.rows_affected() > 0 {
        // Paper accounts wait for a settlement due within a bar before stepping it.
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(NOTIFY_CHANNEL)
            .bind(symbol)
            .execute(pool)
            .await?;
    }
    Ok(done.rows_affected())
}

/// The channel new settlements are announced on (LISTEN/NOTIFY).
pub const NOTIFY_CHANNEL: &str = "funding_events";

/// The newest settlement stored for a symbol.
pub async fn newest(
    pool: &PgPool,
    exchange: &str,
    symbol: &str,
) -> Result<Option<TimeMs>, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT max(funding_time) FROM funding_rates WHERE exchange = $1 AND symbol = $2",
    )
    .bind(exchange)
    .bind(symbol)
    .fetch_one(pool)
    .await?)
}

/// Settlements in `[from, to]`, oldest first; `None` when none are stored
/// (the backtester then charges the cost model's constant, and says so).
pub async fn between(
    pool: &PgPool,
    exchange: &str,
    symbol: &str,
    from: TimeMs,
    to: TimeMs,
) -> Result<Option<Vec<FundingRate>>, DbError> {
    let rows: Vec<(i64, f64)> = sqlx::query_as(
        "SELECT funding_time, rate FROM funding_rates
         WHERE exchange = $1 AND symbol = $2 AND funding_time BETWEEN $3 AND $4 ORDER BY funding_time",
    )
    .bind(exchange)
    .bind(symbol)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    Ok((!rows.is_empty()).then(|| {
        rows.into_iter()
            .map(|(time, rate)| FundingRate { time, rate })
            .collect()
    }))
}

/// Settlements of `symbol` covering `candles`, from `exchange` or (unset)
/// whichever exchange stores them; `None` when none are stored.
pub async fn for_candles(
    pool: &PgPool,
    exchange: Option<&str>,
    symbol: &str,
    candles: &[engine::Candle],
) -> Result<Option<Vec<FundingRate>>, DbError> {
    let (Some(first), Some(last)) = (candles.first(), candles.last()) else {
        return Ok(None);
    };
    let exchange: Option<String> = match exchange {
        Some(e) => Some(e.to_owned()),
        None => {
            sqlx::query_scalar("SELECT min(exchange) FROM funding_rates WHERE symbol = $1")
                .bind(symbol)
                .fetch_one(pool)
                .await?
        }
    };
    match exchange {
        Some(e) => {
            between(
                pool,
                &e,
                symbol,
                first.open_time,
                last.open_time + 86_400_000,
            )
            .await
        }
        None => Ok(None),
    }
}

/// The current predicted rate of a perpetual.
#[derive(Debug, Clone, PartialEq)]
pub struct Predicted {
    pub rate: f64,
    pub mark_price: Option<f64>,
    pub next_funding_time: TimeMs,
    pub interval_hours: f64,
    pub venue_time: TimeMs,
}

pub async fn set_predicted(
    pool: &PgPool,
    exchange: &str,
    symbol: &str,
    p: &Predicted,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO funding_predicted (exchange, symbol, rate, mark_price, next_funding_time, interval_hours, venue_time, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, now())
         ON CONFLICT (exchange, symbol) DO UPDATE SET rate = EXCLUDED.rate, mark_price = EXCLUDED.mark_price,
             next_funding_time = EXCLUDED.next_funding_time, interval_hours = EXCLUDED.interval_hours,
             venue_time = EXCLUDED.venue_time, updated_at = now()",
    )
    .bind(exchange)
    .bind(symbol)
    .bind(p.rate)
    .bind(p.mark_price)
    .bind(p.next_funding_time)
    .bind(p.interval_hours)
    .bind(p.venue_time)
    .execute(pool)
    .await?;
    Ok(())
}

/// Every perpetual's predicted rate, by (exchange, symbol).
pub async fn predicted(
    pool: &PgPool,
) -> Result<std::collections::HashMap<(String, String), Predicted>, DbError> {
    type Row = (String, String, f64, Option<f64>, i64, f64, i64);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT exchange, symbol, rate, mark_price, next_funding_time, interval_hours, venue_time FROM funding_predicted",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(e, s, rate, mark_price, next_funding_time, interval_hours, venue_time)| {
                (
                    (e, s),
                    Predicted {
                        rate,
                        mark_price,
                        next_funding_time,
                        interval_hours,
                        venue_time,
                    },
                )
            },
        )
        .collect())
}

/// Hours between the two newest settlements (8 when fewer are stored).
pub async fn interval_hours(pool: &PgPool, exchange: &str, symbol: &str) -> Result<f64, DbError> {
    let t: Vec<i64> = sqlx::query_scalar(
        "SELECT funding_time FROM funding_rates WHERE exchange = $1 AND symbol = $2 ORDER BY funding_time DESC LIMIT 2",
    )
    .bind(exchange)
    .bind(symbol)
    .fetch_all(pool)
    .await?;
    Ok(match t.as_slice() {
        [a, b] if a > b => (a - b) as f64 / 3_600_000.0,
        _ => 8.0,
    })
}
