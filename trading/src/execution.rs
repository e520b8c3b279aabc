//! `ExecutionClient`: what a venue (the paper venue, Binance USDⓈ-M,
//! Alpaca) does for an account — open and cancel orders, list what is
//! open, report trades, give a snapshot of the account, and stream what
//! happens — as a trait over plain values, so the trading core stays free
//! of I/O and any async runtime (its futures are plain `std` futures).
//!
//! Reconciliation ([`reconcile`]): on every (re)connect a client's owner
//! opens the event stream, then takes a snapshot and the trades since the
//! last one it applied; orders and positions the account does not know are
//! reported, never adopted or closed silently.
//!
//! Anchors: barter-rs `barter-execution/src/client/mod.rs`;
//! nautilus_trader `crates/live/src/execution/manager.rs` (reconciliation).

use crate::order::{OrderEvent, OrderKind, OrderRequest, OrderSide, OrderStatus};
use engine::TimeMs;
use engine::costs::Liquidity;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::future::Future;

/// An order as the venue holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VenueOrder {
    /// Ours (`newClientOrderId`); orders placed by someone else carry theirs.
    pub client_id: String,
    pub venue_id: String,
    pub symbol: String,
    pub side: OrderSide,
    pub kind: OrderKind,
    pub qty: Decimal,
    pub filled: Decimal,
    pub reduce_only: bool,
    pub status: OrderStatus,
    pub time: TimeMs,
}

/// One fill, as the venue reports it (`/fapi/v1/userTrades`, `ORDER_TRADE_UPDATE`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VenueTrade {
    pub trade_id: String,
    pub client_id: String,
    pub symbol: String,
    pub side: OrderSide,
    pub qty: Decimal,
    pub price: Decimal,
    /// Commission paid (positive), in the quote asset.
    pub fee: Decimal,
    pub liquidity: Liquidity,
    /// The P&L the venue says this fill realised.
    pub realized_pnl: Decimal,
    pub time: TimeMs,
}

/// A funding settlement the venue booked on a position (Binance income
/// `FUNDING_FEE`): `amount` added to the wallet (a payment is negative).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FundingPayment {
    pub symbol: String,
    pub time: TimeMs,
    pub amount: Decimal,
}

/// An open position: `qty` signed (short < 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VenuePosition {
    pub symbol: String,
    pub qty: Decimal,
    pub entry_price: Decimal,
    pub leverage: u32,
}

/// The account as the venue sees it at `time`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AccountSnapshot {
    pub time: TimeMs,
    /// Wallet balance of the margin asset (USDT).
    pub balance: Decimal,
    pub available: Decimal,
    pub positions: Vec<VenuePosition>,
    pub open_orders: Vec<VenueOrder>,
}

/// What the venue streams.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VenueEvent {
    /// An order event (accepted, filled with its trade, canceled, expired, …).
    Order {
        time: TimeMs,
        client_id: String,
        symbol: String,
        event: OrderEvent,
        /// With a fill: the venue's realised P&L for it.
        realized_pnl: Option<Decimal>,
    },
    /// The wallet balance changed (`ACCOUNT_UPDATE`), with the venue's reason
    /// (`ORDER`, `FUNDING_FEE`, `DEPOSIT`, …).
    Balance {
        time: TimeMs,
        /// The symbol it is about (funding), when the venue says.
        symbol: Option<String>,
        balance: Decimal,
        /// What this event added (Binance `bc`).
        change: Decimal,
        reason: String,
    },
    /// A position's size after a change.
    Position {
        time: TimeMs,
        symbol: String,
        qty: Decimal,
        entry_price: Decimal,
    },
    /// The stream ended (disconnect, expired listen key): reconnect and reconcile.
    Disconnected { reason: String },
}

/// Why a venue call failed, in terms an account can act on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExecError {
    /// The venue refused this order or request; retrying the same will not help.
    #[error("{venue} refused it ({code}): {reason}")]
    Rejected {
        venue: &'static str,
        code: i64,
        reason: String,
    },
    /// A stop or take-profit whose trigger the price has already passed.
    #[error("{venue}: the order would trigger immediately: {reason}")]
    WouldTrigger { venue: &'static str, reason: String },
    /// Not enough margin for the order.
    #[error("{venue}: insufficient margin: {reason}")]
    InsufficientMargin { venue: &'static str, reason: String },
    /// No such order (already closed, or never placed).
    #[error("{venue}: unknown order {client_id}")]
    UnknownOrder {
        venue: &'static str,
        client_id: String,
    },
    /// The key, its permissions, the signature or the timestamp.
    #[error("{venue} refused the credentials: {reason}")]
    Auth { venue: &'static str, reason: String },
    /// No answer (timeout, connection lost): the outcome is unknown and the
    /// order must be looked up before anything else is sent for it.
    #[error("{venue} could not be reached: {reason}")]
    Unreachable { venue: &'static str, reason: String },
}

impl ExecError {
    /// The outcome is unknown (the request may have been carried out).
    pub fn is_unknown_outcome(&self) -> bool {
        matches!(self, ExecError::Unreachable { .. })
    }
}

/// A venue's answer to an accepted order.
#[derive(Debug, Clone, PartialEq)]
pub struct Ack {
    pub venue_id: String,
    pub status: OrderStatus,
    pub time: TimeMs,
}

/// What a venue does for one account.
pub trait ExecutionClient: Send + Sync {
    type Events: EventStream;

    /// The venue's name, for messages ("binance-usdm", "paper").
    fn venue(&self) -> &'static str;

    /// Places `order`. Fills arrive on the event stream (and in `trades_since`).
    fn open(&self, order: &OrderRequest) -> impl Future<Output = Result<Ack, ExecError>> + Send;

    /// Places an exit pair, one cancelling the other: `take_profit` (a
    /// limit) and `stop` (a stop) for the same quantity, held once — how a
    /// venue that holds the quantity of resting exits (Alpaca's `oco`)
    /// takes a take-profit and a stop together. Answers for both legs.
    /// Venues without such orders refuse it.
    fn open_oco(
        &self,
        take_profit: &OrderRequest,
        stop: &OrderRequest,
    ) -> impl Future<Output = Result<(Ack, Ack), ExecError>> + Send {
        let _ = (take_profit, stop);
        let venue = self.venue();
        async move {
            Err(ExecError::Rejected {
                venue,
                code: 0,
                reason: "this venue takes no one-cancels-other orders".into(),
            })
        }
    }

    /// Moves the trigger of our resting stop `client_id` in place (Alpaca's
    /// `PATCH /v2/orders`). Venues that cannot amend a stop refuse it.
    fn replace_stop(
        &self,
        symbol: &str,
        client_id: &str,
        trigger: Decimal,
    ) -> impl Future<Output = Result<Ack, ExecError>> + Send {
        let _ = (symbol, client_id, trigger);
        let venue = self.venue();
        async move {
            Err(ExecError::Rejected {
                venue,
                code: 0,
                reason: "this venue cannot move a resting stop".into(),
            })
        }
    }

    /// Cancels our order `client_id` on `symbol`.
    fn cancel(
        &self,
        symbol: &str,
        client_id: &str,
    ) -> impl Future<Output = Result<VenueOrder, ExecError>> + Send;

    /// One order by our id, open or not (what a lost answer is resolved by).
    fn order(
        &self,
        symbol: &str,
        client_id: &str,
    ) -> impl Future<Output = Result<VenueOrder, ExecError>> + Send;

    /// Every open order of the account.
    fn open_orders(&self) -> impl Future<Output = Result<Vec<VenueOrder>, ExecError>> + Send;

    /// Fills on `symbol` at or after `since`, oldest first.
    fn trades_since(
        &self,
        symbol: &str,
        since: TimeMs,
    ) -> impl Future<Output = Result<Vec<VenueTrade>, ExecError>> + Send;

    /// Funding settled on the account's positions at or after `since`, oldest first.
    fn funding_since(
        &self,
        since: TimeMs,
    ) -> impl Future<Output = Result<Vec<FundingPayment>, ExecError>> + Send;

    /// Balance, positions and open orders now.
    fn snapshot(&self) -> impl Future<Output = Result<AccountSnapshot, ExecError>> + Send;

    /// Opens the account's event stream (open it before the snapshot, so
    /// nothing falls between the two).
    fn events(&self) -> impl Future<Output = Result<Self::Events, ExecError>> + Send;
}

/// The account's events, in the venue's order.
pub trait EventStream: Send {
    /// The next event; `None` once the stream is closed for good.
    fn next(&mut self) -> impl Future<Output = Option<VenueEvent>> + Send;

    /// The next event already received, without waiting.
    fn try_next(&mut self) -> Option<VenueEvent>;
}

/// What a (re)connect found, beside what the account knows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reconciliation {
    /// Open at the venue, not ours: reported, left alone.
    pub unknown_orders: Vec<VenueOrder>,
    /// Positions the account does not hold (or of another size): reported, left alone.
    pub unknown_positions: Vec<VenuePosition>,
    /// Ours, open when we last knew, no longer open at the venue: look them
    /// up (`order`, `trades_since`) for what happened while away.
    pub gone: Vec<String>,
    /// The venue's wallet and the account's ledger disagree (venue, ours):
    /// something (funding, a fee) happened while the stream was away.
    pub balance_gap: Option<(Decimal, Decimal)>,
}

impl Reconciliation {
    pub fn is_clean(&self) -> bool {
        self.unknown_orders.is_empty()
            && self.unknown_positions.is_empty()
            && self.gone.is_empty()
            && self.balance_gap.is_none()
    }

    /// One line per finding, for the journal and notifications.
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        for o in &self.unknown_orders {
            out.push(format!(
                "an order the account did not place is open at the venue: {} {} {} {} ({}), left alone",
                o.symbol,
                o.side.as_str(),
                o.qty,
                o.kind.as_str(),
                o.client_id
            ));
        }
        for p in &self.unknown_positions {
            out.push(format!(
                "a position the account does not hold is open at the venue: {} {} at {}, left alone",
                p.symbol, p.qty, p.entry_price
            ));
        }
        if let Some((venue, ours)) = self.balance_gap {
            out.push(format!(
                "the venue's wallet holds {venue}, the ledger {ours}: {} unaccounted for",
                venue - ours
            ));
        }
        for id in &self.gone {
            out.push(format!(
                "order {id} is no longer open at the venue; its fills are looked up"
            ));
        }
        out
    }
}

/// Compares a snapshot with what the account holds: `ours` its open order
/// ids, `positions` its open quantity per symbol (signed).
pub fn reconcile(
    snapshot: &AccountSnapshot,
    ours: &[String],
    positions: &[(String, Decimal)],
) -> Reconciliation {
    let mut r = Reconciliation::default();
    for o in &snapshot.open_orders {
        if !ours.contains(&o.client_id) {
            r.unknown_orders.push(o.clone());
        }
    }
    for id in ours {
        if !snapshot.open_orders.iter().any(|o| &o.client_id == id) {
            r.gone.push(id.clone());
        }
    }
    for p in &snapshot.positions {
        let held = positions
            .iter()
            .find(|(s, _)| *s == p.symbol)
            .map_or(Decimal::ZERO, |x| x.1);
        if held != p.qty {
            r.unknown_positions.push(p.clone());
        }
    }
    r
}

/// `event` as a venue event for `order` (order events straight from the
/// venue's own names).
pub fn order_event(
    time: TimeMs,
    client_id: &str,
    symbol: &str,
    event: OrderEvent,
    realized_pnl: Option<Decimal>,
) -> VenueEvent {
    VenueEvent::Order {
        time,
        client_id: client_id.to_string(),
        symbol: symbol.to_string(),
        event,
        realized_pnl,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(id: &str) -> VenueOrder {
        VenueOrder {
            client_id: id.into(),
            venue_id: "1".into(),
            symbol: "BTC/USDT".into(),
            side: OrderSide::Sell,
            kind: OrderKind::Limit {
                price: Decimal::ONE_HUNDRED,
            },
            qty: Decimal::ONE,
            filled: Decimal::ZERO,
            reduce_only: true,
            status: OrderStatus::Accepted,
            time: 0,
        }
    }

    #[test]
    fn reconciliation_reports_what_it_does_not_know_and_what_went_away() {
        let snap = AccountSnapshot {
            open_orders: vec![order("ours-1"), order("manual-7")],
            positions: vec![
                VenuePosition {
                    symbol: "BTC/USDT".into(),
                    qty: Decimal::ONE,
                    entry_price: Decimal::ONE_HUNDRED,
                    leverage: 5,
                },
                VenuePosition {
                    symbol: "ETH/USDT".into(),
                    qty: -Decimal::TWO,
                    entry_price: Decimal::TEN,
                    leverage: 5,
                },
            ],
            ..AccountSnapshot::default()
        };
        let r = reconcile(
            &snap,
            &["ours-1".into(), "ours-2".into()],
            &[("BTC/USDT".into(), Decimal::ONE)],
        );
        assert_eq!(r.unknown_orders.len(), 1);
        assert_eq!(r.unknown_orders[0].client_id, "manual-7");
        assert_eq!(r.gone, vec!["ours-2".to_string()]);
        assert_eq!(r.unknown_positions.len(), 1);
        assert_eq!(r.unknown_positions[0].symbol, "ETH/USDT");
        let lines = r.describe();
        assert!(lines[0].contains("manual-7") && lines[0].contains("left alone"));
        assert!(!r.is_clean());
        assert!(reconcile(&AccountSnapshot::default(), &[], &[]).is_clean());
    }
}
