//! Binance USDⓈ-M trading against the mock, which matches orders on its
//! replayed bars with the paper venue's engine and streams them as Binance
//! does: a live account following the BTC signals through the signed REST
//! client and the user-data stream makes the paper venue's trades, to the
//! last digit — through a lost order answer, a dropped stream and an order
//! someone placed by hand; a wrong secret, a stale timestamp and too little
//! margin each end in a refused order with the venue's reason, and no
//! position.

#[path = "../../trading/tests/support/mod.rs"]
mod support;

use engine::{Symbol, Timeframe};
use rust_decimal::Decimal;
use std::sync::Arc;
use std::time::Duration;
use support::follow::{BAR_MS, Seen, compare, follow, funding_rates, on_paper};
use support::inputs::{Inputs, cfg, inputs};
use trading::clock::ManualClock;
use trading::execution::{ExecError, ExecutionClient, VenueEvent};
use trading::live::{LiveAccount, Note};
use trading::order::{OrderEvent, OrderKind, OrderRequest, OrderSide, OrderStatus, Purpose};
use venues::binance::mock::{MockConfig, MockExchange};
use venues::binance::usdm::{Credentials, UsdmAccount, UsdmClient};

struct Venue {
    mock: MockExchange,
    clock: Arc<ManualClock>,
    base: String,
}

async fn venue(x: &Inputs, balance: f64) -> Venue {
    let c = cfg();
    let clock = Arc::new(ManualClock::new(x.candles[0].open_time));
    let rates = funding_rates(x).iter().map(|r| (r.time, r.rate)).collect();
    let btc = Symbol::parse("BTC/USD").unwrap();
    let mock = MockExchange::new(MockConfig {
        clock: clock.clone(),
        balance,
        leverage: 125.0,
        costs: c.costs,
        ..MockConfig::default()
    })
    .with_series(&btc, Timeframe::M15, x.candles.clone())
    .with_funding(&btc, rates);
    let (addr, _) = mock.spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    Venue {
        mock,
        clock,
        base: format!("http://{addr}"),
    }
}

fn account(v: &Venue, secret: &str) -> UsdmAccount {
    let c = UsdmClient::with_streams(
        &v.base,
        &v.base.replacen("http", "ws", 1),
        Credentials::new("mock-api-key", secret),
        5000,
        // Short, so a stalled answer is given up on quickly.
        Duration::from_millis(600),
    )
    .unwrap();
    UsdmAccount::new(c)
}

/// Follows bars `from..to` at the mock, its replay clock moved to each
/// close (signatures keep real time).
async fn on_binance(
    v: &Venue,
    client: &UsdmAccount,
    x: &Inputs,
    from: usize,
    to: usize,
    mut at: impl FnMut(usize),
) -> (LiveAccount, Seen) {
    let rates = funding_rates(x);
    follow(x, &cfg(), &rates, from, to, client, |i, close| {
        v.clock.set(close);
        at(i);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_followed_on_binance_makes_the_paper_venues_trades() {
    let x = inputs();
    let (from, to) = (300, 2_300);
    let c = cfg();
    let v = venue(&x, c.initial_capital).await;
    let client = account(&v, "mock-api-secret");
    let foreign = OrderRequest {
        client_id: "placed-by-hand".into(),
        symbol: "BTCUSD".into(),
        side: OrderSide::Buy,
        kind: OrderKind::Limit {
            price: Decimal::from(1000),
        },
        qty: "0.0001".parse().unwrap(),
        reduce_only: false,
        purpose: Purpose::Entry,
    };
    let started = std::time::Instant::now();
    let (acct, seen) = on_binance(&v, &client, &x, from, to, |i| {
        match i {
            // The next order's answer is lost: the venue placed it, the
            // client timed out. The account looks it up, not re-sends it.
            600 | 1_400 => v.mock.stall_orders(1, Duration::from_millis(1500)),
            // Someone places an order by hand on the account.
            900 => v.mock.place_foreign(&foreign).unwrap(),
            // The venue drops the user-data stream.
            1_000 => v.mock.disconnect_streams(),
            _ => {}
        }
    })
    .await;
    let took = started.elapsed();
    let requests = v.mock.stats().requests;
    eprintln!(
        "{} closes through the client and the mock in {:.2} s ({:.2} ms a close, {:.1} signed requests a close)",
        to - from,
        took.as_secs_f64(),
        took.as_secs_f64() * 1000.0 / (to - from) as f64,
        requests as f64 / (to - from) as f64
    );
    let rates = funding_rates(&x);
    let (paper, _, paper_venue) = on_paper(&x, &c, &rates, from, to, None).await;

    // Two lost answers: each a catch-up that waited, none failed for good.
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    // The same trades as the paper venue, to the last digit.
    assert!(acct.trades().len() >= 50, "{} trades", acct.trades().len());
    assert_eq!(acct.trades(), paper.trades());
    // And as the backtest predicted, but for the noted break-even case.
    let (same, explained) = compare(&acct);
    assert_eq!(same + explained, acct.trades().len());
    eprintln!(
        "{} trades at the mock: {same} as predicted, {explained} break-even within the bar",
        acct.trades().len()
    );

    // The ledger is the venue's wallet, and the paper venue's.
    let wallet = v.mock.account().balance;
    assert_eq!(acct.balance(), wallet);
    assert_eq!(paper_venue.snapshot().await.unwrap().balance, wallet);

    // The lost answers were looked up, not sent again: the venue holds each
    // order the account has once (and the one placed by hand).
    let accepted = acct
        .orders()
        .filter(|o| o.status != OrderStatus::Rejected)
        .inspect(|o| {
            let acks = o
                .history
                .iter()
                .filter(|(_, e)| matches!(e, OrderEvent::Accepted { .. }));
            assert_eq!(acks.count(), 1, "{o:?}");
        })
        .count();
    assert_eq!(v.mock.orders_placed(), accepted + 1);
    let lost: Vec<&Note> = acct
        .notes()
        .iter()
        .filter(|n| matches!(n, Note::AnswerLost { found: true, .. }))
        .collect();
    assert_eq!(lost.len(), 2, "{lost:?}");

    // The stream was lost once and reconciled; the order placed by hand
    // was reported and left alone.
    assert_eq!(seen.reconnects.len(), 1, "{:?}", seen.reconnects);
    let r = &seen.reconnects[0];
    assert_eq!(r.unknown_orders.len(), 1, "{r:?}");
    assert_eq!(r.unknown_orders[0].client_id, "placed-by-hand");
    assert!(r.balance_gap.is_none(), "{r:?}");
    let open = client.open_orders().await.unwrap();
    assert!(open.iter().any(|o| o.client_id == "placed-by-hand"));
    assert!(acct.notes().iter().any(|n| matches!(n, Note::Reconciled { findings, .. } if findings.iter().any(|f| f.contains("placed-by-hand")))));

    // Fills came over the stream as well, each applied once.
    let streamed: Vec<&str> = seen
        .streamed
        .iter()
        .filter_map(|e| match e {
            VenueEvent::Order {
                event: OrderEvent::Filled(f),
                ..
            } => Some(f.trade_id.as_str()),
            _ => None,
        })
        .collect();
    assert!(streamed.len() > 100, "{} fills streamed", streamed.len());
    let mut fee_ids: Vec<&str> = acct
        .ledger()
        .iter()
        .filter(|e| e.kind == trading::ledger::EntryKind::Fee)
        .filter_map(|e| e.trade_id.as_deref())
        .collect();
    let n = fee_ids.len();
    fee_ids.sort_unstable();
    fee_ids.dedup();
    assert_eq!(fee_ids.len(), n, "a trade applied twice");
    assert!(streamed.iter().all(|t| fee_ids.contains(t)));
}

/// The first entry the account sends, and what became of it.
async fn first_entry(v: &Venue, client: &UsdmAccount, x: &Inputs) -> (LiveAccount, Seen) {
    on_binance(v, client, x, 300, 420, |_| {}).await
}

#[tokio::test]
async fn a_wrong_secret_stale_time_or_thin_margin_ends_in_a_refused_order() {
    let x = inputs();
    // A wrong secret: every entry refused for its signature; nothing at the venue.
    let v = venue(&x, cfg().initial_capital).await;
    let bad = account(&v, "not-the-secret");
    let (acct, seen) = first_entry(&v, &bad, &x).await;
    // Looking up fills fails the same way, and says so.
    assert!(
        !seen.errors.is_empty() && seen.errors.iter().all(|e| e.contains("-1022")),
        "{:?}",
        seen.errors
    );
    let refused: Vec<&Note> = acct
        .notes()
        .iter()
        .filter(|n| matches!(n, Note::Refused { .. }))
        .collect();
    assert!(!refused.is_empty(), "an entry was sent");
    for n in &refused {
        let Note::Refused { why, .. } = n else {
            unreachable!()
        };
        assert!(why.contains("-1022") && why.contains("signature"), "{why}");
    }
    assert!(acct.trades().is_empty());
    assert!(
        acct.orders()
            .all(|o| o.status == OrderStatus::Rejected && o.request.purpose == Purpose::Entry)
    );
    assert!(v.mock.account().positions.is_empty());
    assert!(v.mock.account().open_orders.is_empty());

    // Too little margin: $1 behind a plan sized for $100.
    let v = venue(&x, 1.0).await;
    let client = account(&v, "mock-api-secret");
    let (acct, seen) = first_entry(&v, &client, &x).await;
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    let why: Vec<String> = acct
        .notes()
        .iter()
        .filter_map(|n| match n {
            Note::Refused { why, .. } => Some(why.clone()),
            _ => None,
        })
        .collect();
    assert!(!why.is_empty());
    assert!(
        why.iter().all(|w| w.contains("insufficient margin")),
        "{why:?}"
    );
    assert!(v.mock.account().positions.is_empty());

    // A clock a minute behind: refused, named, then resynchronised.
    let v = venue(&x, 100.0).await;
    let client = account(&v, "mock-api-secret");
    let now = x.candles[400].open_time;
    v.clock.set(now);
    client.set_offset_ms(-60_000);
    let market = OrderRequest {
        client_id: "t-1".into(),
        symbol: "BTC/USD".into(),
        side: OrderSide::Buy,
        kind: OrderKind::Market,
        qty: "0.0001".parse().unwrap(),
        reduce_only: false,
        purpose: Purpose::Entry,
    };
    let e = client.open(&market).await.unwrap_err();
    assert!(
        matches!(&e, ExecError::Auth { reason, .. } if reason.contains("-1021")),
        "{e}"
    );
    assert!(v.mock.account().positions.is_empty(), "nothing placed");
    // The client measured the venue's clock on the refusal; the retry passes.
    let ack = client.open(&market).await.unwrap();
    assert_eq!(ack.status, OrderStatus::Filled);
    assert_eq!(v.mock.account().positions.len(), 1);
    let _ = BAR_MS;
}
