//! `traderai indicators` on a shipped file reproduces TA-Lib's golden values.

use std::collections::HashMap;
use std::path::Path;

fn read_csv(path: &Path) -> (Vec<String>, HashMap<String, Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let headers: Vec<String> = r.headers().unwrap().iter().map(str::to_owned).collect();
    let mut cols: HashMap<String, Vec<String>> = HashMap::new();
    for rec in r.records() {
        for (h, v) in headers.iter().zip(rec.unwrap().iter()) {
            cols.entry(h.clone()).or_default().push(v.to_owned());
        }
    }
    (headers, cols)
}

/// `traderai indicators` over the shipped MSFT file into `out`.
fn indicators(root: &Path, out: &Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_traderai"))
        .args([
            "indicators",
            "--input",
            root.join("data/msft-1d.csv").to_str().unwrap(),
            "--timeframe",
            "1d",
            "--output",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap()
}

#[test]
fn indicators_command_matches_talib_golden_values() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("msft.csv");
    let run = indicators(&root, &out);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let (headers, ours) = read_csv(&out);
    let (_, golden) = read_csv(&root.join("engine/tests/golden/msft-1d.csv"));
    assert_eq!(headers[0], "open_time");
    assert_eq!(headers.len(), 21, "open_time and 20 indicator columns");
    assert_eq!(
        ours["open_time"], golden["open_time"],
        "one row per input bar, ISO 8601 UTC"
    );
    for h in &headers[1..] {
        for (i, (o, g)) in ours[h].iter().zip(&golden[h]).enumerate() {
            match (o.is_empty(), g.is_empty()) {
                (true, true) => {}
                (false, false) => {
                    let (o, g): (f64, f64) = (o.parse().unwrap(), g.parse().unwrap());
                    assert!(
                        (o - g).abs() <= 1e-9 * g.abs().max(1e-3),
                        "{h} row {i}: ours {o}, TA-Lib {g}"
                    );
                }
                _ => panic!("{h} row {i}: ours {o:?}, TA-Lib {g:?}"),
            }
        }
    }
    // Parquet output too, with nulls during the lookback.
    let pq = dir.path().join("msft.parquet");
    let run = indicators(&root, &pq);
    assert!(run.status.success());
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&pq).unwrap(),
    )
    .unwrap()
    .build()
    .unwrap();
    let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows, 1511);
}
