//! Backtest throughput over 1,000,000 synthetic 1-minute bars: an SMA(10/20)
//! cross with a 1 % stop and a 2 % target, the strategy
//! scripts/bench_backtest.py runs in backtesting.py on the same series.
//! Timed: the signals (both SMAs) and the bar-by-bar backtest. Best of 3.
//!
//! cargo run --release -p engine --example backtest_bench

use engine::backtest::{self, BacktestConfig, SeriesInput};
use engine::signals::StopRule;
use engine::{Candle, Timeframe};
use std::time::Instant;

fn bars(n: usize) -> Vec<Candle> {
    (0..n)
        .map(|i| {
            let f = i as f64;
            let p = |x: f64| {
                100.0 + 20.0 * (x / 500.0).sin() + 5.0 * (x / 37.0).sin() + 0.5 * (x * 1.7).sin()
            };
            let (open, close) = (p(f), p(f + 1.0));
            let wick = 0.3 + 0.2 * (f * 0.3).sin().abs();
            Candle {
                open_time: i as i64 * 60_000,
                open,
                high: open.max(close) + wick,
                low: open.min(close) - wick,
                close,
                volume: 1000.0 + (i % 977) as f64,
            }
        })
        .collect()
}

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
