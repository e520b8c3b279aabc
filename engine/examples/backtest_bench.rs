//! Backtest throughput over 1,000,000 synthetic 1-minute bars: an SMA(10/20)
//! cross with a 1 % stop and a 2 % target, the strategy
//! scripts/bench_backtest.py runs in backtesting.py on the same series.
//! Timed: the signals (both SMAs) and the bar-by-bar backtest. Best of 3.
//!
//! cargo run --release -p engine --example backtest_bench

use engine::Timeframe;
use engine::backtest::{self, BacktestConfig, SeriesInput};
use engine::signals::StopRule;
use std::time::Instant;

#[path = "support/bars.rs"]
mod support;
use support::bars;

fn main() {
    let n = 1_000_000;
    let candles = bars(n);
    let mut cfg = BacktestConfig::default();
    // backtesting.py's equivalent: no gates, no time stop, no breakers, one target.
    cfg.plan.stop = StopRule::Pct(1.0);
    cfg.plan.tp_fractions = [1.0; 3];
    cfg.plan.min_net_profit_pct = f64::NEG_INFINITY;
    cfg.plan.min_confidence = 0.0;
    cfg.time_stop_hours = f64::INFINITY;
    cfg.guards.daily_loss_pct = f64::INFINITY;
    cfg.guards.max_drawdown_pct = f64::INFINITY;
    cfg.guards.max_consecutive_losses = 0;
    cfg.initial_capital = 1_000_000.0;
    let atr = vec![None; n];
    let (mut best, mut trades, mut equity) = (f64::MAX, 0, 0.0);
    for _ in 0..3 {
        let t = Instant::now();
        let preds = backtest::strategy::sma_cross(&candles, 10, 20, 2.0);
        let r = backtest::run(
            &[SeriesInput {
                symbol: "SYN/USDT",
                candles: &candles,
                predictions: &preds,
                atr: &atr,
                lower: None,
                funding: None,
            }],
            Timeframe::M1,
            &cfg,
        );
        best = best.min(t.elapsed().as_secs_f64());
        trades = r.trades.len();
        equity = r.equity.last().map_or(0.0, |p| p.equity);
    }
    println!(
        "{{\"bars\": {n}, \"trades\": {trades}, \"final_equity\": {equity:.2}, \"best_of_3_s\": {best:.4}, \"bars_per_s\": {:.0}}}",
        n as f64 / best
    );
}
