//! A paper account's broker: a Binance USDⓈ-M or Alpaca connection whose
//! orders follow the account's, step by step, in the step's own
//! transaction.
//!
//! - **Dry-run** (every connection starts so): each order the account
//!   places — entries, take-profits, stops, exits — is checked with the
//!   venue and journaled as validated or refused with the venue's reason;
//!   nothing is placed. Binance signs and validates it (`POST
//!   /fapi/v1/order/test`); Alpaca has no test endpoint, so the order is
//!   checked against the asset (`/v2/assets`: tradable, shortable) and the
//!   account (shorting enabled) as the live side would send it — in whole
//!   shares, its exits as one-cancels-other pairs.
//! - **Live** (an admin's switch, recorded with who and when): the
//!   account is the shadow of a [`LiveAccount`]; after each step the venue
//!   side places, moves and cancels real orders, looks up the fills the
//!   venue made since the last step, and journals its trades and where
//!   they part from the account's own (what the backtester predicted).
//!   Positions the account held on paper at the switch stay paper-only.
//!
//! Keys are sealed at rest ([`crate::secrets`]); they are opened only to
//! sign, never logged (`Credentials` does not print) and never returned.
//! A venue that fails never fails the account's step: the failure is
//! journaled and the next step tries again. Reconciliation runs at the
//! first step of each process (a reconnect): orders and positions the
//! account did not make are journaled and left alone.

use crate::db::venue::{self as db, ConnectionRow};
use crate::secrets::{self, SecretError};
use anyhow::{Context, bail};
use engine::TimeMs;
use rust_decimal::Decimal;
use serde_json::json;
use sqlx::{PgPool, Postgres, Transaction};
use std::collections::{HashMap, HashSet};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;
use trading::execution::ExecutionClient;
use trading::live::{self, ExitStyle, LiveAccount, Note, VenueRules};
use trading::matcher::{AccountEvent, PaperAccount};
use trading::order::{OrderEvent, OrderSide, Purpose};
use venues::alpaca::{AlpacaAccount, AlpacaTrading, Keys};
use venues::binance::usdm::{Credentials, UsdmAccount, UsdmClient};

pub const BINANCE_USDM: &str = "binance-usdm";
pub const ALPACA: &str = venues::alpaca::VENUE;
/// The venues a paper account can follow its orders at.
pub const VENUES: [&str; 2] = [BINANCE_USDM, ALPACA];
pub const DEFAULT_BASE: &str = "https://fapi.binance.com";

/// Where a venue's API is unless the connection says otherwise (Alpaca:
/// paper trading).
pub fn default_base(venue: &str) -> &'static str {
    if venue == ALPACA {
        venues::alpaca::PAPER_BASE
    } else {
        DEFAULT_BASE
    }
}

/// What a venue allows that the live side must respect: Alpaca holds the
/// shares of resting exits and has no reduce-only orders, so exits go as
/// one-cancels-other pairs in whole shares, and it reports no realised
/// P&L per fill.
pub fn rules(venue: &str) -> VenueRules {
    if venue == ALPACA {
        VenueRules {
            exits: ExitStyle::Oco,
            lot: Some(Decimal::ONE),
            own_pnl: true,
        }
    } else {
        VenueRules::default()
    }
}

/// An opened connection.
enum Broker {
    Usdm(UsdmClient),
    Alpaca(AlpacaTrading),
}

/// What connecting needs (the secret only passes through).
#[derive(Clone)]
pub struct Connect {
    pub venue: String,
    pub base_url: Option<String>,
    pub api_key: String,
    pub api_secret: String,
}

impl std::fmt::Debug for Connect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connect")
            .field("venue", &self.venue)
            .field("base_url", &self.base_url)
            .field("api_key", &secrets::hint(&self.api_key))
            .finish_non_exhaustive()
    }
}

fn context(account_id: i64, what: &str) -> String {
    format!("venue:{account_id}:{what}")
}

/// Checks the keys with the venue (its clock, then a signed balance read)
/// and stores them sealed, in dry-run.
pub async fn connect(pool: &PgPool, account_id: i64, c: &Connect) -> anyhow::Result<ConnectionRow> {
    if !VENUES.contains(&c.venue.as_str()) {
        bail!(
            "venue: {:?} is not supported ({} are)",
            c.venue,
            VENUES.join(", ")
        );
    }
    if c.api_key.trim().is_empty() || c.api_secret.trim().is_empty() {
        bail!("api_key and api_secret: both are needed");
    }
    let sealer = secrets::sealer()?;
    let base = c
        .base_url
        .as_deref()
        .unwrap_or(default_base(&c.venue))
        .trim_end_matches('/');
    if !(base.starts_with("https://")
        || base.starts_with("http://127.0.0.1")
        || base.starts_with("http://localhost"))
    {
        bail!("base_url: {base:?} must be https (plain http only to this machine)");
    }
    if c.venue == ALPACA {
        let client = AlpacaTrading::new(
            base,
            Keys::new(c.api_key.trim(), c.api_secret.trim()),
            Duration::from_secs(10),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let a = client
            .account()
            .await
            .map_err(|e| anyhow::anyhow!("the venue refused the keys: {e}"))?;
        if a.status != "ACTIVE" || a.trading_blocked || a.account_blocked {
            bail!(
                "the Alpaca account {} cannot trade (status {}{}{})",
                a.account_number.unwrap_or(a.id),
                a.status,
                if a.trading_blocked {
                    ", trading blocked"
                } else {
                    ""
                },
                if a.account_blocked {
                    ", account blocked"
                } else {
                    ""
                }
            );
        }
    } else {
        let client = UsdmClient::new(
            base,
            Credentials::new(c.api_key.trim(), c.api_secret.trim()),
            5000,
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        client
            .sync_time()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        client
            .balances()
            .await
            .map_err(|e| anyhow::anyhow!("the venue refused the keys: {e}"))?;
    }
    let key = sealer.seal(c.api_key.trim(), &context(account_id, "api_key"));
    let secret = sealer.seal(c.api_secret.trim(), &context(account_id, "api_secret"));
    let row = db::insert(
        pool,
        account_id,
        &c.venue,
        base,
        &secrets::hint(c.api_key.trim()),
        &key,
        &secret,
    )
    .await?
    .context("the account already has a venue connection; remove it first")?;
    tracing::info!(account = account_id, venue = %c.venue, key = %row.key_hint, "venue connected (dry-run)");
    Ok(row)
}

/// Opens the sealed keys of `row` into a client.
fn client(row: &ConnectionRow) -> Result<Broker, String> {
    let sealer = secrets::sealer().map_err(|e: SecretError| e.to_string())?;
    let key = sealer
        .open(&row.api_key, &context(row.account_id, "api_key"))
        .map_err(|e| e.to_string())?;
    let secret = sealer
        .open(&row.api_secret, &context(row.account_id, "api_secret"))
        .map_err(|e| e.to_string())?;
    if row.venue == ALPACA {
        return AlpacaTrading::new(
            &row.base_url,
            Keys::new(key, secret),
            Duration::from_secs(10),
        )
        .map(Broker::Alpaca)
        .map_err(|e| e.to_string());
    }
    UsdmClient::new(&row.base_url, Credentials::new(key, secret), 5000)
        .map(Broker::Usdm)
        .map_err(|e| e.to_string())
}

/// Connections reconciled by this process (each process reconnects once).
static RECONCILED: LazyLock<Mutex<HashSet<i64>>> = LazyLock::new(Mutex::default);

fn first_time(id: i64) -> bool {
    RECONCILED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id)
}

/// The venue side of one account step (`events` is what the step did, `acct`
/// the account after it, `time` its close). Venue failures are journaled,
/// never returned; only the database can fail the step.
pub async fn follow(
    tx: &mut Transaction<'_, Postgres>,
    account_id: i64,
    acct: &PaperAccount,
    events: &[AccountEvent],
    time: TimeMs,
) -> anyhow::Result<()> {
    let Some((row, checkpoint)) = db::lock(tx, account_id).await? else {
        return Ok(());
    };
    let client = match client(&row) {
        Ok(c) => c,
        Err(e) => {
            db::journal(tx, row.id, time, "error", &json!({ "what": e })).await?;
            return Ok(());
        }
    };
    if row.mode != "live" {
        return match &client {
            Broker::Usdm(c) => dry_run(tx, &row, c, events, time).await,
            Broker::Alpaca(c) => dry_run_alpaca(tx, &row, c, events, time).await,
        };
    }
    let mut la: LiveAccount = match checkpoint
        .as_deref()
        .map(ciborium::from_reader::<LiveAccount, _>)
    {
        Some(Ok(l)) => l,
        Some(Err(e)) => {
            db::journal(
                tx,
                row.id,
                time,
                "error",
                &json!({ "what": format!("the venue checkpoint is unreadable: {e}") }),
            )
            .await?;
            return Ok(());
        }
        None => LiveAccount::new(acct, &format!("v{}", row.id)).with_rules(rules(&row.venue)),
    };
    let reconnect = first_time(row.id);
    let r = match client {
        Broker::Usdm(c) => {
            let venue = UsdmAccount::new(c);
            match venue.sync_time().await {
                Ok(_) => live_step(&mut la, &venue, acct, events, time, reconnect).await,
                Err(e) => Err(e.to_string()),
            }
        }
        Broker::Alpaca(c) => {
            let venue = AlpacaAccount::new(c);
            live_step(&mut la, &venue, acct, events, time, reconnect).await
        }
    };
    if let Err(e) = r {
        db::journal(tx, row.id, time, "error", &json!({ "what": e })).await?;
    }
    // The journal: notes and venue trades since the last step.
    for n in la.notes().iter().skip(row.noted.max(0) as usize) {
        let (kind, time) = match n {
            Note::Divergence { time, .. } => ("divergence", *time),
            Note::Refused { time, .. } => ("refused", *time),
            Note::Reconciled { time, .. } => ("reconciled", *time),
            Note::AnswerLost { time, .. } => ("answer_lost", *time),
        };
        db::journal(tx, row.id, time, kind, &serde_json::to_value(n)?).await?;
    }
    for t in la.trades().iter().skip(row.traded.max(0) as usize) {
        let at = t.exits.last().map_or(time, |e| e.time);
        db::journal(tx, row.id, at, "trade", &serde_json::to_value(t)?).await?;
    }
    let mut buf = Vec::new();
    ciborium::into_writer(&la, &mut buf).context("venue checkpoint")?;
    db::save(
        tx,
        row.id,
        &buf,
        la.notes().len() as i32,
        la.trades().len() as i32,
    )
    .await?;
    Ok(())
}

/// The orders a step placed.
fn submitted(events: &[AccountEvent]) -> Vec<&trading::order::Order> {
    events
        .iter()
        .filter_map(|e| match e {
            AccountEvent::Order {
                event: OrderEvent::Submitted,
                order,
                ..
            } => Some(&**order),
            _ => None,
        })
        .collect()
}

/// An order as the journal shows it.
fn order_json(r: &trading::order::OrderRequest) -> serde_json::Value {
    json!({
        "order": r.client_id, "symbol": r.symbol, "side": r.side.as_str(),
        "kind": r.kind.as_str(), "price": r.kind.price(), "qty": r.qty,
        "reduce_only": r.reduce_only, "purpose": r.purpose.label(),
    })
}

/// Every order the step placed, validated by the venue and not placed.
async fn dry_run(
    tx: &mut Transaction<'_, Postgres>,
    row: &ConnectionRow,
    client: &UsdmClient,
    events: &[AccountEvent],
    time: TimeMs,
) -> anyhow::Result<()> {
    let submitted = submitted(events);
    if submitted.is_empty() {
        return Ok(());
    }
    if let Err(e) = client.sync_time().await {
        db::journal(tx, row.id, time, "error", &json!({ "what": e.to_string() })).await?;
        return Ok(());
    }
    for o in submitted {
        let r = &o.request;
        let what = order_json(r);
        match client.test_order(r).await {
            Ok(()) => db::journal(tx, row.id, time, "validated", &what).await?,
            Err(e) => {
                let mut what = what;
                what["why"] = json!(e.to_string());
                db::journal(tx, row.id, time, "refused", &what).await?
            }
        }
    }
    Ok(())
}

/// Every order the step placed, checked against Alpaca's asset and account
/// as the live side would send it (Alpaca has no test-order endpoint).
async fn dry_run_alpaca(
    tx: &mut Transaction<'_, Postgres>,
    row: &ConnectionRow,
    client: &AlpacaTrading,
    events: &[AccountEvent],
    time: TimeMs,
) -> anyhow::Result<()> {
    let submitted = submitted(events);
    if submitted.is_empty() {
        return Ok(());
    }
    let account = match client.account().await {
        Ok(a) => a,
        Err(e) => {
            db::journal(tx, row.id, time, "error", &json!({ "what": e.to_string() })).await?;
            return Ok(());
        }
    };
    let mut assets = HashMap::new();
    for o in submitted {
        let r = &o.request;
        let mut what = order_json(r);
        what["checked"] = json!("asset and account (Alpaca has no test-order endpoint)");
        if !assets.contains_key(&r.symbol) {
            let a = client.asset(&r.symbol).await.map_err(|e| e.to_string());
            assets.insert(r.symbol.clone(), a);
        }
        let why = match &assets[&r.symbol] {
            Err(e) => Some(e.clone()),
            Ok(a) if !a.tradable || a.status != "active" => Some(format!(
                "{} is not tradable at Alpaca ({})",
                a.symbol, a.status
            )),
            Ok(_) if r.purpose == Purpose::Entry && r.qty.floor().is_zero() => Some(format!(
                "{} is under one share: exits go as one-cancels-other pairs, which take whole shares",
                r.qty
            )),
            Ok(a) if r.purpose == Purpose::Entry && r.side == OrderSide::Sell && !a.shortable => {
                Some(format!("{} cannot be sold short at Alpaca", a.symbol))
            }
            Ok(_)
                if r.purpose == Purpose::Entry
                    && r.side == OrderSide::Sell
                    && !account.shorting_enabled =>
            {
                Some("the Alpaca account cannot sell short (a margin account is needed)".into())
            }
            Ok(_) => None,
        };
        match why {
            None => {
                if r.purpose == Purpose::Entry {
                    what["live_qty"] = json!(r.qty.floor());
                }
                db::journal(tx, row.id, time, "validated", &what).await?
            }
            Some(why) => {
                what["why"] = json!(why);
                db::journal(tx, row.id, time, "refused", &what).await?
            }
        }
    }
    Ok(())
}

/// Live: reconcile on a reconnect, apply the fills made since the last
/// step, follow the account's step, and apply what that filled at once.
async fn live_step<C: ExecutionClient>(
    la: &mut LiveAccount,
    venue: &C,
    acct: &PaperAccount,
    events: &[AccountEvent],
    time: TimeMs,
    reconnect: bool,
) -> Result<(), String> {
    live::catch_up(la, venue, time)
        .await
        .map_err(|e| e.to_string())?;
    if reconnect {
        let snap = venue.snapshot().await.map_err(|e| e.to_string())?;
        let (_, cmds) = la.reconcile(&snap);
        live::execute(la, venue, time, cmds)
            .await
            .map_err(|e| e.to_string())?;
    }
    let cmds = la.on_step(acct, events, time).map_err(|e| e.to_string())?;
    live::execute(la, venue, time, cmds)
        .await
        .map_err(|e| e.to_string())?;
    live::catch_up(la, venue, time)
        .await
        .map_err(|e| e.to_string())
}

/// An admin's switch: live (`by`) or back to dry-run.
pub async fn set_mode(pool: &PgPool, account_id: i64, live_by: Option<&str>) -> anyhow::Result<()> {
    if !db::set_mode(pool, account_id, live_by).await? {
        bail!("paper account {account_id} has no venue connection");
    }
    let Some(row) = db::of_account(pool, account_id).await? else {
        return Ok(());
    };
    let mut tx = pool.begin().await?;
    let now = crate::time::now_ms();
    db::journal(
        &mut tx,
        row.id,
        now,
        "mode",
        &json!({ "mode": row.mode, "by": live_by }),
    )
    .await?;
    tx.commit().await?;
    tracing::warn!(account = account_id, mode = %row.mode, by = ?live_by, "venue mode changed");
    Ok(())
}
