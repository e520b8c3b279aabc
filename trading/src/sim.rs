//! A venue that matches orders against bars: the paper venue's engine and
//! the mock exchange's (which serves it over Binance's protocol), so a test
//! that follows a signal through either sees the same fills.
//!
//! It fills as the backtester assumes ([`engine::book`]), so that what a
//! test compares is the account and the client, not two fill models:
//! - a market order fills at once at the current price — the open of the
//!   bar forming now — with the cost model's slippage and taker fee;
//! - a closed bar is traded as the worst-case path for the position held:
//!   open → adverse extreme → favourable extreme → close; a stop fires at
//!   the first point past its trigger (at the open when it gapped), with
//!   slippage and taker fee; a resting limit fills at its own price at the
//!   favourable extreme when that reaches it — even when the bar opened
//!   beyond it, the adverse extreme comes first (touch fills, maker fee,
//!   no slippage);
//! - reduce-only orders never grow or flip a position, are cut to what is
//!   left, and expire when the position closes; a reduce-only limit is
//!   post-only (Binance `GTX`): one that would take at once expires;
//! - a stop whose trigger the price has already passed is refused
//!   ("would immediately trigger", Binance -2021), as is an order beyond
//!   the available margin (-2019).
//!
//! Funding settles on the open position at the rate given (`FUNDING_FEE`).

use crate::execution::{
    AccountSnapshot, Ack, ExecError, FundingPayment, VenueEvent, VenueOrder, VenuePosition,
    VenueTrade, order_event,
};
use crate::ledger::{money, to_f64};
use crate::order::{OrderEvent, OrderFilled, OrderKind, OrderRequest, OrderSide, OrderStatus};
use engine::costs::{CostModel, Liquidity};
use engine::{Candle, TimeMs};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SimConfig {
    pub costs: CostModel,
    /// Wallet balance at the start (USDT).
    pub balance: Decimal,
    /// Leverage of every symbol, for the margin check.
    pub leverage: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Market {
    /// The price now: the forming bar's open, or the last close.
    price: Option<f64>,
    /// Signed (short < 0).
    position: Decimal,
    entry: Decimal,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimVenue {
    venue: &'static str,
    cfg: SimConfig,
    balance: Decimal,
    markets: BTreeMap<String, Market>,
    /// Every order by our id, open or closed.
    orders: BTreeMap<String, VenueOrder>,
    /// Placement order of the open ones (they meet a bar first come, first served).
    queue: Vec<String>,
    trades: Vec<VenueTrade>,
    funding: Vec<FundingPayment>,
    events: Vec<VenueEvent>,
    next_id: u64,
    next_trade: u64,
    /// One-cancels-other pairs, both ways: a fill of either, or a cancel,
    /// closes the other (Alpaca's `oco` exits).
    #[serde(default)]
    links: BTreeMap<String, String>,
}

fn px(x: f64) -> Decimal {
    money(x).unwrap_or_default()
}

impl SimVenue {
    pub fn new(venue: &'static str, cfg: SimConfig) -> SimVenue {
        SimVenue {
            venue,
            balance: cfg.balance,
            cfg,
            markets: BTreeMap::new(),
            orders: BTreeMap::new(),
            queue: Vec::new(),
            trades: Vec::new(),
            funding: Vec::new(),
            events: Vec::new(),
            next_id: 1,
            next_trade: 1,
            links: BTreeMap::new(),
        }
    }

    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// The price of `symbol` from now on (the open of the bar forming).
    pub fn set_price(&mut self, symbol: &str, price: f64) {
        self.markets.entry(symbol.to_string()).or_default().price = Some(price);
    }

    pub fn price(&self, symbol: &str) -> Option<f64> {
        self.markets.get(symbol).and_then(|m| m.price)
    }

    /// Events since the last call, in the order they happened.
    pub fn take_events(&mut self) -> Vec<VenueEvent> {
        std::mem::take(&mut self.events)
    }

    fn rejected(&self, code: i64, reason: &str) -> ExecError {
        ExecError::Rejected {
            venue: self.venue,
            code,
            reason: reason.to_string(),
        }
    }

    /// Margin held by open positions.
    fn used_margin(&self) -> Decimal {
        let lev = Decimal::from(self.cfg.leverage.max(1));
        self.markets
            .values()
            .map(|m| m.position.abs() * m.entry / lev)
            .sum()
    }

    pub fn available(&self) -> Decimal {
        self.balance - self.used_margin()
    }

    /// Places `req` at `time`: refused, resting, or filled at once.
    pub fn submit(&mut self, time: TimeMs, req: &OrderRequest) -> Result<Ack, ExecError> {
        if self.orders.contains_key(&req.client_id) {
            return Err(self.rejected(-4116, "ClientOrderId is duplicated."));
        }
        if req.qty <= Decimal::ZERO {
            return Err(self.rejected(-4003, "Quantity less than or equal to zero."));
        }
        let Some(price) = self.price(&req.symbol) else {
            return Err(self.rejected(-1121, "Invalid symbol."));
        };
        let position = self
            .markets
            .get(&req.symbol)
            .map_or(Decimal::ZERO, |m| m.position);
        let buy = req.side == OrderSide::Buy;
        let reduces = (buy && position < Decimal::ZERO) || (!buy && position > Decimal::ZERO);
        if req.reduce_only && !reduces {
            return Err(self.rejected(-2022, "ReduceOnly Order is rejected."));
        }
        let trigger_passed = |t: Decimal| {
            let t = to_f64(t);
            match req.kind {
                OrderKind::StopMarket { .. } if buy => price >= t,
                OrderKind::StopMarket { .. } => price <= t,
                OrderKind::TakeProfitMarket { .. } if buy => price <= t,
                OrderKind::TakeProfitMarket { .. } => price >= t,
                _ => false,
            }
        };
        if let OrderKind::StopMarket { trigger } | OrderKind::TakeProfitMarket { trigger } =
            req.kind
            && trigger_passed(trigger)
        {
            return Err(ExecError::WouldTrigger {
                venue: self.venue,
                reason: "Order would immediately trigger.".into(),
            });
        }
        if !req.reduce_only {
            let at = req.kind.price().map_or(price, to_f64);
            let margin = req.qty * px(at) / Decimal::from(self.cfg.leverage.max(1));
            if margin > self.available() {
                return Err(ExecError::InsufficientMargin {
                    venue: self.venue,
                    reason: "Margin is insufficient.".into(),
                });
            }
        }
        let venue_id = self.next_id.to_string();
        self.next_id += 1;
        let order = VenueOrder {
            client_id: req.client_id.clone(),
            venue_id: venue_id.clone(),
            symbol: req.symbol.clone(),
            side: req.side,
            kind: req.kind,
            qty: req.qty,
            filled: Decimal::ZERO,
            reduce_only: req.reduce_only,
            status: OrderStatus::Accepted,
            time,
        };
        self.orders.insert(req.client_id.clone(), order);
        self.queue.push(req.client_id.clone());
        self.events.push(order_event(
            time,
            &req.client_id,
            &req.symbol,
            OrderEvent::Accepted {
                venue_id: Some(venue_id.clone()),
            },
            None,
        ));
        match req.kind {
            OrderKind::Market => {
                let fill = self.cfg.costs.fill_price(price, buy, Liquidity::Taker);
                self.fill(time, &req.client_id, fill, Liquidity::Taker);
            }
            OrderKind::Limit { price: limit } => {
                let crosses = if buy {
                    price <= to_f64(limit)
                } else {
                    price >= to_f64(limit)
                };
                if crosses && req.reduce_only {
                    // Post-only: it would take, so the venue expires it.
                    self.close(
                        time,
                        &req.client_id,
                        OrderStatus::Expired,
                        OrderEvent::Expired,
                    );
                } else if crosses {
                    self.fill(time, &req.client_id, price, Liquidity::Taker);
                }
            }
            _ => {}
        }
        let status = self.orders[&req.client_id].status;
        Ok(Ack {
            venue_id,
            status,
            time,
        })
    }

    /// Cancels our open order `client_id`.
    pub fn cancel(&mut self, time: TimeMs, client_id: &str) -> Result<VenueOrder, ExecError> {
        match self.orders.get(client_id) {
            Some(o) if !o.status.is_closed() => {}
            _ => {
                return Err(ExecError::UnknownOrder {
                    venue: self.venue,
                    client_id: client_id.to_string(),
                });
            }
        }
        let reason = "canceled by the account".to_string();
        self.close(
            time,
            client_id,
            OrderStatus::Canceled,
            OrderEvent::Canceled { reason },
        );
        self.close_sibling(time, client_id);
        Ok(self.orders[client_id].clone())
    }

    /// Places an exit pair, one cancelling the other: `take_profit` and
    /// `stop` for the same quantity. Both are placed or neither is.
    pub fn submit_oco(
        &mut self,
        time: TimeMs,
        take_profit: &OrderRequest,
        stop: &OrderRequest,
    ) -> Result<(Ack, Ack), ExecError> {
        if take_profit.qty != stop.qty || take_profit.side != stop.side {
            return Err(self.rejected(
                42210000,
                "both legs of an oco order need the same side and quantity",
            ));
        }
        if self.orders.contains_key(&stop.client_id) {
            return Err(self.rejected(-4116, "ClientOrderId is duplicated."));
        }
        // The stop is checked first: a trigger already passed refuses the pair.
        let s = self.submit(time, stop)?;
        match self.submit(time, take_profit) {
            Ok(t) => {
                self.links
                    .insert(take_profit.client_id.clone(), stop.client_id.clone());
                self.links
                    .insert(stop.client_id.clone(), take_profit.client_id.clone());
                if self.orders[&take_profit.client_id].status.is_closed() {
                    self.close_sibling(time, &take_profit.client_id);
                }
                Ok((t, s))
            }
            Err(e) => {
                let reason = "its one-cancels-other sibling was refused".to_string();
                self.close(
                    time,
                    &stop.client_id,
                    OrderStatus::Canceled,
                    OrderEvent::Canceled { reason },
                );
                Err(e)
            }
        }
    }

    /// Moves the trigger of our resting stop `client_id`.
    pub fn replace_stop(
        &mut self,
        time: TimeMs,
        client_id: &str,
        trigger: Decimal,
    ) -> Result<Ack, ExecError> {
        let Some(o) = self.orders.get(client_id).filter(|o| !o.status.is_closed()) else {
            return Err(ExecError::UnknownOrder {
                venue: self.venue,
                client_id: client_id.to_string(),
            });
        };
        if !matches!(o.kind, OrderKind::StopMarket { .. }) {
            return Err(self.rejected(42210000, "only a stop's trigger can be replaced"));
        }
        let buy = o.side == OrderSide::Buy;
        let symbol = o.symbol.clone();
        if let Some(price) = self.price(&symbol) {
            let t = to_f64(trigger);
            if (buy && price >= t) || (!buy && price <= t) {
                return Err(ExecError::WouldTrigger {
                    venue: self.venue,
                    reason: "Order would immediately trigger.".into(),
                });
            }
        }
        let o = self.orders.get_mut(client_id).expect("present");
        o.kind = OrderKind::StopMarket { trigger };
        let ack = Ack {
            venue_id: o.venue_id.clone(),
            status: o.status,
            time,
        };
        self.events.push(order_event(
            time,
            client_id,
            &symbol,
            OrderEvent::Updated { price: trigger },
            None,
        ));
        Ok(ack)
    }

    /// `id` closed: its one-cancels-other sibling, if open, is canceled.
    fn close_sibling(&mut self, time: TimeMs, id: &str) {
        if let Some(other) = self.links.get(id).cloned()
            && self
                .orders
                .get(&other)
                .is_some_and(|o| !o.status.is_closed())
        {
            let reason = "its one-cancels-other sibling closed".to_string();
            self.close(
                time,
                &other,
                OrderStatus::Canceled,
                OrderEvent::Canceled { reason },
            );
        }
    }

    pub fn order(&self, client_id: &str) -> Option<&VenueOrder> {
        self.orders.get(client_id)
    }

    /// How many orders the venue has taken (refused ones are not kept).
    pub fn order_count(&self) -> usize {
        self.orders.len()
    }

    /// An order by the venue's id.
    pub fn find_by_venue_id(&self, venue_id: &str) -> Option<&VenueOrder> {
        self.orders.values().find(|o| o.venue_id == venue_id)
    }

    pub fn open_orders(&self) -> Vec<VenueOrder> {
        self.queue
            .iter()
            .map(|id| self.orders[id].clone())
            .collect()
    }

    pub fn trades_since(&self, symbol: &str, since: TimeMs) -> Vec<VenueTrade> {
        self.trades
            .iter()
            .filter(|t| t.symbol == symbol && t.time >= since)
            .cloned()
            .collect()
    }

    pub fn funding_since(&self, since: TimeMs) -> Vec<FundingPayment> {
        self.funding
            .iter()
            .filter(|f| f.time >= since)
            .cloned()
            .collect()
    }

    pub fn snapshot(&self, time: TimeMs) -> AccountSnapshot {
        AccountSnapshot {
            time,
            balance: self.balance,
            available: self.available(),
            positions: self
                .markets
                .iter()
                .filter(|(_, m)| !m.position.is_zero())
                .map(|(s, m)| VenuePosition {
                    symbol: s.clone(),
                    qty: m.position,
                    entry_price: m.entry,
                    leverage: self.cfg.leverage,
                })
                .collect(),
            open_orders: self.open_orders(),
        }
    }

    /// Settles funding on `symbol`'s position at `rate` of its notional at `mark`.
    pub fn funding(&mut self, time: TimeMs, symbol: &str, rate: f64, mark: f64) {
        let Some(m) = self.markets.get(symbol) else {
            return;
        };
        if m.position.is_zero() {
            return;
        }
        let paid = (m.position * px(rate) * px(mark)).round_dp(8);
        self.balance -= paid;
        self.funding.push(FundingPayment {
            symbol: symbol.to_string(),
            time,
            amount: -paid,
        });
        self.events.push(VenueEvent::Balance {
            time,
            symbol: Some(symbol.to_string()),
            balance: self.balance,
            change: -paid,
            reason: "FUNDING_FEE".into(),
        });
    }

    /// Trades the closed `bar` of `symbol` (of length `bar_ms`) against the
    /// open orders on the worst-case path; the price is then its close.
    pub fn bar(&mut self, symbol: &str, bar: &Candle, bar_ms: TimeMs) {
        let position = self
            .markets
            .get(symbol)
            .map_or(Decimal::ZERO, |m| m.position);
        let (adverse, favorable) = if position < Decimal::ZERO {
            (bar.high, bar.low)
        } else {
            (bar.low, bar.high)
        };
        let t = bar.open_time;
        let path = [
            (t, bar.open),
            (t + bar_ms / 3, adverse),
            (t + 2 * bar_ms / 3, favorable),
        ];
        for (i, &(time, price)) in path.iter().enumerate() {
            let ids: Vec<String> = self
                .queue
                .iter()
                .filter(|id| self.orders[*id].symbol == symbol)
                .cloned()
                .collect();
            for id in ids {
                let Some(o) = self.orders.get(&id).filter(|o| !o.status.is_closed()) else {
                    continue;
                };
                let buy = o.side == OrderSide::Buy;
                let fill = match o.kind {
                    OrderKind::Market => None,
                    OrderKind::Limit { price: limit } => {
                        let l = to_f64(limit);
                        let reached = if buy { price <= l } else { price >= l };
                        // A resting limit is taken at its own price, and
                        // only at the favourable extreme: on the worst-case
                        // path the adverse one comes first, even when the
                        // bar opens beyond the limit.
                        (reached && i != 0).then_some((l, Liquidity::Maker))
                    }
                    OrderKind::StopMarket { trigger } | OrderKind::TakeProfitMarket { trigger } => {
                        let tr = to_f64(trigger);
                        let stop = matches!(o.kind, OrderKind::StopMarket { .. });
                        let reached = match (stop, buy) {
                            (true, true) | (false, false) => price >= tr,
                            (true, false) | (false, true) => price <= tr,
                        } && (stop || i != 0);
                        reached.then(|| {
                            let level = if i == 0 { price } else { tr };
                            (
                                self.cfg.costs.fill_price(level, buy, Liquidity::Taker),
                                Liquidity::Taker,
                            )
                        })
                    }
                };
                if let Some((price, liq)) = fill {
                    self.fill(time, &id, price, liq);
                }
            }
        }
        self.set_price(symbol, bar.close);
    }

    /// Fills what is open of order `id` (a reduce-only order: at most the
    /// position) at `price`, and books it.
    fn fill(&mut self, time: TimeMs, id: &str, price: f64, liq: Liquidity) {
        let o = self.orders[id].clone();
        let m = self.markets.entry(o.symbol.clone()).or_default();
        let buy = o.side == OrderSide::Buy;
        let mut qty = o.qty - o.filled;
        if o.reduce_only {
            qty = qty.min(m.position.abs());
        }
        if qty <= Decimal::ZERO {
            return;
        }
        let price = px(price);
        let signed = if buy { qty } else { -qty };
        let reducing = !m.position.is_zero() && (m.position > Decimal::ZERO) != buy;
        let realized = if reducing {
            let closed = qty.min(m.position.abs());
            let sign = if m.position > Decimal::ZERO {
                Decimal::ONE
            } else {
                -Decimal::ONE
            };
            (sign * closed * (price - m.entry)).round_dp(8)
        } else {
            Decimal::ZERO
        };
        let new = m.position + signed;
        if !reducing {
            m.entry = (m.entry * m.position.abs() + price * qty) / new.abs();
        } else if new.is_zero() {
            m.entry = Decimal::ZERO;
        } else if (new > Decimal::ZERO) != (m.position > Decimal::ZERO) {
            m.entry = price;
        }
        m.position = new;
        let fee = px(self.cfg.costs.fee(to_f64(price * qty), liq));
        self.balance += realized - fee;
        let trade_id = self.next_trade.to_string();
        self.next_trade += 1;
        let trade = VenueTrade {
            trade_id: trade_id.clone(),
            client_id: id.to_string(),
            symbol: o.symbol.clone(),
            side: o.side,
            qty,
            price,
            fee,
            liquidity: liq,
            realized_pnl: realized,
            time,
        };
        self.trades.push(trade);
        let order = self.orders.get_mut(id).expect("present");
        order.filled += qty;
        let done = order.filled == order.qty || o.reduce_only && new.is_zero();
        order.status = if order.filled == order.qty {
            OrderStatus::Filled
        } else {
            OrderStatus::PartiallyFilled
        };
        self.events.push(order_event(
            time,
            id,
            &o.symbol,
            OrderEvent::Filled(OrderFilled {
                trade_id,
                qty,
                price,
                fee,
                liquidity: liq,
            }),
            Some(realized),
        ));
        self.events.push(VenueEvent::Position {
            time,
            symbol: o.symbol.clone(),
            qty: new,
            entry_price: self.markets[&o.symbol].entry,
        });
        self.events.push(VenueEvent::Balance {
            time,
            symbol: Some(o.symbol.clone()),
            balance: self.balance,
            change: realized - fee,
            reason: "ORDER".into(),
        });
        // A fill of one leg of a pair, even in part, cancels the other.
        self.close_sibling(time, id);
        let order = &self.orders[id];
        if order.status == OrderStatus::Filled {
            self.queue.retain(|q| q != id);
        } else if done {
            // A reduce-only order cut to the position: the rest expires with it.
            self.close(time, id, OrderStatus::Expired, OrderEvent::Expired);
        }
        if new.is_zero() {
            // The position closed: its reduce-only orders expire (as Binance does).
            let left: Vec<String> = self
                .queue
                .iter()
                .filter(|q| {
                    let x = &self.orders[*q];
                    x.symbol == o.symbol && x.reduce_only
                })
                .cloned()
                .collect();
            for q in left {
                self.close(time, &q, OrderStatus::Expired, OrderEvent::Expired);
            }
        }
    }

    fn close(&mut self, time: TimeMs, id: &str, status: OrderStatus, event: OrderEvent) {
        let o = self.orders.get_mut(id).expect("present");
        o.status = status;
        let symbol = o.symbol.clone();
        self.queue.retain(|q| q != id);
        self.events
            .push(order_event(time, id, &symbol, event, None));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::Purpose;

    fn venue() -> SimVenue {
        SimVenue::new(
            "sim",
            SimConfig {
                costs: CostModel {
                    slippage_bps: 0.0,
                    ..CostModel::default()
                },
                balance: Decimal::from(1000),
                leverage: 10,
            },
        )
    }

    fn req(id: &str, side: OrderSide, kind: OrderKind, qty: i64, reduce: bool) -> OrderRequest {
        OrderRequest {
            client_id: id.into(),
            symbol: "BTC/USDT".into(),
            side,
            kind,
            qty: Decimal::from(qty),
            reduce_only: reduce,
            purpose: Purpose::Entry,
        }
    }

    fn bar(t: TimeMs, o: f64, h: f64, l: f64, c: f64) -> Candle {
        Candle {
            open_time: t,
            open: o,
            high: h,
            low: l,
            close: c,
            volume: 1.0,
        }
    }

    #[test]
    fn a_long_meets_its_stop_before_its_target_on_an_ambiguous_bar() {
        let mut v = venue();
        v.set_price("BTC/USDT", 100.0);
        v.submit(0, &req("e", OrderSide::Buy, OrderKind::Market, 1, false))
            .unwrap();
        let tp = OrderKind::Limit {
            price: Decimal::from(110),
        };
        let sl = OrderKind::StopMarket {
            trigger: Decimal::from(95),
        };
        v.submit(0, &req("tp", OrderSide::Sell, tp, 1, true))
            .unwrap();
        v.submit(0, &req("sl", OrderSide::Sell, sl, 1, true))
            .unwrap();
        v.bar("BTC/USDT", &bar(0, 100.0, 111.0, 94.0, 100.0), 900_000);
        assert_eq!(v.order("sl").unwrap().status, OrderStatus::Filled);
        assert_eq!(v.order("tp").unwrap().status, OrderStatus::Expired);
        let t = v.trades_since("BTC/USDT", 0);
        assert_eq!(t.len(), 2);
        assert_eq!(t[1].price, Decimal::from(95));
        assert_eq!(t[1].realized_pnl, Decimal::from(-5));
        assert!(v.snapshot(1).positions.is_empty());
        // -5 realised, fees: taker 5 bps on 100 and on 95.
        assert_eq!(
            v.snapshot(1).balance,
            "994.9025".parse::<Decimal>().unwrap()
        );
    }

    #[test]
    fn refusals_say_why_and_change_nothing() {
        let mut v = venue();
        v.set_price("BTC/USDT", 100.0);
        let big = req("big", OrderSide::Buy, OrderKind::Market, 101, false);
        assert!(matches!(
            v.submit(0, &big),
            Err(ExecError::InsufficientMargin { .. })
        ));
        let lonely = req("r", OrderSide::Sell, OrderKind::Market, 1, true);
        assert!(matches!(
            v.submit(0, &lonely),
            Err(ExecError::Rejected { code: -2022, .. })
        ));
        v.submit(0, &req("e", OrderSide::Buy, OrderKind::Market, 1, false))
            .unwrap();
        let passed = OrderKind::StopMarket {
            trigger: Decimal::from(101),
        };
        assert!(matches!(
            v.submit(0, &req("s", OrderSide::Sell, passed, 1, true)),
            Err(ExecError::WouldTrigger { .. })
        ));
        assert!(matches!(
            v.submit(0, &req("e", OrderSide::Buy, OrderKind::Market, 1, false)),
            Err(ExecError::Rejected { code: -4116, .. })
        ));
        assert!(matches!(
            v.cancel(0, "nope"),
            Err(ExecError::UnknownOrder { .. })
        ));
        assert_eq!(v.open_orders().len(), 0);
        assert_eq!(v.snapshot(0).positions.len(), 1);
    }

    #[test]
    fn reduce_only_orders_are_cut_to_the_position_and_expire_with_it() {
        let mut v = venue();
        v.set_price("BTC/USDT", 100.0);
        v.submit(0, &req("e", OrderSide::Buy, OrderKind::Market, 2, false))
            .unwrap();
        let tp1 = OrderKind::Limit {
            price: Decimal::from(105),
        };
        let stop = OrderKind::StopMarket {
            trigger: Decimal::from(90),
        };
        v.submit(0, &req("tp1", OrderSide::Sell, tp1, 1, true))
            .unwrap();
        v.submit(0, &req("sl", OrderSide::Sell, stop, 2, true))
            .unwrap();
        v.bar("BTC/USDT", &bar(0, 100.0, 106.0, 99.0, 104.0), 900_000);
        assert_eq!(v.order("tp1").unwrap().status, OrderStatus::Filled);
        // The next bar gaps below the stop: it fills the one left at the open.
        v.bar("BTC/USDT", &bar(900_000, 88.0, 89.0, 85.0, 86.0), 900_000);
        let sl = v.order("sl").unwrap();
        assert_eq!(sl.filled, Decimal::ONE);
        assert_eq!(sl.status, OrderStatus::Expired);
        let last = v.trades_since("BTC/USDT", 900_000);
        assert_eq!(last[0].price, Decimal::from(88));
        assert!(v.snapshot(2).positions.is_empty());
    }
}
