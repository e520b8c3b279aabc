//! The look-ahead guard of the whole engine: for random cut points t, running
//! features, signals and the backtest on data truncated at t gives exactly
//! what the full run gives for every bar up to t. Real BTC 15-minute bars.

use engine::Candle;
use engine::Timeframe;
use engine::backtest::{self, BacktestConfig, BacktestResult, ExitReason, SeriesInput};
use engine::features;
use engine::signals::{Prediction, TechnicalRule};

#[path = "support/golden.rs"]
mod golden;
use golden::btc_15m;

struct Run {
    features: Vec<String>,
    predictions: Vec<Option<Prediction>>,
    result: BacktestResult,
}

fn cfg() -> BacktestConfig {
    let mut c = BacktestConfig {
        record_decisions: true,
        ..Default::default()
    };
    // 15-minute moves rarely promise 2 % net: lower the gate so trades happen.
    c.plan.min_net_profit_pct = 0.3;
    c
}

fn run(candles: &[Candle]) -> Run {
    let set = features::compute("BTC/USD", Timeframe::M15, candles);
    let predictions = backtest::strategy::technical(
        &set,
        &TechnicalRule {
            move_atr: 4.0,
            ..Default::default()
        },
    );
    let atr: Vec<Option<f64>> = set
        .bars
        .iter()
        .map(|b| b.technicals.map(|t| t.atr))
        .collect();
    let result = backtest::run(
        &[SeriesInput {
            symbol: "BTC/USD",
            candles,
            predictions: &predictions,
            atr: &atr,
            lower: None,
            funding: None,
        }],
        Timeframe::M15,
        &cfg(),
    );
    // Debug text compares NaN payloads too (a bad value stays visible).
    let features = set.bars.iter().map(|b| format!("{b:?}")).collect();
    Run {
        features,
        predictions,
        result,
    }
}

/// Fills decided by the close of the bar opening at `t_open`, end-of-data closes excluded.
fn fills(r: &BacktestResult, t_open: i64) -> Vec<String> {
    let mut out = Vec::new();
    for tr in &r.trades {
        if tr.entry_time <= t_open {
            out.push(format!(
                "entry {} {:?} {} {}",
                tr.entry_time, tr.side, tr.entry_price, tr.qty
            ));
        }
        for f in &tr.exits {
            if f.reason != ExitReason::EndOfData && f.time <= t_open + 900_000 {
                out.push(format!(
                    "exit {} {:?} {} {}",
                    f.time, f.reason, f.price, f.qty
                ));
            }
        }
    }
    out.sort();
    out
}

/// Equal slices, or a panic naming the first difference (not the whole list).
fn same<T: PartialEq + std::fmt::Debug>(part: &[T], full: &[T], what: &str, cut: usize) {
    assert!(
        part.len() <= full.len(),
        "{what}: truncated run has more ({} > {}) at cut {cut}",
        part.len(),
        full.len()
    );
    if let Some(i) = (0..part.len()).find(|&i| part[i] != full[i]) {
        panic!(
            "{what} differ at cut {cut}, item {i}: truncated {:?} vs full {:?}",
            part[i], full[i]
        );
    }
    assert_eq!(part.len(), full.len(), "{what}: count differs at cut {cut}");
}

#[test]
fn truncated_runs_agree_with_the_full_run_up_to_the_cut() {
    let candles = btc_15m();
    assert!(candles.len() > 5000);
    let full = run(&candles);
    assert!(
        full.result.trades.len() >= 5,
        "the test needs trades to guard: {}",
        full.result.trades.len()
    );
    // Cut points from a fixed LCG: reproducible, spread over the series.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut cuts: Vec<usize> = (0..12)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            100 + (x >> 33) as usize % (candles.len() - 101)
        })
        .collect();
    cuts.extend([60, candles.len() / 2]);
    for t in cuts {
        let part = run(&candles[..=t]);
        same(&part.features, &full.features[..=t], "features", t);
        same(&part.predictions, &full.predictions[..=t], "signals", t);
        let close_t = candles[t].open_time + 900_000;
        let decisions = |r: &BacktestResult| {
            r.decisions
                .iter()
                .filter(|d| d.time <= close_t)
                .copied()
                .collect::<Vec<_>>()
        };
        same(
            &decisions(&part.result),
            &decisions(&full.result),
            "decisions",
            t,
        );
        same(
            &fills(&part.result, candles[t].open_time),
            &fills(&full.result, candles[t].open_time),
            "fills",
            t,
        );
        let n = part.result.equity.len() - 1; // the last point books the end-of-data close
        same(
            &part.result.equity[..n],
            &full.result.equity[..n],
            "equity points",
            t,
        );
    }
}

/// Sentiment and macro columns: what became known after bar t's close
/// (items published, values released or revised later) changes nothing at
/// or before t; bars up to t agree with the full run.
#[test]
fn alternative_data_known_after_the_cut_changes_nothing_before_it() {
    use engine::altdata::macro_series::Observation;
    use engine::altdata::sentiment::Item;
    use engine::altdata::{macro_at_bars, sentiment_at_bars};
    let candles = btc_15m();
    let dur = 900_000;
    let opens: Vec<i64> = candles.iter().map(|c| c.open_time).collect();
    let (first, last) = (opens[0], *opens.last().unwrap());
    // Items every 7 minutes, some on a bar's close instant exactly.
    let items: Vec<Item> = (0..)
        .map(|k: i64| first + k * 420_000)
        .take_while(|&t| t <= last + dur)
        .enumerate()
        .map(|(k, time)| Item {
            time,
            score: ((k * 37) % 21) as f64 / 10.0 - 1.0,
        })
        .collect();
    // A daily series released a day after each period, revised three days later.
    let obs: Vec<Observation> = (0..)
        .map(|d: i64| first + d * 86_400_000)
        .take_while(|&p| p <= last)
        .flat_map(|p| {
            [
                Observation {
                    period: p,
                    released: p + 86_400_000,
                    value: (p % 97) as f64,
                },
                Observation {
                    period: p,
                    released: p + 3 * 86_400_000,
                    value: (p % 89) as f64,
                },
            ]
        })
        .collect();
    let macro_full = |o: &[Observation], n: usize| {
        macro_at_bars(&opens[..n], dur, &[("VIXCLS".to_string(), o.to_vec())])
    };
    let s_full = sentiment_at_bars(&opens, dur, &items);
    let m_full = macro_full(&obs, opens.len());
    for t in [50, 999, 4321, opens.len() / 2, opens.len() - 2] {
        let close = opens[t] + dur;
        let known_items: Vec<Item> = items.iter().copied().filter(|i| i.time < close).collect();
        let known_obs: Vec<Observation> =
            obs.iter().copied().filter(|o| o.released < close).collect();
        let s = sentiment_at_bars(&opens[..=t], dur, &known_items);
        same(&s, &s_full[..=t], "sentiment columns", t);
        let m = macro_full(&known_obs, t + 1);
        same(&m, &m_full[..=t], "macro columns", t);
    }
}
