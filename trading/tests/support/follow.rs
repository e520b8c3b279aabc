//! Follows the BTC signals through a [`LiveAccount`] at a venue, bar by bar
//! as a runner does — stream events first, then the fills looked up, then
//! the close's bars and the decision — and compares what the venue filled
//! with what the shadow (the backtester) predicted.

use super::inputs::Inputs;
use engine::TimeMs;
use engine::backtest::ExitReason;
use engine::backtest::{BacktestConfig, Trade};
use engine::costs::FundingRate;
use std::sync::Arc;
use trading::clock::ManualClock;
use trading::execution::{EventStream, ExecutionClient, Reconciliation, VenueEvent};
use trading::ledger::money;
use trading::live::{self, LiveAccount, LiveTrade, Note};
use trading::matcher::PaperAccount;
use trading::paper_venue::PaperVenue;
use trading::sim::{SimConfig, SimVenue};

pub const BAR_MS: TimeMs = 900_000;

/// 8-hourly settlements around Binance's 0.01 % baseline (the mock's shape).
pub fn funding_rates(x: &Inputs) -> Vec<FundingRate> {
    const EIGHT_H: TimeMs = 8 * 3_600_000;
    let first = x.candles[0].open_time.div_euclid(EIGHT_H) + 1;
    let last = x.candles[x.candles.len() - 1].open_time.div_euclid(EIGHT_H);
    (first..=last)
        .map(|k| FundingRate {
            time: k * EIGHT_H,
            rate: 0.0001 + 0.00015 * ((k as f64) / 5.0).sin(),
        })
        .collect()
}

/// What a run saw besides the account.
#[derive(Debug, Default)]
pub struct Seen {
    /// Every event the stream delivered.
    pub streamed: Vec<VenueEvent>,
    /// Reconnects after the stream ended, and what each reconciliation found.
    pub reconnects: Vec<Reconciliation>,
    /// Catch-ups the venue did not answer (a runner journals them and goes on).
    pub errors: Vec<String>,
}

/// Runs bars `from..to`. `at_close(i, close)` moves the venue to bar `i`'s
/// close (its clock; the paper venue also its bar, funding and next open).
/// The stream is drained at each close; when it ends, the runner
/// reconnects: a new stream, then a snapshot, reconciliation, the fills
/// missed.
#[allow(clippy::too_many_arguments)]
pub async fn follow<C: ExecutionClient>(
    x: &Inputs,
    cfg: &BacktestConfig,
    rates: &[FundingRate],
    from: usize,
    to: usize,
    client: &C,
    mut at_close: impl FnMut(usize, TimeMs),
) -> (LiveAccount, Seen) {
    let mut shadow = PaperAccount::new(cfg.clone(), vec!["BTC/USD".into()], BAR_MS, "shadow");
    let mut acct = LiveAccount::new(&shadow, "live");
    let mut seen = Seen::default();
    let mut stream = client.events().await.unwrap();
    for i in from..to {
        let bar = x.candles[i];
        let close = bar.open_time + BAR_MS;
        at_close(i, close);
        while let Some(e) = stream.try_next() {
            seen.streamed.push(e.clone());
            if matches!(e, VenueEvent::Disconnected { .. }) {
                // A new stream, the fills missed, then the snapshot: what
                // still differs is reported.
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
        // The paper account's step, then the venue follows it.
        let mut events = shadow.on_bars(&[(0, bar, Some(rates))], BAR_MS).unwrap();
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

/// Checks the venue's trades against the predicted ones: the count of the
/// same, and of the one known parting (break-even inside one bar, noted).
pub fn compare(acct: &LiveAccount) -> (usize, usize) {
    let live = acct.trades();
    let predicted = acct.predicted();
    let (mut same, mut explained) = (0, 0);
    for l in live {
        let p = predicted
            .iter()
            .find(|p| p.entry_time == l.entry_time)
            .unwrap_or_else(|| panic!("a venue trade the backtest did not make: {l:?}"));
        let Some(d) = differs(l, p) else {
            same += 1;
            continue;
        };
        // The backtest lets TP1 and the break-even stop it implies both
        // fill inside one bar; the venue can only get that stop after
        // TP1's fill, and exits at the next open instead.
        let exit = l.exits.last().unwrap();
        let noted = acct
            .notes()
            .iter()
            .any(|n| matches!(n, Note::Divergence { time, .. } if *time == exit.time));
        assert!(
            noted
                && exit.reason == ExitReason::BreakEven
                && p.exit_reason == ExitReason::BreakEven
                && exit.time == p.exit_time + BAR_MS,
            "an unexplained difference at {}: {d}",
            l.entry_time
        );
        explained += 1;
    }
    let missing = predicted.len() - live.len();
    assert_eq!(missing, 0, "predicted trades the venue did not make");
    (same, explained)
}

/// The paper venue for `cfg`, as [`on_paper`] runs it.
pub fn paper_venue(cfg: &BacktestConfig, clock: Arc<ManualClock>) -> PaperVenue {
    let sim = SimVenue::new(
        "paper",
        SimConfig {
            costs: cfg.costs,
            balance: money(cfg.initial_capital).unwrap(),
            leverage: 125,
        },
    );
    PaperVenue::new(sim, clock)
}

/// Follows bars `from..to` on the paper venue, which the test steps itself:
/// each bar meets the orders at its close, funding settles, the price moves
/// to the next open. The stream drops once at `disconnect_at`.
pub async fn on_paper(
    x: &Inputs,
    cfg: &BacktestConfig,
    rates: &[FundingRate],
    from: usize,
    to: usize,
    disconnect_at: Option<usize>,
) -> (LiveAccount, Seen, PaperVenue) {
    let clock = Arc::new(ManualClock::new(0));
    let venue = paper_venue(cfg, clock.clone());
    let v = venue.clone();
    let (acct, seen) = follow(x, cfg, rates, from, to, &venue, |i, close| {
        clock.set(close);
        let bar = x.candles[i];
        v.bar("BTC/USD", &bar, BAR_MS);
        for r in rates
            .iter()
            .filter(|r| r.time > bar.open_time && r.time <= close)
        {
            v.funding(r.time, "BTC/USD", r.rate, bar.close);
        }
        if let Some(next) = x.candles.get(i + 1) {
            v.set_price("BTC/USD", next.open);
        }
        if Some(i) == disconnect_at {
            v.disconnect();
        }
    })
    .await;
    (acct, seen, venue)
}

/// Why a venue trade is not the predicted one (`trading::live::parted`).
pub fn differs(l: &LiveTrade, p: &Trade) -> Option<String> {
    live::parted(l, p, BAR_MS)
}
