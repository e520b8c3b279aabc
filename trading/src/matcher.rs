//! The paper venue: an account whose fills come from the engine's
//! [`Book`] — the very code the backtester runs — and are told as orders
//! and ledger entries. Fed bar by bar in the backtester's order (each
//! close's bars, then the mark, then each symbol's decision), it gives the
//! backtest's trades on the same bars; the server's parity test checks it
//! end to end.
//!
//! Orders of one plan: a market entry (submitted at the signal's close,
//! filled at the next open, canceled when the open gapped past the stop or
//! TP1); once filled, TP1/TP2/TP3 as reduce-only maker limits (30/40/30 %)
//! and a reduce-only stop for the whole position. A take-profit fill
//! replaces the stop with one for what is left (at break-even after TP1);
//! the trail moves it (`OrderUpdated`); a time stop, liquidation or flatten
//! is a market exit. When a position closes, its other orders are canceled.
//!
//! Anchors: barter-rs `barter-execution/src/exchange/mock/mod.rs`;
//! nautilus_trader `crates/execution/src/matching_engine/engine.rs`.

use crate::ledger::{Entry, EntryKind, money};
use crate::order::{
    Order, OrderError, OrderEvent, OrderFilled, OrderKind, OrderRequest, OrderSide, Purpose,
};
use crate::risk::{self, HaltCause, HaltReason, TradingState};
use engine::backtest::BacktestConfig;
use engine::book::{BarInput, Book, ExitReason, Fill, Journal, Position, Trade};
use engine::costs::{FundingRate, Liquidity};
use engine::signals::{Prediction, Side, SignalPlan};
use engine::{Candle, TimeMs};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a step of the account did, in the order it happened: the store
/// writes one step's events in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum AccountEvent {
    /// An order event, with the order as it is after it.
    Order {
        time: TimeMs,
        event: OrderEvent,
        order: Box<Order>,
    },
    Ledger(Entry),
    /// A position closed completely.
    Closed(Box<Trade>),
    /// The account marked at a close.
    Equity {
        time: TimeMs,
        equity: f64,
        drawdown_pct: f64,
        open_positions: usize,
    },
    /// A signal was taken, or refused and why.
    Decision {
        time: TimeMs,
        symbol: String,
        accepted: bool,
        reason: Option<String>,
    },
    State {
        time: TimeMs,
        state: TradingState,
        reason: Option<HaltReason>,
    },
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PaperError {
    #[error(transparent)]
    Order(#[from] OrderError),
    #[error(transparent)]
    Ledger(#[from] crate::ledger::LedgerError),
    #[error("{0}")]
    Invariant(String),
    /// A request the account refuses as it stands (a late "Take").
    #[error("{0}")]
    Refused(String),
}

/// The orders of one symbol's plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Legs {
    entry: Option<String>,
    tp: [Option<String>; 3],
    stop: Option<String>,
    /// The position's open quantity as the orders know it.
    open: Decimal,
}

/// A paper account: the book, its open orders and its risk state.
/// Serializable whole, so a store can checkpoint it with each step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PaperAccount {
    pub cfg: BacktestConfig,
    symbols: Vec<String>,
    book: Book,
    orders: BTreeMap<String, Order>,
    legs: Vec<Legs>,
    prefix: String,
    next_order: u64,
    next_trade: u64,
    last_close: Vec<Option<f64>>,
    last_bar: Vec<Option<TimeMs>>,
    /// Close time and equity of the last mark.
    marked: Option<(TimeMs, f64)>,
    peak: f64,
    halt: Option<HaltReason>,
    state: TradingState,
}

/// Book steps, collected while the book runs, then told as orders.
enum Step {
    Entered {
        sym: usize,
        time: TimeMs,
        price: f64,
        fee: f64,
        long: bool,
        plan_qty: f64,
        take_profit: [f64; 3],
        stop: f64,
    },
    Canceled {
        sym: usize,
        time: TimeMs,
    },
    Exited {
        sym: usize,
        fill: Fill,
        fee: f64,
        gross: f64,
        liq: Liquidity,
        stop: f64,
        entry: f64,
        long: bool,
    },
    Funding {
        sym: usize,
        time: TimeMs,
        amount: f64,
    },
    StopMoved {
        sym: usize,
        time: TimeMs,
        stop: f64,
    },
    Closed(Box<Trade>),
}

#[derive(Default)]
struct Steps(Vec<Step>);

/// A fill as the book made it.
struct Execution {
    time: TimeMs,
    qty: Decimal,
    price: f64,
    fee: f64,
    liquidity: Liquidity,
    /// Price P&L it realised (exits).
    realised: Option<f64>,
}

impl Journal for Steps {
    fn entered(&mut self, p: &Position, fee: f64) {
        self.0.push(Step::Entered {
            sym: p.sym,
            time: p.entry_time,
            price: p.entry_price,
            fee,
            long: p.is_long(),
            plan_qty: p.plan.qty,
            take_profit: p.plan.take_profit,
            stop: p.stop,
        });
    }
    fn entry_canceled(&mut self, sym: usize, _plan: &SignalPlan, time: TimeMs) {
        self.0.push(Step::Canceled { sym, time });
    }
    fn exited(&mut self, p: &Position, fill: &Fill, fee: f64, liq: Liquidity) {
        self.0.push(Step::Exited {
            sym: p.sym,
            fill: *fill,
            fee,
            gross: p.plan.side.sign() * fill.qty * (fill.price - p.entry_price),
            liq,
            stop: p.stop,
            entry: p.entry_price,
            long: p.is_long(),
        });
    }
    fn funding(&mut self, p: &Position, time: TimeMs, amount: f64) {
        if amount != 0.0 {
            self.0.push(Step::Funding {
                sym: p.sym,
                time,
                amount,
            });
        }
    }
    fn stop_moved(&mut self, p: &Position, time: TimeMs) {
        self.0.push(Step::StopMoved {
            sym: p.sym,
            time,
            stop: p.stop,
        });
    }
    fn closed(&mut self, trade: Trade) {
        self.0.push(Step::Closed(Box::new(trade)));
    }
}

pub(crate) fn price(x: f64) -> Result<Decimal, PaperError> {
    money(x).ok_or_else(|| PaperError::Invariant(format!("price {x} is not finite")))
}

/// The quantities of TP1, TP2, TP3 for an entry of `qty` (the plan's
/// `plan_qty`): TP1 and TP2 take their share, TP3 what is left.
pub(crate) fn tp_parts(
    plan_qty: f64,
    qty: Decimal,
    split: [f64; 3],
) -> Result<[Decimal; 3], PaperError> {
    let q1 = price(plan_qty * split[0])?.min(qty);
    let q2 = price(plan_qty * split[1])?.min(qty - q1);
    Ok([q1, q2, qty - q1 - q2])
}

pub(crate) fn side_of(long: bool) -> OrderSide {
    if long {
        OrderSide::Buy
    } else {
        OrderSide::Sell
    }
}

impl PaperAccount {
    /// A flat account over `symbols` (in the order the backtester gets
    /// them) with `cfg.initial_capital`; `prefix` makes its order ids unique.
    pub fn new(
        cfg: BacktestConfig,
        symbols: Vec<String>,
        bar_ms: TimeMs,
        prefix: &str,
    ) -> PaperAccount {
        let n = symbols.len();
        PaperAccount {
            book: Book::new(&cfg, bar_ms, n),
            peak: cfg.initial_capital,
            cfg,
            symbols,
            orders: BTreeMap::new(),
            legs: vec![Legs::default(); n],
            prefix: prefix.to_string(),
            next_order: 1,
            next_trade: 1,
            last_close: vec![None; n],
            last_bar: vec![None; n],
            marked: None,
            halt: None,
            state: TradingState::Active,
        }
    }

    /// Order and trade ids start with `prefix` (an account's own).
    pub fn set_prefix(&mut self, prefix: &str) {
        self.prefix = prefix.to_string();
    }

    pub fn symbols(&self) -> &[String] {
        &self.symbols
    }

    pub fn book(&self) -> &Book {
        &self.book
    }

    pub fn state(&self) -> TradingState {
        self.state
    }

    pub fn halt_reason(&self) -> Option<&HaltReason> {
        self.halt.as_ref()
    }

    /// Open orders.
    pub fn orders(&self) -> impl Iterator<Item = &Order> {
        self.orders.values()
    }

    /// The open time of the last bar applied for `sym`.
    pub fn last_bar(&self, sym: usize) -> Option<TimeMs> {
        self.last_bar.get(sym).copied().flatten()
    }

    /// The last mark: close time and equity.
    pub fn marked(&self) -> Option<(TimeMs, f64)> {
        self.marked
    }

    /// Feeds closes from before the account opened to the correlation guard
    /// (the backtester has seen them since its first bar).
    pub fn warm(&mut self, sym: usize, closes: &[Candle]) {
        if self.symbols.len() > 1 {
            for c in closes {
                self.book
                    .guard_mut()
                    .on_close(&self.symbols[sym], c.open_time, c.close);
            }
        }
    }

    /// Applies one close's bars (`(symbol index, bar, funding)`, all opening
    /// at the same time, in symbol order) and marks the account at their close.
    pub fn on_bars(
        &mut self,
        bars: &[(usize, Candle, Option<&[FundingRate]>)],
        bar_ms: TimeMs,
    ) -> Result<Vec<AccountEvent>, PaperError> {
        let mut out = Vec::new();
        let mut steps = Steps::default();
        let Some(open) = bars.first().map(|b| b.1.open_time) else {
            return Ok(out);
        };
        for (sym, bar, funding) in bars {
            let input = BarInput {
                bar,
                lower: None,
                funding: *funding,
            };
            self.book.bar(&self.cfg, *sym, input, &mut steps);
            self.last_close[*sym] = Some(bar.close);
            self.last_bar[*sym] = Some(bar.open_time);
        }
        self.tell(steps, &mut out)?;
        let close_time = open + bar_ms;
        let equity = self.book.mark(close_time, &self.last_close);
        self.peak = self.peak.max(equity);
        self.marked = Some((close_time, equity));
        out.push(AccountEvent::Equity {
            time: close_time,
            equity,
            drawdown_pct: (1.0 - equity / self.peak) * 100.0,
            open_positions: self.book.positions().len(),
        });
        self.follow_breakers(close_time, &mut out);
        Ok(out)
    }

    /// At the close just marked: `sym`'s close feeds the correlation guard,
    /// then `pred` (when the symbol is flat) may become an entry at its next open.
    pub fn on_close(
        &mut self,
        sym: usize,
        bar: &Candle,
        pred: Option<&Prediction>,
        atr: Option<f64>,
    ) -> Result<Vec<AccountEvent>, PaperError> {
        if self.symbols.len() > 1 {
            self.book
                .guard_mut()
                .on_close(&self.symbols[sym], bar.open_time, bar.close);
        }
        match pred {
            Some(pred) => self.decide(sym, bar, pred, atr),
            None => Ok(Vec::new()),
        }
    }

    /// A signal taken by hand ("Take" from the board) at the close just
    /// applied: `bar` must be `sym`'s last applied bar (a later entry would
    /// not be the plan's). The same sizing, guards and state checks apply.
    pub fn take(
        &mut self,
        sym: usize,
        bar: &Candle,
        pred: &Prediction,
        atr: Option<f64>,
    ) -> Result<Vec<AccountEvent>, PaperError> {
        if self.last_bar(sym) != Some(bar.open_time) {
            return Err(PaperError::Refused(format!(
                "the signal's bar ({}) is not the last one applied for {}: its entry would not be the plan's",
                bar.open_time, self.symbols[sym]
            )));
        }
        if self.book.has_position(sym) || self.book.pending().any(|(s, _)| s == sym) {
            return Err(PaperError::Refused(format!(
                "{} already has a position or an entry waiting",
                self.symbols[sym]
            )));
        }
        self.decide(sym, bar, pred, atr)
    }

    fn decide(
        &mut self,
        sym: usize,
        bar: &Candle,
        pred: &Prediction,
        atr: Option<f64>,
    ) -> Result<Vec<AccountEvent>, PaperError> {
        let mut out = Vec::new();
        let Some((time, equity)) = self.marked else {
            return Ok(out);
        };
        if self.book.has_position(sym) {
            return Ok(out);
        }
        let symbol = self.symbols[sym].clone();
        let decided = self.book.decide(
            &self.cfg,
            sym,
            &symbol,
            pred,
            time,
            bar.close,
            atr.unwrap_or(f64::NAN),
            equity,
        );
        let plan = match decided {
            Ok(p) => p.clone(),
            Err(r) => {
                out.push(AccountEvent::Decision {
                    time,
                    symbol,
                    accepted: false,
                    reason: Some(format!("{}: {r}", r.kind())),
                });
                return Ok(out);
            }
        };
        let request = OrderRequest {
            client_id: self.order_id(),
            symbol: symbol.clone(),
            side: side_of(plan.side == Side::Long),
            kind: OrderKind::Market,
            qty: price(plan.qty)?,
            reduce_only: false,
            purpose: Purpose::Entry,
        };
        if let Err(denied) = risk::check(self.state, self.halt.as_ref(), &request) {
            self.book.cancel_pending(sym);
            let id = request.client_id.clone();
            self.orders.insert(id.clone(), Order::new(request));
            let reason = denied.to_string();
            self.event(
                &id,
                time,
                OrderEvent::Denied {
                    reason: reason.clone(),
                },
                &mut out,
            )?;
            out.push(AccountEvent::Decision {
                time,
                symbol,
                accepted: false,
                reason: Some(format!("denied: {reason}")),
            });
            return Ok(out);
        }
        let id = request.client_id.clone();
        self.orders.insert(id.clone(), Order::new(request));
        self.event(&id, time, OrderEvent::Submitted, &mut out)?;
        self.event(&id, time, OrderEvent::Accepted { venue_id: None }, &mut out)?;
        self.legs[sym].entry = Some(id);
        out.push(AccountEvent::Decision {
            time,
            symbol,
            accepted: true,
            reason: None,
        });
        Ok(out)
    }

    /// The kill switch or the owner halts the account: no new orders leave;
    /// pending entries are canceled; with `flatten`, open positions close at
    /// the last price known (market orders) at `time`. An owner's halt
    /// outlives the kill switch: the switch does not replace its reason, so
    /// lifting the switch does not resume what the owner stopped.
    pub fn halt(
        &mut self,
        reason: HaltReason,
        flatten: bool,
        time: TimeMs,
    ) -> Result<Vec<AccountEvent>, PaperError> {
        let mut out = Vec::new();
        for sym in 0..self.symbols.len() {
            if self.book.cancel_pending(sym).is_some()
                && let Some(id) = self.legs[sym].entry.take()
            {
                let why = reason.describe();
                self.event(&id, time, OrderEvent::Canceled { reason: why }, &mut out)?;
            }
        }
        if flatten {
            let mut steps = Steps::default();
            let last: Vec<Option<f64>> = self.last_close.clone();
            self.book.close_all(
                &self.cfg,
                |s| last[s].map(|p| (time, p)),
                ExitReason::Flatten,
                &mut steps,
            );
            self.tell(steps, &mut out)?;
        }
        let owner_keeps = matches!(reason.cause, HaltCause::KillSwitch)
            && matches!(self.halt.as_ref().map(|h| &h.cause), Some(HaltCause::Owner));
        if !owner_keeps {
            self.state = reason.state();
            self.halt = Some(reason);
        }
        out.push(AccountEvent::State {
            time,
            state: self.state,
            reason: self.halt.clone(),
        });
        Ok(out)
    }

    /// Lifts a kill-switch or owner halt (a breaker lifts by its cooldown).
    pub fn resume(&mut self, time: TimeMs) -> Vec<AccountEvent> {
        self.halt = None;
        let mut out = Vec::new();
        self.follow_breakers(time, &mut out);
        if self.state != TradingState::Reducing {
            self.state = TradingState::Active;
            out.push(AccountEvent::State {
                time,
                state: self.state,
                reason: None,
            });
        }
        out
    }

    /// The breakers' state as the account's: Reducing while one holds.
    fn follow_breakers(&mut self, time: TimeMs, out: &mut Vec<AccountEvent>) {
        if matches!(
            self.halt.as_ref().map(|h| &h.cause),
            Some(HaltCause::KillSwitch | HaltCause::Owner)
        ) {
            return;
        }
        let breaker = self.book.guard().halted();
        match (breaker, &self.halt) {
            (Some(h), None) => {
                let until = match self.book.guard().may_open(0, usize::MAX) {
                    Err(engine::risk::guards::GuardRejection::Halted { until, .. }) => until,
                    _ => TimeMs::MAX,
                };
                let reason = HaltReason {
                    detail: match h {
                        engine::risk::guards::Halt::ConsecutiveLosses { losses } => {
                            format!("{losses} losing trades in a row")
                        }
                        engine::risk::guards::Halt::DailyLoss { loss_pct } => {
                            format!("down {loss_pct:.2} % today")
                        }
                        engine::risk::guards::Halt::Drawdown { drawdown_pct } => {
                            format!("{drawdown_pct:.2} % below the peak")
                        }
                        engine::risk::guards::Halt::KillSwitch => "kill switch".into(),
                    },
                    cause: HaltCause::Breaker { halt: h, until },
                    at: time,
                };
                self.state = reason.state();
                self.halt = Some(reason.clone());
                out.push(AccountEvent::State {
                    time,
                    state: self.state,
                    reason: Some(reason),
                });
            }
            (None, Some(_)) => {
                self.halt = None;
                self.state = TradingState::Active;
                out.push(AccountEvent::State {
                    time,
                    state: self.state,
                    reason: None,
                });
            }
            _ => {}
        }
    }

    fn order_id(&mut self) -> String {
        let id = format!("{}-{}", self.prefix, self.next_order);
        self.next_order += 1;
        id
    }

    fn trade_id(&mut self) -> String {
        let id = format!("{}-t{}", self.prefix, self.next_trade);
        self.next_trade += 1;
        id
    }

    /// Applies an event to an open order; a closed order leaves the open set.
    fn event(
        &mut self,
        id: &str,
        time: TimeMs,
        event: OrderEvent,
        out: &mut Vec<AccountEvent>,
    ) -> Result<(), PaperError> {
        let order = self
            .orders
            .get_mut(id)
            .ok_or_else(|| PaperError::Invariant(format!("order {id} is not open")))?;
        order.apply(time, event.clone())?;
        let snapshot = if order.status.is_closed() {
            self.orders.remove(id).expect("present")
        } else {
            order.clone()
        };
        out.push(AccountEvent::Order {
            time,
            event,
            order: Box::new(snapshot),
        });
        Ok(())
    }

    /// Submits and accepts a new order at `time`.
    fn place(
        &mut self,
        time: TimeMs,
        request: OrderRequest,
        out: &mut Vec<AccountEvent>,
    ) -> Result<String, PaperError> {
        let id = request.client_id.clone();
        self.orders.insert(id.clone(), Order::new(request));
        self.event(&id, time, OrderEvent::Submitted, out)?;
        self.event(&id, time, OrderEvent::Accepted { venue_id: None }, out)?;
        Ok(id)
    }

    /// Fills order `id` and records the fill's realised P&L and fee.
    fn fill(
        &mut self,
        id: &str,
        sym: usize,
        x: Execution,
        out: &mut Vec<AccountEvent>,
    ) -> Result<(), PaperError> {
        let trade_id = self.trade_id();
        let f = OrderFilled {
            trade_id: trade_id.clone(),
            qty: x.qty,
            price: price(x.price)?,
            fee: price(x.fee)?,
            liquidity: x.liquidity,
        };
        self.event(id, x.time, OrderEvent::Filled(f), out)?;
        let cause = (Some(id), Some(trade_id.as_str()));
        if let Some(gross) = x.realised {
            self.entry(x.time, EntryKind::RealisedPnl, sym, gross, cause, out)?;
        }
        self.entry(x.time, EntryKind::Fee, sym, -x.fee, cause, out)
    }

    /// One ledger entry (order and trade id as its cause); zero amounts make none.
    fn entry(
        &self,
        time: TimeMs,
        kind: EntryKind,
        sym: usize,
        value: f64,
        (order, trade): (Option<&str>, Option<&str>),
        out: &mut Vec<AccountEvent>,
    ) -> Result<(), PaperError> {
        if let Some(e) = Entry::of(time, kind, &self.symbols[sym], value, order, trade)? {
            out.push(AccountEvent::Ledger(e));
        }
        Ok(())
    }

    fn stop_request(
        &mut self,
        sym: usize,
        long: bool,
        qty: Decimal,
        trigger: f64,
    ) -> Result<OrderRequest, PaperError> {
        Ok(OrderRequest {
            client_id: self.order_id(),
            symbol: self.symbols[sym].clone(),
            side: side_of(!long),
            kind: OrderKind::StopMarket {
                trigger: price(trigger)?,
            },
            qty,
            reduce_only: true,
            purpose: Purpose::StopLoss,
        })
    }

    /// Tells the book's steps as order events and ledger entries.
    fn tell(&mut self, steps: Steps, out: &mut Vec<AccountEvent>) -> Result<(), PaperError> {
        for step in steps.0 {
            match step {
                Step::Entered {
                    sym,
                    time,
                    price: px,
                    fee,
                    long,
                    plan_qty,
                    take_profit,
                    stop,
                } => {
                    let id = self.legs[sym].entry.clone().ok_or_else(|| {
                        PaperError::Invariant(format!(
                            "{} entered without an order",
                            self.symbols[sym]
                        ))
                    })?;
                    let qty = self.orders[&id].request.qty;
                    let x = Execution {
                        time,
                        qty,
                        price: px,
                        fee,
                        liquidity: Liquidity::Taker,
                        realised: None,
                    };
                    self.fill(&id, sym, x, out)?;
                    let parts = tp_parts(plan_qty, qty, self.cfg.plan.tp_split)?;
                    let mut tp = [None, None, None];
                    for (n, q) in parts.into_iter().enumerate() {
                        if q <= Decimal::ZERO {
                            continue;
                        }
                        let request = OrderRequest {
                            client_id: self.order_id(),
                            symbol: self.symbols[sym].clone(),
                            side: side_of(!long),
                            kind: OrderKind::Limit {
                                price: price(take_profit[n])?,
                            },
                            qty: q,
                            reduce_only: true,
                            purpose: Purpose::TakeProfit(n as u8 + 1),
                        };
                        tp[n] = Some(self.place(time, request, out)?);
                    }
                    let stop = self.stop_request(sym, long, qty, stop)?;
                    let stop = self.place(time, stop, out)?;
                    self.legs[sym] = Legs {
                        entry: None,
                        tp,
                        stop: Some(stop),
                        open: qty,
                    };
                }
                Step::Canceled { sym, time } => {
                    if let Some(id) = self.legs[sym].entry.take() {
                        let reason = "the open gapped past the stop or TP1".to_string();
                        self.event(&id, time, OrderEvent::Canceled { reason }, out)?;
                    }
                }
                Step::Exited {
                    sym,
                    fill,
                    fee,
                    gross,
                    liq,
                    stop,
                    entry,
                    long,
                } => {
                    let t = fill.time;
                    let tp_n = match fill.reason {
                        ExitReason::Tp1 => Some(0),
                        ExitReason::Tp2 => Some(1),
                        ExitReason::Tp3 => Some(2),
                        _ => None,
                    };
                    let (id, qty) = match tp_n.and_then(|n| self.legs[sym].tp[n].clone()) {
                        Some(id) => {
                            let q = self.orders[&id].open_qty();
                            (id, q)
                        }
                        None if matches!(
                            fill.reason,
                            ExitReason::StopLoss | ExitReason::BreakEven | ExitReason::TrailingStop
                        ) && self.legs[sym].stop.is_some() =>
                        {
                            let id = self.legs[sym].stop.clone().expect("checked");
                            (id, self.legs[sym].open)
                        }
                        _ => {
                            // Time stop, liquidation, flatten: a market order for what is left.
                            let request = OrderRequest {
                                client_id: self.order_id(),
                                symbol: self.symbols[sym].clone(),
                                side: side_of(!long),
                                kind: OrderKind::Market,
                                qty: self.legs[sym].open,
                                reduce_only: true,
                                purpose: Purpose::Exit,
                            };
                            let id = self.place(t, request, out)?;
                            (id, self.legs[sym].open)
                        }
                    };
                    let qty = qty.min(self.legs[sym].open);
                    let x = Execution {
                        time: t,
                        qty,
                        price: fill.price,
                        fee,
                        liquidity: liq,
                        realised: Some(gross),
                    };
                    self.fill(&id, sym, x, out)?;
                    self.legs[sym].open -= qty;
                    if let Some(n) = tp_n {
                        self.legs[sym].tp[n] = None;
                        // The stop is replaced by one for what is left (break-even after TP1).
                        if self.legs[sym].open > Decimal::ZERO
                            && let Some(old) = self.legs[sym].stop.take()
                        {
                            let reason = format!("replaced after tp{}", n + 1);
                            self.event(&old, t, OrderEvent::Canceled { reason }, out)?;
                            let trigger = if n == 0 { entry } else { stop };
                            let open = self.legs[sym].open;
                            let req = self.stop_request(sym, long, open, trigger)?;
                            self.legs[sym].stop = Some(self.place(t, req, out)?);
                        }
                    }
                }
                Step::Funding { sym, time, amount } => {
                    self.entry(time, EntryKind::Funding, sym, -amount, (None, None), out)?;
                }
                Step::StopMoved { sym, time, stop } => {
                    if let Some(id) = self.legs[sym].stop.clone() {
                        let new = price(stop)?;
                        if self.orders[&id].price != Some(new) {
                            self.event(&id, time, OrderEvent::Updated { price: new }, out)?;
                        }
                    }
                }
                Step::Closed(trade) => {
                    let sym = self
                        .symbols
                        .iter()
                        .position(|s| *s == trade.symbol)
                        .ok_or_else(|| PaperError::Invariant("closed an unknown symbol".into()))?;
                    let legs = std::mem::take(&mut self.legs[sym]);
                    let left = legs.tp.into_iter().flatten().chain(legs.stop);
                    for id in left {
                        if self.orders.contains_key(&id) {
                            let reason = "position closed".to_string();
                            self.event(&id, trade.exit_time, OrderEvent::Canceled { reason }, out)?;
                        }
                    }
                    out.push(AccountEvent::Closed(trade));
                }
            }
        }
        Ok(())
    }
}
