//! Alpaca paper trading against the mock broker, which matches orders on
//! replayed NVDA daily bars with the paper venue's engine and speaks
//! Alpaca's REST API and trading stream: a live account following the
//! technical rule's NVDA signals with one-cancels-other exits in whole
//! shares makes the paper venue's trades to the last cent — through a lost
//! order answer, a dropped stream and an order placed by hand — and its
//! ledger is the broker's cash with positions at cost. The Binance-style
//! exits (take-profits beside a whole-position stop) are refused by the
//! broker for the quantity they hold; wrong keys are refused on REST and
//! on the stream.

use engine::backtest::{self, BacktestConfig};
use engine::costs::CostModel;
use engine::risk::RiskProfile;
use engine::signals::{Prediction, TechnicalRule};
use engine::{Candle, TimeMs, Timeframe, features};
use rust_decimal::Decimal;
use std::sync::Arc;
use std::time::Duration;
use trading::clock::ManualClock;
use trading::execution::{EventStream, ExecError, ExecutionClient, Reconciliation, VenueEvent};
use trading::live::{self, ExitStyle, LiveAccount, Note, VenueRules};
use trading::matcher::PaperAccount;
use trading::order::{OrderEvent, OrderStatus};
use trading::paper_venue::PaperVenue;
use trading::sim::{SimConfig, SimVenue};
use venues::alpaca::mock::{MockBroker, MockConfig};
use venues::alpaca::wire::NewOrder;
use venues::alpaca::{AlpacaAccount, AlpacaTrading, Keys};

const DAY: TimeMs = 86_400_000;
const SYMBOL: &str = "NVDA/USD";
const CASH: f64 = 100_000.0;
const MULTIPLIER: u32 = 4;

struct Inputs {
    candles: Vec<Candle>,
    preds: Vec<Option<Prediction>>,
    atr: Vec<Option<f64>>,
}

/// NVDA's daily bars from 2020 (the bundled Yahoo file) and the technical
/// rule's predictions on them.
fn inputs() -> Inputs {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/nvda-1d-yahoo.csv");
    let candles: Vec<Candle> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .filter(|l| l[..4] >= *"2020")
        .map(|l| {
            // Date,Adj Close,Close,High,Low,Open,Volume
            let f: Vec<&str> = l.split(',').collect();
            let v = |i: usize| f[i].parse::<f64>().unwrap();
            let day = chrono::NaiveDate::parse_from_str(f[0], "%Y-%m-%d").unwrap();
            Candle {
                open_time: day
                    .and_hms_opt(0, 0, 0)
                    .unwrap()
                    .and_utc()
                    .timestamp_millis(),
                open: v(5),
                high: v(3),
                low: v(4),
                close: v(2),
                volume: v(6),
            }
        })
        .collect();
    let set = features::compute(SYMBOL, Timeframe::D1, &candles);
    let preds = backtest::strategy::technical(
        &set,
        &TechnicalRule {
            move_atr: 3.0,
            ..Default::default()
        },
    );
    let atr = set
        .bars
        .iter()
        .map(|b| b.technicals.map(|t| t.atr))
        .collect();
    Inputs {
        candles,
        preds,
        atr,
    }
}

/// Alpaca charges no commission; market and stop fills slip 2 bp.
fn costs() -> CostModel {
    CostModel {
        maker_bps: 0.0,
        taker_bps: 0.0,
        slippage_bps: 2.0,
        funding_bps_per_hour: 0.0,
    }
}

fn cfg() -> BacktestConfig {
    let mut c = BacktestConfig {
        initial_capital: CASH,
        profile: RiskProfile::Low,
        costs: costs(),
        // The time stop counts NYSE session hours only.
        calendar: engine::calendar::Calendar::Xnys,
        ..BacktestConfig::default()
    };
    c.plan.min_net_profit_pct = 0.5;
    c
}

fn rules() -> VenueRules {
    VenueRules {
        exits: ExitStyle::Oco,
        lot: Some(Decimal::ONE),
        own_pnl: true,
    }
}

#[derive(Debug, Default)]
struct Seen {
    streamed: Vec<VenueEvent>,
    reconnects: Vec<Reconciliation>,
    errors: Vec<String>,
}

/// Follows bars `from..to` as a runner does: stream events, the fills
/// looked up, then the close's step; `at_close` moves the venue there.
async fn follow<C: ExecutionClient>(
    x: &Inputs,
    from: usize,
    to: usize,
    client: &C,
    rules: VenueRules,
    mut at_close: impl FnMut(usize, TimeMs),
) -> (LiveAccount, Seen) {
    let mut shadow = PaperAccount::new(cfg(), vec![SYMBOL.into()], DAY, "shadow");
    let mut acct = LiveAccount::new(&shadow, "live").with_rules(rules);
    let mut seen = Seen::default();
    let mut stream = client.events().await.unwrap();
    for i in from..to {
        let bar = x.candles[i];
        let close = bar.open_time + DAY;
        at_close(i, close);
        // The stream delivers within a few ms of the broker's change.
        tokio::time::sleep(Duration::from_millis(2)).await;
        while let Some(e) = stream.try_next() {
            seen.streamed.push(e.clone());
            if matches!(e, VenueEvent::Disconnected { .. }) {
                stream = client.events().await.unwrap();
                if let Err(e) = live::catch_up(&mut acct, client, close).await {
                    seen.errors.push(e.to_string());
                }
                let snap = client.snapshot().await.unwrap();
                let (r, cmds) = acct.reconcile(&snap);
                seen.reconnects.push(r);
                live::execute(&mut acct, client, close, cmds).await.unwrap();
                continue;
            }
            let cmds = acct.on_event(&e).unwrap();
            live::execute(&mut acct, client, close, cmds).await.unwrap();
        }
        if let Err(e) = live::catch_up(&mut acct, client, close).await {
            seen.errors.push(e.to_string());
        }
        let mut events = shadow.on_bars(&[(0, bar, None)], DAY).unwrap();
        events.extend(
            shadow
                .on_close(0, &bar, x.preds[i].as_ref(), x.atr[i])
                .unwrap(),
        );
        let cmds = acct.on_step(&shadow, &events, close).unwrap();
        live::execute(&mut acct, client, close, cmds).await.unwrap();
        if let Err(e) = live::catch_up(&mut acct, client, close).await {
            seen.errors.push(e.to_string());
        }
    }
    (acct, seen)
}

struct Broker {
    mock: MockBroker,
    clock: Arc<ManualClock>,
    base: String,
}

async fn broker(x: &Inputs) -> Broker {
    let clock = Arc::new(ManualClock::new(x.candles[0].open_time));
    let mut c = MockConfig::new(clock.clone());
    c.cash = CASH;
    c.multiplier = MULTIPLIER;
    c.costs = costs();
    // A second ticker (the same bars) for an order the owner places by hand.
    let mock = MockBroker::new(c)
        .with_series("NVDA", Timeframe::D1, x.candles.clone())
        .with_series("QQQ", Timeframe::D1, x.candles.clone());
    let (addr, _) = mock.spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    Broker {
        mock,
        clock,
        base: format!("http://{addr}"),
    }
}

fn account(b: &Broker, secret: &str) -> AlpacaAccount {
    // Short, so a stalled answer is given up on quickly.
    let c = AlpacaTrading::new(
        &b.base,
        Keys::new("mock-key-id", secret),
        Duration::from_millis(600),
    )
    .unwrap();
    AlpacaAccount::new(c)
}

/// The same bars on the in-process paper venue, with the same rules.
async fn on_paper(x: &Inputs, from: usize, to: usize) -> (LiveAccount, PaperVenue) {
    let clock = Arc::new(ManualClock::new(0));
    let sim = SimVenue::new(
        "paper",
        SimConfig {
            costs: costs(),
            balance: Decimal::from(CASH as i64),
            leverage: MULTIPLIER,
        },
    );
    let venue = PaperVenue::new(sim, clock.clone());
    let v = venue.clone();
    let (acct, _) = follow(x, from, to, &venue, rules(), |i, close| {
        clock.set(close);
        v.bar(SYMBOL, &x.candles[i], DAY);
        if let Some(next) = x.candles.get(i + 1) {
            v.set_price(SYMBOL, next.open);
        }
    })
    .await;
    (acct, venue)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_followed_on_alpaca_makes_the_paper_venues_trades_in_whole_shares() {
    let x = inputs();
    let (from, to) = (60, x.candles.len() - 1);
    let b = broker(&x).await;
    let client = account(&b, "mock-secret");
    let foreign = NewOrder {
        symbol: "QQQ".into(),
        qty: Decimal::ONE,
        side: "buy".into(),
        kind: "limit".into(),
        time_in_force: "gtc".into(),
        limit_price: Some(Decimal::ONE),
        stop_price: None,
        client_order_id: "placed-by-hand".into(),
        order_class: None,
        take_profit: None,
        stop_loss: None,
    };
    let started = std::time::Instant::now();
    let (acct, seen) = follow(&x, from, to, &client, rules(), |i, close| {
        b.clock.set(close);
        match i {
            // The next order's answer is lost: the broker placed it, the
            // client timed out. The account looks it up, not re-sends it.
            400 => b.mock.stall_orders(1, Duration::from_millis(1500)),
            // The owner places an order by hand, then the stream drops.
            600 => b.mock.place_foreign(&foreign).unwrap(),
            700 => b.mock.disconnect_streams(),
            _ => {}
        }
    })
    .await;
    let took = started.elapsed();
    eprintln!(
        "{} daily closes through the client and the mock in {:.2} s ({:.1} requests a close)",
        to - from,
        took.as_secs_f64(),
        b.mock.requests() as f64 / (to - from) as f64
    );
    let (paper, paper_venue) = on_paper(&x, from, to).await;

    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    let trades = acct.trades();
    assert!(trades.len() >= 15, "{} trades", trades.len());
    assert_eq!(trades, paper.trades());
    // Whole shares, each exit a level: the stop legs of several pairs that
    // fire together are one exit.
    for t in trades {
        assert!(t.qty.fract().is_zero() && t.qty > Decimal::ZERO, "{t:?}");
        let out: Decimal = t.exits.iter().map(|e| e.qty).sum();
        assert_eq!(out, t.qty, "{t:?}");
    }
    let stopped = trades
        .iter()
        .filter(|t| t.exits.len() > 1 && t.exit_reason().is_some_and(|r| r.as_str() != "tp3"))
        .count();
    eprintln!(
        "{} trades, {stopped} with a take-profit before their last exit; P&L {}",
        trades.len(),
        trades.iter().map(|t| t.pnl()).sum::<Decimal>()
    );

    // Every pair's stop followed the shadow's (break-even after TP1,
    // trailed at closes) in place, by PATCH.
    let moved = acct
        .orders()
        .filter(|o| {
            o.history
                .iter()
                .any(|(_, e)| matches!(e, OrderEvent::Updated { .. }))
        })
        .count();
    assert!(moved > 0, "no stop was moved");
    // No refusal for quantity: the pairs hold the position once.
    let refused: Vec<&Note> = acct
        .notes()
        .iter()
        .filter(|n| matches!(n, Note::Refused { why, .. } if why.contains("insufficient qty")))
        .collect();
    assert!(refused.is_empty(), "{refused:?}");

    // The ledger is the broker's cash with positions at cost, and the paper venue's.
    let snap = client.snapshot().await.unwrap();
    assert_eq!(acct.balance(), snap.balance);
    assert_eq!(b.mock.account().balance, snap.balance);
    assert_eq!(paper_venue.snapshot().await.unwrap().balance, snap.balance);

    // The lost answer was looked up, not sent again.
    let lost: Vec<&Note> = acct
        .notes()
        .iter()
        .filter(|n| matches!(n, Note::AnswerLost { found: true, .. }))
        .collect();
    assert_eq!(lost.len(), 1, "{lost:?}");
    for o in acct.orders().filter(|o| o.status != OrderStatus::Rejected) {
        let acks = o
            .history
            .iter()
            .filter(|(_, e)| matches!(e, OrderEvent::Accepted { .. }))
            .count();
        assert_eq!(acks, 1, "{o:?}");
    }

    // The stream dropped once and was reconciled; the order placed by
    // hand was reported and left alone.
    assert_eq!(seen.reconnects.len(), 1, "{:?}", seen.reconnects);
    let r = &seen.reconnects[0];
    assert!(
        r.unknown_orders
            .iter()
            .any(|o| o.client_id == "placed-by-hand"),
        "{r:?}"
    );
    assert!(r.balance_gap.is_none(), "{r:?}");
    assert!(r.unknown_positions.is_empty(), "{r:?}");
    let open = client.open_orders().await.unwrap();
    assert!(open.iter().any(|o| o.client_id == "placed-by-hand"));

    // Fills came over the stream too, each applied once.
    let streamed = seen
        .streamed
        .iter()
        .filter(|e| {
            matches!(
                e,
                VenueEvent::Order {
                    event: OrderEvent::Filled(_),
                    ..
                }
            )
        })
        .count();
    assert!(streamed >= trades.len(), "{streamed} fills streamed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_style_exits_are_refused_for_quantity_and_wrong_keys_for_auth() {
    let x = inputs();
    let b = broker(&x).await;
    // Take-profits beside a whole-position stop: Alpaca holds the shares of
    // the take-profits, so the stop finds none left.
    let client = account(&b, "mock-secret");
    let plain = VenueRules {
        exits: ExitStyle::ReduceOnly,
        lot: Some(Decimal::ONE),
        own_pnl: true,
    };
    let (acct, _) = follow(&x, 60, 400, &client, plain, |_, close| b.clock.set(close)).await;
    let refused: Vec<&Note> = acct
        .notes()
        .iter()
        .filter(|n| matches!(n, Note::Refused { why, .. } if why.contains("insufficient qty available")))
        .collect();
    assert!(!refused.is_empty(), "{:?}", acct.notes());

    // Wrong keys: REST and the stream both refuse, by name.
    let wrong = account(&b, "not-the-secret");
    let e = wrong.snapshot().await.unwrap_err();
    assert!(matches!(e, ExecError::Auth { .. }), "{e:?}");
    assert!(e.to_string().contains("not authorized"), "{e}");
    let e = wrong.events().await.unwrap_err();
    assert!(matches!(e, ExecError::Auth { .. }), "{e:?}");
}
