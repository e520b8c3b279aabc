use super::*;
use crate::signals::StopRule;

const H: TimeMs = 3_600_000;

fn bar(i: i64, o: f64, h: f64, l: f64, c: f64) -> Candle {
    Candle {
        open_time: i * H,
        open: o,
        high: h,
        low: l,
        close: c,
        volume: 1.0,
    }
}

fn long(m: f64) -> Option<Prediction> {
    Some(Prediction {
        p_up: 1.0,
        p_neutral: 0.0,
        p_down: 0.0,
        expected_move_pct: m,
        confidence: 1.0,
    })
}

/// No costs, gates off, 1 % stop, targets at 1/2/3 % for a 2 % move.
fn cfg() -> BacktestConfig {
    let mut c = BacktestConfig {
        costs: CostModel {
            maker_bps: 0.0,
            taker_bps: 0.0,
            slippage_bps: 0.0,
            funding_bps_per_hour: 0.0,
        },
        ..Default::default()
    };
    c.plan.stop = StopRule::Pct(1.0);
    c.plan.min_net_profit_pct = f64::NEG_INFINITY;
    c.plan.min_confidence = 0.0;
    c.guards.daily_loss_pct = 100.0;
    c.guards.max_drawdown_pct = 100.0;
    c
}

fn go(
    candles: &[Candle],
    preds: &[Option<Prediction>],
    cfg: &BacktestConfig,
    lower: Option<&[Candle]>,
) -> BacktestResult {
    let atr = vec![Some(1.0); candles.len()];
    run(
        &[SeriesInput {
            symbol: "BTC/USDT",
            candles,
            predictions: preds,
            atr: &atr,
            lower,
            funding: None,
        }],
        Timeframe::H1,
        cfg,
    )
}

fn flat(n: i64) -> Vec<Candle> {
    (0..n).map(|i| bar(i, 100.0, 100.2, 99.8, 100.0)).collect()
}

#[test]
fn a_signal_fills_at_the_next_open_with_slippage() {
    let mut c = flat(5);
    c[1] = bar(1, 100.5, 100.6, 100.1, 100.2);
    let mut preds = vec![None; 5];
    preds[0] = long(2.0);
    let mut k = cfg();
    k.costs.slippage_bps = 10.0;
    let r = go(&c, &preds, &k, None);
    let t = &r.trades[0];
    assert_eq!(t.entry_time, H);
    assert!((t.entry_price - 100.5 * 1.001).abs() < 1e-9);
    assert_eq!(t.signal_time, H, "made at bar 0's close");
}

#[test]
fn partial_targets_then_break_even() {
    let mut c = flat(6);
    c[2] = bar(2, 100.0, 101.5, 99.9, 101.0); // TP1 at 101
    c[3] = bar(3, 101.0, 101.2, 99.95, 100.1); // back through entry: break-even
    let mut preds = vec![None; 6];
    preds[0] = long(2.0);
    // A wide trail so the break-even stop is what holds.
    let mut k = cfg();
    k.trail_atr = 5.0;
    let r = go(&c, &preds, &k, None);
    let t = &r.trades[0];
    let reasons: Vec<_> = t.exits.iter().map(|f| f.reason).collect();
    assert_eq!(reasons, [ExitReason::Tp1, ExitReason::BreakEven]);
    assert!((t.exits[0].qty / t.qty - 0.3).abs() < 1e-12);
    assert_eq!(t.exits[1].price, 100.0);
    assert!(t.tp1_hit && t.pnl > 0.0);
    // Equity ends at the initial capital plus the trade's P&L.
    assert!((r.equity.last().unwrap().equity - (100.0 + t.pnl)).abs() < 1e-9);
}

#[test]
fn all_three_targets_close_30_40_30() {
    let mut c = flat(5);
    c[2] = bar(2, 100.0, 103.5, 99.5, 103.0);
    let mut preds = vec![None; 5];
    preds[0] = long(2.0);
    let r = go(&c, &preds, &cfg(), None);
    let t = &r.trades[0];
    let q: Vec<f64> = t.exits.iter().map(|f| f.qty / t.qty).collect();
    assert_eq!(
        t.exits.iter().map(|f| f.reason).collect::<Vec<_>>(),
        [ExitReason::Tp1, ExitReason::Tp2, ExitReason::Tp3]
    );
    assert!((q[0] - 0.3).abs() < 1e-12 && (q[1] - 0.4).abs() < 1e-12 && (q[2] - 0.3).abs() < 1e-12);
    // 0.3·1 + 0.4·2 + 0.3·3 = 2 % of the notional.
    assert!((t.gross_pnl / (t.qty * 100.0) - 0.02).abs() < 1e-12);
}

#[test]
fn a_bar_touching_stop_and_target_is_a_loss_unless_lower_bars_say_otherwise() {
    let mut c = flat(5);
    c[2] = bar(2, 100.0, 101.5, 98.5, 100.0);
    let mut preds = vec![None; 5];
    preds[0] = long(2.0);
    let worst = go(&c, &preds, &cfg(), None);
    assert_eq!(worst.trades[0].exits[0].reason, ExitReason::StopLoss);
    assert_eq!(worst.trades[0].exits[0].price, 99.0);
    // 15-minute bars inside hour 2: up to TP1 first, then down through break-even.
    let q = H / 4;
    let lower = vec![
        Candle {
            open_time: 2 * H,
            open: 100.0,
            high: 101.5,
            low: 99.9,
            close: 101.2,
            volume: 1.0,
        },
        Candle {
            open_time: 2 * H + q,
            open: 101.2,
            high: 101.3,
            low: 98.5,
            close: 99.0,
            volume: 1.0,
        },
        Candle {
            open_time: 2 * H + 2 * q,
            open: 99.0,
            high: 100.0,
            low: 98.9,
            close: 100.0,
            volume: 1.0,
        },
    ];
    let mut k = cfg();
    k.intrabar = IntrabarPolicy::LowerTimeframe;
    let resolved = go(&c, &preds, &k, Some(&lower));
    let reasons: Vec<_> = resolved.trades[0].exits.iter().map(|f| f.reason).collect();
    assert_eq!(reasons, [ExitReason::Tp1, ExitReason::BreakEven]);
    assert!(resolved.trades[0].pnl > worst.trades[0].pnl);
}

#[test]
fn time_stop_after_48_hours_and_trailing_after_tp1() {
    let c = flat(60);
    let mut preds = vec![None; 60];
    preds[0] = long(2.0);
    let r = go(&c, &preds, &cfg(), None);
    let t = &r.trades[0];
    assert_eq!(t.exit_reason, ExitReason::TimeStop);
    assert_eq!(t.exit_time, t.entry_time + 48 * H);
    // A rally past TP1 then a pullback: the stop trails 1 ATR under the best high.
    let mut c = flat(10);
    c[2] = bar(2, 100.0, 101.2, 99.9, 101.1);
    c[3] = bar(3, 101.1, 101.9, 101.0, 101.8);
    c[4] = bar(4, 101.8, 101.85, 100.5, 100.6);
    let r = go(&c, &preds[..10], &cfg(), None);
    let t = &r.trades[0];
    assert_eq!(t.exit_reason, ExitReason::TrailingStop);
    assert!(
        (t.exits.last().unwrap().price - 100.9).abs() < 1e-9,
        "101.9 − 1 ATR"
    );
}

/// On a market with sessions the time stop counts open hours only:
/// 48 h from Monday 2024-07-01 is eight sessions (the 3rd closes at 13:00,
/// the 4th is a holiday), five and a half hours into Thursday the 11th.
#[test]
fn a_stock_time_stop_counts_only_hours_the_market_is_open() {
    let t0 = 1_719_792_000_000; // 2024-07-01T00:00:00Z
    let c: Vec<Candle> = flat(20 * 24)
        .into_iter()
        .map(|b| Candle {
            open_time: t0 + b.open_time,
            ..b
        })
        .collect();
    let mut preds = vec![None; c.len()];
    preds[0] = long(2.0);
    let mut k = cfg();
    k.calendar = crate::calendar::Calendar::Xnys;
    let t = &go(&c, &preds, &k, None).trades[0];
    assert_eq!(t.exit_reason, ExitReason::TimeStop);
    assert_eq!(t.exit_time, 1_720_724_400_000, "2024-07-11T19:00:00Z");
    // Around the clock the same stop comes 48 wall-clock hours after the entry.
    let t = &go(&c, &preds, &cfg(), None).trades[0];
    assert_eq!(t.exit_time, t.entry_time + 48 * H);
}

#[test]
fn a_gap_beyond_liquidation_liquidates() {
    let mut c = flat(5);
    c[1] = bar(1, 100.0, 100.05, 99.95, 100.0);
    c[2] = bar(2, 50.0, 50.0, 40.0, 45.0);
    let mut preds = vec![None; 5];
    preds[0] = long(2.0);
    let mut k = cfg();
    k.plan.stop = StopRule::Pct(0.1);
    let r = go(&c, &preds, &k, None);
    let t = &r.trades[0];
    assert_eq!(t.exit_reason, ExitReason::Liquidation);
    assert!(t.leverage > 1.0);
    assert!((t.exits[0].price - (100.0 * (1.0 - 1.0 / t.leverage + 0.005))).abs() < 1e-9);
}

#[test]
fn costs_are_charged_where_they_occur() {
    let c = flat(60);
    let mut preds = vec![None; 60];
    preds[0] = long(2.0);
    let mut k = cfg();
    k.costs = CostModel::default();
    let r = go(&c, &preds, &k, None);
    let t = &r.trades[0];
    let notional = t.qty * t.entry_price;
    // Taker in and out, 48 one-hour bars of 0.125 bp funding.
    assert!((t.fees - notional * 5e-4 - t.qty * t.exits[0].price * 5e-4).abs() < 1e-9);
    assert!((t.funding / (t.qty * 100.0) - 48.0 * 0.125e-4).abs() < 1e-9);
    assert!((t.exits[0].price - 100.0 * (1.0 - 3e-4)).abs() < 1e-9);
    assert!((r.equity.last().unwrap().equity - (100.0 + t.pnl)).abs() < 1e-9);
}

#[test]
fn max_positions_and_the_gate_are_enforced() {
    let c = flat(60);
    let mut k = cfg();
    k.plan.min_net_profit_pct = 2.0;
    let r = go(&c, &vec![long(1.9); 60], &k, None);
    assert!(r.trades.is_empty());
    assert_eq!(
        r.rejections.get("low_profit"),
        Some(&60),
        "every bar close decides, the last one too"
    );
    let preds = vec![long(2.0); 60];
    // Three symbols, low profile: two positions at most, the third is refused.
    let atr = vec![Some(1.0); 60];
    let mut k = cfg();
    k.profile = RiskProfile::Low;
    k.guards.correlation_threshold = 2.0;
    let names = ["A/USDT", "B/USDT", "C/USDT"];
    let inputs: Vec<SeriesInput> = names
        .iter()
        .map(|s| SeriesInput {
            symbol: s,
            candles: &c,
            predictions: &preds,
            atr: &atr,
            lower: None,
            funding: None,
        })
        .collect();
    let r = run(&inputs, Timeframe::H1, &k);
    assert!(r.equity.iter().all(|p| p.open_positions <= 2));
    assert!(r.rejections.get("max_positions").copied().unwrap_or(0) > 0);
}

#[test]
fn stored_funding_is_charged_at_its_settlements_and_signs() {
    use crate::costs::FundingRate;
    let c = flat(60);
    let mut preds = vec![None; 60];
    preds[0] = long(2.0);
    // Real-looking 8-hourly settlements, one of them negative, one outside the hold.
    let rates: Vec<FundingRate> = [
        (8, 0.0001),
        (16, -0.0002),
        (24, 0.0003),
        (32, 0.00005),
        (40, 0.0001),
        (48, 0.0002),
        (56, 0.5),
    ]
    .iter()
    .map(|&(h, rate)| FundingRate { time: h * H, rate })
    .collect();
    let atr = vec![Some(1.0); c.len()];
    let run_with = |preds: &[Option<Prediction>], funding: Option<&[FundingRate]>| {
        run(
            &[SeriesInput {
                symbol: "BTC/USDT",
                candles: &c,
                predictions: preds,
                atr: &atr,
                lower: None,
                funding,
            }],
            Timeframe::H1,
            &cfg(),
        )
    };
    let r = run_with(&preds, Some(&rates));
    let t = &r.trades[0];
    // Entry at the open of bar 1, out by the 48 h time stop at 49 h: the
    // settlements at 8…48 h fall inside, the one at 56 h does not.
    assert_eq!((t.entry_time, t.exit_time), (H, 49 * H));
    let hand = t.qty * 100.0 * (0.0001 - 0.0002 + 0.0003 + 0.00005 + 0.0001 + 0.0002);
    assert!((t.funding - hand).abs() < 1e-12, "{} vs {hand}", t.funding);
    assert!((r.equity.last().unwrap().equity - (100.0 + t.pnl)).abs() < 1e-9);
    // A short receives what a long pays.
    let mut short = preds.clone();
    short[0] = Some(Prediction {
        p_up: 0.0,
        p_down: 1.0,
        expected_move_pct: -2.0,
        ..long(2.0).unwrap()
    });
    let s = run_with(&short, Some(&rates));
    assert!((s.trades[0].funding + s.trades[0].qty * 100.0 * 0.00055).abs() < 1e-12);
    // No stored rates: the constant (zero in this config).
    assert_eq!(run_with(&preds, None).trades[0].funding, 0.0);
}
