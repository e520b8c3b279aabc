//! `[costs.<exchange>]` reaches every backtest path: `traderai backtest`,
//! training's walk-forward backtest (CLI and job) and the simulator job all
//! charge the stored series' exchange's costs, found without `--exchange`.

mod common;

use common::{ok, traderai};
use serde_json::{Value, json};
use std::path::Path;

/// Yahoo series pay 40 bp a fill and nothing else: eight times the default
/// taker fee, so what a run charged shows in its trades. The gate is 0.3:
/// the calibrated rule stays under the product's 0.55 on BTC 1d, and the
/// fees are read off trades.
const YAHOO_COSTS: &str = "[costs.yahoo]\nmaker_bps = 40.0\ntaker_bps = 40.0\nslippage_bps = 0.0\nfunding_bps_per_hour = 0.0\n[signals]\nmin_confidence = 0.3\n";

fn write_config(dir: &Path) -> String {
    let path = dir.join("costs.toml");
    std::fs::write(&path, YAHOO_COSTS).unwrap();
    path.to_str().unwrap().to_string()
}

/// The report's cost model is the configured one.
fn charged_yahoo_costs(report: &Value) {
    let c = &report["config"]["costs"];
    assert_eq!(
        (c["maker_bps"].as_f64(), c["taker_bps"].as_f64()),
        (Some(40.0), Some(40.0)),
        "{c}"
    );
    assert_eq!(c["slippage_bps"].as_f64(), Some(0.0), "{c}");
    assert_eq!(c["funding_bps_per_hour"].as_f64(), Some(0.0), "{c}");
}

/// Σ fees / Σ entry notional over a trades.csv: about twice a fill's fee
/// (the entry and the exits, at prices near the entry's).
fn fee_rate(trades_csv: &Path) -> (f64, f64, usize) {
    let mut r = csv::Reader::from_path(trades_csv).unwrap();
    let h = r.headers().unwrap().clone();
    let col = |name: &str| h.iter().position(|x| x == name).unwrap();
    let (price, qty, fees, funding) = (col("entry_price"), col("qty"), col("fees"), col("funding"));
    let (mut notional, mut paid, mut funded, mut n) = (0.0, 0.0, 0.0, 0);
    for row in r.records() {
        let row = row.unwrap();
        let f = |k: usize| row[k].parse::<f64>().unwrap();
        notional += f(price) * f(qty);
        paid += f(fees);
        funded += f(funding).abs();
        n += 1;
    }
    (paid / notional, funded, n)
}

fn backtest(url: &str, config: Option<&str>, out: &Path) -> Value {
    backtest_at(url, config, "0.5", out)
}

/// `traderai backtest` of the stored BTC 1d at a net-profit gate.
fn backtest_at(url: &str, config: Option<&str>, min_net_profit: &str, out: &Path) -> Value {
    let mut args = vec![];
    if let Some(c) = config {
        args.extend(["--config", c]);
    }
    let out = out.to_str().unwrap();
    // No --exchange: the stored series says where it came from.
    args.extend([
        "--json",
        "backtest",
        "--symbol",
        "BTC/USD",
        "--timeframe",
        "1d",
        "--min-net-profit",
        min_net_profit,
        "--min-confidence",
        "0.3",
        "-o",
        out,
    ]);
    ok(&traderai(Some(url), &args))
}

#[tokio::test]
async fn the_cli_backtest_charges_the_series_exchange_costs() {
    let (_pool, url) = common::fresh_db().await;
    common::import_btc_1d(&url);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());

    let plain = backtest(&url, None, &dir.path().join("plain"));
    let costly = backtest(&url, Some(&config), &dir.path().join("costly"));
    assert_eq!(plain["report"]["config"]["costs"]["taker_bps"], 5.0);
    charged_yahoo_costs(&costly["report"]);
    // Two cost models tried on one stored series: the second report counts both.
    let trials = |r: &Value| r["report"]["metrics"]["trials"].as_u64();
    assert_eq!((trials(&plain), trials(&costly)), (Some(1), Some(2)));
    let again = backtest(&url, None, &dir.path().join("again"));
    assert_eq!(
        trials(&again),
        Some(2),
        "a configuration tried before is not a new trial"
    );

    let (plain_rate, plain_funding, n) = fee_rate(&dir.path().join("plain/trades.csv"));
    assert!(n > 5, "{n} trades at default costs");
    assert!(plain_rate < 0.0012, "default fees: {plain_rate}");
    assert!(plain_funding > 0.0, "the default charges constant funding");
    let (rate, funding, n) = fee_rate(&dir.path().join("costly/trades.csv"));
    assert!(n > 5, "{n} trades at 40 bp");
    assert!(
        (0.0065..0.0100).contains(&rate),
        "40 bp in and about 40 bp out: {rate}"
    );
    assert_eq!(funding, 0.0, "the config's funding rate is zero");
    assert!(
        costly["report"]["metrics"]["final_equity"].as_f64()
            < plain["report"]["metrics"]["final_equity"].as_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_job_charges_the_series_exchange_costs() {
    let (pool, url) = common::fresh_db().await;
    common::import_btc_1d(&url);
    let dir = tempfile::tempdir().unwrap();
    let settings =
        server::config::Settings::load(Some(Path::new(&write_config(dir.path())))).unwrap();
    let simulate = |params: Value| {
        let (pool, settings) = (pool.clone(), settings.clone());
        async move {
            let job = server::db::jobs::enqueue(&pool, server::simulate::KIND, &params)
                .await
                .unwrap();
            let ran = server::jobs::worker(pool.clone(), settings, true, std::future::pending())
                .await
                .unwrap();
            assert_eq!(ran, 1);
            let done = server::db::jobs::get(&pool, job.id).await.unwrap().unwrap();
            assert_eq!(done.error, None);
            done.detail
        }
    };
    let first =
        json!({"symbols": ["BTC/USD"], "timeframe": "1d", "capital": 100.0, "min_net_profit": 0.5});
    let done = simulate(first.clone()).await;
    charged_yahoo_costs(&done["report"]);
    let trades = done["trades"].as_array().unwrap();
    assert!(trades.len() > 5, "{} trades", trades.len());
    let m = &done["report"]["metrics"];
    assert_eq!(m["trials"], 1, "the first configuration tried: a PSR");

    // Each other configuration tried on the series deflates the Sharpe more;
    // rerunning one already tried does not.
    let other =
        json!({"symbols": ["BTC/USD"], "timeframe": "1d", "capital": 100.0, "min_net_profit": 1.0});
    let second = simulate(other).await;
    assert_eq!(second["report"]["metrics"]["trials"], 2);
    assert!(done["pbo"].is_null(), "nothing to compare the first with");
    assert!(
        done["pbo_error"]
            .as_str()
            .unwrap()
            .contains("first configuration"),
        "{}",
        done["pbo_error"]
    );
    let pbo = &second["pbo"];
    assert_eq!(
        (pbo["trials"].as_u64(), pbo["splits"].as_u64()),
        (Some(2), Some(70)),
        "{pbo}"
    );
    assert!((0.0..=1.0).contains(&pbo["pbo"].as_f64().unwrap()));
    let again = simulate(first).await;
    let m2 = &again["report"]["metrics"];
    assert_eq!(m2["trials"], 2);
    assert_eq!(m2["sharpe"], m["sharpe"], "same configuration, same Sharpe");
    assert!(
        m2["deflated_sharpe"].as_f64().unwrap() < m["deflated_sharpe"].as_f64().unwrap(),
        "{} after two trials vs {} after one",
        m2["deflated_sharpe"],
        m["deflated_sharpe"]
    );

    // `traderai backtest` on the same stored series reads and writes the
    // same trial ledger: a third configuration there counts everywhere.
    let cli = backtest_at(
        &url,
        dir.path().join("costs.toml").to_str(),
        "2",
        &dir.path().join("cli"),
    );
    assert_eq!(
        cli["report"]["metrics"]["trials"], 3,
        "the simulator's two and this"
    );
    assert_eq!(
        cli["pbo"]["trials"], 3,
        "ranked among the simulator's curves: {cli}"
    );
    let third = simulate(
        json!({"symbols": ["BTC/USD"], "timeframe": "1d", "capital": 100.0, "min_net_profit": 1.0}),
    )
    .await;
    assert_eq!(third["report"]["metrics"]["trials"], 3);
    assert_eq!(
        third["pbo"]["trials"], 3,
        "the CLI's curve among the simulator's"
    );

    // A late window keeps the earlier bars as warm-up: the curve and the
    // trades start at `from`, and the report says how many bars warmed up.
    let from = 1_609_459_200_000_i64; // 2021-01-01
    let day = 86_400_000;
    let late = simulate(
        json!({"symbols": ["BTC/USD"], "timeframe": "1d", "capital": 100.0,
                               "min_net_profit": 0.5, "from": from}),
    )
    .await;
    let rep = &late["report"];
    assert_eq!(rep["config"]["trade_from"], from + day, "{}", rep["config"]);
    let warm_up = rep["data"][0]["warm_up_bars"].as_u64().unwrap();
    assert!((360..=366).contains(&warm_up), "2020's bars: {warm_up}");
    let curve = late["equity"].as_array().unwrap();
    assert_eq!(curve[0]["t"], from);
    assert_eq!(
        curve.len() as u64,
        rep["data"][0]["bars"].as_u64().unwrap() - warm_up,
        "one point per bar from `from` on"
    );
    let trades = late["trades"].as_array().unwrap();
    assert!(!trades.is_empty());
    assert!(
        trades
            .iter()
            .all(|t| t["signal_time"].as_i64().unwrap() >= from + day)
    );
    assert_eq!(
        rep["metrics"]["trials"], 4,
        "another window is another configuration"
    );
    assert_eq!(
        late["pbo"]["trials"], 4,
        "ranked on the bars all four share"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn training_walk_forward_backtests_charge_the_series_exchange_costs() {
    let (pool, url) = common::fresh_db().await;
    common::import_btc_1d(&url);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let pipeline = common::tiny_pipeline(dir.path(), 2);
    let models = dir.path().join("models");
    let train = |extra: &[&str]| {
        let mut args = vec![
            "--config",
            &config,
            "--json",
            "train",
            "--symbol",
            "BTC/USD",
            "--timeframe",
            "1d",
            "--backend",
            "flex",
            "--pipeline",
            &pipeline,
            "--min-net-profit",
            "0.5",
            "-o",
            models.to_str().unwrap(),
        ];
        args.extend(extra);
        ok(&traderai(Some(&url), &args))
    };

    // Here, in the CLI.
    let here = train(&[]);
    charged_yahoo_costs(&here[0]["backtest"]);

    // As a job, in a worker started with the same config.
    let queued = train(&["--enqueue"]);
    let settings = server::config::Settings::load(Some(Path::new(&config))).unwrap();
    let ran = server::jobs::worker(pool.clone(), settings, true, std::future::pending())
        .await
        .unwrap();
    assert_eq!(ran, 1);
    let id = queued["id"].as_i64().unwrap();
    let done = server::db::jobs::get(&pool, id).await.unwrap().unwrap();
    assert_eq!(done.error, None);
    charged_yahoo_costs(&done.detail["models"][0]["backtest"]);

    // The trial ledger: the job trained the CLI's configuration again (one
    // trial); another seed is another configuration tried on the data.
    let trials = |b: &Value| b["backtest"]["metrics"]["trials"].as_u64();
    assert_eq!(trials(&here[0]), Some(1), "the first: a PSR");
    assert_eq!(
        trials(&done.detail["models"][0]),
        Some(1),
        "the same configuration"
    );
    let reseeded = train(&["--seed", "9"]);
    assert_eq!(
        trials(&reseeded[0]),
        Some(2),
        "a second configuration deflates the Sharpe"
    );
}
