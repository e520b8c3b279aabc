//! Bar-by-bar backtester over one or many symbols: the engine's
//! [`Book`](crate::book::Book) on a historical clock. Fills, exits, funding,
//! the intrabar policy and the guards live there, shared with paper accounts;
//! this module orders the bars, marks equity and buy-and-hold at each close,
//! and asks the strategy at each close.

pub mod metrics;
pub mod pbo;
pub mod report;
pub mod strategy;

use crate::book::{BarInput, Book, Trades};
use crate::costs::{CostModel, Liquidity};
use crate::risk::RiskProfile;
use crate::risk::guards::GuardConfig;
use crate::signals::{PlanConfig, Prediction, Rejection};
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
    /// Hours a position may be held. On a market with sessions only the
    /// hours it is open count (a US stock: 6.5 per regular session; nights,
    /// weekends and holidays do not), so 48 h is about a week and a half.
    pub time_stop_hours: f64,
    /// The market's calendar (what the time stop counts).
    pub calendar: crate::calendar::Calendar,
    /// Record every accept/reject decision (the look-ahead test reads them).
    pub record_decisions: bool,
    /// Decide only at closes from this time on (earlier bars still warm up
    /// the indicators and the rule's calibration): a backtest of the period
    /// a paper account has run, or of a walk-forward's held-out span. The
    /// equity curve and buy-and-hold start at the first bar closing then.
    pub trade_from: Option<TimeMs>,
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
            calendar: crate::calendar::Calendar::AlwaysOpen,
            record_decisions: false,
            trade_from: None,
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

pub use crate::book::{ExitReason, Fill, Trade};

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

impl BacktestResult {
    /// Per-bar returns of the equity curve (a ruined account earns 0).
    pub fn returns(&self) -> Vec<f64> {
        self.equity
            .windows(2)
            .map(|w| {
                if w[0].equity > 0.0 {
                    w[1].equity / w[0].equity - 1.0
                } else {
                    0.0
                }
            })
            .collect()
    }
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
    let mut book = Book::new(cfg, bar_ms, series.len());
    let mut journal = Trades::default();
    let mut result = BacktestResult {
        equity: Vec::with_capacity(events.len()),
        ..Default::default()
    };
    let mut last_close: Vec<Option<f64>> = vec![None; series.len()];
    // Buy and hold: units bought at each symbol's first open with the taker cost.
    let share = cfg.initial_capital / series.len().max(1) as f64;
    let mut bh_units: Vec<Option<f64>> = vec![None; series.len()];
    let mut bh_cash = cfg.initial_capital;
    let mut peak = cfg.initial_capital;
    let trade_from = cfg.trade_from.unwrap_or(TimeMs::MIN);
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
            if bh_units[s].is_none() && t + bar_ms >= trade_from {
                let price = cfg.costs.fill_price(bar.open, true, Liquidity::Taker);
                let fee = cfg.costs.fee(share, Liquidity::Taker);
                bh_units[s] = Some((share - fee) / price);
                bh_cash -= share;
            }
            let input = BarInput {
                bar,
                lower: x.lower,
                funding: x.funding,
            };
            book.bar(cfg, s, input, &mut journal);
            last_close[s] = Some(bar.close);
        }
        let close_time = t + bar_ms;
        let equity = book.mark(close_time, &last_close);
        // Warm-up bars: nothing is open before `trade_from`, and the curve
        // (what the metrics read) covers only the period traded.
        if close_time >= trade_from {
            peak = peak.max(equity);
            let bh = bh_cash
                + bh_units
                    .iter()
                    .zip(&last_close)
                    .map(|(u, c)| u.unwrap_or(0.0) * c.unwrap_or(0.0))
                    .sum::<f64>();
            result.equity.push(EquityPoint {
                time: close_time,
                equity,
                drawdown_pct: (1.0 - equity / peak) * 100.0,
                buy_and_hold: bh,
                open_positions: book.positions().len() as u32,
            });
        }
        for &(_, s, i) in &events[g..end] {
            let (s, i) = (s as usize, i as usize);
            let x = &series[s];
            if series.len() > 1 {
                // Correlation needs two markets; one market skips the bookkeeping.
                book.guard_mut().on_close(x.symbol, t, x.candles[i].close);
            }
            // The last bar decides too: its signal is the live one, its entry
            // simply has no next open to fill at here.
            if close_time < trade_from || book.has_position(s) {
                continue;
            }
            if let Some(pred) = x.predictions.get(i).copied().flatten() {
                let atr = x.atr.get(i).copied().flatten().unwrap_or(f64::NAN);
                let price = x.candles[i].close;
                let decided = book
                    .decide(cfg, s, x.symbol, &pred, close_time, price, atr, equity)
                    .map(|_| ());
                if cfg.record_decisions {
                    result.decisions.push(Decision {
                        time: close_time,
                        symbol: s,
                        accepted: decided.is_ok(),
                        reason: decided.as_ref().err().map(Rejection::kind),
                    });
                }
                if let Err(r) = decided {
                    *result.rejections.entry(r.kind().to_string()).or_default() += 1;
                }
            }
        }
        g = end;
    }
    // Whatever is still open is closed at the last close it saw.
    book.close_all(
        cfg,
        |s| {
            series[s]
                .candles
                .last()
                .map(|c| (c.open_time + bar_ms, c.close))
        },
        ExitReason::EndOfData,
        &mut journal,
    );
    if let Some(last) = result.equity.last_mut() {
        last.equity = book.cash();
        last.open_positions = 0;
    }
    result.trades = journal.trades;
    result.cancelled_entries = journal.cancelled_entries;
    result
}

#[cfg(test)]
mod tests;
