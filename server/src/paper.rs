//! Paper accounts on a live clock: each account follows the signals of its
//! series on `trading::matcher::PaperAccount`, the engine's own book.
//!
//! A runner steps an account one bar close at a time, in the backtester's
//! order: when every series of the account has its bar for the close (or
//! is stale) and the scanner has judged it, the bars meet the book, the
//! account is marked, and each series' candidate may become an entry at the
//! next open. One step is one transaction (its orders, fills, ledger,
//! trades, equity, positions and the checkpoint), so after `kill -9` the
//! account resumes from its last committed step and replays what followed
//! from the stored bars: the same state it would have had.
//!
//! The kill switch (`traderai kill`, `POST /api/v1/trading/halt`) is a row
//! every runner obeys (announced with NOTIFY): each account is halted,
//! flattened when asked, and stays halted until `traderai resume`.

use crate::config::{Settings, SignalGates};
use crate::db::paper::{self as db, AccountRow, NewAccount};
use anyhow::{Context, bail};
use engine::risk::RiskProfile;
use engine::{TimeMs, Timeframe};
use rust_decimal::Decimal;
use sqlx::PgPool;
use std::collections::HashMap;
use trading::matcher::{AccountEvent, PaperAccount};
use trading::risk::{HaltCause, HaltReason};

/// Which signals an account takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowMode {
    /// Every signal its profile accepts.
    All,
    /// Only these symbols'.
    Symbols(Vec<String>),
    /// None by itself ("Take" from the board).
    Manual,
}

impl FollowMode {
    pub fn as_str(&self) -> &'static str {
        match self {
            FollowMode::All => "all",
            FollowMode::Symbols(_) => "symbols",
            FollowMode::Manual => "manual",
        }
    }
}

/// What opening an account needs.
#[derive(Debug, Clone)]
pub struct OpenRequest {
    pub user_id: i64,
    pub name: String,
    pub capital: Decimal,
    pub profile: RiskProfile,
    pub follow: FollowMode,
    /// The followed series it trades (base timeframe); empty: every followed base series.
    pub series: Vec<i32>,
    /// Overrides the 2 % expected-net-profit gate (research accounts, as
    /// `traderai backtest --min-net-profit`).
    pub min_net_profit: Option<f64>,
}

/// The engine configuration of an account: its capital and profile, the
/// costs of its exchange.
pub fn config_for(
    settings: &Settings,
    exchange: &str,
    capital: f64,
    profile: RiskProfile,
    min_net_profit: Option<f64>,
) -> engine::backtest::BacktestConfig {
    let trader = crate::config::Trader {
        profile,
        capital,
        min_net_profit,
    };
    let mut cfg = settings.backtest_config(&trader, exchange);
    // Stock accounts' time stops count the hours the market is open.
    if exchange == venues::stocks::EXCHANGE {
        cfg.calendar = engine::calendar::Calendar::Xnys;
    }
    cfg
}

/// Opens an account on the followed base series (or those asked for); it
/// decides from the next close on. Opened during a global halt, it starts halted.
pub async fn open(
    pool: &PgPool,
    settings: &Settings,
    r: &OpenRequest,
) -> anyhow::Result<AccountRow> {
    if r.name.trim().is_empty() || r.name.len() > 100 {
        bail!("name: 1 to 100 characters");
    }
    if r.capital <= Decimal::ZERO {
        bail!("capital: must be positive (got {})", r.capital);
    }
    let all = crate::db::candles::list_series(pool).await?;
    let followed = crate::db::follow::states(pool).await?;
    let mut ids: Vec<i32> = if r.series.is_empty() {
        followed
            .values()
            .filter(|f| f.role == "base")
            .map(|f| f.series_id)
            .collect()
    } else {
        r.series.clone()
    };
    ids.sort_unstable();
    ids.dedup();
    let series: Vec<_> = ids
        .iter()
        .map(|id| {
            all.iter()
                .find(|s| s.id == *id)
                .with_context(|| format!("series {id}: not stored"))
        })
        .collect::<anyhow::Result<_>>()?;
    let Some(first) = series.first() else {
        bail!(
            "no followed series to trade: follow a universe first ([follow] in the config, or Admin → System)"
        );
    };
    let tf = first.key.timeframe;
    if let Some(other) = series.iter().find(|s| s.key.timeframe != tf) {
        bail!(
            "an account trades one timeframe: {} is {}, {} is {}",
            first.label(),
            tf,
            other.label(),
            other.key.timeframe
        );
    }
    let symbols: Vec<String> = series.iter().map(|s| s.key.symbol.to_string()).collect();
    if let FollowMode::Symbols(only) = &r.follow
        && let Some(bad) = only.iter().find(|s| !symbols.contains(s))
    {
        bail!(
            "symbols: {bad} is not among the account's series ({})",
            symbols.join(", ")
        );
    }
    let capital: f64 = trading::ledger::to_f64(r.capital);
    let cfg = config_for(
        settings,
        &first.key.exchange,
        capital,
        r.profile,
        r.min_net_profit,
    );
    let mut acct = PaperAccount::new(cfg, symbols.clone(), tf.duration_ms(), "p");
    // It decides from the next close: everything stored so far is history.
    let last = db::last_bars(pool, &ids).await?;
    let applied_until = last.values().copied().max().unwrap_or(0);
    for (k, id) in ids.iter().enumerate() {
        let from =
            applied_until - (acct.cfg.guards.correlation_window as i64 + 2) * tf.duration_ms();
        let closes = crate::db::candles::read_range(pool, *id, from, applied_until + 1).await?;
        acct.warm(k, &closes);
    }
    if let Some(h) = db::active_halt(pool).await? {
        acct.halt(kill_reason(&h), false, applied_until + tf.duration_ms())?;
    }
    let follow_symbols = match &r.follow {
        FollowMode::Symbols(s) => s.clone(),
        _ => Vec::new(),
    };
    let row = db::create(
        pool,
        &NewAccount {
            user_id: r.user_id,
            name: r.name.trim(),
            capital: r.capital,
            profile: r.profile.as_str(),
            follow_mode: r.follow.as_str(),
            symbols: &follow_symbols,
            series_ids: &ids,
            timeframe: &tf.to_string(),
            applied_until,
        },
        &acct,
    )
    .await?;
    // Order ids are unique per account: its id is their prefix.
    let mut tx = pool.begin().await?;
    if let Some((row, mut acct)) = db::lock(&mut tx, row.id, true).await? {
        acct.set_prefix(&format!("p{}", row.id));
        save(&mut tx, &row, &acct, &[], row.applied_until).await?;
    }
    tx.commit().await?;
    db::get(pool, row.id).await?.context("account vanished")
}

fn kill_reason(h: &db::HaltRow) -> HaltReason {
    HaltReason {
        cause: HaltCause::KillSwitch,
        detail: match &h.by_user {
            Some(by) => format!("{} (by {by})", h.reason),
            None => h.reason.clone(),
        },
        at: h.created_at.timestamp_millis(),
    }
}

/// Steps account `id` through every close that is ready; returns how many.
/// Another runner holding the account makes this a no-op.
pub async fn advance(pool: &PgPool, gates: &SignalGates, id: i64) -> anyhow::Result<usize> {
    let mut steps = 0;
    loop {
        let mut tx = pool.begin().await?;
        let Some((row, mut acct)) = db::lock(&mut tx, id, false).await? else {
            return Ok(steps);
        };
        let (tf_ms, at) = clock(&row, &acct)?;
        // The kill switch first: nothing new may open after it.
        let halt = db::active_halt(pool).await?;
        let mut events = obey_kill_switch(&mut acct, halt.as_ref(), at, false)?;
        let Some(t) = ready(pool, &row, tf_ms).await? else {
            if !events.is_empty() {
                save(&mut tx, &row, &acct, &events, at).await?;
                tx.commit().await?;
                steps += 1;
            }
            return Ok(steps);
        };
        let sources = step(pool, gates, &row, &mut acct, t, tf_ms, &mut events).await?;
        crate::venue::follow(&mut tx, id, &acct, &events, t + tf_ms).await?;
        db::write_step(&mut tx, id, &acct, &events, t, &sources).await?;
        tx.commit().await?;
        steps += 1;
    }
}

/// The next close the account can apply: the first stored bar after what
/// it applied, once every live series has reached it, the scanner has
/// judged every bar at it, and a perpetual's settlement due within the bar
/// is stored (the follower fetches it just after the bar).
async fn ready(pool: &PgPool, row: &AccountRow, tf_ms: TimeMs) -> anyhow::Result<Option<TimeMs>> {
    let Some(t) = db::next_bar(pool, &row.series_ids, row.applied_until).await? else {
        return Ok(None);
    };
    let last = db::last_bars(pool, &row.series_ids).await?;
    let scanned = db::scanned_until(pool, &row.series_ids).await?;
    let follow = crate::db::follow::states(pool).await?;
    let at_t = db::bars_at(pool, &row.series_ids, t).await?;
    let series = crate::db::candles::list_series(pool).await?;
    for s in &row.series_ids {
        let live = follow.get(s).is_some_and(|f| f.state == "live");
        let stale = follow.get(s).is_some_and(|f| f.state == "stale");
        if last.get(s).is_none_or(|l| *l < t) && !stale {
            // Its bar for this close has not arrived yet.
            return Ok(None);
        }
        let has_bar = at_t.iter().any(|(id, _)| id == s);
        if has_bar && scanned.get(s).is_none_or(|x| *x < t) {
            return Ok(None);
        }
        // A settlement due by the close must be stored first, unless the
        // follower is not live or has moved past the bar (then it is late, not coming).
        let Some(key) = series.iter().find(|x| x.id == *s).map(|x| &x.key) else {
            continue;
        };
        if has_bar && live && key.market == engine::Market::Futures && last.get(s) == Some(&t) {
            let sym = key.symbol.as_str();
            if let Some(newest) = crate::db::funding::newest(pool, &key.exchange, sym).await? {
                let every = crate::db::funding::interval_hours(pool, &key.exchange, sym).await?;
                let due = newest + (every * 3_600_000.0) as TimeMs;
                if due <= t + tf_ms {
                    return Ok(None);
                }
            }
        }
    }
    Ok(Some(t))
}

/// One close: the bars meet the book, the account is marked, then each
/// series' signal (if the account takes it) may become an entry.
async fn step(
    pool: &PgPool,
    gates: &SignalGates,
    row: &AccountRow,
    acct: &mut PaperAccount,
    t: TimeMs,
    tf_ms: TimeMs,
    events: &mut Vec<AccountEvent>,
) -> anyhow::Result<HashMap<String, String>> {
    let mut bars = db::bars_at(pool, &row.series_ids, t).await?;
    let index = |id: i32| row.series_ids.iter().position(|s| *s == id);
    bars.sort_by_key(|(id, _)| index(*id));
    let series = crate::db::candles::list_series(pool).await?;
    // Stored settlements where the perpetual has any (the bar's own, maybe
    // none), else the cost model's constant: the backtester's rule.
    let mut funding = Vec::with_capacity(bars.len());
    for (id, bar) in &bars {
        let s = series.iter().find(|s| s.id == *id);
        let rates = match s {
            Some(s) if s.key.market == engine::Market::Futures => {
                let (ex, sym) = (&s.key.exchange, s.key.symbol.as_str());
                match crate::db::funding::newest(pool, ex, sym).await? {
                    Some(_) => Some(
                        crate::db::funding::between(
                            pool,
                            ex,
                            sym,
                            bar.open_time,
                            bar.open_time + tf_ms,
                        )
                        .await?
                        .unwrap_or_default(),
                    ),
                    None => None,
                }
            }
            _ => None,
        };
        funding.push(rates);
    }
    let input: Vec<_> = bars
        .iter()
        .zip(&funding)
        .filter_map(|((id, bar), f)| index(*id).map(|k| (k, *bar, f.as_deref())))
        .collect();
    events.extend(acct.on_bars(&input, tf_ms)?);
    let mut sources = HashMap::new();
    for (id, bar) in &bars {
        let Some(k) = index(*id) else { continue };
        let candidate = crate::db::signals::of_series(pool, *id, t)
            .await?
            .into_iter()
            .find(|c| c.new.bar_time == t);
        let symbol = acct.symbols()[k].clone();
        let takes = match row.follow_mode.as_str() {
            "all" => true,
            "symbols" => row.symbols.contains(&symbol),
            _ => false,
        };
        let pred = candidate.as_ref().filter(|_| takes).and_then(|c| {
            // An uncalibrated fire's confidence is a raw score: never traded.
            if c.new.blocked.is_some() || c.new.uncalibrated.is_some() {
                return None;
            }
            let p = c.new.prediction?;
            // The board's higher-timeframe and regime gates apply to the account too.
            match p.side() {
                Some(side) if crate::signals::confirmation(c, side, gates).is_some() => None,
                _ => Some(p),
            }
        });
        if let Some(c) = &candidate {
            sources.insert(symbol, c.new.model_label.clone());
        }
        let atr = candidate.as_ref().and_then(|c| c.new.atr);
        events.extend(acct.on_close(k, bar, pred.as_ref(), atr)?);
    }
    Ok(sources)
}

/// Engages the global kill switch and applies it to every account now.
pub async fn kill(
    pool: &PgPool,
    reason: &str,
    flatten: bool,
    by: Option<&str>,
) -> anyhow::Result<db::HaltRow> {
    let h = db::insert_halt(pool, reason, flatten, by).await?;
    for a in db::list(pool, None).await? {
        apply_now(pool, a.id).await?;
    }
    Ok(h)
}

/// Lifts the global kill switch; accounts resume at their next step.
pub async fn resume(pool: &PgPool) -> anyhow::Result<bool> {
    let lifted = db::clear_halt(pool).await?;
    for a in db::list(pool, None).await? {
        apply_now(pool, a.id).await?;
    }
    Ok(lifted)
}

/// Applies the kill switch state to one account, waiting for its lock.
async fn apply_now(pool: &PgPool, id: i64) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    let Some((row, mut acct)) = db::lock(&mut tx, id, true).await? else {
        return Ok(());
    };
    let (_, at) = clock(&row, &acct)?;
    let halt = db::active_halt(pool).await?;
    let events = obey_kill_switch(&mut acct, halt.as_ref(), at, true)?;
    if !events.is_empty() {
        save(&mut tx, &row, &acct, &events, at).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The account's bar length and "now" on its own clock (the close it last marked).
fn clock(row: &AccountRow, acct: &PaperAccount) -> anyhow::Result<(TimeMs, TimeMs)> {
    let tf_ms = Timeframe::parse(&row.timeframe)
        .map_err(|e| {
            anyhow::anyhow!(
                "paper account {}: timeframe {:?}: {e}",
                row.id,
                row.timeframe
            )
        })?
        .duration_ms();
    Ok((
        tf_ms,
        acct.marked().map_or(row.applied_until + tf_ms, |m| m.0),
    ))
}

/// The kill switch in force (or lifted) applied to one account. An account
/// halted already — by the switch or by its owner, whose halt the switch
/// leaves be — changes only when the switch is being engaged with flatten
/// (its positions close); lifting the switch resumes only what it halted.
fn obey_kill_switch(
    acct: &mut PaperAccount,
    halt: Option<&db::HaltRow>,
    at: TimeMs,
    engaging: bool,
) -> anyhow::Result<Vec<AccountEvent>> {
    let cause = acct.halt_reason().map(|h| h.cause.clone());
    Ok(match (halt, cause) {
        (Some(h), Some(HaltCause::KillSwitch | HaltCause::Owner)) if !(engaging && h.flatten) => {
            Vec::new()
        }
        (Some(h), _) => acct.halt(kill_reason(h), h.flatten, at)?,
        (None, Some(HaltCause::KillSwitch)) => acct.resume(at),
        _ => Vec::new(),
    })
}

/// Writes a step that applied no bar (opening, a halt, a resume) at `at`;
/// a venue connection follows it.
async fn save(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    row: &AccountRow,
    acct: &PaperAccount,
    events: &[AccountEvent],
    at: TimeMs,
) -> anyhow::Result<()> {
    if !events.is_empty() {
        crate::venue::follow(tx, row.id, acct, events, at).await?;
    }
    db::write_step(tx, row.id, acct, events, row.applied_until, &HashMap::new()).await?;
    Ok(())
}

/// The owner halts (optionally flattening) or resumes one account.
pub async fn halt_account(
    pool: &PgPool,
    id: i64,
    reason: Option<&str>,
    flatten: bool,
) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    let Some((row, mut acct)) = db::lock(&mut tx, id, true).await? else {
        bail!("paper account {id}: not found");
    };
    let (_, at) = clock(&row, &acct)?;
    let events = match reason {
        Some(r) => acct.halt(
            HaltReason {
                cause: HaltCause::Owner,
                detail: r.to_string(),
                at,
            },
            flatten,
            at,
        )?,
        None => {
            if db::active_halt(pool).await?.is_some() {
                bail!(
                    "the global kill switch is engaged; an admin must lift it first (traderai resume)"
                );
            }
            acct.resume(at)
        }
    };
    save(&mut tx, &row, &acct, &events, at).await?;
    tx.commit().await?;
    Ok(())
}

/// Steps every account at each stored bar's tick, each candidate
/// announcement and each halt, until `stop`; a slow timer covers missed
/// notifications. Several processes may run it: an account is stepped by
/// whichever locks it.
pub async fn run(pool: PgPool, gates: SignalGates, mut stop: tokio::sync::watch::Receiver<bool>) {
    use sqlx::postgres::PgListener;
    const FALLBACK: std::time::Duration = std::time::Duration::from_secs(30);
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "paper: LISTEN connection failed; retrying");
                tokio::select! { _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}, _ = stop.changed() => return }
                continue;
            }
        };
        let channels = [
            crate::db::signals::NOTIFY_CHANNEL,
            crate::db::candles::TICK_CHANNEL,
            crate::db::funding::NOTIFY_CHANNEL,
            db::HALT_CHANNEL,
        ];
        if let Err(e) = listener.listen_all(channels).await {
            tracing::warn!(error = %e, "paper: LISTEN failed; retrying");
            tokio::select! { _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}, _ = stop.changed() => return }
            continue;
        }
        loop {
            match db::list(&pool, None).await {
                Ok(accounts) => {
                    for a in accounts {
                        match advance(&pool, &gates, a.id).await {
                            Ok(0) => {}
                            Ok(n) => {
                                tracing::debug!(account = a.id, steps = n, "paper account stepped")
                            }
                            Err(e) => {
                                tracing::error!(account = a.id, error = %format!("{e:#}"), "paper account step failed")
                            }
                        }
                    }
                }
                Err(e) => tracing::error!(error = %e, "paper: listing accounts failed"),
            }
            tokio::select! {
                n = listener.recv() => match n {
                    Ok(_) => {
                        while let Ok(Ok(_)) = tokio::time::timeout(std::time::Duration::from_millis(5), listener.recv()).await {}
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "paper: LISTEN connection lost; reconnecting");
                        break;
                    }
                },
                _ = tokio::time::sleep(FALLBACK) => {}
                _ = stop.changed() => return,
            }
        }
    }
}

/// What a "Take" did on one account.
#[derive(Debug, Clone, PartialEq)]
pub struct Taken {
    pub account: i64,
    pub accepted: bool,
    /// Why it was refused (the gate, the guard, the state, or a late take).
    pub reason: Option<String>,
}

/// The owner takes candidate `candidate_id` on each of their accounts that
/// trade its series and do not take its signals by themselves (manual, or
/// a symbol list without it). Only at the close just applied: an account
/// that has applied a later bar refuses (its entry would not be the plan's).
pub async fn take(pool: &PgPool, user_id: i64, candidate_id: i64) -> anyhow::Result<Vec<Taken>> {
    let c = crate::db::signals::by_id(pool, candidate_id)
        .await?
        .with_context(|| format!("signal candidate {candidate_id}: not found"))?;
    let Some(pred) = c.new.prediction else {
        bail!("candidate {candidate_id} has no prediction to take (no setup at its bar)");
    };
    if let Some((kind, why)) = &c.new.blocked {
        bail!("candidate {candidate_id} is blocked ({kind}: {why})");
    }
    if let Some(why) = &c.new.uncalibrated {
        bail!("candidate {candidate_id}'s confidence is uncalibrated ({why}): nothing to take");
    }
    let mut out = Vec::new();
    for a in db::list(pool, Some(user_id)).await? {
        let Some(k) = a.series_ids.iter().position(|s| *s == c.new.series_id) else {
            continue;
        };
        let automatic = match a.follow_mode.as_str() {
            "all" => true,
            "symbols" => a.symbols.contains(&c.symbol),
            _ => false,
        };
        if automatic {
            continue;
        }
        let mut tx = pool.begin().await?;
        let Some((row, mut acct)) = db::lock(&mut tx, a.id, true).await? else {
            continue;
        };
        let bars = db::bars_at(pool, &[c.new.series_id], c.new.bar_time).await?;
        let Some((_, bar)) = bars.first() else {
            continue;
        };
        match acct.take(k, bar, &pred, c.new.atr) {
            Ok(events) => {
                let accepted = events
                    .iter()
                    .any(|e| matches!(e, AccountEvent::Decision { accepted: true, .. }));
                let reason = events.iter().find_map(|e| match e {
                    AccountEvent::Decision { reason, .. } => reason.clone(),
                    _ => None,
                });
                let sources =
                    HashMap::from([(c.symbol.clone(), format!("taken: {}", c.new.model_label))]);
                let at = acct.marked().map_or(row.applied_until, |m| m.0);
                crate::venue::follow(&mut tx, row.id, &acct, &events, at).await?;
                db::write_step(&mut tx, row.id, &acct, &events, row.applied_until, &sources)
                    .await?;
                tx.commit().await?;
                out.push(Taken {
                    account: row.id,
                    accepted,
                    reason,
                });
            }
            Err(trading::matcher::PaperError::Refused(why)) => out.push(Taken {
                account: row.id,
                accepted: false,
                reason: Some(why),
            }),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}
