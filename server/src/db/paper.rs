//! Paper accounts: the account row with its checkpoint, and what each step
//! writes (orders, order events, fills, ledger, trades, equity, positions,
//! decisions), all in the caller's transaction. Money columns are
//! `numeric`, bound and read as text so no value passes through `f64`.

use super::DbError;
use engine::TimeMs;
use rust_decimal::Decimal;
use sqlx::{PgPool, Postgres, Row, Transaction};
use trading::matcher::{AccountEvent, PaperAccount};
use trading::order::Order;

/// The channel every account step is announced on (LISTEN/NOTIFY): the
/// payload is `{"account": id, "user": owner}`.
pub const NOTIFY_CHANNEL: &str = "paper_events";
/// Kill switch and resume: every runner re-reads the halt on it.
pub const HALT_CHANNEL: &str = "trading_halt";

#[derive(Debug, Clone, PartialEq)]
pub struct AccountRow {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub capital: Decimal,
    pub profile: String,
    pub follow_mode: String,
    pub symbols: Vec<String>,
    pub series_ids: Vec<i32>,
    pub timeframe: String,
    pub state: String,
    pub halt: Option<serde_json::Value>,
    pub applied_until: TimeMs,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

const COLUMNS: &str = "id, user_id, name, capital::text AS capital, profile, follow_mode, symbols,
    series_ids, timeframe, state, halt, applied_until, created_at";

fn decimal(r: &sqlx::postgres::PgRow, col: &str) -> Result<Decimal, DbError> {
    let s: String = r.try_get(col)?;
    s.parse()
        .map_err(|e| DbError::Corrupt(format!("{col} {s:?}: {e}")))
}

fn account(r: &sqlx::postgres::PgRow) -> Result<AccountRow, DbError> {
    Ok(AccountRow {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        name: r.try_get("name")?,
        capital: decimal(r, "capital")?,
        profile: r.try_get("profile")?,
        follow_mode: r.try_get("follow_mode")?,
        symbols: r.try_get("symbols")?,
        series_ids: r.try_get("series_ids")?,
        timeframe: r.try_get("timeframe")?,
        state: r.try_get("state")?,
        halt: r.try_get("halt")?,
        applied_until: r.try_get("applied_until")?,
        created_at: r.try_get("created_at")?,
    })
}

/// An account to open.
#[derive(Debug, Clone)]
pub struct NewAccount<'a> {
    pub user_id: i64,
    pub name: &'a str,
    pub capital: Decimal,
    pub profile: &'a str,
    pub follow_mode: &'a str,
    pub symbols: &'a [String],
    pub series_ids: &'a [i32],
    pub timeframe: &'a str,
    pub applied_until: TimeMs,
}

pub fn encode(acct: &PaperAccount) -> Result<Vec<u8>, DbError> {
    let mut buf = Vec::new();
    ciborium::into_writer(acct, &mut buf)
        .map_err(|e| DbError::Corrupt(format!("paper checkpoint: {e}")))?;
    Ok(buf)
}

pub fn decode(id: i64, bytes: &[u8]) -> Result<PaperAccount, DbError> {
    ciborium::from_reader(bytes)
        .map_err(|e| DbError::Corrupt(format!("paper account {id}: checkpoint unreadable: {e}")))
}

pub async fn create(
    pool: &PgPool,
    a: &NewAccount<'_>,
    acct: &PaperAccount,
) -> Result<AccountRow, DbError> {
    let row = sqlx::query(&format!(
        "INSERT INTO paper_accounts (user_id, name, capital, profile, follow_mode, symbols,
             series_ids, timeframe, state, halt, checkpoint, applied_until)
         VALUES ($1, $2, $3::numeric, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         RETURNING {COLUMNS}"
    ))
    .bind(a.user_id)
    .bind(a.name)
    .bind(a.capital.to_string())
    .bind(a.profile)
    .bind(a.follow_mode)
    .bind(a.symbols)
    .bind(a.series_ids)
    .bind(a.timeframe)
    .bind(acct.state().as_str())
    .bind(halt_json(acct))
    .bind(encode(acct)?)
    .bind(a.applied_until)
    .fetch_one(pool)
    .await?;
    account(&row)
}

fn halt_json(acct: &PaperAccount) -> Option<serde_json::Value> {
    acct.halt_reason()
        .and_then(|h| serde_json::to_value(h).ok())
}

pub async fn list(pool: &PgPool, user: Option<i64>) -> Result<Vec<AccountRow>, DbError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM paper_accounts WHERE $1::bigint IS NULL OR user_id = $1 ORDER BY id"
    ))
    .bind(user)
    .fetch_all(pool)
    .await?;
    rows.iter().map(account).collect()
}

pub async fn get(pool: &PgPool, id: i64) -> Result<Option<AccountRow>, DbError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM paper_accounts WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(account).transpose()
}

/// Locks the account for one step (other runners skip it meanwhile) and
/// reads its checkpoint; `None` when it is gone or another runner holds it.
pub async fn lock(
    tx: &mut Transaction<'_, Postgres>,
    id: i64,
    wait: bool,
) -> Result<Option<(AccountRow, PaperAccount)>, DbError> {
    let skip = if wait { "" } else { " SKIP LOCKED" };
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS}, checkpoint FROM paper_accounts WHERE id = $1 FOR UPDATE{skip}"
    ))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let bytes: Vec<u8> = row.try_get("checkpoint")?;
    Ok(Some((account(&row)?, decode(id, &bytes)?)))
}

/// Writes one step's events and the new checkpoint, in the caller's transaction.
pub async fn write_step(
    tx: &mut Transaction<'_, Postgres>,
    id: i64,
    acct: &PaperAccount,
    events: &[AccountEvent],
    applied_until: TimeMs,
    sources: &std::collections::HashMap<String, String>,
) -> Result<(), DbError> {
    for e in events {
        match e {
            AccountEvent::Order { time, event, order } => {
                upsert_order(tx, id, order, *time).await?;
                let detail = serde_json::to_value(event)
                    .map_err(|e| DbError::Corrupt(format!("order event: {e}")))?;
                sqlx::query(
                    "INSERT INTO paper_order_events (account_id, client_id, seq, time, name, detail)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(id)
                .bind(order.id())
                .bind(order.history.len() as i32)
                .bind(time)
                .bind(event.name())
                .bind(detail)
                .execute(&mut **tx)
                .await?;
                if let trading::order::OrderEvent::Filled(f) = event {
                    sqlx::query(
                        "INSERT INTO paper_fills (account_id, trade_id, client_id, symbol, side, time, qty, price, fee, liquidity)
                         VALUES ($1, $2, $3, $4, $5, $6, $7::numeric, $8::numeric, $9::numeric, $10)",
                    )
                    .bind(id)
                    .bind(&f.trade_id)
                    .bind(order.id())
                    .bind(&order.request.symbol)
                    .bind(order.request.side.as_str())
                    .bind(time)
                    .bind(f.qty.to_string())
                    .bind(f.price.to_string())
                    .bind(f.fee.to_string())
                    .bind(match f.liquidity {
                        engine::costs::Liquidity::Maker => "maker",
                        engine::costs::Liquidity::Taker => "taker",
                    })
                    .execute(&mut **tx)
                    .await?;
                }
            }
            AccountEvent::Ledger(l) => {
                sqlx::query(
                    "INSERT INTO paper_ledger (account_id, time, kind, symbol, amount, client_id, trade_id)
                     VALUES ($1, $2, $3, $4, $5::numeric, $6, $7)",
                )
                .bind(id)
                .bind(l.time)
                .bind(l.kind.as_str())
                .bind(&l.symbol)
                .bind(l.amount.to_string())
                .bind(&l.order_id)
                .bind(&l.trade_id)
                .execute(&mut **tx)
                .await?;
            }
            AccountEvent::Closed(t) => {
                let detail = serde_json::to_value(&**t)
                    .map_err(|e| DbError::Corrupt(format!("trade: {e}")))?;
                sqlx::query(
                    "INSERT INTO paper_trades (account_id, symbol, side, signal_time, entry_time, exit_time,
                         exit_reason, entry_price, qty, tp1_hit, pnl, return_pct, source, detail)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,
                         (SELECT source FROM paper_decisions d WHERE d.account_id = $1 AND d.time = $4 AND d.symbol = $2), $13)",
                )
                .bind(id)
                .bind(&t.symbol)
                .bind(t.side.as_str())
                .bind(t.signal_time)
                .bind(t.entry_time)
                .bind(t.exit_time)
                .bind(t.exit_reason.as_str())
                .bind(t.entry_price)
                .bind(t.qty)
                .bind(t.tp1_hit)
                .bind(t.pnl)
                .bind(t.return_pct)
                .bind(detail)
                .execute(&mut **tx)
                .await?;
            }
            AccountEvent::Equity {
                time,
                equity,
                drawdown_pct,
                open_positions,
            } => {
                sqlx::query(
                    "INSERT INTO paper_equity (account_id, time, equity, drawdown_pct, open_positions)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (account_id, time) DO UPDATE SET equity = EXCLUDED.equity,
                         drawdown_pct = EXCLUDED.drawdown_pct, open_positions = EXCLUDED.open_positions",
                )
                .bind(id)
                .bind(time)
                .bind(equity)
                .bind(drawdown_pct)
                .bind(*open_positions as i32)
                .execute(&mut **tx)
                .await?;
            }
            AccountEvent::Decision {
                time,
                symbol,
                accepted,
                reason,
            } => {
                sqlx::query(
                    "INSERT INTO paper_decisions (account_id, time, symbol, accepted, reason, source)
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                )
                .bind(id)
                .bind(time)
                .bind(symbol)
                .bind(accepted)
                .bind(reason)
                .bind(sources.get(symbol))
                .execute(&mut **tx)
                .await?;
            }
            AccountEvent::State { .. } => {}
        }
    }
    sqlx::query("DELETE FROM paper_positions WHERE account_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    for p in acct.book().positions() {
        sqlx::query(
            "INSERT INTO paper_positions (account_id, symbol, side, qty, qty_open, entry_price, entry_time,
                 stop, take_profit, targets_hit, leverage)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(id)
        .bind(&p.plan.symbol)
        .bind(p.plan.side.as_str())
        .bind(p.plan.qty)
        .bind(p.qty_open)
        .bind(p.entry_price)
        .bind(p.entry_time)
        .bind(p.stop)
        .bind(p.plan.take_profit.to_vec())
        .bind(p.next_tp as i32)
        .bind(p.plan.leverage)
        .execute(&mut **tx)
        .await?;
    }
    sqlx::query(
        "UPDATE paper_accounts SET checkpoint = $2, applied_until = $3, state = $4, halt = $5,
             updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(encode(acct)?)
    .bind(applied_until)
    .bind(acct.state().as_str())
    .bind(halt_json(acct))
    .execute(&mut **tx)
    .await?;
    let notable = events.iter().any(|e| {
        matches!(
            e,
            AccountEvent::Closed(_)
                | AccountEvent::State { .. }
                | AccountEvent::Order {
                    event: trading::order::OrderEvent::Filled(_),
                    ..
                }
        )
    });
    if notable {
        let (user, name): (i64, String) =
            sqlx::query_as("SELECT user_id, name FROM paper_accounts WHERE id = $1")
                .bind(id)
                .fetch_one(&mut **tx)
                .await?;
        for e in crate::notify::compose::paper_events(id, &name, user, events) {
            crate::notify::emit(tx, &e).await?;
        }
    }
    sqlx::query(
        "SELECT pg_notify($1, json_build_object('account', id, 'user', user_id)::text)
         FROM paper_accounts WHERE id = $2",
    )
    .bind(NOTIFY_CHANNEL)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn upsert_order(
    tx: &mut Transaction<'_, Postgres>,
    id: i64,
    o: &Order,
    time: TimeMs,
) -> Result<(), DbError> {
    let r = &o.request;
    sqlx::query(
        "INSERT INTO paper_orders (account_id, client_id, symbol, side, kind, purpose, qty, price,
             reduce_only, status, filled_qty, avg_price, fees, created_ms, updated_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7::numeric, $8::numeric, $9, $10, $11::numeric,
             $12::numeric, $13::numeric, $14, $14)
         ON CONFLICT (account_id, client_id) DO UPDATE SET price = EXCLUDED.price,
             status = EXCLUDED.status, filled_qty = EXCLUDED.filled_qty,
             avg_price = EXCLUDED.avg_price, fees = EXCLUDED.fees, updated_ms = EXCLUDED.updated_ms",
    )
    .bind(id)
    .bind(o.id())
    .bind(&r.symbol)
    .bind(r.side.as_str())
    .bind(r.kind.as_str())
    .bind(r.purpose.label())
    .bind(r.qty.to_string())
    .bind(o.price.map(|p| p.to_string()))
    .bind(r.reduce_only)
    .bind(o.status.as_str())
    .bind(o.filled_qty.to_string())
    .bind(o.avg_price.map(|p| p.round_dp(8).to_string()))
    .bind(o.fees.to_string())
    .bind(time)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Capital plus the sum of the ledger, exactly.
pub async fn balance(pool: &PgPool, id: i64) -> Result<Option<Decimal>, DbError> {
    let row = sqlx::query(
        "SELECT (a.capital + coalesce((SELECT sum(amount) FROM paper_ledger l WHERE l.account_id = a.id), 0))::text AS balance
         FROM paper_accounts a WHERE a.id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(|r| decimal(r, "balance")).transpose()
}

/// Sums of the ledger by kind: realised_pnl, fee, funding.
pub async fn totals(pool: &PgPool, id: i64) -> Result<Vec<(String, Decimal)>, DbError> {
    let rows = sqlx::query(
        "SELECT kind, sum(amount)::text AS total FROM paper_ledger WHERE account_id = $1 GROUP BY kind ORDER BY kind",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("kind")?, decimal(r, "total")?)))
        .collect()
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OrderRow {
    pub client_id: String,
    pub symbol: String,
    pub side: String,
    pub kind: String,
    pub purpose: String,
    pub qty: String,
    pub price: Option<String>,
    pub reduce_only: bool,
    pub status: String,
    pub filled_qty: String,
    pub avg_price: Option<String>,
    pub fees: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

pub async fn orders(pool: &PgPool, id: i64, limit: i64) -> Result<Vec<OrderRow>, DbError> {
    Ok(sqlx::query_as(
        "SELECT client_id, symbol, side, kind, purpose, qty::text AS qty, price::text AS price, reduce_only,
             status, filled_qty::text AS filled_qty, avg_price::text AS avg_price, fees::text AS fees,
             created_ms, updated_ms
         FROM paper_orders WHERE account_id = $1 ORDER BY created_ms DESC, client_id DESC LIMIT $2",
    )
    .bind(id)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OrderEventRow {
    pub client_id: String,
    pub seq: i32,
    pub time: i64,
    pub name: String,
    pub detail: serde_json::Value,
}

pub async fn order_events(
    pool: &PgPool,
    id: i64,
    client_ids: &[String],
) -> Result<Vec<OrderEventRow>, DbError> {
    Ok(sqlx::query_as(
        "SELECT client_id, seq, time, name, detail FROM paper_order_events
         WHERE account_id = $1 AND client_id = ANY($2) ORDER BY client_id, seq",
    )
    .bind(id)
    .bind(client_ids)
    .fetch_all(pool)
    .await?)
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TradeRow {
    pub symbol: String,
    pub side: String,
    pub signal_time: i64,
    pub entry_time: i64,
    pub exit_time: i64,
    pub exit_reason: String,
    pub entry_price: f64,
    pub qty: f64,
    pub tp1_hit: bool,
    pub pnl: f64,
    pub return_pct: f64,
    pub source: Option<String>,
    pub detail: serde_json::Value,
}

pub async fn trades(pool: &PgPool, id: i64) -> Result<Vec<TradeRow>, DbError> {
    Ok(sqlx::query_as(
        "SELECT symbol, side, signal_time, entry_time, exit_time, exit_reason, entry_price, qty,
             tp1_hit, pnl, return_pct, source, detail
         FROM paper_trades WHERE account_id = $1 ORDER BY exit_time, id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?)
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct LedgerRow {
    pub time: i64,
    pub kind: String,
    pub symbol: String,
    pub amount: String,
    pub client_id: Option<String>,
    pub trade_id: Option<String>,
}

pub async fn ledger(pool: &PgPool, id: i64) -> Result<Vec<LedgerRow>, DbError> {
    Ok(sqlx::query_as(
        "SELECT time, kind, symbol, amount::text AS amount, client_id, trade_id
         FROM paper_ledger WHERE account_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?)
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct EquityRow {
    pub time: i64,
    pub equity: f64,
    pub drawdown_pct: f64,
    pub open_positions: i32,
}

pub async fn equity(pool: &PgPool, id: i64) -> Result<Vec<EquityRow>, DbError> {
    Ok(sqlx::query_as(
        "SELECT time, equity, drawdown_pct, open_positions FROM paper_equity WHERE account_id = $1 ORDER BY time",
    )
    .bind(id)
    .fetch_all(pool)
    .await?)
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PositionRow {
    pub symbol: String,
    pub side: String,
    pub qty: f64,
    pub qty_open: f64,
    pub entry_price: f64,
    pub entry_time: i64,
    pub stop: f64,
    pub take_profit: Vec<f64>,
    pub targets_hit: i32,
    pub leverage: f64,
}

pub async fn positions(pool: &PgPool, id: i64) -> Result<Vec<PositionRow>, DbError> {
    Ok(sqlx::query_as(
        "SELECT symbol, side, qty, qty_open, entry_price, entry_time, stop, take_profit, targets_hit, leverage
         FROM paper_positions WHERE account_id = $1 ORDER BY symbol",
    )
    .bind(id)
    .fetch_all(pool)
    .await?)
}

/// The global kill switch in force: (reason, flatten, by, since).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct HaltRow {
    pub id: i64,
    pub reason: String,
    pub flatten: bool,
    pub by_user: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

pub async fn active_halt(pool: &PgPool) -> Result<Option<HaltRow>, DbError> {
    Ok(sqlx::query_as(
        "SELECT id, reason, flatten, by_user, created_at FROM trading_halts WHERE cleared_at IS NULL",
    )
    .fetch_optional(pool)
    .await?)
}

/// Engages the kill switch (or returns the one in force) and announces it.
pub async fn insert_halt(
    pool: &PgPool,
    reason: &str,
    flatten: bool,
    by: Option<&str>,
) -> Result<HaltRow, DbError> {
    let mut tx = pool.begin().await?;
    let row: Option<HaltRow> = sqlx::query_as(
        "INSERT INTO trading_halts (reason, flatten, by_user) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING RETURNING id, reason, flatten, by_user, created_at",
    )
    .bind(reason)
    .bind(flatten)
    .bind(by)
    .fetch_optional(&mut *tx)
    .await?;
    let row = match row {
        Some(r) => r,
        None => sqlx::query_as(
            "SELECT id, reason, flatten, by_user, created_at FROM trading_halts WHERE cleared_at IS NULL",
        )
        .fetch_one(&mut *tx)
        .await?,
    };
    sqlx::query("SELECT pg_notify($1, 'halt')")
        .bind(HALT_CHANNEL)
        .execute(&mut *tx)
        .await?;
    let d =
        crate::notify::compose::Draft::new("KILL SWITCH ENGAGED: every paper account is halted")
            .field("Reason", &row.reason)
            .field(
                "Flatten",
                if row.flatten {
                    "yes, positions closed"
                } else {
                    "no, positions keep their exits"
                },
            )
            .field("By", row.by_user.as_deref().unwrap_or("the command line"));
    crate::notify::emit(
        &mut tx,
        &d.event(
            crate::notify::EventKind::KillSwitch,
            format!("kill:{}", row.id),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

/// Lifts the kill switch; true when one was in force.
pub async fn clear_halt(pool: &PgPool) -> Result<bool, DbError> {
    let mut tx = pool.begin().await?;
    let lifted: Vec<i64> = sqlx::query_scalar(
        "UPDATE trading_halts SET cleared_at = now() WHERE cleared_at IS NULL RETURNING id",
    )
    .fetch_all(&mut *tx)
    .await?;
    let n = lifted.len();
    for id in lifted {
        let d = crate::notify::compose::Draft::new("Kill switch lifted").line(
            "Accounts it halted trade again from their next step; an owner's own halt stays.",
        );
        crate::notify::emit(
            &mut tx,
            &d.event(crate::notify::EventKind::KillSwitch, format!("resume:{id}")),
        )
        .await?;
    }
    sqlx::query("SELECT pg_notify($1, 'resume')")
        .bind(HALT_CHANNEL)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(n > 0)
}

/// The newest bar each series has a candidate for.
pub async fn scanned_until(
    pool: &PgPool,
    series: &[i32],
) -> Result<std::collections::HashMap<i32, TimeMs>, DbError> {
    let rows: Vec<(i32, i64)> = sqlx::query_as(
        "SELECT series_id, max(bar_time) FROM signal_candidates WHERE series_id = ANY($1) GROUP BY series_id",
    )
    .bind(series)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().collect())
}

/// The newest stored bar of each series.
pub async fn last_bars(
    pool: &PgPool,
    series: &[i32],
) -> Result<std::collections::HashMap<i32, TimeMs>, DbError> {
    let rows: Vec<(i32, i64)> = sqlx::query_as(
        "SELECT series_id, max(open_time) FROM candles WHERE series_id = ANY($1) GROUP BY series_id",
    )
    .bind(series)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().collect())
}

/// The bars of `series` opening at `time`.
pub async fn bars_at(
    pool: &PgPool,
    series: &[i32],
    time: TimeMs,
) -> Result<Vec<(i32, engine::Candle)>, DbError> {
    let rows: Vec<(i32, i64, f64, f64, f64, f64, f64)> = sqlx::query_as(
        "SELECT series_id, open_time, open, high, low, close, volume FROM candles
         WHERE series_id = ANY($1) AND open_time = $2",
    )
    .bind(series)
    .bind(time)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(s, open_time, open, high, low, close, volume)| {
            (
                s,
                engine::Candle {
                    open_time,
                    open,
                    high,
                    low,
                    close,
                    volume,
                },
            )
        })
        .collect())
}

/// The first bar time after `after` among `series`.
pub async fn next_bar(
    pool: &PgPool,
    series: &[i32],
    after: TimeMs,
) -> Result<Option<TimeMs>, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT min(open_time) FROM candles WHERE series_id = ANY($1) AND open_time > $2",
    )
    .bind(series)
    .bind(after)
    .fetch_one(pool)
    .await?)
}
