//! Throughput of the standard indicator set over 1,000,000 synthetic bars
//! (the same closed-form series scripts/bench_indicators.py feeds TA-Lib).
//!
//! cargo run --release -p engine --example indicators_bench [-- --each]
//! (`--each` also times each indicator alone.)

use std::time::Instant;

#[path = "support/bars.rs"]
mod support;
use support::bars;

fn main() {
    let candles = bars(1_000_000);
    let mut best = f64::MAX;
    let mut check = 0.0;
    for _ in 0..5 {
        let t = Instant::now();
        let cols = engine::indicators::table::columns(&candles);
        best = best.min(t.elapsed().as_secs_f64());
        check = cols.iter().map(|c| *c.1.last().unwrap()).sum::<f64>();
    }
    if std::env::args().any(|a| a == "--each") {
        use engine::indicators::*;
        let close: Vec<f64> = candles.iter().map(|c| c.close).collect();
        let hlc: Vec<Hlc> = candles.iter().map(|&c| c.into()).collect();
        macro_rules! time {
            ($name:expr, $e:expr) => {{
                let t = Instant::now();
                let v = $e;
                eprintln!(
                    "{:>8}: {:>7.1} ms ({})",
                    $name,
                    t.elapsed().as_secs_f64() * 1e3,
                    v.len()
                );
            }};
        }
        time!(
            "SMA",
            batch(&mut Sma::new(20).unwrap(), close.iter().copied())
        );
        time!(
            "EMA",
            batch(&mut Ema::new(12).unwrap(), close.iter().copied())
        );
        time!(
            "RSI",
            batch(&mut Rsi::new(14).unwrap(), close.iter().copied())
        );
        time!(
            "ATR",
            batch(&mut Atr::new(14).unwrap(), hlc.iter().copied())
        );
        time!(
            "MACD",
            batch(&mut Macd::new(12, 26, 9).unwrap(), close.iter().copied())
        );
        time!(
            "BBANDS",
            batch(
                &mut Bbands::new(20, 2.0, 2.0).unwrap(),
                close.iter().copied()
            )
        );
        time!(
            "STOCH",
            batch(&mut Stoch::new(14, 3, 3).unwrap(), hlc.iter().copied())
        );
        time!(
            "WILLR",
            batch(&mut Willr::new(14).unwrap(), hlc.iter().copied())
        );
        time!(
            "CCI",
            batch(&mut Cci::new(20).unwrap(), hlc.iter().copied())
        );
        time!(
            "ADX",
            batch(&mut Adx::new(14).unwrap(), hlc.iter().copied())
        );
        time!(
            "ROC",
            batch(&mut Roc::new(10).unwrap(), close.iter().copied())
        );
    }
    // The 18 features (+ higher-timeframe join and regime) on the same bars.
    let mut feat = f64::MAX;
    let mut usable = 0;
    for _ in 0..3 {
        let t = Instant::now();
        let set = engine::features::compute("SYN/USDT", engine::Timeframe::M1, &candles);
        feat = feat.min(t.elapsed().as_secs_f64());
        usable = set.usable().count();
    }
    println!(
        "{{\"bars\": 1000000, \"columns\": 20, \"best_of_5_s\": {best:.4}, \"bars_per_s\": {:.0}, \"checksum\": {check:.6}, \"features_best_of_3_s\": {feat:.4}, \"features_rows\": {usable}}}",
        1e6 / best
    );
}
