//! A live account on the paper venue (the in-process [`SimVenue`] behind
//! the [`ExecutionClient`] trait), following the BTC signals bar by bar:
//! the venue's fills make the trades the shadow — the backtester on the
//! same bars — predicted, and its ledger is the venue's wallet to the
//! satoshi.

mod support;

use std::future::Future;
use std::task::{Context, Poll, Waker};
use support::follow::{compare, funding_rates, on_paper};
use support::inputs::{cfg, inputs};
use trading::execution::ExecutionClient;

/// The paper venue answers at once: polling is enough.
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

#[test]
fn a_live_account_on_the_paper_venue_makes_the_predicted_trades() {
    let x = inputs();
    let cfg = cfg();
    let rates = funding_rates(&x);
    // The stream drops once, mid-run: the runner reconnects and reconciles.
    let (acct, seen, venue) = block_on(on_paper(
        &x,
        &cfg,
        &rates,
        300,
        x.candles.len(),
        Some(2_000),
    ));
    let (same, explained) = compare(&acct);
    eprintln!(
        "{} venue trades: {same} as predicted, {explained} break-even within the bar",
        acct.trades().len()
    );
    assert!(same >= 200, "too few trades compared: {same}");
    assert!(
        explained * 50 <= acct.trades().len(),
        "{explained} of {} parted",
        acct.trades().len()
    );
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    assert_eq!(seen.reconnects.len(), 1);
    assert!(seen.reconnects[0].unknown_orders.is_empty());
    assert!(seen.reconnects[0].unknown_positions.is_empty());
    let snap = block_on(venue.snapshot()).unwrap();
    assert_eq!(
        acct.balance(),
        snap.balance,
        "the ledger is the venue's wallet"
    );
    for o in acct.orders() {
        assert!(o.history.len() >= 2, "{o:?}");
    }
}
