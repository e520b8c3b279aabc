//! The paper venue against the backtester on real BTC 15-minute bars: fed
//! bar by bar as a live runner feeds it, a paper account makes the
//! backtest's trades (times, prices, quantities, exit reasons) and ends
//! with its equity; its ledger entries add up to its cash, to the cent, at
//! every close; every order's history obeys the transition table.

use engine::Timeframe;
use engine::backtest::{self, BacktestConfig, ExitReason, SeriesInput};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use trading::ledger::{Totals, to_f64};
use trading::matcher::{AccountEvent, PaperAccount};
use trading::order::{OrderEvent, OrderStatus};
use trading::risk::{HaltCause, HaltReason, TradingState};

mod support;
use support::inputs::{Inputs, cfg, inputs};

/// Feeds the account bar by bar from `from`, as the live runner does.
fn run_paper(
    x: &Inputs,
    cfg: &BacktestConfig,
    from: usize,
    halt_at: Option<usize>,
) -> (PaperAccount, Vec<AccountEvent>) {
    let bar_ms = Timeframe::M15.duration_ms();
    let mut acct = PaperAccount::new(cfg.clone(), vec!["BTC/USD".into()], bar_ms, "p1");
    let mut events = Vec::new();
    for i in from..x.candles.len() {
        let bar = x.candles[i];
        let evs = acct.on_bars(&[(0, bar, None)], bar_ms).unwrap();
        events.extend(evs);
        let evs = acct
            .on_close(0, &bar, x.preds[i].as_ref(), x.atr[i])
            .unwrap();
        events.extend(evs);
        if Some(i) == halt_at {
            let reason = HaltReason {
                cause: HaltCause::KillSwitch,
                detail: "test".into(),
                at: bar.open_time + bar_ms,
            };
            events.extend(acct.halt(reason, true, bar.open_time + bar_ms).unwrap());
        }
        // The ledger adds up to the book's cash at every close, to the cent.
        let totals = Totals::of(events.iter().filter_map(|e| match e {
            AccountEvent::Ledger(l) => Some(l),
            _ => None,
        }));
        let cash = cfg.initial_capital + to_f64(totals.net());
        assert!(
            (cash - acct.book().cash()).abs() < 0.005,
            "bar {i}: ledger {cash} vs book {}",
            acct.book().cash()
        );
    }
    (acct, events)
}

fn closed(events: &[AccountEvent]) -> Vec<backtest::Trade> {
    events
        .iter()
        .filter_map(|e| match e {
            AccountEvent::Closed(t) => Some((**t).clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn paper_fills_are_the_backtests_fills() {
    let x = inputs();
    let from = 300;
    let mut cfg = cfg();
    cfg.trade_from = Some(x.candles[from].open_time + Timeframe::M15.duration_ms());
    let bt = backtest::run(
        &[SeriesInput {
            symbol: "BTC/USD",
            candles: &x.candles,
            predictions: &x.preds,
            atr: &x.atr,
            lower: None,
            funding: None,
        }],
        Timeframe::M15,
        &cfg,
    );
    let (acct, events) = run_paper(&x, &cfg, from, None);
    let paper = closed(&events);
    // The backtest closes what is open at its end; the paper account keeps it.
    let bt_closed: Vec<_> = bt
        .trades
        .iter()
        .filter(|t| t.exit_reason != ExitReason::EndOfData)
        .cloned()
        .collect();
    assert!(
        bt_closed.len() >= 20,
        "too few trades to compare: {}",
        bt_closed.len()
    );
    assert_eq!(paper.len(), bt_closed.len());
    assert_eq!(paper, bt_closed, "same trades, field for field");
    // Same equity at every close (the backtest's last point is after its end-of-data close).
    let marks: Vec<f64> = events
        .iter()
        .filter_map(|e| match e {
            AccountEvent::Equity { equity, .. } => Some(*equity),
            _ => None,
        })
        .collect();
    // The backtest's curve starts at `trade_from` (earlier bars only warm up).
    assert_eq!(bt.equity[0].time, cfg.trade_from.unwrap());
    let bt_marks: Vec<f64> = bt.equity.iter().map(|p| p.equity).collect();
    assert_eq!(marks.len(), bt_marks.len());
    assert_eq!(marks[..marks.len() - 1], bt_marks[..bt_marks.len() - 1]);
    if acct.book().positions().is_empty() {
        assert_eq!(acct.book().cash(), bt.equity.last().unwrap().equity);
    }

    // Every order's history is legal and ends where its status says.
    let mut orders: BTreeMap<String, (OrderStatus, usize)> = BTreeMap::new();
    let mut fills = 0;
    for e in &events {
        if let AccountEvent::Order { event, order, .. } = e {
            let seen = orders
                .entry(order.id().to_string())
                .or_insert((OrderStatus::Initialized, 0));
            seen.0 = order.status;
            seen.1 += 1;
            assert_eq!(order.history.len(), seen.1, "{}", order.id());
            if let OrderEvent::Filled(f) = event {
                fills += 1;
                assert!(f.qty > Decimal::ZERO);
                assert!(order.filled_qty <= order.request.qty);
            }
        }
    }
    let exits: usize = paper.iter().map(|t| t.exits.len()).sum();
    assert_eq!(fills, paper.len() + exits + acct.book().positions().len());
    assert!(orders.values().any(|(s, _)| *s == OrderStatus::Canceled));
    assert!(orders.values().filter(|(s, _)| !s.is_closed()).count() == acct.orders().count());
}

#[test]
fn the_kill_switch_flattens_and_denies_what_follows() {
    let x = inputs();
    let cfg = cfg();
    let from = 300;
    // Halt at the first bar that holds a position.
    let mut halt_at = None;
    {
        let bar_ms = Timeframe::M15.duration_ms();
        let mut a = PaperAccount::new(cfg.clone(), vec!["BTC/USD".into()], bar_ms, "p1");
        for i in from..x.candles.len() {
            a.on_bars(&[(0, x.candles[i], None)], bar_ms).unwrap();
            if !a.book().positions().is_empty() {
                halt_at = Some(i);
                break;
            }
            a.on_close(0, &x.candles[i], x.preds[i].as_ref(), x.atr[i])
                .unwrap();
        }
    }
    let halt_at = halt_at.expect("a position opens");
    let (acct, events) = run_paper(&x, &cfg, from, Some(halt_at));
    assert_eq!(acct.state(), TradingState::Halted);
    assert!(acct.book().positions().is_empty(), "flattened");
    let trades = closed(&events);
    let last = trades.last().unwrap();
    assert_eq!(last.exit_reason, ExitReason::Flatten);
    let halted = x.candles[halt_at].open_time;
    assert!(
        trades.iter().all(|t| t.entry_time <= halted),
        "nothing opens after the halt"
    );
    let denied = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                AccountEvent::Order {
                    event: OrderEvent::Denied { .. },
                    ..
                }
            )
        })
        .count();
    assert!(denied > 0, "later signals are denied, not dropped silently");
    assert!(acct.orders().next().is_none(), "no order is left open");
}

#[test]
fn a_manual_take_enters_like_a_followed_signal_and_only_at_its_own_close() {
    let x = inputs();
    let cfg = cfg();
    let bar_ms = Timeframe::M15.duration_ms();
    // The first bar the rule's plan passes the gates at.
    let mut probe = PaperAccount::new(cfg.clone(), vec!["BTC/USD".into()], bar_ms, "p1");
    let mut at = None;
    for i in 300..x.candles.len() {
        probe.on_bars(&[(0, x.candles[i], None)], bar_ms).unwrap();
        let evs = probe
            .on_close(0, &x.candles[i], x.preds[i].as_ref(), x.atr[i])
            .unwrap();
        if evs
            .iter()
            .any(|e| matches!(e, AccountEvent::Decision { accepted: true, .. }))
        {
            at = Some(i);
            break;
        }
    }
    let i = at.expect("an accepted signal");
    // A manual account: the same bars, no signals by itself, then a Take at that close.
    let mut manual = PaperAccount::new(cfg, vec!["BTC/USD".into()], bar_ms, "p2");
    for k in 300..=i {
        manual.on_bars(&[(0, x.candles[k], None)], bar_ms).unwrap();
        manual.on_close(0, &x.candles[k], None, x.atr[k]).unwrap();
    }
    let pred = x.preds[i].unwrap();
    let late = manual.take(0, &x.candles[i - 1], &pred, x.atr[i - 1]);
    assert!(
        matches!(late, Err(trading::matcher::PaperError::Refused(_))),
        "{late:?}"
    );
    let evs = manual.take(0, &x.candles[i], &pred, x.atr[i]).unwrap();
    assert!(
        evs.iter()
            .any(|e| matches!(e, AccountEvent::Decision { accepted: true, .. }))
    );
    let again = manual.take(0, &x.candles[i], &pred, x.atr[i]);
    assert!(
        matches!(again, Err(trading::matcher::PaperError::Refused(_))),
        "one entry per signal"
    );
    // Both meet the next bars alike: the same fills, ledger and positions.
    let fills = |evs: &[AccountEvent]| -> Vec<String> {
        evs.iter()
            .filter_map(|e| match e {
                AccountEvent::Order {
                    event: OrderEvent::Filled(f),
                    ..
                } => Some(format!("{} {} {:?}", f.price, f.qty, f.liquidity)),
                AccountEvent::Ledger(l) => Some(format!("{:?} {}", l.kind, l.amount)),
                _ => None,
            })
            .collect()
    };
    for k in i + 1..i + 6 {
        let a = probe.on_bars(&[(0, x.candles[k], None)], bar_ms).unwrap();
        let b = manual.on_bars(&[(0, x.candles[k], None)], bar_ms).unwrap();
        assert_eq!(fills(&a), fills(&b), "bar {k}");
        if k == i + 1 {
            assert!(!fills(&a).is_empty(), "the entry filled at the next open");
        }
    }
    assert_eq!(probe.book().cash(), manual.book().cash());
    assert_eq!(probe.book().positions(), manual.book().positions());
}
