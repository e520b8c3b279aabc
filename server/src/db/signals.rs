//! Signal candidates: one row per series, bar close and source.

use super::DbError;
use engine::TimeMs;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

/// The channel a scan announces new candidates on (LISTEN/NOTIFY).
pub const NOTIFY_CHANNEL: &str = "signal_events";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Model,
    Technical,
    /// The rule's side with its confidence moved toward the serving model's.
    Hybrid,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Model => "model",
            Source::Technical => "technical",
            Source::Hybrid => "hybrid",
        }
    }

    fn parse(s: &str) -> Result<Source, DbError> {
        match s {
            "model" => Ok(Source::Model),
            "technical" => Ok(Source::Technical),
            "hybrid" => Ok(Source::Hybrid),
            other => Err(DbError::Corrupt(format!("unknown signal source {other:?}"))),
        }
    }
}

/// A feature's push on the prediction (see `models::artifact::Driver`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Driver {
    pub feature: String,
    pub value: f64,
}

/// What the scanner stores for one bar close.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCandidate {
    pub series_id: i32,
    pub bar_time: TimeMs,
    pub price: f64,
    pub atr: Option<f64>,
    pub source: Source,
    pub model_id: Option<i64>,
    pub model_label: String,
    pub prediction: Option<engine::signals::Prediction>,
    pub move_interval: Option<(f64, f64)>,
    pub coverage_level: Option<f64>,
    pub prediction_set: Option<String>,
    /// The rule fired but has too little history for a calibrated
    /// confidence: why (the prediction's confidence is its raw score).
    pub uncalibrated: Option<String>,
    pub drivers: Vec<Driver>,
    /// Why this close makes no signal whatever it predicts: the series was
    /// not fit to trade on (`stale`, `catching_up`, `flagged_bar`) and the text.
    pub blocked: Option<(String, String)>,
    /// Market regime at the bar: uptrend, downtrend, range.
    pub regime: Option<String>,
    /// Each joined higher timeframe's trend (close vs SMA20, percent), if known.
    pub htf: Vec<(String, Option<f64>)>,
}

/// A stored candidate with its series.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub id: i64,
    pub exchange: String,
    pub market: String,
    pub symbol: String,
    pub timeframe: String,
    pub new: NewCandidate,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Stores `c` unless the same series, bar and source is stored; its id if new.
pub async fn insert(
    conn: &mut sqlx::PgConnection,
    c: &NewCandidate,
) -> Result<Option<i64>, DbError> {
    let p = c.prediction.as_ref();
    let drivers = serde_json::to_value(&c.drivers).map_err(|e| DbError::Corrupt(e.to_string()))?;
    let done: Option<i64> = sqlx::query_scalar(
        "INSERT INTO signal_candidates (series_id, bar_time, price, atr, source, model_id, model_label,
             p_up, p_neutral, p_down, expected_move_pct, confidence, move_low, move_high,
             coverage_level, prediction_set, drivers, blocked, blocked_reason, regime, htf, uncalibrated)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)
         ON CONFLICT (series_id, bar_time, source) DO NOTHING RETURNING id",
    )
    .bind(c.series_id)
    .bind(c.bar_time)
    .bind(c.price)
    .bind(c.atr)
    .bind(c.source.as_str())
    .bind(c.model_id)
    .bind(&c.model_label)
    .bind(p.map(|p| p.p_up))
    .bind(p.map(|p| p.p_neutral))
    .bind(p.map(|p| p.p_down))
    .bind(p.map(|p| p.expected_move_pct))
    .bind(p.map(|p| p.confidence))
    .bind(c.move_interval.map(|m| m.0))
    .bind(c.move_interval.map(|m| m.1))
    .bind(c.coverage_level)
    .bind(&c.prediction_set)
    .bind(drivers)
    .bind(c.blocked.as_ref().map(|b| b.0.as_str()))
    .bind(c.blocked.as_ref().map(|b| b.1.as_str()))
    .bind(&c.regime)
    .bind(serde_json::to_value(&c.htf).map_err(|e| DbError::Corrupt(e.to_string()))?)
    .bind(&c.uncalibrated)
    .fetch_optional(conn)
    .await?;
    Ok(done)
}

/// The newest bar each series was scanned at by `source` (an index probe
/// per series, not a pass over every candidate).
pub async fn last_scanned(
    pool: &PgPool,
    source: Source,
) -> Result<std::collections::HashMap<i32, TimeMs>, DbError> {
    let rows: Vec<(i32, i64)> = sqlx::query_as(
        "SELECT s.id, c.bar_time FROM series s CROSS JOIN LATERAL (
             SELECT bar_time FROM signal_candidates c
             WHERE c.series_id = s.id AND c.source = $1 ORDER BY c.bar_time DESC LIMIT 1
         ) c",
    )
    .bind(source.as_str())
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().collect())
}

/// The scanners' lock: `Some` (held until the transaction ends) when no
/// other process or task is scanning, `None` when one is.
pub async fn scan_lock(
    pool: &PgPool,
) -> Result<Option<sqlx::Transaction<'static, sqlx::Postgres>>, DbError> {
    let mut tx = pool.begin().await?;
    let mine: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtext('traderai:signal-scan'))")
            .fetch_one(&mut *tx)
            .await?;
    Ok(mine.then_some(tx))
}

/// Tells listeners (the web servers' WebSocket hubs) that a scan stored `new` candidates.
pub async fn announce(pool: &PgPool, new: usize, bar_time: TimeMs) -> Result<(), DbError> {
    sqlx::query(
        "SELECT pg_notify($1, json_build_object('new', $2::bigint, 'bar_time', $3::bigint)::text)",
    )
    .bind(NOTIFY_CHANNEL)
    .bind(new as i64)
    .bind(bar_time)
    .execute(pool)
    .await?;
    Ok(())
}

const COLUMNS: &str = "c.id, s.exchange, s.market, s.symbol, s.timeframe, c.series_id, c.bar_time, c.price, c.atr,
    c.source, c.model_id, c.model_label, c.p_up, c.p_neutral, c.p_down, c.expected_move_pct, c.confidence,
    c.move_low, c.move_high, c.coverage_level, c.prediction_set, c.drivers, c.created_at,
    c.blocked, c.blocked_reason, c.regime, c.htf, c.uncalibrated";

fn row(r: &sqlx::postgres::PgRow) -> Result<Candidate, DbError> {
    use sqlx::Row;
    let f = |name: &str| r.try_get::<Option<f64>, _>(name);
    let prediction = match (
        f("p_up")?,
        f("p_neutral")?,
        f("p_down")?,
        f("expected_move_pct")?,
        f("confidence")?,
    ) {
        (Some(p_up), Some(p_neutral), Some(p_down), Some(expected_move_pct), Some(confidence)) => {
            Some(engine::signals::Prediction {
                p_up,
                p_neutral,
                p_down,
                expected_move_pct,
                confidence,
            })
        }
        _ => None,
    };
    let drivers: serde_json::Value = r.try_get("drivers")?;
    Ok(Candidate {
        id: r.try_get("id")?,
        exchange: r.try_get("exchange")?,
        market: r.try_get("market")?,
        symbol: r.try_get("symbol")?,
        timeframe: r.try_get("timeframe")?,
        created_at: r.try_get("created_at")?,
        new: NewCandidate {
            series_id: r.try_get("series_id")?,
            bar_time: r.try_get("bar_time")?,
            price: r.try_get("price")?,
            atr: r.try_get("atr")?,
            source: Source::parse(r.try_get::<&str, _>("source")?)?,
            model_id: r.try_get("model_id")?,
            model_label: r.try_get("model_label")?,
            prediction,
            move_interval: f("move_low")?.zip(f("move_high")?),
            coverage_level: f("coverage_level")?,
            prediction_set: r.try_get("prediction_set")?,
            uncalibrated: r.try_get("uncalibrated")?,
            drivers: serde_json::from_value(drivers)
                .map_err(|e| DbError::Corrupt(format!("signal drivers: {e}")))?,
            blocked: r
                .try_get::<Option<String>, _>("blocked")?
                .zip(r.try_get::<Option<String>, _>("blocked_reason")?),
            regime: r.try_get("regime")?,
            htf: serde_json::from_value(r.try_get("htf")?)
                .map_err(|e| DbError::Corrupt(format!("signal htf: {e}")))?,
        },
    })
}

/// One stored candidate.
pub async fn by_id(pool: &PgPool, id: i64) -> Result<Option<Candidate>, DbError> {
    let r = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM signal_candidates c JOIN series s ON s.id = c.series_id WHERE c.id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    r.as_ref().map(row).transpose()
}

/// The newest candidate of every series (a model's before the rule's at
/// the same bar: 'model' sorts first), ordered by symbol and timeframe.
pub async fn latest(pool: &PgPool) -> Result<Vec<Candidate>, DbError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM series s CROSS JOIN LATERAL (
             SELECT * FROM signal_candidates c WHERE c.series_id = s.id
             ORDER BY c.bar_time DESC, c.source LIMIT 1
         ) c
         ORDER BY s.symbol, s.exchange, s.market, s.tf_ms"
    ))
    .fetch_all(pool)
    .await?;
    rows.iter().map(row).collect()
}

/// Candidates of one series since `from` (ms), oldest first: chart markers.
pub async fn of_series(
    pool: &PgPool,
    series_id: i32,
    from: TimeMs,
) -> Result<Vec<Candidate>, DbError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM signal_candidates c JOIN series s ON s.id = c.series_id
         WHERE c.series_id = $1 AND c.bar_time >= $2 ORDER BY c.bar_time, c.source"
    ))
    .bind(series_id)
    .bind(from)
    .fetch_all(pool)
    .await?;
    rows.iter().map(row).collect()
}
