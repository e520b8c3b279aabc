//! Candles and series: idempotent bulk writes over binary COPY, range reads,
//! coverage and gap queries.

use super::DbError;
use engine::{Candle, Market, SeriesKey, Symbol, TimeMs, Timeframe};
use serde::Serialize;
use sqlx::{PgConnection, PgPool, Row};

/// A stored series with its maintained statistics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesRow {
    pub id: i32,
    pub key: SeriesKey,
    pub bars: i64,
    pub first_open: Option<TimeMs>,
    pub last_open: Option<TimeMs>,
}

fn row_to_series(r: &sqlx::postgres::PgRow) -> Result<SeriesRow, DbError> {
    let exchange: String = r.try_get("exchange")?;
    let market: String = r.try_get("market")?;
    let symbol: String = r.try_get("symbol")?;
    let timeframe: String = r.try_get("timeframe")?;
    let corrupt = |e: engine::MarketError| DbError::Corrupt(e.to_string());
    let key = SeriesKey::new(
        &exchange,
        Market::parse(&market).map_err(corrupt)?,
        Symbol::parse(&symbol).map_err(corrupt)?,
        Timeframe::parse(&timeframe).map_err(corrupt)?,
    )
    .map_err(corrupt)?;
    Ok(SeriesRow {
        id: r.try_get("id")?,
        key,
        bars: r.try_get("bars")?,
        first_open: r.try_get("first_open")?,
        last_open: r.try_get("last_open")?,
    })
}

impl SeriesRow {
    /// `binance futures BTC/USDT 15m`: how messages and pages name a series.
    pub fn label(&self) -> String {
        let k = &self.key;
        format!("{} {} {} {}", k.exchange, k.market, k.symbol, k.timeframe)
    }
}

const SERIES_COLUMNS: &str = "id, exchange, market, symbol, timeframe, bars, first_open, last_open";

/// The id of the series, created when new.
pub async fn ensure_series(conn: &mut PgConnection, key: &SeriesKey) -> Result<i32, DbError> {
    // DO UPDATE (a no-op) instead of DO NOTHING so RETURNING yields the row either way.
    let id = sqlx::query_scalar(
        "INSERT INTO series (exchange, market, symbol, timeframe, tf_ms) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (exchange, market, symbol, timeframe) DO UPDATE SET exchange = EXCLUDED.exchange
         RETURNING id",
    )
    .bind(&key.exchange)
    .bind(key.market.as_str())
    .bind(key.symbol.as_str())
    .bind(key.timeframe.to_string())
    .bind(key.timeframe.duration_ms())
    .fetch_one(conn)
    .await?;
    Ok(id)
}

pub async fn find_series(pool: &PgPool, key: &SeriesKey) -> Result<Option<SeriesRow>, DbError> {
    let row = sqlx::query(&format!("SELECT {SERIES_COLUMNS} FROM series WHERE exchange = $1 AND market = $2 AND symbol = $3 AND timeframe = $4"))
        .bind(&key.exchange)
        .bind(key.market.as_str())
        .bind(key.symbol.as_str())
        .bind(key.timeframe.to_string())
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(row_to_series).transpose()
}

/// Every series, ordered for display.
pub async fn list_series(pool: &PgPool) -> Result<Vec<SeriesRow>, DbError> {
    let rows = sqlx::query(&format!(
        "SELECT {SERIES_COLUMNS} FROM series ORDER BY symbol, exchange, market, tf_ms"
    ))
    .fetch_all(pool)
    .await?;
    rows.iter().map(row_to_series).collect()
}

/// PostgreSQL's binary COPY encoding of candles: about 3× less parsing work
/// on the server than text COPY.
fn encode_copy(series_id: Option<i32>, candles: &[Candle]) -> Vec<u8> {
    let fields: i16 = if series_id.is_some() { 7 } else { 6 };
    let mut buf = Vec::with_capacity(19 + candles.len() * 82 + 2);
    buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    buf.extend_from_slice(&0i32.to_be_bytes()); // flags
    buf.extend_from_slice(&0i32.to_be_bytes()); // header extension length
    for c in candles {
        buf.extend_from_slice(&fields.to_be_bytes());
        if let Some(id) = series_id {
            buf.extend_from_slice(&4i32.to_be_bytes());
            buf.extend_from_slice(&id.to_be_bytes());
        }
        buf.extend_from_slice(&8i32.to_be_bytes());
        buf.extend_from_slice(&c.open_time.to_be_bytes());
        for v in [c.open, c.high, c.low, c.close, c.volume] {
            buf.extend_from_slice(&8i32.to_be_bytes());
            buf.extend_from_slice(&v.to_be_bytes());
        }
    }
    buf.extend_from_slice(&(-1i16).to_be_bytes());
    buf
}

/// Stores candles that are not stored yet; returns how many were new.
///
/// Must run inside a transaction (the staging table empties on commit), so
/// a caller can commit a page of candles together with its checkpoint.
///
/// When the series holds nothing in the batch's time span (a first import, a
/// backfill filling new ground) the rows are COPYed straight into `candles`;
/// otherwise, or if a concurrent writer got there first, they go through a
/// staging table and `ON CONFLICT DO NOTHING`.
pub async fn insert_candles(
    conn: &mut PgConnection,
    series_id: i32,
    candles: &[Candle],
) -> Result<u64, DbError> {
    let (Some(first), Some(last)) = (
        candles.iter().map(|c| c.open_time).min(),
        candles.iter().map(|c| c.open_time).max(),
    ) else {
        return Ok(0);
    };
    let occupied: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM candles WHERE series_id = $1 AND open_time BETWEEN $2 AND $3)")
        .bind(series_id)
        .bind(first)
        .bind(last)
        .fetch_one(&mut *conn)
        .await?;
    let inserted = match occupied {
        false => match copy_direct(conn, series_id, candles).await {
            Ok(n) => n,
            // 23505: a duplicate inside the batch or a concurrent writer.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23505") => {
                copy_staged(conn, series_id, candles).await?
            }
            Err(e) => return Err(e.into()),
        },
        true => copy_staged(conn, series_id, candles).await?,
    };
    if inserted > 0 {
        sqlx::query(
            "UPDATE series SET bars = bars + $2, first_open = LEAST(first_open, $3), last_open = GREATEST(last_open, $4), updated_at = now()
             WHERE id = $1",
        )
        .bind(series_id)
        .bind(inserted as i64)
        .bind(first)
        .bind(last)
        .execute(&mut *conn)
        .await?;
        // The series' newest bar as a price tick, delivered when the caller commits.
        sqlx::query(
            "SELECT pg_notify($2, json_build_object('exchange', s.exchange, 'market', s.market,
                 'symbol', s.symbol, 'timeframe', s.timeframe, 't', c.open_time, 'close', c.close)::text)
             FROM series s JOIN candles c ON c.series_id = s.id AND c.open_time = s.last_open
             WHERE s.id = $1",
        )
        .bind(series_id)
        .bind(TICK_CHANNEL)
        .execute(&mut *conn)
        .await?;
    }
    Ok(inserted)
}

/// The channel on which a series' newest stored bar is announced after
/// every write that added bars (LISTEN/NOTIFY; the WebSocket's ticks).
pub const TICK_CHANNEL: &str = "tick_events";

/// COPY into `candles` itself, inside a savepoint so a key violation leaves
/// the caller's transaction usable.
async fn copy_direct(
    conn: &mut PgConnection,
    series_id: i32,
    candles: &[Candle],
) -> Result<u64, sqlx::Error> {
    sqlx::query("SAVEPOINT direct_copy")
        .execute(&mut *conn)
        .await?;
    let result = async {
        let mut copy = conn.copy_in_raw("COPY candles (series_id, open_time, open, high, low, close, volume) FROM STDIN (FORMAT binary)").await?;
        copy.send(encode_copy(Some(series_id), candles)).await?;
        copy.finish().await
    }
    .await;
    match result {
        Ok(n) => {
            sqlx::query("RELEASE SAVEPOINT direct_copy")
                .execute(&mut *conn)
                .await?;
            Ok(n)
        }
        Err(e) => {
            sqlx::query("ROLLBACK TO SAVEPOINT direct_copy")
                .execute(&mut *conn)
                .await?;
            Err(e)
        }
    }
}

/// COPY into a session-local staging table, then insert what is new.
async fn copy_staged(
    conn: &mut PgConnection,
    series_id: i32,
    candles: &[Candle],
) -> Result<u64, DbError> {
    sqlx::query(
        "CREATE TEMP TABLE IF NOT EXISTS candle_stage
         (open_time bigint, open float8, high float8, low float8, close float8, volume float8) ON COMMIT DELETE ROWS",
    )
    .execute(&mut *conn)
    .await?;
    let mut copy = conn
        .copy_in_raw("COPY candle_stage FROM STDIN (FORMAT binary)")
        .await?;
    copy.send(encode_copy(None, candles)).await?;
    copy.finish().await?;
    let inserted = sqlx::query(
        "INSERT INTO candles (series_id, open_time, open, high, low, close, volume)
         SELECT $1, open_time, open, high, low, close, volume FROM candle_stage ORDER BY open_time
         ON CONFLICT (series_id, open_time) DO NOTHING",
    )
    .bind(series_id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    sqlx::query("TRUNCATE candle_stage")
        .execute(&mut *conn)
        .await?;
    Ok(inserted)
}

type CandleRow = (i64, f64, f64, f64, f64, f64);

fn candle((open_time, open, high, low, close, volume): CandleRow) -> Candle {
    Candle {
        open_time,
        open,
        high,
        low,
        close,
        volume,
    }
}

/// Candles of one series with `from <= open_time < to`, in time order.
pub async fn read_range(
    pool: &PgPool,
    series_id: i32,
    from: TimeMs,
    to: TimeMs,
) -> Result<Vec<Candle>, DbError> {
    let rows: Vec<CandleRow> = sqlx::query_as(
        "SELECT open_time, open, high, low, close, volume FROM candles
         WHERE series_id = $1 AND open_time >= $2 AND open_time < $3 ORDER BY open_time",
    )
    .bind(series_id)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(candle).collect())
}

/// The newest `n` candles of a series, in time order (gaps and weekends
/// do not shorten it, unlike a time range).
pub async fn read_last(pool: &PgPool, series_id: i32, n: i64) -> Result<Vec<Candle>, DbError> {
    let rows: Vec<CandleRow> = sqlx::query_as(
        "SELECT open_time, open, high, low, close, volume FROM candles
         WHERE series_id = $1 ORDER BY open_time DESC LIMIT $2",
    )
    .bind(series_id)
    .bind(n)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().rev().map(candle).collect())
}

/// The ranges of `[from, to)` (aligned to `tf`) that hold no stored bar.
/// Holes between stored bars are found by PostgreSQL with a window over the
/// primary key, so only the holes cross the wire, not every open time.
pub async fn missing_ranges(
    pool: &PgPool,
    series_id: i32,
    tf: Timeframe,
    from: TimeMs,
    to: TimeMs,
) -> Result<Vec<(TimeMs, TimeMs)>, DbError> {
    let dur = tf.duration_ms();
    let from = tf.floor(from + dur - 1);
    if from >= to {
        return Ok(Vec::new());
    }
    let bounds: (Option<i64>, Option<i64>) = sqlx::query_as("SELECT min(open_time), max(open_time) FROM candles WHERE series_id = $1 AND open_time >= $2 AND open_time < $3")
        .bind(series_id)
        .bind(from)
        .bind(to)
        .fetch_one(pool)
        .await?;
    let (Some(first), Some(last)) = bounds else {
        return Ok(vec![(from, to)]);
    };
    let holes: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT prev + $4, open_time FROM (
            SELECT open_time, lag(open_time) OVER (ORDER BY open_time) AS prev
            FROM candles WHERE series_id = $1 AND open_time >= $2 AND open_time < $3
         ) t WHERE open_time - prev > $4 ORDER BY open_time",
    )
    .bind(series_id)
    .bind(from)
    .bind(to)
    .bind(dur)
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(holes.len() + 2);
    if first > from {
        out.push((from, first));
    }
    out.extend(holes);
    if last + dur < to {
        out.push((last + dur, to));
    }
    Ok(out)
}

/// Table and index size in bytes, for reports and the system page.
pub async fn storage_bytes(pool: &PgPool) -> Result<i64, DbError> {
    Ok(
        sqlx::query_scalar("SELECT pg_total_relation_size('candles')")
            .fetch_one(pool)
            .await?,
    )
}

/// Database size, stored candles and non-empty series (the system page).
pub async fn store_stats(pool: &PgPool) -> Result<(i64, i64, i64), DbError> {
    Ok(sqlx::query_as(
        "SELECT pg_database_size(current_database()),
                COALESCE((SELECT sum(bars) FROM series), 0)::bigint,
                (SELECT count(*) FROM series WHERE bars > 0)",
    )
    .fetch_one(pool)
    .await?)
}

/// Candles of a stored series in `[from, to)`; [`DbError::NoSeries`] when
/// it does not exist.
pub async fn stored_candles(
    pool: &PgPool,
    key: &SeriesKey,
    from: TimeMs,
    to: TimeMs,
) -> Result<Vec<Candle>, DbError> {
    let series = find_series(pool, key)
        .await?
        .ok_or_else(|| DbError::NoSeries(format!("series {key}")))?;
    read_range(pool, series.id, from, to).await
}

/// Candles of `symbol` at `tf` from the one stored series that matches the
/// exchange and market given (any, when not given).
pub async fn stored_candles_of(
    pool: &PgPool,
    symbol: &str,
    tf: Timeframe,
    exchange: Option<&str>,
    market: Option<Market>,
) -> Result<Vec<Candle>, DbError> {
    Ok(stored_series_of(pool, symbol, tf, exchange, market)
        .await?
        .1)
}

/// As [`stored_candles_of`], with the key of the series found (its exchange
/// decides the costs a backtest of it charges).
pub async fn stored_series_of(
    pool: &PgPool,
    symbol: &str,
    tf: Timeframe,
    exchange: Option<&str>,
    market: Option<Market>,
) -> Result<(SeriesKey, Vec<Candle>), DbError> {
    let all = list_series(pool).await?;
    let found: Vec<_> = all
        .iter()
        .filter(|s| {
            s.key.symbol.as_str() == symbol
                && s.key.timeframe == tf
                && exchange.is_none_or(|e| s.key.exchange == e)
                && market.is_none_or(|m| s.key.market == m)
        })
        .collect();
    match found.as_slice() {
        [one] => Ok((
            one.key.clone(),
            read_range(pool, one.id, i64::MIN, i64::MAX).await?,
        )),
        [] => Err(DbError::NoSeries(format!(
            "{symbol} {tf} series{}{}",
            exchange.map_or(String::new(), |e| format!(" from {e}")),
            market.map_or(String::new(), |m| format!(" ({})", m.as_str()))
        ))),
        many => Err(DbError::AmbiguousSeries {
            what: format!("{symbol} {tf}"),
            sources: many
                .iter()
                .map(|s| s.key.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_encoding_layout() {
        let c = Candle {
            open_time: 1,
            open: 1.0,
            high: 2.0,
            low: 0.5,
            close: 1.5,
            volume: 3.0,
        };
        let buf = encode_copy(None, &[c, c]);
        assert_eq!(&buf[..11], b"PGCOPY\n\xff\r\n\0");
        assert_eq!(buf.len(), 19 + 2 * (2 + 6 * 12) + 2);
        assert_eq!(&buf[buf.len() - 2..], &[0xff, 0xff]);
        // First field of the first row: length 8 then the big-endian time.
        assert_eq!(&buf[21..25], &8i32.to_be_bytes());
        assert_eq!(&buf[25..33], &1i64.to_be_bytes());
        // With the series id first: 4 bytes of int4 after its length.
        let buf = encode_copy(Some(7), &[c]);
        assert_eq!(buf.len(), 19 + (2 + 8 + 6 * 12) + 2);
        assert_eq!(&buf[19..21], &7i16.to_be_bytes());
        assert_eq!(&buf[21..29], &[0, 0, 0, 4, 0, 0, 0, 7]);
    }
}

/// Records that `provider` answered `[from, to)` of a series; a range that
/// continues the same provider's previous one (same adjustment) extends it.
pub async fn record_source(
    conn: &mut PgConnection,
    series_id: i32,
    provider: &str,
    adjustment: &str,
    (from, to): (TimeMs, TimeMs),
) -> Result<(), DbError> {
    if to <= from {
        return Ok(());
    }
    let extended = sqlx::query(
        "UPDATE series_sources SET to_ms = $4
         WHERE series_id = $1 AND provider = $2 AND adjustment = $3 AND to_ms = $5",
    )
    .bind(series_id)
    .bind(provider)
    .bind(adjustment)
    .bind(to)
    .bind(from)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if extended == 0 {
        // A re-fetch of a range already recorded: the newest answer wins.
        sqlx::query(
            "INSERT INTO series_sources (series_id, from_ms, to_ms, provider, adjustment)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (series_id, from_ms) DO UPDATE
               SET to_ms = EXCLUDED.to_ms, provider = EXCLUDED.provider, adjustment = EXCLUDED.adjustment",
        )
        .bind(series_id)
        .bind(from)
        .bind(to)
        .bind(provider)
        .bind(adjustment)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// One provider's stretch of a series.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct SourceRange {
    pub from_ms: i64,
    pub to_ms: i64,
    pub provider: String,
    pub adjustment: String,
}

/// Which provider supplied which range of a series, oldest first.
pub async fn sources(pool: &PgPool, series_id: i32) -> Result<Vec<SourceRange>, DbError> {
    Ok(sqlx::query_as(
        "SELECT from_ms, to_ms, provider, adjustment FROM series_sources
         WHERE series_id = $1 ORDER BY from_ms",
    )
    .bind(series_id)
    .fetch_all(pool)
    .await?)
}

/// Stores unadjusted closes beside adjusted bars (the newest answer wins).
pub async fn insert_raw_closes(
    conn: &mut PgConnection,
    series_id: i32,
    rows: &[(TimeMs, f64)],
) -> Result<(), DbError> {
    if rows.is_empty() {
        return Ok(());
    }
    let (times, closes): (Vec<i64>, Vec<f64>) = rows.iter().copied().unzip();
    sqlx::query(
        "INSERT INTO candle_raw_close (series_id, open_time, close)
         SELECT $1, t, c FROM unnest($2::bigint[], $3::float8[]) AS u(t, c)
         ON CONFLICT (series_id, open_time) DO UPDATE SET close = EXCLUDED.close",
    )
    .bind(series_id)
    .bind(&times)
    .bind(&closes)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Unadjusted closes of a series in `[from, to)`.
pub async fn raw_closes(
    pool: &PgPool,
    series_id: i32,
    from: TimeMs,
    to: TimeMs,
) -> Result<Vec<(TimeMs, f64)>, DbError> {
    Ok(sqlx::query_as(
        "SELECT open_time, close FROM candle_raw_close
         WHERE series_id = $1 AND open_time >= $2 AND open_time < $3 ORDER BY open_time",
    )
    .bind(series_id)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?)
}

/// How many unadjusted closes a series keeps.
pub async fn raw_close_count(pool: &PgPool, series_id: i32) -> Result<i64, DbError> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM candle_raw_close WHERE series_id = $1")
            .bind(series_id)
            .fetch_one(pool)
            .await?,
    )
}
