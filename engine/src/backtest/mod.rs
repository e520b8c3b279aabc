//! Bar-by-bar backtester over one or many symbols.
//!
//! Timing: a signal made at the close of bar t is filled at the open of the
//! symbol's next bar, with slippage; an open that has already gapped past
//! the plan's stop or first target cancels the entry (nobody would place it).
//!
//! Intrabar order — when one bar reaches both a stop and a target the fills'
//! order is unknowable from OHLC. [`IntrabarPolicy::WorstCase`] (default)
//! assumes the path open → adverse extreme → favourable extreme → close: the
//! stop is tested first, then the targets, and a stop moved by TP1 within
//! the bar is tested against the close. [`IntrabarPolicy::LowerTimeframe`]
//! replays such ambiguous bars on stored lower-timeframe bars (each with the
//! same worst-case path) and falls back to the worst case where none exist.
//!
//! Exits: TP1/TP2/TP3 close 30/40/30 % (limit orders: maker fee, no
//! slippage); after TP1 the stop moves to break-even, then trails the best
//! price by `trail_atr` ATRs (updated at each close); a time stop closes
//! what is left at the close of the bar that completes `time_stop_hours`;
//! stops and time stops are market orders (taker fee and slippage). A price
//! beyond the liquidation price (only possible through a gap, since sizing
//! keeps liquidation beyond the stop) closes the position at that price.
//! Funding is charged each bar on the open notional.

pub mod metrics;
pub mod report;
pub mod strategy;

use crate::costs::{CostModel, Liquidity};
use crate::risk::RiskProfile;
use crate::risk::guards::{Exposure, GuardConfig, PortfolioGuard};
use crate::signals::{PlanConfig, PlanContext, Prediction, Rejection, Side, SignalPlan, plan};
use crate::{Candle, TimeMs, Timeframe};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntrabarPolicy {
    WorstCase,
    LowerTimeframe,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BacktestConfig {
    pub initial_capital: f64,
    pub profile: RiskProfile,
    pub costs: CostModel,
    pub plan: PlanConfig,
    pub guards: GuardConfig,
    pub intrabar: IntrabarPolicy,
    pub trail_atr: f64,
    pub time_stop_hours: f64,
    /// Record every accept/reject decision (the look-ahead test reads them).
    pub record_decisions: bool,
}

impl Default for BacktestConfig {
    fn default() -> Self {
        BacktestConfig {
            initial_capital: 100.0,
            profile: RiskProfile::Medium,
            costs: CostModel::default(),
            plan: PlanConfig::default(),
            guards: GuardConfig::default(),
            intrabar: IntrabarPolicy::WorstCase,
            trail_atr: 1.0,
            time_stop_hours: 48.0,
            record_decisions: false,
        }
    }
}

/// One symbol's bars and what the strategy said at each close.
#[derive(Debug, Clone, Copy)]
pub struct SeriesInput<'a> {
    pub symbol: &'a str,
    pub candles: &'a [Candle],
    pub predictions: &'a [Option<Prediction>],
    /// ATR known at each bar's close (stops and trailing).
    pub atr: &'a [Option<f64>],
    /// Lower-timeframe bars of the same symbol, for the intrabar policy.
    pub lower: Option<&'a [Candle]>,
    /// Stored funding settlements (time-sorted) of a perpetual: charged at
    /// their real times and rates; `None` charges the cost model's constant.
    pub funding: Option<&'a [crate::costs::FundingRate]>,
}

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

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EquityPoint {
    /// Close time of the bars just processed.
    pub time: TimeMs,
    pub equity: f64,
    pub drawdown_pct: f64,
    /// Buy-and-hold of the same symbols from the first bar, equal weights.
    pub buy_and_hold: f64,
    pub open_positions: u32,
}

/// One accept or reject at a bar close.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub time: TimeMs,
    pub symbol: usize,
    pub accepted: bool,
    pub reason: Option<&'static str>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BacktestResult {
    pub trades: Vec<Trade>,
    pub equity: Vec<EquityPoint>,
    pub rejections: BTreeMap<String, usize>,
    /// Entries cancelled because the next open gapped past the stop or TP1.
    pub cancelled_entries: usize,
    #[serde(skip)]
    pub decisions: Vec<Decision>,
}

struct Position {
    sym: usize,
    plan: SignalPlan,
    entry_time: TimeMs,
    entry_price: f64,
    qty_open: f64,
    stop: f64,
    next_tp: usize,
    best: f64,
    atr: f64,
    equity_at_entry: f64,
    fees: f64,
    funding: f64,
    gross: f64,
    exits: Vec<Fill>,
}

impl Position {
    fn s(&self) -> f64 {
        self.plan.side.sign()
    }
    fn is_long(&self) -> bool {
        self.plan.side == Side::Long
    }
    fn margin(&self) -> f64 {
        self.plan.margin * self.qty_open / self.plan.qty
    }
}

struct Engine<'c> {
    cfg: &'c BacktestConfig,
    bar_ms: TimeMs,
    cash: f64,
    positions: Vec<Position>,
    result: BacktestResult,
    guard: PortfolioGuard,
}

/// Runs the backtest. `timeframe` is the bars' timeframe (all series share it).
pub fn run(
    series: &[SeriesInput<'_>],
    timeframe: Timeframe,
    cfg: &BacktestConfig,
) -> BacktestResult {
    let bar_ms = timeframe.duration_ms();
    let mut events: Vec<(TimeMs, u32, u32)> = series
        .iter()
        .enumerate()
        .flat_map(|(s, x)| {
            x.candles
                .iter()
                .enumerate()
                .map(move |(i, c)| (c.open_time, s as u32, i as u32))
        })
        .collect();
    if series.len() > 1 {
        events.sort_unstable();
    }
    let mut e = Engine {
        cfg,
        bar_ms,
        cash: cfg.initial_capital,
        positions: Vec::new(),
        result: BacktestResult {
            equity: Vec::with_capacity(events.len()),
            ..Default::default()
        },
        guard: PortfolioGuard::new(cfg.guards, cfg.initial_capital),
    };
    let mut pending: Vec<Option<SignalPlan>> = vec![None; series.len()];
    let mut last_close: Vec<Option<f64>> = vec![None; series.len()];
    // Buy and hold: units bought at each symbol's first open with the taker cost.
    let share = cfg.initial_capital / series.len().max(1) as f64;
    let mut bh_units: Vec<Option<f64>> = vec![None; series.len()];
    let mut bh_cash = cfg.initial_capital;
    let mut peak = cfg.initial_capital;
    let mut g = 0;
    while g < events.len() {
        let t = events[g].0;
        let end = events[g..]
            .iter()
            .position(|ev| ev.0 != t)
            .map_or(events.len(), |k| g + k);
        for &(_, s, i) in &events[g..end] {
            let (s, i) = (s as usize, i as usize);
            let x = &series[s];
            let bar = &x.candles[i];
            if bh_units[s].is_none() {
                let price = cfg.costs.fill_price(bar.open, true, Liquidity::Taker);
                let fee = cfg.costs.fee(share, Liquidity::Taker);
                bh_units[s] = Some((share - fee) / price);
                bh_cash -= share;
            }
            if let Some(p) = pending[s].take() {
                e.enter(s, p, bar);
            }
            e.bar(s, x, i);
            last_close[s] = Some(bar.close);
        }
        let unreal: f64 = e
            .positions
            .iter()
            .map(|p| {
                p.s() * p.qty_open * (last_close[p.sym].unwrap_or(p.entry_price) - p.entry_price)
            })
            .sum();
        let equity = e.cash + unreal;
        peak = peak.max(equity);
        let bh = bh_cash
            + bh_units
                .iter()
                .zip(&last_close)
                .map(|(u, c)| u.unwrap_or(0.0) * c.unwrap_or(0.0))
                .sum::<f64>();
        let close_time = t + bar_ms;
        e.result.equity.push(EquityPoint {
            time: close_time,
            equity,
            drawdown_pct: (1.0 - equity / peak) * 100.0,
            buy_and_hold: bh,
            open_positions: e.positions.len() as u32,
        });
        e.guard.on_equity(close_time, equity);
        for &(_, s, i) in &events[g..end] {
            let (s, i) = (s as usize, i as usize);
            let x = &series[s];
            if series.len() > 1 {
                // Correlation needs two markets; one market skips the bookkeeping.
                e.guard.on_close(x.symbol, t, x.candles[i].close);
            }
            // The last bar decides too: its signal is the live one, its entry
            // simply has no next open to fill at here.
            if e.positions.iter().any(|p| p.sym == s) {
                continue;
            }
            if let Some(pred) = x.predictions.get(i).copied().flatten() {
                let free = equity
                    - e.positions.iter().map(Position::margin).sum::<f64>()
                    - pending.iter().flatten().map(|p| p.margin).sum::<f64>();
                let decided = e.decide(x, i, &pred, equity, free, &pending);
                if cfg.record_decisions {
                    e.result.decisions.push(Decision {
                        time: close_time,
                        symbol: s,
                        accepted: decided.is_ok(),
                        reason: decided.as_ref().err().map(Rejection::kind),
                    });
                }
                match decided {
                    Ok(p) => pending[s] = Some(p),
                    Err(r) => *e.result.rejections.entry(r.kind().to_string()).or_default() += 1,
                }
            }
        }
        g = end;
    }
    // Whatever is still open is closed at the last close it saw.
    let open: Vec<usize> = (0..e.positions.len()).rev().collect();
    for k in open {
        let p = &e.positions[k];
        let last = series[p.sym]
            .candles
            .last()
            .expect("a position implies bars");
        let price = cfg
            .costs
            .fill_price(last.close, !p.is_long(), Liquidity::Taker);
        e.exit(
            k,
            last.open_time + bar_ms,
            price,
            p.qty_open,
            ExitReason::EndOfData,
            Liquidity::Taker,
        );
        e.finish(k);
    }
    if let Some(last) = e.result.equity.last_mut() {
        last.equity = e.cash;
        last.open_positions = 0;
    }
    e.result
}

impl Engine<'_> {
    fn decide(
        &mut self,
        x: &SeriesInput<'_>,
        i: usize,
        pred: &Prediction,
        equity: f64,
        free: f64,
        pending: &[Option<SignalPlan>],
    ) -> Result<SignalPlan, Rejection> {
        let limits = self.cfg.profile.limits();
        let atr = x.atr.get(i).copied().flatten().unwrap_or(f64::NAN);
        let mut ctx = PlanContext {
            time: x.candles[i].open_time + self.bar_ms,
            price: x.candles[i].close,
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
            .chain(pending.iter().flatten().map(|p| Exposure {
                symbol: p.symbol.clone(),
                long: p.side == Side::Long,
                risk_amount: p.risk_amount,
            }))
            .collect();
        // Breakers and the position cap first: they refuse whatever the plan.
        self.guard
            .may_open(exposures.len(), limits.max_positions)
            .map_err(Rejection::Guard)?;
        let (cfg, symbol) = (self.cfg, x.symbol);
        let make = |ctx: &PlanContext| plan(symbol, pred, ctx, &cfg.plan, &limits, &cfg.costs);
        let p = make(&ctx)?;
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
            return make(&ctx);
        }
        Ok(p)
    }

    fn enter(&mut self, s: usize, p: SignalPlan, bar: &Candle) {
        let sign = p.side.sign();
        // Gapped past the stop or the first target: the order is not placed.
        if sign * (bar.open - p.stop_loss) <= 0.0 || sign * (bar.open - p.take_profit[0]) >= 0.0 {
            self.result.cancelled_entries += 1;
            return;
        }
        let price = self
            .cfg
            .costs
            .fill_price(bar.open, p.side == Side::Long, Liquidity::Taker);
        let fee = self.cfg.costs.fee(price * p.qty, Liquidity::Taker);
        self.cash -= fee;
        let equity_at_entry = self.cash + fee;
        self.positions.push(Position {
            sym: s,
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
    }

    /// Processes bar `i` of series `s` for that symbol's open positions.
    fn bar(&mut self, s: usize, x: &SeriesInput<'_>, i: usize) {
        let Some(k) = self.positions.iter().position(|p| p.sym == s) else {
            return;
        };
        let bar = x.candles[i];
        let subs = match (self.cfg.intrabar, x.lower) {
            (IntrabarPolicy::LowerTimeframe, Some(lower)) if self.ambiguous(k, &bar) => {
                let from = lower.partition_point(|c| c.open_time < bar.open_time);
                let to = lower.partition_point(|c| c.open_time < bar.open_time + self.bar_ms);
                (to > from).then(|| &lower[from..to])
            }
            _ => None,
        };
        let closed = match subs {
            Some(subs) => subs.iter().any(|sb| self.step(k, sb)),
            None => self.step(k, &bar),
        };
        if closed {
            self.finish(k);
            return;
        }
        let cfg = self.cfg;
        let p = &mut self.positions[k];
        let hours = self.bar_ms as f64 / 3_600_000.0;
        let notional = p.qty_open * bar.close;
        let f = match x.funding {
            // Settlements during this bar, at the bar's close as the mark.
            Some(rates) => crate::costs::settled_funding(
                rates,
                bar.open_time,
                bar.open_time + self.bar_ms,
                p.s(),
                notional,
            ),
            None => cfg.costs.funding(notional, hours),
        };
        p.funding += f;
        self.cash -= f;
        let held = bar.open_time + self.bar_ms - p.entry_time;
        if held as f64 >= cfg.time_stop_hours * 3_600_000.0 {
            let long = p.is_long();
            let qty = p.qty_open;
            let price = cfg.costs.fill_price(bar.close, !long, Liquidity::Taker);
            self.exit(
                k,
                bar.open_time + self.bar_ms,
                price,
                qty,
                ExitReason::TimeStop,
                Liquidity::Taker,
            );
            self.finish(k);
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
    fn step(&mut self, k: usize, bar: &Candle) -> bool {
        let cfg = self.cfg;
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
            self.exit(k, t, liq, qty, ExitReason::Liquidation, Liquidity::Taker);
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
            self.exit(k, t, price, qty, reason, Liquidity::Taker);
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
            self.exit(k, t, tp, qty.min(p.qty_open), reason, Liquidity::Maker);
            let p = &mut self.positions[k];
            p.next_tp += 1;
            if n == 0 {
                p.stop = p.entry_price;
                moved = true;
            }
            if p.qty_open <= p.plan.qty * 1e-12 {
                return true;
            }
        }
        let p = &self.positions[k];
        if moved && sg * (bar.close - p.stop) <= 0.0 {
            let qty = p.qty_open;
            let price = cfg.costs.fill_price(p.stop, !long, Liquidity::Taker);
            self.exit(k, t, price, qty, ExitReason::BreakEven, Liquidity::Taker);
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

    fn exit(
        &mut self,
        k: usize,
        time: TimeMs,
        price: f64,
        qty: f64,
        reason: ExitReason,
        liq: Liquidity,
    ) {
        let p = &mut self.positions[k];
        let fee = self.cfg.costs.fee(price * qty, liq);
        let gross = p.s() * qty * (price - p.entry_price);
        p.qty_open -= qty;
        p.fees += fee;
        p.gross += gross;
        p.exits.push(Fill {
            time,
            price,
            qty,
            reason,
        });
        self.cash += gross - fee;
    }

    fn finish(&mut self, k: usize) {
        let p = self.positions.swap_remove(k);
        let pnl = p.gross - p.fees - p.funding;
        self.guard.on_trade_closed(pnl);
        let last = *p.exits.last().expect("a closed position has fills");
        self.result.trades.push(Trade {
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

#[cfg(test)]
mod tests;
