//! The research commands end to end through the real binary: features,
//! labels, walk-forward folds and backtests over shipped files and a stored
//! series, with their outputs checked against their definitions.

mod common;

use common::{ok, traderai};

use std::path::Path;

fn rows(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let h = r.headers().unwrap().iter().map(str::to_owned).collect();
    (
        h,
        r.records()
            .map(|x| x.unwrap().iter().map(str::to_owned).collect())
            .collect(),
    )
}

#[test]
fn features_and_labels_of_the_btc_15m_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = common::data("btc-usd-15m-yahoo.csv");
    let out = dir.path().join("f.csv");
    let s = ok(&traderai(
        None,
        &[
            "--json",
            "features",
            "--input",
            file.to_str().unwrap(),
            "--timeframe",
            "15m",
            "-o",
            out.to_str().unwrap(),
        ],
    ));
    let (h, r) = rows(&out);
    assert_eq!(h[0], "open_time");
    assert_eq!(
        &h[1..19],
        engine::features::NAMES.map(String::from).as_slice()
    );
    assert_eq!(
        &h[19..],
        [
            "HTF_1h_trend",
            "HTF_1h_RSI",
            "HTF_4h_trend",
            "HTF_4h_RSI",
            "HTF_1d_trend",
            "HTF_1d_RSI",
            "regime"
        ]
    );
    assert_eq!(r.len() as u64, s["rows"].as_u64().unwrap());
    assert_eq!(s["warmup_dropped"], 49);
    assert!(
        r[48][1].is_empty() && !r[49][1].is_empty(),
        "features start after SMA-50's warm-up"
    );
    for row in &r[49..] {
        let obv: f64 = row[17].parse().unwrap();
        assert!(obv.abs() <= 50.0, "OBV_pct clipped");
        let bb: f64 = row[7].parse().unwrap();
        assert!(bb.is_finite());
    }
    // The daily trend needs 20 closed days: nothing before day 20 closes.
    let first_daily = r.iter().position(|row| !row[23].is_empty()).unwrap();
    assert!(first_daily >= 19 * 96, "daily value at row {first_daily}");

    let out = dir.path().join("l.csv");
    let s = ok(&traderai(
        None,
        &[
            "--json",
            "labels",
            "--input",
            file.to_str().unwrap(),
            "--timeframe",
            "15m",
            "--horizon",
            "16",
            "--upper",
            "pct:1",
            "--lower",
            "pct:0.5",
            "-o",
            out.to_str().unwrap(),
        ],
    ));
    let (h, r) = rows(&out);
    assert_eq!(
        h,
        [
            "open_time",
            "tb_label",
            "tb_barrier",
            "tb_bars",
            "tb_return_pct",
            "fwd_return_pct",
            "direction"
        ]
    );
    let n = r.len();
    let d = &s["direction"];
    assert_eq!(
        d["up"].as_u64().unwrap() + d["neutral"].as_u64().unwrap() + d["down"].as_u64().unwrap(),
        (n - 16) as u64
    );
    for row in r.iter().take(n - 16) {
        let fwd: f64 = row[5].parse().unwrap();
        let dir: f64 = row[6].parse().unwrap();
        assert_eq!(
            dir,
            if fwd > 0.4 {
                1.0
            } else if fwd < -0.4 {
                -1.0
            } else {
                0.0
            }
        );
        let bars: f64 = row[3].parse().unwrap();
        assert!((1.0..=16.0).contains(&bars));
        if row[2] == "1" {
            assert!(
                row[4].parse::<f64>().unwrap() >= 1.0 - 1e-9,
                "upper barrier is +1 %"
            );
        }
    }
    assert!(
        r[n - 1][1].is_empty() && r[n - 1][5].is_empty(),
        "no label without a full horizon"
    );
    // A bad barrier is named.
    let bad = traderai(
        None,
        &[
            "labels",
            "--input",
            file.to_str().unwrap(),
            "--timeframe",
            "15m",
            "--upper",
            "pct:x",
            "-o",
            "/dev/null",
        ],
    );
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("\"pct:x\""),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

#[test]
fn walkforward_folds_are_purged_and_auditable() {
    let file = common::data("btc-usd-15m-yahoo.csv");
    let s = ok(&traderai(
        None,
        &[
            "--json",
            "walkforward",
            "--input",
            file.to_str().unwrap(),
            "--timeframe",
            "15m",
            "--folds",
            "4",
            "--scheme",
            "rolling",
            "--train-bars",
            "2000",
            "--horizon",
            "32",
            "--embargo",
            "0.02",
        ],
    ));
    let folds = s["folds"].as_array().unwrap();
    assert_eq!(folds.len(), 4);
    let emb = (s["bars"].as_f64().unwrap() * 0.02).ceil() as u64;
    for f in folds {
        let test_start = f["test"]["start"].as_u64().unwrap();
        for r in f["train"].as_array().unwrap() {
            let end = r["end"].as_u64().unwrap();
            assert!(
                end - 1 + 32 < test_start,
                "fold {}: train ends {end}, test starts {test_start}",
                f["fold"]
            );
            assert!(r["from"].as_str().unwrap().ends_with('Z'));
        }
        assert!(f["purged"].as_u64().unwrap() == 32);
        for g in folds
            .iter()
            .filter(|g| g["fold"].as_u64() < f["fold"].as_u64())
        {
            let g_end = g["test"]["end"].as_u64().unwrap();
            for r in f["train"].as_array().unwrap() {
                let (a, b) = (r["start"].as_u64().unwrap(), r["end"].as_u64().unwrap());
                assert!(
                    b <= g_end || a >= g_end + emb,
                    "embargo after fold {}",
                    g["fold"]
                );
            }
        }
    }
}

#[tokio::test]
async fn backtest_a_stored_series_records_config_hash_and_baselines() {
    let (_pool, url) = common::fresh_db().await;
    common::import_btc_1d(&url);
    let dir = tempfile::tempdir().unwrap();
    let run = |seed: &str, out: &Path| {
        ok(&traderai(
            Some(&url),
            &[
                "--json",
                "backtest",
                "--symbol",
                "BTC/USD",
                "--timeframe",
                "1d",
                "--exchange",
                "yahoo",
                "--profile",
                "high",
                "--capital",
                "250",
                // The calibrated rule's confidence on BTC 1d stays under 0.55.
                "--min-confidence",
                "0.3",
                "--trials",
                "20",
                "--seed",
                seed,
                "-o",
                out.to_str().unwrap(),
            ],
        ))
    };
    let (a, b, c) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );
    let ra = run("1", &a);
    let rb = run("1", &b);
    let rc = run("2", &c);
    let rep = &ra["report"];
    assert_eq!(rep["input_hash"].as_str().unwrap().len(), 64);
    // The commit the binary was built from (server/build.rs), as git says.
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success() && std::env::var("TRADERAI_GIT_SHA").is_err())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if let Some(head) = head {
        assert_eq!(
            rep["code_version"],
            format!("{} ({head})", env!("CARGO_PKG_VERSION"))
        );
    }
    assert_eq!(
        rep["input_hash"], rb["report"]["input_hash"],
        "same inputs, same hash"
    );
    assert_ne!(
        rep["input_hash"], rc["report"]["input_hash"],
        "the seed is an input"
    );
    assert_eq!(rep["metrics"], rb["report"]["metrics"], "deterministic");
    assert_eq!(
        rep["metrics"], rc["report"]["metrics"],
        "the seed only moves the random baseline"
    );
    assert_eq!(rep["config"]["initial_capital"], 250.0);
    assert_eq!(rep["config"]["profile"], "high");
    assert_eq!(rep["data"][0]["bars"], 662);
    assert_eq!(rep["metrics"]["trials"], 20);
    let m = &rep["metrics"];
    let trades = m["trades"].as_u64().unwrap();
    assert!(trades > 10, "{trades} trades");
    let (_, t) = rows(&a.join("trades.csv"));
    assert_eq!(t.len() as u64, trades);
    let (eh, e) = rows(&a.join("equity.csv"));
    assert_eq!((eh[0].as_str(), e.len()), ("open_time", 662));
    // The report's final equity is the curve's last point and the sum of trade P&L.
    let pnl: f64 = t.iter().map(|r| r[17].parse::<f64>().unwrap()).sum();
    let last: f64 = e.last().unwrap()[1].parse().unwrap();
    assert!(
        (last - (250.0 + pnl)).abs() < 1e-6,
        "{last} vs {}",
        250.0 + pnl
    );
    assert!((m["final_equity"].as_f64().unwrap() - last).abs() < 1e-9);
    let bh = &rep["baselines"]["buy_and_hold"];
    assert!(
        bh["total_return_pct"].as_f64().unwrap() > 100.0,
        "BTC rose over 2020-2021"
    );
    assert!(rep["baselines"]["random"]["trades"].as_u64().unwrap() > 0);
    assert!(
        m["deflated_sharpe"]
            .as_f64()
            .is_some_and(|d| (0.0..=1.0).contains(&d))
    );
}

#[test]
fn model_predictions_drive_a_backtest_and_bad_rows_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = common::data("btc-usd-1d-yahoo.csv");
    let preds = dir.path().join("p.csv");
    // A "model" that is long every day with a 5 % expected move.
    let (_, e) = {
        let s = dir.path().join("f.csv");
        ok(&traderai(
            None,
            &[
                "features",
                "--input",
                file.to_str().unwrap(),
                "--timeframe",
                "1d",
                "-o",
                s.to_str().unwrap(),
            ],
        ));
        rows(&s)
    };
    let mut text = String::from("open_time,p_up,p_neutral,p_down,expected_move_pct,confidence\n");
    for r in &e {
        text.push_str(&format!("{},0.7,0.2,0.1,5.0,0.7\n", r[0]));
    }
    std::fs::write(&preds, &text).unwrap();
    let out = dir.path().join("bt");
    let s = ok(&traderai(
        None,
        &[
            "--json",
            "backtest",
            "--input",
            file.to_str().unwrap(),
            "--symbol",
            "BTC/USD",
            "--timeframe",
            "1d",
            "--strategy",
            "model",
            "--signals",
            preds.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
    ));
    let (_, t) = rows(&out.join("trades.csv"));
    assert!(!t.is_empty());
    assert!(t.iter().all(|r| r[1] == "long"));
    assert_eq!(s["report"]["strategy"]["kind"], "model");
    text.push_str("2021-12-31T00:00:00Z,0.7,0.2,abc,5.0,0.7\n");
    std::fs::write(&preds, &text).unwrap();
    let bad = traderai(
        None,
        &[
            "backtest",
            "--input",
            file.to_str().unwrap(),
            "--timeframe",
            "1d",
            "--strategy",
            "model",
            "--signals",
            preds.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains(&format!("p.csv:{}", e.len() + 2)) && err.contains("p_down"),
        "{err}"
    );
}

/// Files as pandas writes them (`df.to_csv()` / `df.to_parquet()` of the
/// real NVDA bars with an unnamed date index, written by pandas 3.1.1) read
/// without flags; every research command takes `--columns`/`--format` as
/// `import` does.
#[test]
fn pandas_files_and_column_maps_on_research_commands() {
    let dir = tempfile::tempdir().unwrap();
    let tests_data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let csv_file = tests_data.join("nvda-pandas.csv");
    let pq_file = tests_data.join("nvda-pandas.parquet");
    let mut closes = Vec::new();
    for file in [&csv_file, &pq_file] {
        let out = dir.path().join("i.csv");
        let s = ok(&traderai(
            None,
            &[
                "--json",
                "indicators",
                "--input",
                file.to_str().unwrap(),
                "--symbol",
                "NVDA/USD",
                "--timeframe",
                "1d",
                "-o",
                out.to_str().unwrap(),
            ],
        ));
        assert_eq!(s["rows"], 60, "{}: {s}", file.display());
        assert_eq!(s["skipped"], 0, "{s}");
        let (_, r) = rows(&out);
        closes.push(r);
        let imp = ok(&traderai(
            None,
            &[
                "--json",
                "import",
                "--dry-run",
                file.to_str().unwrap(),
                "--symbol",
                "NVDA/USD",
                "--timeframe",
                "1d",
                "--exchange",
                "yahoo",
            ],
        ));
        let r = &imp["reports"][0];
        assert_eq!(
            (r["rows_read"].as_u64(), r["rejected"].as_u64()),
            (Some(60), Some(0)),
            "{imp}"
        );
        assert_eq!(r["session"], "xnys", "{imp}");
        assert_eq!(r["gaps"], 0, "{imp}");
    }
    assert_eq!(
        closes[0], closes[1],
        "CSV and Parquet give the same indicators"
    );

    // A header no alias matches: refused with the headers named, read with --columns.
    let odd = dir.path().join("odd.csv");
    let text = std::fs::read_to_string(&csv_file).unwrap();
    let mut lines = text.lines();
    lines.next();
    let body: Vec<&str> = lines.collect();
    std::fs::write(
        &odd,
        format!("When,AdjC,Last,Hi,Lo,First,Qty\n{}\n", body.join("\n")),
    )
    .unwrap();
    let base = [
        "--json",
        "labels",
        "--input",
        odd.to_str().unwrap(),
        "--timeframe",
        "1d",
    ];
    let out = dir.path().join("l.csv");
    let refused = traderai(None, &[&base[..], &["-o", out.to_str().unwrap()]].concat());
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("cannot find column(s) time, open, high, low, close, volume")
            && err.contains("When"),
        "{err}"
    );
    let s = ok(&traderai(
        None,
        &[
            &base[..],
            &[
                "--columns",
                "time=When,open=First,high=Hi,low=Lo,close=Last,volume=Qty",
                "--format",
                "csv",
                "-o",
                out.to_str().unwrap(),
            ],
        ]
        .concat(),
    ));
    assert_eq!(s["rows"], 60, "{s}");
    // --columns without --input is refused by the parser (it maps files' columns).
    let refused = traderai(
        None,
        &[
            "features",
            "--symbol",
            "NVDA/USD",
            "--timeframe",
            "1d",
            "--columns",
            "time=0",
            "-o",
            "x.csv",
        ],
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--input"));
}

/// `--universe us-stocks` on a research command reads the universe's stored
/// series and names the members with nothing stored instead of failing.
#[tokio::test]
async fn a_universe_loads_what_is_stored_and_names_the_rest() {
    let (_pool, url) = common::fresh_db().await;
    let nvda = common::data("nvda-1d-yahoo.csv");
    ok(&traderai(
        Some(&url),
        &[
            "--json",
            "import",
            nvda.to_str().unwrap(),
            "--symbol",
            "NVDA/USD",
            "--timeframe",
            "1d",
            "--exchange",
            "stocks",
        ],
    ));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("i.csv");
    let r = traderai(
        Some(&url),
        &[
            "indicators",
            "--universe",
            "us-stocks",
            "--timeframe",
            "1d",
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("skipped 61 universe member(s)")
            && err.contains("AAPL/USD")
            && !err.contains("NVDA/USD"),
        "{err}"
    );
    assert_eq!(rows(&out).1.len(), 6558, "NVDA's bars");
    // Nothing stored at all: one error naming them.
    let r = traderai(
        Some(&url),
        &[
            "indicators",
            "--universe",
            "us-stocks",
            "--timeframe",
            "1h",
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("nothing stored at 1h"));
}
