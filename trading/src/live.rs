//! An account traded at a venue through an [`ExecutionClient`]
//! (`crate::execution`): the decisions are a paper account's — the same
//! book, sizing, guards and exits — and the fills are the venue's.
//!
//! The paper account is the *shadow*: fed the bars and signals as always,
//! it decides entries and says where the stop should be (initial,
//! break-even after TP1, trailed at each close) and when a position must go
//! (time stop, halt with flatten). After each of its steps
//! ([`LiveAccount::on_step`]) the venue side turns that into venue orders:
//! a market entry at the signal's close; on its fill, TP1/TP2/TP3 as
//! reduce-only limits (30/40/30 %) and a reduce-only stop; the stop follows
//! the shadow's (cancel and replace: Binance cannot amend a stop); when the
//! shadow's position is gone and the venue's is not, a market exit. What
//! the venue fills is the account's truth (trades, ledger); where it
//! differs from the shadow — what the backtester predicted for the same
//! bars — the difference is kept in the journal ([`Note`]).
//!
//! Pure: it returns [`Command`]s; a runner sends them ([`execute`]) and
//! feeds back acknowledgements, venue events and looked-up trades
//! ([`catch_up`]). Trade ids are applied once, so the stream and
//! `trades_since` may both deliver a fill.

use crate::execution::{
    self, AccountSnapshot, Ack, ExecError, ExecutionClient, FundingPayment, Reconciliation,
    VenueEvent, VenueOrder, VenueTrade,
};
use crate::ledger::{Entry, EntryKind, Totals, to_f64};
use crate::matcher::{AccountEvent, PaperAccount, PaperError, price, side_of, tp_parts};
use crate::order::{Order, OrderError, OrderEvent, OrderFilled, OrderKind, OrderRequest, Purpose};
use engine::TimeMs;
use engine::book::{ExitReason, Trade};
use engine::signals::Side;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the account wants sent to the venue.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Open(OrderRequest),
    Cancel {
        symbol: String,
        client_id: String,
    },
    /// An exit pair, one cancelling the other (see [`ExitStyle::Oco`]).
    OpenOco {
        take_profit: OrderRequest,
        stop: OrderRequest,
    },
    /// Move a resting stop's trigger in place.
    Replace {
        symbol: String,
        client_id: String,
        trigger: Decimal,
    },
    /// The answer to an order was lost: look it up before anything else.
    Lookup {
        symbol: String,
        client_id: String,
    },
}

/// One exit fill of a live trade.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveExit {
    pub time: TimeMs,
    pub price: Decimal,
    pub qty: Decimal,
    pub reason: ExitReason,
}

/// A position the venue opened and closed, from its fills.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveTrade {
    pub symbol: String,
    pub side: Side,
    pub entry_time: TimeMs,
    pub entry_price: Decimal,
    pub qty: Decimal,
    pub exits: Vec<LiveExit>,
    pub fees: Decimal,
    /// Realised P&L as the venue computed it, before fees.
    pub realized: Decimal,
}

impl LiveTrade {
    pub fn exit_reason(&self) -> Option<ExitReason> {
        self.exits.last().map(|e| e.reason)
    }
    pub fn pnl(&self) -> Decimal {
        self.realized - self.fees
    }
}

/// Something the journal keeps beside the trades.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Note {
    /// The venue and the shadow (the backtester's prediction) parted.
    Divergence {
        time: TimeMs,
        symbol: String,
        what: String,
    },
    /// The venue refused an order.
    Refused {
        time: TimeMs,
        client_id: String,
        why: String,
    },
    /// What a (re)connect found.
    Reconciled { time: TimeMs, findings: Vec<String> },
    /// An order's answer was lost; looking it up found it at the venue, or not.
    AnswerLost {
        time: TimeMs,
        client_id: String,
        found: bool,
    },
}

/// The suffix that names a pair's stop leg after its take-profit (`v7-12.sl`).
pub const STOP_LEG: &str = ".sl";

/// How a venue takes a position's exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitStyle {
    /// TP1–TP3 as reduce-only limits beside one reduce-only stop for the
    /// whole position (Binance USDⓈ-M).
    #[default]
    ReduceOnly,
    /// Each take-profit paired one-cancels-other with a stop for its own
    /// part. A venue that holds the quantity of every resting exit and has
    /// no reduce-only orders (Alpaca: "insufficient qty available") cannot
    /// take a whole-position stop beside the take-profits; three pairs hold
    /// the position once and still stop all of it. The stop moves in place.
    Oco,
}

/// What a venue allows that the account must respect.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct VenueRules {
    pub exits: ExitStyle,
    /// Quantities are whole multiples of this (Alpaca's advanced orders take
    /// whole shares): entries and take-profit parts are rounded down to it.
    pub lot: Option<Decimal>,
    /// The venue reports no realised P&L with its fills (Alpaca): the
    /// account books it from its own average entry, as a broker's average
    /// cost does.
    #[serde(default)]
    pub own_pnl: bool,
}

impl VenueRules {
    fn floor(&self, q: Decimal) -> Decimal {
        match self.lot {
            Some(l) if l > Decimal::ZERO => (q / l).floor() * l,
            _ => q,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Plan {
    long: bool,
    plan_qty: f64,
    take_profit: [f64; 3],
    stop: f64,
}

/// The venue orders of one symbol's plan and the position they made.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Legs {
    plan: Option<Plan>,
    entry: Option<String>,
    tp: [Option<String>; 3],
    stop: Option<(String, ExitReason)>,
    /// [`ExitStyle::Oco`]: each take-profit's stop leg, and why they stand
    /// where they do.
    #[serde(default)]
    oco: [Option<String>; 3],
    #[serde(default)]
    oco_reason: Option<ExitReason>,
    /// Open quantity at the venue (absolute).
    open: Decimal,
    trade: Option<LiveTrade>,
    /// Why the shadow closed its position, when the venue still holds one.
    exit_reason: Option<ExitReason>,
    /// A market exit is on its way.
    exiting: Option<String>,
    /// An entry the shadow took while that exit was on its way: sent once
    /// the venue's position is closed.
    next: Option<(Plan, OrderRequest)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LiveAccount {
    symbols: Vec<String>,
    tp_split: [f64; 3],
    bar_ms: TimeMs,
    capital: Decimal,
    legs: Vec<Legs>,
    orders: BTreeMap<String, Order>,
    prefix: String,
    next_order: u64,
    trades: Vec<LiveTrade>,
    /// The shadow's closed trades: what the backtester predicted.
    predicted: Vec<Trade>,
    ledger: Vec<Entry>,
    notes: Vec<Note>,
    /// Latest fill time seen per symbol (`trades_since` starts there).
    seen: Vec<TimeMs>,
    /// Funding settlements applied, by (symbol, time): the stream and
    /// `funding_since` may both deliver one.
    funded: std::collections::BTreeSet<(String, TimeMs)>,
    /// The first step it followed: what the venue booked before is not its.
    since: Option<TimeMs>,
    #[serde(default)]
    rules: VenueRules,
    /// One-cancels-other pairs, both ways: when one closes, so has the other.
    #[serde(default)]
    siblings: BTreeMap<String, String>,
}

impl LiveAccount {
    /// The venue side of `shadow`'s account (its symbols, capital and
    /// exits); `prefix` makes the venue order ids ours.
    pub fn new(shadow: &PaperAccount, prefix: &str) -> LiveAccount {
        let n = shadow.symbols().len();
        LiveAccount {
            symbols: shadow.symbols().to_vec(),
            tp_split: shadow.cfg.plan.tp_split,
            bar_ms: shadow.book().bar_ms(),
            capital: price(shadow.cfg.initial_capital).unwrap_or_default(),
            legs: vec![Legs::default(); n],
            orders: BTreeMap::new(),
            prefix: prefix.to_string(),
            next_order: 1,
            trades: Vec::new(),
            predicted: Vec::new(),
            ledger: Vec::new(),
            notes: Vec::new(),
            seen: vec![0; n],
            funded: Default::default(),
            since: None,
            rules: VenueRules::default(),
            siblings: BTreeMap::new(),
        }
    }

    /// The venue's rules (exit style, lot): set before the first step.
    pub fn with_rules(mut self, rules: VenueRules) -> LiveAccount {
        self.rules = rules;
        self
    }

    pub fn rules(&self) -> VenueRules {
        self.rules
    }

    pub fn trades(&self) -> &[LiveTrade] {
        &self.trades
    }
    /// What the backtester predicted for the same bars: the shadow's trades.
    pub fn predicted(&self) -> &[Trade] {
        &self.predicted
    }
    pub fn notes(&self) -> &[Note] {
        &self.notes
    }
    pub fn ledger(&self) -> &[Entry] {
        &self.ledger
    }
    /// Capital plus every ledger entry: what the venue's wallet should hold.
    pub fn balance(&self) -> Decimal {
        self.capital + Totals::of(&self.ledger).net()
    }
    pub fn orders(&self) -> impl Iterator<Item = &Order> {
        self.orders.values()
    }
    /// Our orders still open.
    pub fn open_order_ids(&self) -> Vec<String> {
        self.orders
            .values()
            .filter(|o| !o.status.is_closed())
            .map(|o| o.id().to_string())
            .collect()
    }
    /// Symbols with something at the venue (orders or a position).
    pub fn active_symbols(&self) -> Vec<String> {
        let syms = &self.symbols;
        (0..syms.len())
            .filter(|&s| {
                let l = &self.legs[s];
                l.trade.is_some() || l.entry.is_some() || l.exiting.is_some()
            })
            .map(|s| syms[s].clone())
            .collect()
    }
    /// Where `trades_since` should start for `symbol`.
    pub fn seen(&self, symbol: &str) -> TimeMs {
        self.sym(symbol).map_or(0, |s| self.seen[s])
    }

    fn sym(&self, symbol: &str) -> Option<usize> {
        self.symbols.iter().position(|s| s == symbol)
    }

    fn order_id(&mut self) -> String {
        let id = format!("{}-{}", self.prefix, self.next_order);
        self.next_order += 1;
        id
    }

    fn request(
        &mut self,
        sym: usize,
        long: bool,
        kind: OrderKind,
        qty: Decimal,
        p: Purpose,
    ) -> OrderRequest {
        OrderRequest {
            client_id: self.order_id(),
            symbol: self.symbols[sym].clone(),
            side: side_of(!long),
            kind,
            qty,
            reduce_only: true,
            purpose: p,
        }
    }

    /// Registers a request as submitted and returns the command that sends it.
    fn send(&mut self, time: TimeMs, req: OrderRequest) -> Result<Command, PaperError> {
        let mut o = Order::new(req.clone());
        o.apply(time, OrderEvent::Submitted)?;
        self.orders.insert(req.client_id.clone(), o);
        Ok(Command::Open(req))
    }

    fn cancel(&self, sym: usize, id: &str) -> Option<Command> {
        self.orders
            .get(id)
            .filter(|o| !o.status.is_closed())
            .map(|_| Command::Cancel {
                symbol: self.symbols[sym].clone(),
                client_id: id.to_string(),
            })
    }

    /// One step of the shadow (a close's bars and decisions, a halt, a
    /// flatten) and what it did: the venue's orders follow it — stops move,
    /// positions the shadow closed are closed at market, then accepted
    /// plans are sent as market entries.
    pub fn on_step(
        &mut self,
        shadow: &PaperAccount,
        events: &[AccountEvent],
        time: TimeMs,
    ) -> Result<Vec<Command>, PaperError> {
        self.since.get_or_insert(time);
        let mut out = Vec::new();
        let mut entries = Vec::new();
        for e in events {
            match e {
                AccountEvent::Closed(t) => {
                    if let Some(sym) = self.sym(&t.symbol) {
                        self.legs[sym].exit_reason = Some(t.exit_reason);
                        self.predicted.push((**t).clone());
                        let venue = self.trades.iter().find(|l| l.entry_time == t.entry_time);
                        if let Some(l) = venue.cloned() {
                            self.journal_parting(&l, t);
                        }
                    }
                }
                AccountEvent::Decision {
                    symbol,
                    accepted: true,
                    ..
                } => entries.extend(self.sym(symbol)),
                // The shadow dropped an entry it had not filled (a halt): so
                // does the venue, if it has not filled it either.
                AccountEvent::Order {
                    event: OrderEvent::Canceled { reason },
                    order,
                    ..
                } if order.request.purpose == Purpose::Entry => {
                    let Some(sym) = self.sym(&order.request.symbol) else {
                        continue;
                    };
                    if self.legs[sym].trade.is_none() {
                        if let Some(id) = self.legs[sym].entry.clone()
                            && let Some(c) = self.cancel(sym, &id)
                        {
                            out.push(c);
                        }
                    } else if self.legs[sym].exiting.is_none() {
                        // The venue filled at once what the backtest still
                        // held pending and then dropped: out at market.
                        self.notes.push(Note::Divergence {
                            time,
                            symbol: order.request.symbol.clone(),
                            what: format!(
                                "the backtest dropped its entry ({reason}) that the venue had filled; the venue exits at market"
                            ),
                        });
                    }
                }
                _ => {}
            }
        }
        for sym in 0..self.symbols.len() {
            out.extend(self.sync(shadow, sym, time)?);
        }
        for sym in entries {
            out.extend(self.entry(shadow, sym, time)?);
        }
        Ok(out)
    }

    /// The shadow's accepted plan for `sym` as a venue entry.
    fn entry(
        &mut self,
        shadow: &PaperAccount,
        sym: usize,
        time: TimeMs,
    ) -> Result<Vec<Command>, PaperError> {
        let legs = &self.legs[sym];
        let exiting = legs.exiting.is_some();
        if (legs.trade.is_some() && !exiting) || legs.entry.is_some() {
            return Ok(Vec::new());
        }
        let symbol = self.symbols[sym].clone();
        let Some((_, plan)) = shadow.book().pending().find(|(s, _)| *s == sym) else {
            return Ok(Vec::new());
        };
        let plan = Plan {
            long: plan.side == Side::Long,
            plan_qty: plan.qty,
            take_profit: plan.take_profit,
            stop: plan.stop_loss,
        };
        // The shadow's own entry order: the same quantity, to the last digit.
        let qty = shadow
            .orders()
            .find(|o| o.request.symbol == symbol && o.request.purpose == Purpose::Entry)
            .map(|o| o.request.qty)
            .ok_or_else(|| {
                PaperError::Invariant(format!("{symbol}: an accepted plan without its entry"))
            })?;
        let whole = self.rules.floor(qty);
        if whole <= Decimal::ZERO {
            self.notes.push(Note::Divergence {
                time,
                symbol,
                what: format!(
                    "the plan's {qty} is under the venue's lot ({}): not entered",
                    self.rules.lot.unwrap_or_default()
                ),
            });
            return Ok(Vec::new());
        }
        let qty = whole;
        let req = OrderRequest {
            client_id: self.order_id(),
            symbol,
            side: side_of(plan.long),
            kind: OrderKind::Market,
            qty,
            reduce_only: false,
            purpose: Purpose::Entry,
        };
        if exiting {
            self.legs[sym].next = Some((plan, req));
            return Ok(Vec::new());
        }
        self.enter(sym, time, plan, req).map(|c| vec![c])
    }

    fn enter(
        &mut self,
        sym: usize,
        time: TimeMs,
        plan: Plan,
        req: OrderRequest,
    ) -> Result<Command, PaperError> {
        self.legs[sym] = Legs {
            plan: Some(plan),
            entry: Some(req.client_id.clone()),
            ..Legs::default()
        };
        self.send(time, req)
    }

    /// The venue's orders of `sym` follow the shadow's position.
    fn sync(
        &mut self,
        shadow: &PaperAccount,
        sym: usize,
        time: TimeMs,
    ) -> Result<Vec<Command>, PaperError> {
        let mut out = Vec::new();
        let shadow = shadow
            .book()
            .positions()
            .iter()
            .find(|p| p.sym == sym)
            .cloned();
        let legs = &self.legs[sym];
        let venue_open = legs.open > Decimal::ZERO && legs.exiting.is_none();
        let symbol = self.symbols[sym].clone();
        match (shadow, venue_open) {
            (Some(p), true) => {
                let want = price(p.stop)?;
                let reason = if p.next_tp == 0 {
                    ExitReason::StopLoss
                } else if p.stop == p.entry_price {
                    ExitReason::BreakEven
                } else {
                    ExitReason::TrailingStop
                };
                if self.rules.exits == ExitStyle::Oco {
                    out.extend(self.sync_oco(sym, want, reason, time)?);
                    return Ok(out);
                }
                let open = legs.open;
                let current = legs.stop.as_ref().and_then(|(id, _)| self.orders.get(id));
                let same = current.is_some_and(|o| o.price == Some(want) && o.open_qty() == open);
                if !same {
                    if let Some((id, _)) = self.legs[sym].stop.take()
                        && let Some(c) = self.cancel(sym, &id)
                    {
                        out.push(c);
                    }
                    let long = p.is_long();
                    let req = self.request(
                        sym,
                        long,
                        OrderKind::StopMarket { trigger: want },
                        open,
                        Purpose::StopLoss,
                    );
                    self.legs[sym].stop = Some((req.client_id.clone(), reason));
                    out.push(self.send(time, req)?);
                }
            }
            (None, true) => {
                let reason = legs.exit_reason.unwrap_or(ExitReason::Flatten);
                if matches!(
                    reason,
                    ExitReason::Tp1
                        | ExitReason::Tp2
                        | ExitReason::Tp3
                        | ExitReason::StopLoss
                        | ExitReason::BreakEven
                        | ExitReason::TrailingStop
                ) {
                    self.notes.push(Note::Divergence {
                        time,
                        symbol: symbol.clone(),
                        what: format!(
                            "the backtest closed the position inside the bar ({}) at a level the venue had no order at yet; the venue exits at market",
                            reason.as_str()
                        ),
                    });
                }
                out.extend(self.cancel_legs(sym));
                let long = self.legs[sym].plan.as_ref().is_some_and(|p| p.long);
                let open = self.legs[sym].open;
                let req = self.request(sym, long, OrderKind::Market, open, Purpose::Exit);
                self.legs[sym].exiting = Some(req.client_id.clone());
                out.push(self.send(time, req)?);
            }
            (Some(_), false)
                if legs.trade.is_none() && legs.entry.is_none() && legs.plan.is_some() =>
            {
                self.notes.push(Note::Divergence {
                    time,
                    symbol,
                    what: "the venue closed the position; the backtest still holds it".into(),
                });
                self.legs[sym].plan = None;
            }
            _ => {}
        }
        Ok(out)
    }

    /// Cancels the symbol's resting exits (a pair by its take-profit: the
    /// venue cancels the stop leg with it).
    fn cancel_legs(&mut self, sym: usize) -> Vec<Command> {
        let legs = &mut self.legs[sym];
        let mut stops: Vec<String> = Vec::new();
        for (tp, stop) in legs.tp.iter().zip(legs.oco.iter_mut()) {
            if let Some(s) = stop.take()
                && tp
                    .as_ref()
                    .is_none_or(|t| self.orders.get(t).is_none_or(|o| o.status.is_closed()))
            {
                stops.push(s);
            }
        }
        let ids: Vec<String> = legs
            .tp
            .iter_mut()
            .filter_map(Option::take)
            .chain(legs.stop.take().map(|s| s.0))
            .chain(stops)
            .collect();
        ids.iter().filter_map(|id| self.cancel(sym, id)).collect()
    }

    /// [`ExitStyle::Oco`]: every pair's stop leg stands at `want`, and a
    /// take-profit whose stop leg went (a partial fill cancels the other
    /// leg) is paired again for what it has left.
    fn sync_oco(
        &mut self,
        sym: usize,
        want: Decimal,
        reason: ExitReason,
        time: TimeMs,
    ) -> Result<Vec<Command>, PaperError> {
        let mut out = Vec::new();
        self.legs[sym].oco_reason = Some(reason);
        let long = self.legs[sym].plan.as_ref().is_some_and(|p| p.long);
        for n in 0..3 {
            let open = |id: &Option<String>| {
                id.as_ref()
                    .and_then(|i| self.orders.get(i))
                    .filter(|o| !o.status.is_closed())
                    .cloned()
            };
            let (tp, stop) = (open(&self.legs[sym].tp[n]), open(&self.legs[sym].oco[n]));
            match (tp, stop) {
                (_, Some(s)) => {
                    if s.price != Some(want) {
                        out.push(Command::Replace {
                            symbol: self.symbols[sym].clone(),
                            client_id: s.id().to_string(),
                            trigger: want,
                        });
                    }
                }
                (Some(t), None) => {
                    let left = t.open_qty();
                    out.extend(self.cancel(sym, t.id()));
                    self.siblings.remove(t.id());
                    let kind = t.request.kind;
                    out.push(self.pair(sym, long, n, kind, want, left, time)?);
                }
                (None, None) => {}
            }
        }
        Ok(out)
    }

    /// Registers take-profit `n` (`kind`) and its stop leg at `stop` for `qty`
    /// as one pair, and returns the command that sends it.
    #[allow(clippy::too_many_arguments)]
    fn pair(
        &mut self,
        sym: usize,
        long: bool,
        n: usize,
        kind: OrderKind,
        stop: Decimal,
        qty: Decimal,
        time: TimeMs,
    ) -> Result<Command, PaperError> {
        let tp = self.request(sym, long, kind, qty, Purpose::TakeProfit(n as u8 + 1));
        let mut sl = self.request(
            sym,
            long,
            OrderKind::StopMarket { trigger: stop },
            qty,
            Purpose::StopLoss,
        );
        // The stop leg is named after its pair.
        sl.client_id = format!("{}{STOP_LEG}", tp.client_id);
        for r in [&tp, &sl] {
            let mut o = Order::new(r.clone());
            o.apply(time, OrderEvent::Submitted)?;
            self.orders.insert(r.client_id.clone(), o);
        }
        self.siblings
            .insert(tp.client_id.clone(), sl.client_id.clone());
        self.siblings
            .insert(sl.client_id.clone(), tp.client_id.clone());
        let legs = &mut self.legs[sym];
        legs.tp[n] = Some(tp.client_id.clone());
        legs.oco[n] = Some(sl.client_id.clone());
        Ok(Command::OpenOco {
            take_profit: tp,
            stop: sl,
        })
    }

    /// The venue's answer to an exit pair.
    pub fn on_oco_ack(
        &mut self,
        time: TimeMs,
        take_profit: &str,
        stop: &str,
        r: Result<(Ack, Ack), ExecError>,
    ) -> Result<Vec<Command>, PaperError> {
        match r {
            Ok((t, s)) => {
                for (id, ack) in [(stop, s), (take_profit, t)] {
                    self.apply(
                        id,
                        ack.time,
                        OrderEvent::Accepted {
                            venue_id: Some(ack.venue_id),
                        },
                    )?;
                }
                Ok(Vec::new())
            }
            Err(e) => {
                // Whatever the stop leg's fate, the pair's is the take-profit's.
                let mut out = self.on_ack(time, take_profit, Err(e.clone()))?;
                if !matches!(out.as_slice(), [Command::Lookup { .. }]) {
                    let why = e.to_string();
                    self.apply(stop, time, OrderEvent::Rejected { reason: why })?;
                    let sym = self
                        .orders
                        .get(stop)
                        .and_then(|o| self.sym(&o.request.symbol));
                    if let Some(sym) = sym {
                        out.extend(self.refused(sym, stop, time, &e)?);
                    }
                }
                Ok(out)
            }
        }
    }

    /// The venue's answer to moving stop `client_id` to `trigger`.
    pub fn on_replace(
        &mut self,
        time: TimeMs,
        client_id: &str,
        trigger: Decimal,
        r: Result<Ack, ExecError>,
    ) -> Result<Vec<Command>, PaperError> {
        match r {
            Ok(ack) => {
                self.apply(client_id, ack.time, OrderEvent::Updated { price: trigger })?;
                Ok(Vec::new())
            }
            // Gone already (filled, or canceled with its pair): its event says how.
            Err(ExecError::UnknownOrder { .. }) => Ok(Vec::new()),
            Err(e) => {
                self.notes.push(Note::Refused {
                    time,
                    client_id: client_id.to_string(),
                    why: format!("moving the stop to {trigger}: {e}"),
                });
                let Some(sym) = self
                    .orders
                    .get(client_id)
                    .and_then(|o| self.sym(&o.request.symbol))
                else {
                    return Ok(Vec::new());
                };
                // The price is already past the new stop: out at market.
                if matches!(e, ExecError::WouldTrigger { .. }) {
                    return self.exit_at_market(sym, time);
                }
                Ok(Vec::new())
            }
        }
    }

    /// Cancels the symbol's exits and closes what the venue holds at market.
    fn exit_at_market(&mut self, sym: usize, time: TimeMs) -> Result<Vec<Command>, PaperError> {
        let legs = &self.legs[sym];
        if legs.open <= Decimal::ZERO || legs.exiting.is_some() {
            return Ok(Vec::new());
        }
        let reason = legs
            .stop
            .as_ref()
            .map(|s| s.1)
            .or(legs.oco_reason)
            .unwrap_or(ExitReason::StopLoss);
        let mut out = self.cancel_legs(sym);
        let long = self.legs[sym].plan.as_ref().is_some_and(|p| p.long);
        let open = self.legs[sym].open;
        let req = self.request(sym, long, OrderKind::Market, open, Purpose::Exit);
        self.legs[sym].exiting = Some(req.client_id.clone());
        self.legs[sym].exit_reason = Some(reason);
        out.push(self.send(time, req)?);
        Ok(out)
    }

    /// The venue's answer to `Open(client_id)`.
    pub fn on_ack(
        &mut self,
        time: TimeMs,
        client_id: &str,
        r: Result<Ack, ExecError>,
    ) -> Result<Vec<Command>, PaperError> {
        let Some(o) = self.orders.get(client_id) else {
            return Ok(Vec::new());
        };
        let symbol = o.request.symbol.clone();
        let sym = self
            .sym(&symbol)
            .ok_or_else(|| PaperError::Invariant(format!("{symbol} is not followed")))?;
        match r {
            Ok(ack) => {
                self.apply(
                    client_id,
                    ack.time,
                    OrderEvent::Accepted {
                        venue_id: Some(ack.venue_id),
                    },
                )?;
                Ok(Vec::new())
            }
            // No answer, or "this client id exists" (a step replayed after a
            // crash sends the same ids): the venue may hold it, so look.
            Err(e)
                if e.is_unknown_outcome()
                    || matches!(e, ExecError::Rejected { code: -4116, .. }) =>
            {
                Ok(vec![Command::Lookup {
                    symbol,
                    client_id: client_id.to_string(),
                }])
            }
            Err(e) => {
                let why = e.to_string();
                self.apply(
                    client_id,
                    time,
                    OrderEvent::Rejected {
                        reason: why.clone(),
                    },
                )?;
                self.notes.push(Note::Refused {
                    time,
                    client_id: client_id.to_string(),
                    why,
                });
                self.refused(sym, client_id, time, &e)
            }
        }
    }

    /// A refused order: a stop the price already passed becomes a market
    /// exit; a refused entry leaves the symbol flat.
    fn refused(
        &mut self,
        sym: usize,
        id: &str,
        time: TimeMs,
        e: &ExecError,
    ) -> Result<Vec<Command>, PaperError> {
        let legs = &mut self.legs[sym];
        if legs.entry.as_deref() == Some(id) {
            legs.entry = None;
            legs.plan = None;
            return Ok(Vec::new());
        }
        let mut was_stop = false;
        if let Some((sid, _)) = legs.stop.clone()
            && sid == id
        {
            was_stop = true;
        }
        for n in 0..3 {
            if legs.oco[n].as_deref() == Some(id) {
                legs.oco[n] = None;
                legs.tp[n] = None;
                was_stop = true;
            }
        }
        // A stop the price already passed: out at market.
        if was_stop && matches!(e, ExecError::WouldTrigger { .. }) {
            return self.exit_at_market(sym, time);
        }
        if legs.stop.as_ref().is_some_and(|s| s.0 == id) {
            legs.stop = None;
        }
        Ok(Vec::new())
    }

    /// What a lookup found: for an order whose answer was lost (still
    /// submitted), whether the venue has it; for one that went away while
    /// the stream was down, how it ended (see [`Self::on_closed_order`]).
    pub fn on_lookup(
        &mut self,
        time: TimeMs,
        client_id: &str,
        r: Result<VenueOrder, ExecError>,
    ) -> Result<Vec<Command>, PaperError> {
        let lost = self
            .orders
            .get(client_id)
            .is_some_and(|o| o.status == crate::order::OrderStatus::Submitted);
        match r {
            Ok(o) => {
                if lost {
                    self.notes.push(Note::AnswerLost {
                        time,
                        client_id: client_id.to_string(),
                        found: true,
                    });
                }
                self.apply(
                    client_id,
                    o.time,
                    OrderEvent::Accepted {
                        venue_id: Some(o.venue_id),
                    },
                )?;
                Ok(Vec::new())
            }
            Err(ExecError::UnknownOrder { .. }) if lost => {
                self.notes.push(Note::AnswerLost {
                    time,
                    client_id: client_id.to_string(),
                    found: false,
                });
                let e = ExecError::Rejected {
                    venue: "venue",
                    code: 0,
                    reason: "the order never reached the venue".into(),
                };
                self.on_ack(time, client_id, Err(e))
            }
            // Still unresolved (the venue is unreachable): the order stays
            // submitted, and the next reconciliation looks it up again.
            Err(e) => {
                self.notes.push(Note::Refused {
                    time,
                    client_id: client_id.to_string(),
                    why: format!("looking the order up failed: {e}"),
                });
                Ok(Vec::new())
            }
        }
    }

    /// Funding the venue settled (applied once per symbol and time).
    pub fn on_funding(&mut self, payments: &[FundingPayment]) {
        for f in payments {
            let before = self.since.is_none_or(|s| f.time < s);
            if f.amount.is_zero() || before || self.sym(&f.symbol).is_none() {
                continue;
            }
            if !self.funded.insert((f.symbol.clone(), f.time)) {
                continue;
            }
            self.ledger.push(Entry {
                time: f.time,
                kind: EntryKind::Funding,
                symbol: f.symbol.clone(),
                amount: f.amount,
                order_id: None,
                trade_id: None,
            });
        }
    }

    /// Where `funding_since` should start.
    pub fn funded_until(&self) -> TimeMs {
        let last = self.funded.iter().map(|f| f.1).max().unwrap_or(0);
        last.max(self.since.unwrap_or(TimeMs::MAX))
    }

    /// Fills looked up with `trades_since` (those already applied are skipped).
    pub fn on_trades(&mut self, trades: &[VenueTrade]) -> Result<Vec<Command>, PaperError> {
        let mut out = Vec::new();
        for t in trades {
            let ev = execution::order_event(
                t.time,
                &t.client_id,
                &t.symbol,
                OrderEvent::Filled(OrderFilled {
                    trade_id: t.trade_id.clone(),
                    qty: t.qty,
                    price: t.price,
                    fee: t.fee,
                    liquidity: t.liquidity,
                }),
                Some(t.realized_pnl),
            );
            out.extend(self.on_event(&ev)?);
        }
        Ok(out)
    }

    /// Applies `event` to our order; false when it was already applied or
    /// cannot apply to it any more (a late cancel, an expiry after a cancel).
    fn apply(&mut self, id: &str, time: TimeMs, event: OrderEvent) -> Result<bool, PaperError> {
        let Some(o) = self.orders.get_mut(id) else {
            return Ok(false);
        };
        match o.apply(time, event.clone()) {
            Ok(_) => {
                self.cascade(id, time, &event);
                Ok(true)
            }
            Err(OrderError::DuplicateTrade { .. } | OrderError::IllegalTransition { .. }) => {
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// What one leg of a one-cancels-other pair did to the other: accepted
    /// and refused together; a fill (even in part), cancel or expiry of one
    /// cancels the other, as the venue does.
    fn cascade(&mut self, id: &str, time: TimeMs, event: &OrderEvent) {
        use crate::order::OrderStatus as S;
        let Some(other) = self.siblings.get(id).cloned() else {
            return;
        };
        let Some(o) = self
            .orders
            .get_mut(&other)
            .filter(|o| !o.status.is_closed())
        else {
            return;
        };
        let e = match event {
            OrderEvent::Accepted { .. } if o.status == S::Submitted => {
                OrderEvent::Accepted { venue_id: None }
            }
            OrderEvent::Rejected { reason } => OrderEvent::Rejected {
                reason: format!("its pair was refused: {reason}"),
            },
            OrderEvent::Filled(_) | OrderEvent::Canceled { .. } | OrderEvent::Expired => {
                OrderEvent::Canceled {
                    reason: "its one-cancels-other pair closed".into(),
                }
            }
            _ => return,
        };
        // A transition the table refuses leaves it as it was.
        let _ = o.apply(time, e);
    }

    /// A venue event: order events move our orders and positions; what we
    /// did not place is reported.
    pub fn on_event(&mut self, event: &VenueEvent) -> Result<Vec<Command>, PaperError> {
        let VenueEvent::Order {
            time,
            client_id,
            symbol,
            event,
            realized_pnl,
        } = event
        else {
            // Funding arrives as a balance change (`ACCOUNT_UPDATE`, `FUNDING_FEE`).
            if let VenueEvent::Balance {
                time,
                symbol: Some(symbol),
                change,
                reason,
                ..
            } = event
                && reason == "FUNDING_FEE"
            {
                self.on_funding(&[FundingPayment {
                    symbol: symbol.clone(),
                    time: *time,
                    amount: *change,
                }]);
            }
            return Ok(Vec::new());
        };
        if !self.orders.contains_key(client_id) {
            self.notes.push(Note::Reconciled {
                time: *time,
                findings: vec![format!(
                    "{} for an order the account did not place ({client_id} on {symbol}): left alone",
                    event.name()
                )],
            });
            return Ok(Vec::new());
        }
        let sym = self
            .sym(symbol)
            .ok_or_else(|| PaperError::Invariant(format!("{symbol} is not followed")))?;
        if !self.apply(client_id, *time, event.clone())? {
            return Ok(Vec::new());
        }
        let OrderEvent::Filled(f) = event else {
            return Ok(Vec::new());
        };
        self.seen[sym] = self.seen[sym].max(*time);
        let purpose = self.orders[client_id].request.purpose;
        let realized = match (self.rules.own_pnl, &self.legs[sym].trade) {
            (true, Some(t)) if purpose != Purpose::Entry => {
                let sign = if t.side == Side::Long {
                    Decimal::ONE
                } else {
                    -Decimal::ONE
                };
                (sign * f.qty * (f.price - t.entry_price)).round_dp(8)
            }
            (true, _) => Decimal::ZERO,
            (false, _) => realized_pnl.unwrap_or_default(),
        };
        for (kind, amount) in [(EntryKind::RealisedPnl, realized), (EntryKind::Fee, -f.fee)] {
            if !amount.is_zero() {
                self.ledger.push(Entry {
                    time: *time,
                    kind,
                    symbol: symbol.clone(),
                    amount,
                    order_id: Some(client_id.clone()),
                    trade_id: Some(f.trade_id.clone()),
                });
            }
        }
        let legs = &mut self.legs[sym];
        if purpose == Purpose::Entry {
            let plan = legs.plan.clone().unwrap_or_default();
            let t = legs.trade.get_or_insert_with(|| LiveTrade {
                symbol: symbol.clone(),
                side: if plan.long { Side::Long } else { Side::Short },
                entry_time: *time,
                entry_price: f.price,
                qty: Decimal::ZERO,
                exits: Vec::new(),
                fees: Decimal::ZERO,
                realized: Decimal::ZERO,
            });
            t.entry_price = (t.entry_price * t.qty + f.price * f.qty) / (t.qty + f.qty);
            t.qty += f.qty;
            t.fees += f.fee;
            legs.open += f.qty;
            if self.orders[client_id].status != crate::order::OrderStatus::Filled {
                return Ok(Vec::new());
            }
            legs.entry = None;
            return self.place_exits(sym, *time);
        }
        let reason = match purpose {
            Purpose::TakeProfit(n) => {
                [ExitReason::Tp1, ExitReason::Tp2, ExitReason::Tp3][(n.clamp(1, 3) - 1) as usize]
            }
            Purpose::StopLoss => legs
                .stop
                .as_ref()
                .map(|s| s.1)
                .or(legs.oco_reason)
                .unwrap_or(ExitReason::StopLoss),
            _ => legs.exit_reason.unwrap_or(ExitReason::Flatten),
        };
        if let Purpose::TakeProfit(n) = purpose
            && self.orders[client_id].status == crate::order::OrderStatus::Filled
        {
            legs.tp[(n.clamp(1, 3) - 1) as usize] = None;
        }
        legs.open -= f.qty;
        if let Some(t) = legs.trade.as_mut() {
            t.fees += f.fee;
            t.realized += realized;
            // Fills of one level at one moment are one exit (the stop legs
            // of several pairs fire together).
            match t.exits.last_mut() {
                Some(e) if e.time == *time && e.price == f.price && e.reason == reason => {
                    e.qty += f.qty;
                }
                _ => t.exits.push(LiveExit {
                    time: *time,
                    price: f.price,
                    qty: f.qty,
                    reason,
                }),
            }
        }
        if legs.open > Decimal::ZERO {
            return Ok(Vec::new());
        }
        // Closed: what still rests is canceled (the venue may have expired it).
        let mut out = self.cancel_legs(sym);
        let legs = std::mem::take(&mut self.legs[sym]);
        if let Some(t) = legs.trade {
            let predicted = self.predicted.iter().find(|p| p.entry_time == t.entry_time);
            if let Some(p) = predicted.cloned() {
                self.journal_parting(&t, &p);
            }
            self.trades.push(t);
        }
        if let Some((plan, req)) = legs.next {
            out.push(self.enter(sym, *time, plan, req)?);
        }
        Ok(out)
    }

    /// Notes where a venue trade parts from the predicted one (at its last exit).
    fn journal_parting(&mut self, l: &LiveTrade, p: &Trade) {
        if let Some(what) = parted(l, p, self.bar_ms) {
            self.notes.push(Note::Divergence {
                time: l.exits.last().map_or(l.entry_time, |e| e.time),
                symbol: l.symbol.clone(),
                what: format!("the venue's trade parts from the prediction: {what}"),
            });
        }
    }

    /// The entry filled: TP1–TP3 and the stop go to the venue.
    fn place_exits(&mut self, sym: usize, time: TimeMs) -> Result<Vec<Command>, PaperError> {
        let Some(plan) = self.legs[sym].plan.clone() else {
            return Ok(Vec::new());
        };
        let qty = self.legs[sym].open;
        if self.rules.exits == ExitStyle::Oco {
            return self.place_pairs(sym, &plan, qty, time);
        }
        let parts = self.parts(&plan, qty)?;
        let mut out = Vec::new();
        for (n, q) in parts.into_iter().enumerate() {
            if q <= Decimal::ZERO {
                continue;
            }
            let kind = OrderKind::Limit {
                price: price(plan.take_profit[n])?,
            };
            let req = self.request(sym, plan.long, kind, q, Purpose::TakeProfit(n as u8 + 1));
            self.legs[sym].tp[n] = Some(req.client_id.clone());
            out.push(self.send(time, req)?);
        }
        let kind = OrderKind::StopMarket {
            trigger: price(plan.stop)?,
        };
        let req = self.request(sym, plan.long, kind, qty, Purpose::StopLoss);
        self.legs[sym].stop = Some((req.client_id.clone(), ExitReason::StopLoss));
        out.push(self.send(time, req)?);
        Ok(out)
    }

    /// TP1–TP3's quantities for `qty` filled: the plan's split, or with a
    /// lot the split of what the venue filled in whole lots, the rest to
    /// the last level.
    fn parts(&self, plan: &Plan, qty: Decimal) -> Result<[Decimal; 3], PaperError> {
        if self.rules.lot.is_none() {
            return tp_parts(plan.plan_qty, qty, self.tp_split);
        }
        let split = |k: usize| price(self.tp_split[k]).map(|f| self.rules.floor(qty * f));
        let q1 = split(0)?.min(qty);
        let q2 = split(1)?.min(qty - q1);
        Ok([q1, q2, qty - q1 - q2])
    }

    /// [`ExitStyle::Oco`]: TP1–TP3 each paired with a stop for its part.
    fn place_pairs(
        &mut self,
        sym: usize,
        plan: &Plan,
        qty: Decimal,
        time: TimeMs,
    ) -> Result<Vec<Command>, PaperError> {
        let parts = self.parts(plan, qty)?;
        let stop = price(plan.stop)?;
        self.legs[sym].oco_reason = Some(ExitReason::StopLoss);
        let mut out = Vec::new();
        for (n, q) in parts.into_iter().enumerate() {
            if q <= Decimal::ZERO {
                continue;
            }
            let kind = OrderKind::Limit {
                price: price(plan.take_profit[n])?,
            };
            out.push(self.pair(sym, plan.long, n, kind, stop, q, time)?);
        }
        Ok(out)
    }

    /// On a (re)connect: compares the venue's snapshot with what the account
    /// holds, keeps the findings, and looks up orders that went away.
    pub fn reconcile(&mut self, snapshot: &AccountSnapshot) -> (Reconciliation, Vec<Command>) {
        let ours = self.open_order_ids();
        let positions: Vec<(String, Decimal)> = self
            .legs
            .iter()
            .enumerate()
            .filter(|(_, l)| l.open > Decimal::ZERO)
            .map(|(s, l)| {
                let long = l.plan.as_ref().is_some_and(|p| p.long);
                (self.symbols[s].clone(), if long { l.open } else { -l.open })
            })
            .collect();
        let mut r = execution::reconcile(snapshot, &ours, &positions);
        if snapshot.balance != self.balance() {
            r.balance_gap = Some((snapshot.balance, self.balance()));
        }
        if !r.is_clean() {
            self.notes.push(Note::Reconciled {
                time: snapshot.time,
                findings: r.describe(),
            });
        }
        let cmds = r
            .gone
            .iter()
            .map(|id| Command::Lookup {
                symbol: self.orders[id].request.symbol.clone(),
                client_id: id.clone(),
            })
            .collect();
        (r, cmds)
    }

    /// A looked-up order that is closed at the venue: apply how it ended
    /// (its fills come from `trades_since`).
    pub fn on_closed_order(&mut self, o: &VenueOrder) -> Result<(), PaperError> {
        use crate::order::OrderStatus as S;
        let event = match o.status {
            S::Canceled => OrderEvent::Canceled {
                reason: "canceled at the venue".into(),
            },
            S::Expired => OrderEvent::Expired,
            S::Rejected => OrderEvent::Rejected {
                reason: "rejected at the venue".into(),
            },
            _ => return Ok(()),
        };
        self.apply(&o.client_id, o.time, event).map(|_| ())
    }
}

/// Sends `commands` through `client` and feeds every answer back, until
/// nothing is left to send. Fills are not awaited here: they come from the
/// event stream or from [`catch_up`].
pub async fn execute<C: ExecutionClient>(
    account: &mut LiveAccount,
    client: &C,
    time: TimeMs,
    commands: Vec<Command>,
) -> Result<(), PaperError> {
    let mut queue: std::collections::VecDeque<Command> = commands.into();
    while let Some(c) = queue.pop_front() {
        let more = match c {
            Command::Open(req) => {
                let r = client.open(&req).await;
                account.on_ack(time, &req.client_id, r)?
            }
            Command::OpenOco { take_profit, stop } => {
                let r = client.open_oco(&take_profit, &stop).await;
                account.on_oco_ack(time, &take_profit.client_id, &stop.client_id, r)?
            }
            Command::Replace {
                symbol,
                client_id,
                trigger,
            } => {
                let r = client.replace_stop(&symbol, &client_id, trigger).await;
                account.on_replace(time, &client_id, trigger, r)?
            }
            Command::Cancel { symbol, client_id } => match client.cancel(&symbol, &client_id).await
            {
                Ok(_) => {
                    account.apply(
                        &client_id,
                        time,
                        OrderEvent::Canceled {
                            reason: "canceled by the account".into(),
                        },
                    )?;
                    Vec::new()
                }
                // Gone already (filled, expired with its position): its event says how.
                Err(_) => Vec::new(),
            },
            Command::Lookup { symbol, client_id } => {
                let r = client.order(&symbol, &client_id).await;
                if let Ok(o) = &r
                    && o.status.is_closed()
                {
                    account.on_closed_order(o)?;
                }
                account.on_lookup(time, &client_id, r)?
            }
        };
        queue.extend(more);
    }
    Ok(())
}

/// Applies every fill the venue made on the account's active symbols since
/// the last one seen (`trades_since`), then sends what they call for.
pub async fn catch_up<C: ExecutionClient>(
    account: &mut LiveAccount,
    client: &C,
    time: TimeMs,
) -> Result<(), PaperError> {
    if account.since.is_some() {
        match client.funding_since(account.funded_until()).await {
            Ok(f) => account.on_funding(&f),
            Err(e) => {
                return Err(PaperError::Refused(format!(
                    "{}: funding: {e}",
                    client.venue()
                )));
            }
        }
    }
    loop {
        let mut cmds = Vec::new();
        for symbol in account.active_symbols() {
            let since = account.seen(&symbol);
            match client.trades_since(&symbol, since).await {
                Ok(t) => cmds.extend(account.on_trades(&t)?),
                Err(e) => {
                    return Err(PaperError::Refused(format!(
                        "{}: trades of {symbol}: {e}",
                        client.venue()
                    )));
                }
            }
        }
        if cmds.is_empty() {
            return Ok(());
        }
        execute(account, client, time, cmds).await?;
    }
}

fn near(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-8 * a.abs().max(b.abs()).max(1.0)
}

/// How a venue trade differs from the predicted one, or `None` when it is
/// the same: entry time and price, and each exit's bar, price, quantity and
/// reason (venue fills carry their time within the bar, the backtest's the
/// bar's).
pub fn parted(l: &LiveTrade, p: &Trade, bar_ms: TimeMs) -> Option<String> {
    let bar = |t: TimeMs| t.div_euclid(bar_ms.max(1));
    if l.symbol != p.symbol || l.side != p.side {
        return Some(format!(
            "{} {:?} vs {} {:?}",
            l.symbol, l.side, p.symbol, p.side
        ));
    }
    if l.entry_time != p.entry_time || !near(to_f64(l.entry_price), p.entry_price) {
        return Some(format!(
            "entry {} at {} vs {} at {}",
            l.entry_time, l.entry_price, p.entry_time, p.entry_price
        ));
    }
    if l.exits.len() != p.exits.len() {
        let reasons =
            |r: Vec<ExitReason>| r.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ");
        return Some(format!(
            "{} exits ({}) vs {} ({})",
            l.exits.len(),
            reasons(l.exits.iter().map(|e| e.reason).collect()),
            p.exits.len(),
            reasons(p.exits.iter().map(|e| e.reason).collect())
        ));
    }
    for (a, b) in l.exits.iter().zip(&p.exits) {
        if bar(a.time) != bar(b.time)
            || !near(to_f64(a.price), b.price)
            || !near(to_f64(a.qty), b.qty)
            || a.reason != b.reason
        {
            return Some(format!(
                "{} at {} x{} ({}) vs {} at {} x{} ({})",
                a.reason.as_str(),
                a.price,
                a.qty,
                a.time,
                b.reason.as_str(),
                b.price,
                b.qty,
                b.time
            ));
        }
    }
    None
}
