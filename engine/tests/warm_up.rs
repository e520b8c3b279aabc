//! A report of a late span (a walk-forward's held-out part, a paper
//! account's period) keeps the earlier bars as warm-up: the rule's
//! calibration and the indicators arrive warm, while the equity curve,
//! buy-and-hold and every metric cover the traded span only. Cutting the
//! bars instead starts the technical baseline cold. Real BTC 15-minute bars.

use engine::Timeframe;
use engine::backtest::BacktestConfig;
use engine::backtest::report::{self, Report, ReportSpec, SeriesData};
use engine::backtest::strategy::Strategy;
use engine::signals::TechnicalRule;

#[path = "support/golden.rs"]
mod golden;

/// The rule on `candles`, trading from `trade_from`; gates lowered
/// (15-minute moves rarely promise 2 % net, nor the rule 0.55) so it trades.
fn run(
    candles: Vec<engine::Candle>,
    trade_from: Option<i64>,
) -> (Report, engine::backtest::BacktestResult) {
    let mut config = BacktestConfig {
        trade_from,
        ..Default::default()
    };
    config.plan.min_net_profit_pct = 0.3;
    config.plan.min_confidence = 0.3;
    let spec = ReportSpec {
        timeframe: Timeframe::M15,
        config,
        strategy: Strategy::Technical(TechnicalRule::default()),
        trials: 1,
        random_seed: 7,
        code_version: "test".into(),
    };
    let data = [SeriesData {
        symbol: "BTC/USD".into(),
        candles,
        predictions: None,
        lower: None,
        funding: None,
    }];
    report::run_report(&data, &spec)
}

fn report(candles: Vec<engine::Candle>, trade_from: Option<i64>) -> Report {
    run(candles, trade_from).0
}

#[test]
fn a_late_span_trades_on_warm_bars_and_is_measured_alone() {
    let all = golden::btc_15m();
    let from = all.len() * 2 / 3;
    let bar = Timeframe::M15.duration_ms();
    let first_close = all[from].open_time + bar;

    let warm = report(all.clone(), Some(first_close));
    let cold = report(all[from..].to_vec(), None);

    assert_eq!(warm.data[0].warm_up_bars, from);
    assert_eq!(cold.data[0].warm_up_bars, 0);
    // Buy-and-hold of the same span, bought at the same open either way.
    let (bw, bc) = (&warm.baselines.buy_and_hold, &cold.baselines.buy_and_hold);
    assert!(
        (bw.total_return_pct - bc.total_return_pct).abs() < 1e-9,
        "buy-and-hold {} vs {}",
        bw.total_return_pct,
        bc.total_return_pct
    );
    assert!((bw.max_drawdown_pct - bc.max_drawdown_pct).abs() < 1e-9);

    // Cut, the span's first fires have no history to be calibrated on.
    let (w, c) = (
        warm.rule_calibration.as_ref().unwrap(),
        cold.rule_calibration.as_ref().unwrap(),
    );
    // Cut, the indicators also warm up on the span's first bars and miss their fires.
    assert!(w.fires >= c.fires, "{} vs {}", w.fires, c.fires);
    assert!(
        c.uncalibrated >= 50,
        "cold: {} uncalibrated",
        c.uncalibrated
    );
    assert_eq!(w.uncalibrated, 0, "warm: every fire has a calibration");
    assert!(warm.metrics.trades > 0, "the warm rule trades");
    assert_eq!(warm.metrics.trades, warm.baselines.technical.trades);
}

#[test]
fn nothing_before_trade_from_is_traded_or_measured() {
    let all = golden::btc_15m();
    let from = all.len() / 2;
    let bar = Timeframe::M15.duration_ms();
    let first_close = all[from].open_time + bar;
    let (rep, result) = run(all.clone(), Some(first_close));
    assert!(!result.trades.is_empty());
    assert!(result.trades.iter().all(|t| t.signal_time >= first_close));
    assert_eq!(
        result.equity.len(),
        all.len() - from,
        "one point per traded bar"
    );
    assert_eq!(result.equity[0].time, first_close);
    assert_eq!(rep.baselines.buy_and_hold.trades, 0);
}
