//! Orders and their events.
//!
//! An order moves through one status transition table ([`transition`]);
//! its events are named in the past tense as venues name them
//! (`OrderSubmitted`, `OrderAccepted`, `OrderRejected` by the venue,
//! `OrderDenied` by our own risk before it left, `OrderFilled`,
//! `OrderCanceled`, `OrderExpired`, and `OrderUpdated` when a resting
//! order's trigger moves). Applying an event the table does not allow is an
//! error that leaves the order unchanged; a fill whose trade id was already
//! applied, or that would fill more than the order's quantity, is refused
//! before it changes anything.
//!
//! Anchor: nautilus_trader `crates/model/src/orders/mod.rs` and
//! `crates/model/src/events/order/`.

use engine::TimeMs;
use engine::costs::Liquidity;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderSide {
    Buy,
    Sell,
}

impl OrderSide {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderSide::Buy => "buy",
            OrderSide::Sell => "sell",
        }
    }
}

/// What the order is, as venues take it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OrderKind {
    Market,
    /// Rests at `price`; fills as maker.
    Limit {
        price: Decimal,
    },
    /// Becomes a market order when the price reaches `trigger`.
    StopMarket {
        trigger: Decimal,
    },
    /// A market order on reaching a favourable `trigger`.
    TakeProfitMarket {
        trigger: Decimal,
    },
}

impl OrderKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            OrderKind::Market => "market",
            OrderKind::Limit { .. } => "limit",
            OrderKind::StopMarket { .. } => "stop_market",
            OrderKind::TakeProfitMarket { .. } => "take_profit_market",
        }
    }

    /// The limit price or the trigger.
    pub fn price(&self) -> Option<Decimal> {
        match *self {
            OrderKind::Market => None,
            OrderKind::Limit { price } => Some(price),
            OrderKind::StopMarket { trigger } | OrderKind::TakeProfitMarket { trigger } => {
                Some(trigger)
            }
        }
    }
}

/// Why an order exists (a plan's entry, one of its exits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Entry,
    /// Take-profit 1, 2 or 3.
    TakeProfit(u8),
    StopLoss,
    /// A market exit: time stop, liquidation, flatten.
    Exit,
}

impl Purpose {
    pub fn label(self) -> String {
        match self {
            Purpose::Entry => "entry".into(),
            Purpose::TakeProfit(n) => format!("tp{n}"),
            Purpose::StopLoss => "stop".into(),
            Purpose::Exit => "exit".into(),
        }
    }
}

/// A new order: what the account wants from a venue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderRequest {
    /// Ours, unique per account; venues echo it back (`clientOrderId`).
    pub client_id: String,
    pub symbol: String,
    pub side: OrderSide,
    pub kind: OrderKind,
    pub qty: Decimal,
    /// May only reduce a position (exits).
    pub reduce_only: bool,
    pub purpose: Purpose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Initialized,
    /// Refused by our own risk; never left.
    Denied,
    Submitted,
    Accepted,
    /// Refused by the venue.
    Rejected,
    PartiallyFilled,
    Filled,
    Canceled,
    Expired,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Initialized => "initialized",
            OrderStatus::Denied => "denied",
            OrderStatus::Submitted => "submitted",
            OrderStatus::Accepted => "accepted",
            OrderStatus::Rejected => "rejected",
            OrderStatus::PartiallyFilled => "partially_filled",
            OrderStatus::Filled => "filled",
            OrderStatus::Canceled => "canceled",
            OrderStatus::Expired => "expired",
        }
    }

    /// Nothing more will happen to it (but see the late fill in [`transition`]).
    pub fn is_closed(self) -> bool {
        matches!(
            self,
            OrderStatus::Denied
                | OrderStatus::Rejected
                | OrderStatus::Filled
                | OrderStatus::Canceled
                | OrderStatus::Expired
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderFilled {
    /// The venue's trade id: one fill, applied once.
    pub trade_id: String,
    pub qty: Decimal,
    pub price: Decimal,
    pub fee: Decimal,
    pub liquidity: Liquidity,
}

/// What happened to an order, in the past tense.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum OrderEvent {
    Submitted,
    Accepted {
        venue_id: Option<String>,
    },
    Rejected {
        reason: String,
    },
    Denied {
        reason: String,
    },
    Filled(OrderFilled),
    Canceled {
        reason: String,
    },
    Expired,
    /// A resting order's limit or trigger moved (a trailing stop).
    Updated {
        price: Decimal,
    },
}

impl OrderEvent {
    /// `OrderSubmitted`, `OrderFilled`, …: the event's name as venues say it.
    pub fn name(&self) -> &'static str {
        match self {
            OrderEvent::Submitted => "OrderSubmitted",
            OrderEvent::Accepted { .. } => "OrderAccepted",
            OrderEvent::Rejected { .. } => "OrderRejected",
            OrderEvent::Denied { .. } => "OrderDenied",
            OrderEvent::Filled(_) => "OrderFilled",
            OrderEvent::Canceled { .. } => "OrderCanceled",
            OrderEvent::Expired => "OrderExpired",
            OrderEvent::Updated { .. } => "OrderUpdated",
        }
    }
}

/// The status an event moves an order to, or `None` when the table forbids it.
/// `complete` says whether a fill completes the order's quantity.
pub fn transition(from: OrderStatus, event: &OrderEvent, complete: bool) -> Option<OrderStatus> {
    use OrderStatus as S;
    let fill = if complete {
        S::Filled
    } else {
        S::PartiallyFilled
    };
    Some(match (from, event) {
        (S::Initialized, OrderEvent::Denied { .. }) => S::Denied,
        (S::Initialized, OrderEvent::Submitted) => S::Submitted,
        (S::Submitted, OrderEvent::Accepted { .. }) => S::Accepted,
        (S::Submitted, OrderEvent::Rejected { .. }) => S::Rejected,
        // A market order's fill can reach the user stream before its
        // acknowledgement (Binance sends both at once, in any order).
        (S::Submitted, OrderEvent::Filled(_)) => fill,
        // IOC/GTX orders and self-trade prevention end before an ack.
        (S::Submitted, OrderEvent::Canceled { .. }) => S::Canceled,
        (S::Submitted, OrderEvent::Expired) => S::Expired,
        (S::Accepted | S::PartiallyFilled, OrderEvent::Filled(_)) => fill,
        (S::Accepted | S::PartiallyFilled, OrderEvent::Canceled { .. }) => S::Canceled,
        (S::Accepted | S::PartiallyFilled, OrderEvent::Expired) => S::Expired,
        (S::Accepted, OrderEvent::Updated { .. }) => S::Accepted,
        (S::PartiallyFilled, OrderEvent::Updated { .. }) => S::PartiallyFilled,
        // A trade that matched before the cancel reached the engine is
        // reported after the cancel's acknowledgement: the fill stands.
        (S::Canceled, OrderEvent::Filled(_)) if complete => S::Filled,
        (S::Canceled, OrderEvent::Filled(_)) => S::Canceled,
        _ => return None,
    })
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OrderError {
    #[error("order {id}: {event} is not allowed when {status}")]
    IllegalTransition {
        id: String,
        status: &'static str,
        event: &'static str,
    },
    #[error("order {id}: trade {trade_id} was already applied")]
    DuplicateTrade { id: String, trade_id: String },
    #[error("order {id}: a fill of {qty} would exceed the order's {open} still open")]
    Overfill {
        id: String,
        qty: Decimal,
        open: Decimal,
    },
    #[error("order {id}: a fill needs a positive quantity and price (got {qty} at {price})")]
    BadFill {
        id: String,
        qty: Decimal,
        price: Decimal,
    },
}

/// An order with its status, fills and history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub request: OrderRequest,
    pub status: OrderStatus,
    pub filled_qty: Decimal,
    /// Volume-weighted price of the fills.
    pub avg_price: Option<Decimal>,
    pub fees: Decimal,
    /// The limit or trigger now (moves with `OrderUpdated`).
    pub price: Option<Decimal>,
    pub venue_id: Option<String>,
    trade_ids: BTreeSet<String>,
    /// Every event applied, with its time.
    pub history: Vec<(TimeMs, OrderEvent)>,
}

impl Order {
    pub fn new(request: OrderRequest) -> Order {
        Order {
            price: request.kind.price(),
            request,
            status: OrderStatus::Initialized,
            filled_qty: Decimal::ZERO,
            avg_price: None,
            fees: Decimal::ZERO,
            venue_id: None,
            trade_ids: BTreeSet::new(),
            history: Vec::new(),
        }
    }

    pub fn id(&self) -> &str {
        &self.request.client_id
    }

    pub fn open_qty(&self) -> Decimal {
        self.request.qty - self.filled_qty
    }

    /// Applies `event` at `time`, or refuses it and changes nothing.
    pub fn apply(&mut self, time: TimeMs, event: OrderEvent) -> Result<OrderStatus, OrderError> {
        let mut complete = false;
        if let OrderEvent::Filled(f) = &event {
            let id = self.id().to_string();
            if self.trade_ids.contains(&f.trade_id) {
                return Err(OrderError::DuplicateTrade {
                    id,
                    trade_id: f.trade_id.clone(),
                });
            }
            if f.qty <= Decimal::ZERO || f.price <= Decimal::ZERO {
                return Err(OrderError::BadFill {
                    id,
                    qty: f.qty,
                    price: f.price,
                });
            }
            if f.qty > self.open_qty() {
                return Err(OrderError::Overfill {
                    id,
                    qty: f.qty,
                    open: self.open_qty(),
                });
            }
            complete = f.qty == self.open_qty();
        }
        let Some(next) = transition(self.status, &event, complete) else {
            return Err(OrderError::IllegalTransition {
                id: self.id().to_string(),
                status: self.status.as_str(),
                event: event.name(),
            });
        };
        match &event {
            OrderEvent::Filled(f) => {
                let value = self.avg_price.unwrap_or_default() * self.filled_qty + f.price * f.qty;
                self.filled_qty += f.qty;
                self.avg_price = Some(value / self.filled_qty);
                self.fees += f.fee;
                self.trade_ids.insert(f.trade_id.clone());
            }
            OrderEvent::Accepted { venue_id } => self.venue_id.clone_from(venue_id),
            OrderEvent::Updated { price } => self.price = Some(*price),
            _ => {}
        }
        self.status = next;
        self.history.push((time, event));
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn order(qty: Decimal) -> Order {
        Order::new(OrderRequest {
            client_id: "o-1".into(),
            symbol: "BTC/USDT".into(),
            side: OrderSide::Buy,
            kind: OrderKind::Limit { price: d("100") },
            qty,
            reduce_only: false,
            purpose: Purpose::Entry,
        })
    }

    fn fill(trade: &str, qty: Decimal) -> OrderEvent {
        OrderEvent::Filled(OrderFilled {
            trade_id: trade.into(),
            qty,
            price: d("100"),
            fee: d("0.01"),
            liquidity: Liquidity::Maker,
        })
    }

    #[test]
    fn the_happy_path_and_its_average_price() {
        let mut o = order(d("3"));
        o.apply(1, OrderEvent::Submitted).unwrap();
        o.apply(2, OrderEvent::Accepted { venue_id: None }).unwrap();
        assert_eq!(
            o.apply(3, fill("t1", d("1"))),
            Ok(OrderStatus::PartiallyFilled)
        );
        let f = OrderEvent::Filled(OrderFilled {
            trade_id: "t2".into(),
            qty: d("2"),
            price: d("103"),
            fee: d("0.02"),
            liquidity: Liquidity::Maker,
        });
        assert_eq!(o.apply(4, f), Ok(OrderStatus::Filled));
        assert_eq!(o.avg_price, Some(d("102")));
        assert_eq!(o.fees, d("0.03"));
        assert_eq!(o.history.len(), 4);
    }

    #[test]
    fn refused_events_change_nothing() {
        let mut o = order(d("2"));
        let before = o.clone();
        assert!(matches!(
            o.apply(1, fill("t1", d("1"))),
            Err(OrderError::IllegalTransition { .. })
        ));
        assert_eq!(o, before);
        o.apply(1, OrderEvent::Submitted).unwrap();
        o.apply(2, fill("t1", d("1"))).unwrap();
        let before = o.clone();
        assert!(matches!(
            o.apply(3, fill("t1", d("1"))),
            Err(OrderError::DuplicateTrade { .. })
        ));
        assert!(matches!(
            o.apply(3, fill("t2", d("1.5"))),
            Err(OrderError::Overfill { .. })
        ));
        assert!(matches!(
            o.apply(3, fill("t3", d("0"))),
            Err(OrderError::BadFill { .. })
        ));
        assert_eq!(o, before);
        // A fill racing a cancel still counts; nothing after a full fill does.
        o.apply(
            4,
            OrderEvent::Canceled {
                reason: "user".into(),
            },
        )
        .unwrap();
        assert_eq!(o.apply(5, fill("t4", d("1"))), Ok(OrderStatus::Filled));
        assert!(o.apply(6, OrderEvent::Expired).is_err());
    }

    fn any_event() -> impl Strategy<Value = OrderEvent> {
        prop_oneof![
            Just(OrderEvent::Submitted),
            Just(OrderEvent::Accepted { venue_id: None }),
            Just(OrderEvent::Rejected { reason: "r".into() }),
            Just(OrderEvent::Denied { reason: "d".into() }),
            Just(OrderEvent::Canceled { reason: "c".into() }),
            Just(OrderEvent::Expired),
            (1u32..500).prop_map(|p| OrderEvent::Updated {
                price: Decimal::from(p)
            }),
            // Few trade ids so duplicates happen; quantities up to above the order's.
            (0u8..6, 0u32..6).prop_map(|(t, q)| fill(&format!("t{t}"), Decimal::new(q.into(), 0))),
        ]
    }

    proptest! {
        #[test]
        fn no_illegal_state_is_reachable(events in prop::collection::vec(any_event(), 0..40)) {
            let mut o = order(d("4"));
            for (t, e) in events.into_iter().enumerate() {
                let before = o.clone();
                let from = o.status;
                match o.apply(t as TimeMs, e.clone()) {
                    Ok(to) => {
                        prop_assert!(transition(from, &e, to == OrderStatus::Filled).is_some());
                        prop_assert_eq!(o.history.len(), before.history.len() + 1);
                    }
                    Err(_) => prop_assert_eq!(&o, &before),
                }
                prop_assert!(o.filled_qty <= o.request.qty);
                prop_assert!(o.filled_qty >= Decimal::ZERO);
                // Filled exactly when the whole quantity is; partial only in between.
                prop_assert_eq!(o.status == OrderStatus::Filled, o.filled_qty == o.request.qty);
                if o.status == OrderStatus::PartiallyFilled {
                    prop_assert!(o.filled_qty > Decimal::ZERO);
                }
                // Denied or rejected orders never traded.
                if matches!(o.status, OrderStatus::Denied | OrderStatus::Rejected) {
                    prop_assert_eq!(o.filled_qty, Decimal::ZERO);
                }
                let fills = o.history.iter().filter(|(_, e)| matches!(e, OrderEvent::Filled(_))).count();
                prop_assert_eq!(fills, o.trade_ids.len());
            }
        }
    }
}
