//! An account's book: cash, open positions, entries waiting for the next
//! open, and the portfolio guards — the one place where a plan becomes a
//! position and a position meets bars. The backtester drives it on
//! historical bars; a paper account (`trading::matcher`) drives it on each
//! bar the follower stores, so both give the same fills on the same bars.
//!
//! Timing: a plan made at the close of bar t enters at the open of the
//! symbol's next bar, with slippage; an open that has already gapped past
//! the plan's stop or first target cancels the entry (nobody would place it).
//!
//! Intrabar order — when one bar reaches both a stop and a target the fills'
//! order is unknowable from OHLC. [`IntrabarPolicy::WorstCase`] assumes the
//! path open → adverse extreme → favourable extreme → close: the stop is
//! tested first, then the targets, and a stop moved by TP1 within the bar
//! is tested against the close. [`IntrabarPolicy::LowerTimeframe`] replays
//! such ambiguous bars on lower-timeframe bars (each with the same
//! worst-case path) and falls back to the worst case where none exist.
//!
//! Exits: TP1/TP2/TP3 close 30/40/30 % (limit orders: maker fee, no
//! slippage); after TP1 the stop moves to break-even, then trails the best
//! price by `trail_atr` ATRs (updated at each close); a time stop closes
//! what is left at the close of the bar that completes `time_stop_hours`;
//! stops and time stops are market orders (taker fee and slippage). A price
//! beyond the liquidation price (only possible through a gap, since sizing
//! keeps liquidation beyond the stop) closes the position at that price.
//! Funding is charged each bar on the open notional.
//!
//! What happens is told to a [`Journal`]: the backtester's keeps only the
//! closed trades (no cost on its hot path), a paper account's turns every
//! step into order events and ledger entries.

use crate::backtest::{BacktestConfig, IntrabarPolicy};
use crate::costs::{FundingRate, Liquidity};
use crate::risk::guards::{Exposure, PortfolioGuard};
use crate::signals::{PlanContext, Prediction, Rejection, Side, SignalPlan, plan};
use crate::{Candle, TimeMs};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitReason {
    Tp1,
    Tp2,
    Tp3,
    StopLoss,
    BreakEven,
    TrailingStop,
    TimeStop,
    Liquidation,
    EndOfData,
    /// Closed by the kill switch (`traderai kill --flatten`) or its owner.
    Flatten,
}

impl ExitReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ExitReason::Tp1 => "tp1",
            ExitReason::Tp2 => "tp2",
            ExitReason::Tp3 => "tp3",
            ExitReason::StopLoss => "stop_loss",
            ExitReason::BreakEven => "break_even",
            ExitReason::TrailingStop => "trailing_stop",
            ExitReason::TimeStop => "time_stop",
            ExitReason::Liquidation => "liquidation",
            ExitReason::EndOfData => "end_of_data",
            ExitReason::Flatten => "flatten",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Fill {
    pub time: TimeMs,
    pub price: f64,
    pub qty: f64,
    pub reason: ExitReason,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trade {
    pub symbol: String,
    pub side: Side,
    pub signal_time: TimeMs,
    pub entry_time: TimeMs,
    pub entry_price: f64,
    pub qty: f64,
    pub leverage: f64,
    pub initial_stop: f64,
    pub take_profit: [f64; 3],
    pub expected_move_pct: f64,
    pub exits: Vec<Fill>,
    pub exit_time: TimeMs,
    pub exit_reason: ExitReason,
    pub tp1_hit: bool,
    /// Price P&L of all fills, before costs.
    pub gross_pnl: f64,
    pub fees: f64,
    pub funding: f64,
    pub pnl: f64,
    /// Net P&L over the equity at entry, percent.
    pub return_pct: f64,
}

/// An open position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// Index of its symbol in the book's universe.
    pub sym: usize,
    pub plan: SignalPlan,
    pub entry_time: TimeMs,
    pub entry_price: f64,
    pub qty_open: f64,
    pub stop: f64,
    /// Targets already reached (0–3).
    pub next_tp: usize,
    pub best: f64,
    pub atr: f64,
    pub equity_at_entry: f64,
    pub fees: f64,
    pub funding: f64,
    pub gross: f64,
    pub exits: Vec<Fill>,
}

impl Position {
    fn s(&self) -> f64 {
        self.plan.side.sign()
    }
    pub fn is_long(&self) -> bool {
        self.plan.side == Side::Long
    }
    pub fn margin(&self) -> f64 {
        self.plan.margin * self.qty_open / self.plan.qty
    }
    /// Price P&L of what is still open at `price`.
    pub fn unrealised(&self, price: f64) -> f64 {
        self.s() * self.qty_open * (price - self.entry_price)
    }
}

/// What the book tells about its steps. Every method but `closed` defaults
/// to nothing, so a backtest pays only for the trades it keeps.
pub trait Journal {
    /// A pending entry filled at the open.
    fn entered(&mut self, _p: &Position, _fee: f64) {}
    /// A pending entry was not placed: the open gapped past its stop or TP1.
    fn entry_canceled(&mut self, _sym: usize, _plan: &SignalPlan, _time: TimeMs) {}
    /// Part or all of a position closed (`p` as it is after the fill).
    fn exited(&mut self, _p: &Position, _fill: &Fill, _fee: f64, _liq: Liquidity) {}
    /// Funding paid (positive) or received over one bar.
    fn funding(&mut self, _p: &Position, _time: TimeMs, _amount: f64) {}
    /// The stop moved (break-even after TP1, or the trail).
    fn stop_moved(&mut self, _p: &Position, _time: TimeMs) {}
    /// A position closed completely.
    fn closed(&mut self, trade: Trade);
}

/// The journal a backtest keeps: closed trades and the count of entries
/// that were not placed.
#[derive(Debug, Default)]
pub struct Trades {
    pub trades: Vec<Trade>,
    pub cancelled_entries: usize,
}

impl Journal for Trades {
    fn entry_canceled(&mut self, _sym: usize, _plan: &SignalPlan, _time: TimeMs) {
        self.cancelled_entries += 1;
    }
    fn closed(&mut self, trade: Trade) {
        self.trades.push(trade);
    }
}

/// One bar of a symbol with what the book may need beside it.
#[derive(Debug, Clone, Copy)]
pub struct BarInput<'a> {
    pub bar: &'a Candle,
    /// Lower-timeframe bars of the symbol (any span: those inside the bar are used).
    pub lower: Option<&'a [Candle]>,
    /// Stored funding settlements (time-sorted); `None`: the cost model's constant.
    pub funding: Option<&'a [FundingRate]>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Book {
    bar_ms: TimeMs,
    cash: f64,
    positions: Vec<Position>,
    pending: Vec<Option<SignalPlan>>,
    guard: PortfolioGuard,
}

impl Book {
    /// A flat book with `cfg.initial_capital` over `symbols` markets whose
    /// bars last `bar_ms`.
    pub fn new(cfg: &BacktestConfig, bar_ms: TimeMs, symbols: usize) -> Book {
        Book {
            bar_ms,
            cash: cfg.initial_capital,
            positions: Vec::new(),
            pending: vec![None; symbols],
            guard: PortfolioGuard::new(cfg.guards, cfg.initial_capital),
        }
    }

    /// Cash: capital plus everything realised (P&L, fees, funding).
    /// The length of its bars.
    pub fn bar_ms(&self) -> TimeMs {
        self.bar_ms
    }

    pub fn cash(&self) -> f64 {
        self.cash
    }

    pub fn positions(&self) -> &[Position] {
        &self.positions
    }

    /// Entries decided at a close, waiting for their symbol's next open.
    pub fn pending(&self) -> impl Iterator<Item = (usize, &SignalPlan)> {
        self.pending
            .iter()
            .enumerate()
            .filter_map(|(s, p)| p.as_ref().map(|p| (s, p)))
    }

    pub fn guard(&self) -> &PortfolioGuard {
        &self.guard
    }

    pub fn guard_mut(&mut self) -> &mut PortfolioGuard {
        &mut self.guard
    }

    pub fn has_position(&self, sym: usize) -> bool {
        self.positions.iter().any(|p| p.sym == sym)
    }

    /// Cash plus the open positions at the given last closes (by symbol index).
    pub fn equity(&self, last_close: &[Option<f64>]) -> f64 {
        let unreal: f64 = self
            .positions
            .iter()
            .map(|p| p.unrealised(last_close[p.sym].unwrap_or(p.entry_price)))
            .sum();
        self.cash + unreal
    }

    /// Marks the book at a close: returns the equity, which the breakers see.
    pub fn mark(&mut self, close_time: TimeMs, last_close: &[Option<f64>]) -> f64 {
        let equity = self.equity(last_close);
        self.guard.on_equity(close_time, equity);
        equity
    }

    /// Drops a pending entry (a halt, or its owner), returning it.
    pub fn cancel_pending(&mut self, sym: usize) -> Option<SignalPlan> {
        self.pending.get_mut(sym).and_then(Option::take)
    }

    /// Decides at a close whether `pred` for symbol `sym` becomes an entry at
    /// its next open, sized on `equity` and what margin is free.
    #[allow(clippy::too_many_arguments)]
    pub fn decide(
        &mut self,
        cfg: &BacktestConfig,
        sym: usize,
        symbol: &str,
        pred: &Prediction,
        close_time: TimeMs,
        price: f64,
        atr: f64,
        equity: f64,
    ) -> Result<&SignalPlan, Rejection> {
        if sym >= self.pending.len() {
            self.pending.resize(sym + 1, None);
        }
        let free = equity
            - self.positions.iter().map(Position::margin).sum::<f64>()
            - self.pending.iter().flatten().map(|p| p.margin).sum::<f64>();
        let limits = cfg.profile.limits();
        let mut ctx = PlanContext {
            time: close_time,
            price,
            atr,
            equity,
            free_margin: free,
            risk_scale: 1.0,
        };
        let exposures: Vec<Exposure> = self
            .positions
            .iter()
            .map(|q| Exposure {
                symbol: q.plan.symbol.clone(),
                long: q.is_long(),
                risk_amount: q.plan.risk_amount * q.qty_open / q.plan.qty,
            })
            // Entries waiting for the next open count as positions already.
            .chain(self.pending.iter().flatten().map(|p| Exposure {
                symbol: p.symbol.clone(),
                long: p.side == Side::Long,
                risk_amount: p.risk_amount,
            }))
            .collect();
        // Breakers and the position cap first: they refuse whatever the plan.
        self.guard
            .may_open(exposures.len(), limits.max_positions)
            .map_err(Rejection::Guard)?;
        let make = |ctx: &PlanContext| plan(symbol, pred, ctx, &cfg.plan, &limits, &cfg.costs);
        let mut p = make(&ctx)?;
        let scale = self
            .guard
            .admit(
                symbol,
                p.side == Side::Long,
                p.risk_amount,
                &exposures,
                limits.max_positions,
            )
            .map_err(Rejection::Guard)?;
        if scale < 1.0 {
            ctx.risk_scale = scale;
            p = make(&ctx)?;
        }
        Ok(self.pending[sym].insert(p))
    }

    /// One bar of symbol `sym`: its pending entry meets the open, then its
    /// position meets the bar.
    pub fn bar<J: Journal>(
        &mut self,
        cfg: &BacktestConfig,
        sym: usize,
        input: BarInput<'_>,
        journal: &mut J,
    ) {
        if let Some(p) = self.pending.get_mut(sym).and_then(Option::take) {
            self.enter(cfg, sym, p, input.bar, journal);
        }
        self.manage(cfg, sym, input, journal);
    }

    /// Closes every open position at `price_of(sym)` — a time and the last
    /// price known then; a market order: taker fee and slippage — and drops
    /// pending entries: the end of a backtest's data, or a flatten.
    pub fn close_all<J: Journal>(
        &mut self,
        cfg: &BacktestConfig,
        price_of: impl Fn(usize) -> Option<(TimeMs, f64)>,
        reason: ExitReason,
        journal: &mut J,
    ) {
        for p in &mut self.pending {
            *p = None;
        }
        for k in (0..self.positions.len()).rev() {
            let p = &self.positions[k];
            let Some((time, last)) = price_of(p.sym) else {
                continue;
            };
            let price = cfg.costs.fill_price(last, !p.is_long(), Liquidity::Taker);
            let qty = p.qty_open;
            self.exit(cfg, k, time, price, qty, reason, Liquidity::Taker, journal);
            self.finish(k, journal);
        }
    }

    fn enter<J: Journal>(
        &mut self,
        cfg: &BacktestConfig,
        sym: usize,
        p: SignalPlan,
        bar: &Candle,
        journal: &mut J,
    ) {
        let sign = p.side.sign();
        // Gapped past the stop or the first target: the order is not placed.
        if sign * (bar.open - p.stop_loss) <= 0.0 || sign * (bar.open - p.take_profit[0]) >= 0.0 {
            journal.entry_canceled(sym, &p, bar.open_time);
            return;
        }
        let price = cfg
            .costs
            .fill_price(bar.open, p.side == Side::Long, Liquidity::Taker);
        let fee = cfg.costs.fee(price * p.qty, Liquidity::Taker);
        self.cash -= fee;
        let equity_at_entry = self.cash + fee;
        self.positions.push(Position {
            sym,
            entry_time: bar.open_time,
            entry_price: price,
            qty_open: p.qty,
            stop: p.stop_loss,
            next_tp: 0,
            best: price,
            atr: if p.atr.is_finite() {
                p.atr
            } else {
                (p.entry - p.stop_loss).abs()
            },
            equity_at_entry,
            fees: fee,
            funding: 0.0,
            gross: 0.0,
            exits: Vec::with_capacity(4),
            plan: p,
        });
        if let Some(p) = self.positions.last() {
            journal.entered(p, fee);
        }
    }

    /// The bar for symbol `sym`'s open position, if it has one.
    fn manage<J: Journal>(
        &mut self,
        cfg: &BacktestConfig,
        sym: usize,
        input: BarInput<'_>,
        journal: &mut J,
    ) {
        let Some(k) = self.positions.iter().position(|p| p.sym == sym) else {
            return;
        };
        let bar = *input.bar;
        let subs = match (cfg.intrabar, input.lower) {
            (IntrabarPolicy::LowerTimeframe, Some(lower)) if self.ambiguous(k, &bar) => {
                let from = lower.partition_point(|c| c.open_time < bar.open_time);
                let to = lower.partition_point(|c| c.open_time < bar.open_time + self.bar_ms);
                (to > from).then(|| &lower[from..to])
            }
            _ => None,
        };
        let closed = match subs {
            Some(subs) => subs.iter().any(|sb| self.step(cfg, k, sb, journal)),
            None => self.step(cfg, k, &bar, journal),
        };
        if closed {
            self.finish(k, journal);
            return;
        }
        let close_time = bar.open_time + self.bar_ms;
        let p = &mut self.positions[k];
        let hours = self.bar_ms as f64 / 3_600_000.0;
        let notional = p.qty_open * bar.close;
        let f = match input.funding {
            // Settlements during this bar, at the bar's close as the mark.
            Some(rates) => {
                crate::costs::settled_funding(rates, bar.open_time, close_time, p.s(), notional)
            }
            None => cfg.costs.funding(notional, hours),
        };
        p.funding += f;
        self.cash -= f;
        journal.funding(p, close_time, f);
        let held = cfg.calendar.open_ms_between(p.entry_time, close_time);
        if held as f64 >= cfg.time_stop_hours * 3_600_000.0 {
            let long = p.is_long();
            let qty = p.qty_open;
            let price = cfg.costs.fill_price(bar.close, !long, Liquidity::Taker);
            self.exit(
                cfg,
                k,
                close_time,
                price,
                qty,
                ExitReason::TimeStop,
                Liquidity::Taker,
                journal,
            );
            self.finish(k, journal);
            return;
        }
        let p = &mut self.positions[k];
        if p.next_tp > 0 {
            let sg = p.s();
            let extreme = if p.is_long() { bar.high } else { bar.low };
            if sg * (extreme - p.best) > 0.0 {
                p.best = extreme;
            }
            let trail = p.best - sg * cfg.trail_atr * p.atr;
            if sg * (trail - p.stop) > 0.0 {
                p.stop = trail;
                journal.stop_moved(p, close_time);
            }
        }
    }

    fn ambiguous(&self, k: usize, bar: &Candle) -> bool {
        let p = &self.positions[k];
        let sg = p.s();
        let (adverse, favorable) = if p.is_long() {
            (bar.low, bar.high)
        } else {
            (bar.high, bar.low)
        };
        p.next_tp < 3
            && sg * (adverse - p.stop) <= 0.0
            && sg * (favorable - p.plan.take_profit[p.next_tp]) >= 0.0
    }

    /// One bar (or sub-bar) on the worst-case path; true when the position closed.
    fn step<J: Journal>(
        &mut self,
        cfg: &BacktestConfig,
        k: usize,
        bar: &Candle,
        journal: &mut J,
    ) -> bool {
        let t = bar.open_time;
        let p = &self.positions[k];
        let (sg, long, liq) = (p.s(), p.is_long(), p.plan.liquidation);
        let (adverse, favorable) = if long {
            (bar.low, bar.high)
        } else {
            (bar.high, bar.low)
        };
        if sg * (bar.open - liq) <= 0.0 {
            let qty = p.qty_open;
            let r = ExitReason::Liquidation;
            self.exit(cfg, k, t, liq, qty, r, Liquidity::Taker, journal);
            return true;
        }
        if sg * (adverse - p.stop) <= 0.0 {
            let qty = p.qty_open;
            let level = if sg * (bar.open - p.stop) <= 0.0 {
                bar.open
            } else {
                p.stop
            };
            let reason = self.stop_reason(k);
            let price = cfg.costs.fill_price(level, !long, Liquidity::Taker);
            self.exit(cfg, k, t, price, qty, reason, Liquidity::Taker, journal);
            return true;
        }
        let mut moved = false;
        while self.positions[k].next_tp < 3 {
            let p = &self.positions[k];
            let n = p.next_tp;
            let tp = p.plan.take_profit[n];
            if sg * (favorable - tp) < 0.0 {
                break;
            }
            let qty = if n == 2 {
                p.qty_open
            } else {
                p.plan.qty * cfg.plan.tp_split[n]
            };
            let reason = [ExitReason::Tp1, ExitReason::Tp2, ExitReason::Tp3][n];
            let qty = qty.min(p.qty_open);
            self.exit(cfg, k, t, tp, qty, reason, Liquidity::Maker, journal);
            let p = &mut self.positions[k];
            p.next_tp += 1;
            if n == 0 {
                p.stop = p.entry_price;
                moved = true;
            }
            if p.qty_open <= p.plan.qty * 1e-12 {
                return true;
            }
            if n == 0 {
                journal.stop_moved(p, t);
            }
        }
        let p = &self.positions[k];
        if moved && sg * (bar.close - p.stop) <= 0.0 {
            let qty = p.qty_open;
            let price = cfg.costs.fill_price(p.stop, !long, Liquidity::Taker);
            let r = ExitReason::BreakEven;
            self.exit(cfg, k, t, price, qty, r, Liquidity::Taker, journal);
            return true;
        }
        false
    }

    fn stop_reason(&self, k: usize) -> ExitReason {
        let p = &self.positions[k];
        if p.next_tp == 0 {
            ExitReason::StopLoss
        } else if p.stop == p.entry_price {
            ExitReason::BreakEven
        } else {
            ExitReason::TrailingStop
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn exit<J: Journal>(
        &mut self,
        cfg: &BacktestConfig,
        k: usize,
        time: TimeMs,
        price: f64,
        qty: f64,
        reason: ExitReason,
        liq: Liquidity,
        journal: &mut J,
    ) {
        let p = &mut self.positions[k];
        let fee = cfg.costs.fee(price * qty, liq);
        let gross = p.s() * qty * (price - p.entry_price);
        p.qty_open -= qty;
        p.fees += fee;
        p.gross += gross;
        let fill = Fill {
            time,
            price,
            qty,
            reason,
        };
        p.exits.push(fill);
        self.cash += gross - fee;
        journal.exited(p, &fill, fee, liq);
    }

    fn finish<J: Journal>(&mut self, k: usize, journal: &mut J) {
        let p = self.positions.swap_remove(k);
        let pnl = p.gross - p.fees - p.funding;
        self.guard.on_trade_closed(pnl);
        let last = *p.exits.last().expect("a closed position has fills");
        journal.closed(Trade {
            symbol: p.plan.symbol.clone(),
            side: p.plan.side,
            signal_time: p.plan.time,
            entry_time: p.entry_time,
            entry_price: p.entry_price,
            qty: p.plan.qty,
            leverage: p.plan.leverage,
            initial_stop: p.plan.stop_loss,
            take_profit: p.plan.take_profit,
            expected_move_pct: p.plan.expected_move_pct,
            tp1_hit: p.exits.iter().any(|f| f.reason == ExitReason::Tp1),
            exit_time: last.time,
            exit_reason: last.reason,
            exits: p.exits,
            gross_pnl: p.gross,
            fees: p.fees,
            funding: p.funding,
            pnl,
            return_pct: pnl / p.equity_at_entry * 100.0,
        });
    }
}
