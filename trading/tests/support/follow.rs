//! Follows the BTC signals through a [`LiveAccount`] at a venue, bar by bar
//! as a runner does — stream events first, then the fills looked up, then
//! the close's bars and the decision — and compares what the venue filled
//! with what the shadow (the backtester) predicted.

use super::inputs::Inputs;
use engine::backtest::{BacktestConfig, Trade};
use engine::costs::FundingRate;
use engine::{TimeMs, Timeframe};
use trading::execution::{ExecutionClient, VenueEvent};
use trading::ledger::to_f64;
use trading::live::{self, LiveAccount, LiveTrade};
use trading::matcher::PaperAccount;

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

/// Runs bars `from..to`. `at_close(i, close)` moves the venue to bar `i`'s
/// close (its clock; the paper venue also its bar, funding and next open);
/// `drain()` hands over what the event stream delivered so far.
#[allow(clippy::too_many_arguments)]
pub async fn follow<C: ExecutionClient>(
    x: &Inputs,
    cfg: &BacktestConfig,
    rates: &[FundingRate],
    from: usize,
    to: usize,
    client: &C,
    mut at_close: impl FnMut(usize, TimeMs),
    mut drain: impl FnMut() -> Vec<VenueEvent>,
) -> LiveAccount {
    let shadow = PaperAccount::new(cfg.clone(), vec!["BTC/USD".into()], BAR_MS, "shadow");
    let mut acct = LiveAccount::new(shadow, "live");
    for i in from..to {
        let bar = x.candles[i];
        let close = bar.open_time + BAR_MS;
        at_close(i, close);
        for e in drain() {
            let cmds = acct.on_event(&e).unwrap();
            live::execute(&mut acct, client, close, cmds).await.unwrap();
        }
        live::catch_up(&mut acct, client, close).await.unwrap();
        let cmds = acct.on_bars(&[(0, bar, Some(rates))], BAR_MS).unwrap();
        live::execute(&mut acct, client, close, cmds).await.unwrap();
        let cmds = acct
            .on_close(0, &bar, x.preds[i].as_ref(), x.atr[i])
            .unwrap();
        live::execute(&mut acct, client, close, cmds).await.unwrap();
        live::catch_up(&mut acct, client, close).await.unwrap();
    }
    acct
}

fn near(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-8 * a.abs().max(b.abs()).max(1.0)
}

/// Why a venue trade is not the predicted one, or `None` when it is:
/// entry time and price, quantity, and each exit's bar, price, quantity
/// and reason.
pub fn differs(l: &LiveTrade, p: &Trade) -> Option<String> {
    let bar = |t: TimeMs| t.div_euclid(BAR_MS);
    if l.symbol != p.symbol || l.side != p.side {
        return Some("symbol or side".into());
    }
    if l.entry_time != p.entry_time || !near(to_f64(l.entry_price), p.entry_price) {
        return Some(format!(
            "entry {} at {} vs {} at {}",
            l.entry_time, l.entry_price, p.entry_time, p.entry_price
        ));
    }
    if l.exits.len() != p.exits.len() {
        return Some(format!(
            "{} exits vs {} ({:?} vs {:?})",
            l.exits.len(),
            p.exits.len(),
            l.exits.iter().map(|e| e.reason).collect::<Vec<_>>(),
            p.exits.iter().map(|e| e.reason).collect::<Vec<_>>()
        ));
    }
    for (a, b) in l.exits.iter().zip(&p.exits) {
        if bar(a.time) != bar(b.time)
            || !near(to_f64(a.price), b.price)
            || !near(to_f64(a.qty), b.qty)
            || a.reason != b.reason
        {
            return Some(format!(
                "exit {:?} {} at {} x{} vs {:?} {} at {} x{}",
                a.reason, a.time, a.price, a.qty, b.reason, b.time, b.price, b.qty
            ));
        }
    }
    None
}

/// Bars per timeframe, for messages.
pub fn bars_per_day() -> i64 {
    86_400_000 / Timeframe::M15.duration_ms()
}
