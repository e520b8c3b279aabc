//! Importing every shipped file as published, against a real PostgreSQL.

mod common;

use common::{data, fresh_db, sym};
use engine::{Market, SeriesKey, Timeframe};
use server::db;
use server::import::{self, ImportError, ImportOptions, SourceFormat, layout::ColumnOverrides};
use std::io::Write;

fn opts(symbol: &str, tf: Timeframe) -> ImportOptions {
    ImportOptions {
        key: SeriesKey::new("yahoo", Market::Spot, sym(symbol), tf).unwrap(),
        format: None,
        columns: ColumnOverrides::default(),
        strict: false,
        dry_run: false,
        quiet: true,
    }
}

fn accounted(r: &import::ImportReport) {
    assert_eq!(
        r.rows_read,
        r.stored + r.already_stored + r.duplicates_in_file + r.rejected + r.off_grid,
        "every row accounted for in {}",
        r.file
    );
}

#[tokio::test]
async fn btc_15m_quirks_are_reported_and_reimport_stores_nothing() {
    let (pool, _) = fresh_db().await;
    let o = opts("BTC/USD", Timeframe::M15);
    let r = import::import_file(&pool, &data("btc-usd-15m-yahoo.csv"), &o)
        .await
        .unwrap();
    accounted(&r);
    assert_eq!(r.rows_read, 8721);
    // Yahoo's live snapshots (…:46:02, …:01:03, the final 13:50:02) are off the 15m grid.
    assert_eq!(
        r.off_grid_rows
            .iter()
            .map(|o| (o.line, o.time.as_str()))
            .collect::<Vec<_>>(),
        vec![
            (2883, "2021-10-27T13:46:02Z"),
            (5855, "2021-11-27T06:01:03Z"),
            (8722, "2021-12-29T13:50:02Z"),
        ]
    );
    // The file is two downloads glued together: 06:00-13:45 UTC on 2021-10-27
    // appears twice (first labelled +01:00, then +00:00); the later rows win.
    assert_eq!(r.duplicates_in_file, 32);
    assert_eq!(r.duplicate_lines[0], 2851);
    assert!(
        r.conflicting_duplicates > 0 && r.conflicting_duplicates < 32,
        "some volumes were revised: {}",
        r.conflicting_duplicates
    );
    assert!(
        r.zero_volume > 1500 && r.zero_volume < 2500,
        "about 2,000 zero-volume bars, got {}",
        r.zero_volume
    );
    assert!(
        r.gaps > 0 && r.missing_bars > 0,
        "the file has missing bars"
    );
    // Mixed +01:00 / +00:00 offsets land on one UTC grid: the first bar is 13:45 UTC.
    assert_eq!(r.first.as_deref(), Some("2021-09-27T13:45:00Z"));
    assert_eq!(r.stored, 8721 - 3 - 32);

    let key = &o.key;
    let s = db::candles::find_series(&pool, key).await.unwrap().unwrap();
    assert_eq!(s.bars as u64, r.stored);
    let stored = db::candles::read_range(&pool, s.id, i64::MIN, i64::MAX)
        .await
        .unwrap();
    assert_eq!(stored.len() as u64, r.stored);
    assert!(stored.windows(2).all(|w| w[0].open_time < w[1].open_time));

    let again = import::import_file(&pool, &data("btc-usd-15m-yahoo.csv"), &o)
        .await
        .unwrap();
    accounted(&again);
    assert_eq!(
        again.stored, 0,
        "importing the same file twice stores nothing new"
    );
    assert_eq!(again.already_stored, r.stored);
    assert_eq!(
        db::candles::find_series(&pool, key)
            .await
            .unwrap()
            .unwrap()
            .bars as u64,
        r.stored
    );
}

#[tokio::test]
async fn every_shipped_file_imports_with_its_own_layout() {
    let (pool, _) = fresh_db().await;
    struct Case {
        file: &'static str,
        symbol: &'static str,
        rows: u64,
        first: &'static str,
        first_open: f64,
        first_close: f64,
    }
    let cases = [
        Case {
            file: "btc-usd-1d-yahoo.csv",
            symbol: "BTC/USD",
            rows: 666,
            first: "2020-01-01T00:00:00Z",
            first_open: 7194.89209,
            first_close: 7200.174316,
        },
        // NVDA: Adj Close comes before Close; the importer must take Close.
        Case {
            file: "nvda-1d-yahoo.csv",
            symbol: "NVDA/USD",
            rows: 6558,
            first: "1999-01-22T00:00:00Z",
            first_open: 0.043749999,
            first_close: 0.041016001,
        },
        Case {
            file: "amzn-1d-yahoo.csv",
            symbol: "AMZN/USD",
            rows: 5842,
            first: "1997-05-15T00:00:00Z",
            first_open: 2.4375,
            first_close: 1.9583333730697632,
        },
        // MSFT: `4/1/2015 16:00:00` stamps key the 2015-04-01 bar.
        Case {
            file: "msft-1d.csv",
            symbol: "MSFT/USD",
            rows: 1511,
            first: "2015-04-01T00:00:00Z",
            first_open: 40.6,
            first_close: 40.72,
        },
        Case {
            file: "nflx-1d-yahoo.csv",
            symbol: "NFLX/USD",
            rows: 1009,
            first: "2018-02-05T00:00:00Z",
            first_open: 262.0,
            first_close: 254.259995,
        },
    ];
    for c in cases {
        let o = opts(c.symbol, Timeframe::D1);
        let r = import::import_file(&pool, &data(c.file), &o).await.unwrap();
        accounted(&r);
        assert_eq!(r.rows_read, c.rows, "{}", c.file);
        assert_eq!(r.first.as_deref(), Some(c.first), "{}", c.file);
        let nulls = if c.file.starts_with("btc") { 4 } else { 0 };
        assert_eq!(
            (r.rejected, r.off_grid),
            (nulls, 0),
            "{}: {:?}",
            c.file,
            r.rejections
        );
        let s = db::candles::find_series(&pool, &o.key)
            .await
            .unwrap()
            .unwrap();
        let bars = db::candles::read_range(&pool, s.id, i64::MIN, i64::MAX)
            .await
            .unwrap();
        assert_eq!(
            (bars[0].open, bars[0].close),
            (c.first_open, c.first_close),
            "{}",
            c.file
        );
        if c.symbol != "BTC/USD" {
            assert_eq!(
                r.session,
                engine::quality::Session::Xnys,
                "{}: stocks trade in NYSE sessions (no weekends, no holidays)",
                c.file
            );
        }
    }
    // Yahoo's `null` rows (four days in the BTC daily file) are rejected by line.
    let btc = import::import_file(
        &pool,
        &data("btc-usd-1d-yahoo.csv"),
        &opts("BTC/USD", Timeframe::D1),
    )
    .await
    .unwrap();
    assert_eq!(
        btc.rejections.iter().map(|r| r.line).collect::<Vec<_>>(),
        vec![109, 284, 287, 288]
    );
    assert!(
        btc.rejections[0]
            .message
            .contains("\"null\" is not a number"),
        "{}",
        btc.rejections[0].message
    );
    let msft = import::import_file(
        &pool,
        &data("msft-1d.csv"),
        &opts("MSFT/USD", Timeframe::D1),
    )
    .await
    .unwrap();
    assert_eq!(msft.date_keyed, 1511);
}

fn tmp_file(suffix: &str, content: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(suffix).tempfile().unwrap();
    f.write_all(content.as_bytes()).unwrap();
    f
}

#[tokio::test]
async fn bad_rows_are_rejected_with_lines_good_rows_are_kept() {
    let (pool, _) = fresh_db().await;
    let f = tmp_file(
        ".csv",
        "timestamp,open,high,low,close,volume\n\
         2024-01-01T00:00:00Z,10,11,9,10.5,100\n\
         2024-01-01T01:00:00Z,10,11,12,10.5,100\n\
         2024-01-01T02:00:00Z,10,11,9,,100\n\
         garbage,10,11,9,10.5,100\n\
         2024-01-01T04:00:00Z,-1,11,9,10.5,100\n\
         2024-01-01T05:00:00Z,10,11,9,10.5,0\n\
         2024-01-01T05:00:00Z,99,99,99,99,99\n\
         2024-01-01T06:30:00Z,10,11,9,10.5,5\n\
         2024-01-01T09:00:00Z,10,11,9,12,5\n",
    );
    let mut o = opts("TEST/USD", Timeframe::H1);
    let r = import::import_file(&pool, f.path(), &o).await.unwrap();
    accounted(&r);
    assert_eq!(r.stored, 3);
    assert_eq!(
        r.rejections.iter().map(|x| x.line).collect::<Vec<_>>(),
        vec![3, 4, 5, 6]
    );
    assert!(r.rejections[0].message.contains("high is below low"));
    assert!(r.rejections[1].message.contains("close is empty"));
    assert!(r.rejections[2].message.contains("garbage"));
    assert_eq!((r.duplicates_in_file, r.conflicting_duplicates), (1, 1));
    assert_eq!(
        r.duplicate_lines,
        vec![7],
        "the earlier of two 05:00 rows is dropped"
    );
    assert_eq!(r.off_grid, 1);
    assert_eq!(r.zero_volume, 0, "line 7's zero volume lost to line 8");
    assert_eq!(r.inconsistent, 1, "close 12 above high 11 on line 10");
    assert_eq!(r.inconsistencies[0].line, 10);
    assert_eq!(r.gap_list.len(), 2);

    // --strict stores nothing when anything is wrong.
    o.key = SeriesKey::new("yahoo", Market::Spot, sym("STRICT/USD"), Timeframe::H1).unwrap();
    o.strict = true;
    let err = import::import_file(&pool, f.path(), &o).await.unwrap_err();
    assert!(matches!(err, ImportError::Strict { bad: 5, .. }), "{err}");
    assert!(
        db::candles::find_series(&pool, &o.key)
            .await
            .unwrap()
            .is_none()
    );

    // A file with nothing usable is an error naming the first problem.
    let bad = tmp_file(
        ".csv",
        "Date,Open,High,Low,Close,Volume\nx,1,1,1,1,1\n2024-01-01,a,1,1,1,1\n",
    );
    let err = import::import_file(&pool, bad.path(), &opts("BAD/USD", Timeframe::D1))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no usable rows") && err.contains("line 2"),
        "{err}"
    );
}

#[tokio::test]
async fn binance_kline_csv_and_parquet_round_trip() {
    let (pool, _) = fresh_db().await;
    // Binance's published layout: no header, 12 columns, µs open times (2025+) and ms.
    let f = tmp_file(
        ".csv",
        "1735689600000000,93576.00,93610.93,93537.50,93610.93,8.21827,1735689659999999,768978.15,1313,4.32,404231.23,0\n\
         1735689660000000,93610.93,93652.00,93606.08,93652.00,13.2,1735689719999999,1236000.11,1506,9.18,859790.58,0\n\
         1735689720000,93652.00,93670.00,93630.00,93640.01,4.1,1735689779999,384000.0,800,2.0,187000.0,0\n",
    );
    let mut o = opts("BTC/USDT", Timeframe::M1);
    o.key.exchange = "binance".into();
    let r = import::import_file(&pool, f.path(), &o).await.unwrap();
    assert_eq!(r.layout.format, SourceFormat::BinanceKlines);
    assert_eq!((r.stored, r.gaps), (3, 0));

    // Export the real BTC series to Parquet and import it as another series: identical.
    let btc = opts("BTC/USD", Timeframe::M15);
    import::import_file(&pool, &data("btc-usd-15m-yahoo.csv"), &btc)
        .await
        .unwrap();
    let s = db::candles::find_series(&pool, &btc.key)
        .await
        .unwrap()
        .unwrap();
    let original = db::candles::read_range(&pool, s.id, i64::MIN, i64::MAX)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    for name in ["btc.parquet", "btc.csv"] {
        let path = dir.path().join(name);
        server::export::write(
            &path,
            server::export::ExportFormat::from_path(&path),
            &original,
        )
        .unwrap();
        let copy = opts(
            if name.ends_with("parquet") {
                "BTCPQ/USD"
            } else {
                "BTCCSV/USD"
            },
            Timeframe::M15,
        );
        let r = import::import_file(&pool, &path, &copy).await.unwrap();
        assert_eq!(
            (r.stored, r.rejected, r.off_grid),
            (original.len() as u64, 0, 0),
            "{name}"
        );
        let c = db::candles::find_series(&pool, &copy.key)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            db::candles::read_range(&pool, c.id, i64::MIN, i64::MAX)
                .await
                .unwrap(),
            original,
            "{name}"
        );
    }
}

#[test]
fn cli_exit_codes_follow_usability() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (_pool, url) = rt.block_on(fresh_db());
    let bin = env!("CARGO_BIN_EXE_traderai");
    let run = |file: &std::path::Path, extra: &[&str]| {
        std::process::Command::new(bin)
            .args([
                "import",
                file.to_str().unwrap(),
                "--symbol",
                "CLI/USD",
                "--timeframe",
                "1d",
                "--json",
            ])
            .args(extra)
            .env("DATABASE_URL", &url)
            .output()
            .unwrap()
    };
    let partly = tmp_file(
        ".csv",
        "Date,Open,High,Low,Close,Volume\n2024-01-01,1,2,0.5,1.5,1\nbroken,1,2,0.5,1.5,1\n",
    );
    let out = run(partly.path(), &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["reports"][0]["stored"], 1);
    assert_eq!(v["reports"][0]["rejections"][0]["line"], 3);
    assert!(
        !run(partly.path(), &["--strict"]).status.success(),
        "--strict fails on a bad row"
    );
    let useless = tmp_file(
        ".csv",
        "Date,Open,High,Low,Close,Volume\nbroken,1,2,0.5,1.5,1\n",
    );
    let out = run(useless.path(), &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2"));
}
