//! Every indicator against TA-Lib's own output (golden files made by
//! `engine/tests/golden/generate.py` from the real series in data/): equal
//! within 1e-9 relative error on every bar after TA-Lib's lookback, and
//! absent exactly where TA-Lib is still in its lookback.

use engine::indicators::*;
use std::collections::HashMap;
use std::path::Path;

struct Golden {
    name: String,
    bars: Vec<Hlc>,
    close: Vec<f64>,
    volume: Vec<f64>,
    cols: HashMap<String, Vec<Option<f64>>>,
}

fn load(path: &Path) -> Golden {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let mut cols: HashMap<String, Vec<Option<f64>>> =
        header.iter().map(|h| (h.to_string(), Vec::new())).collect();
    for line in lines {
        for (h, v) in header.iter().zip(line.split(',')).skip(1) {
            cols.get_mut(*h).unwrap().push(if v.is_empty() {
                None
            } else {
                Some(v.parse().unwrap())
            });
        }
    }
    let col = |k: &str| cols[k].iter().map(|v| v.unwrap()).collect::<Vec<f64>>();
    let (high, low, close, volume) = (col("high"), col("low"), col("close"), col("volume"));
    let bars = (0..close.len())
        .map(|i| Hlc {
            high: high[i],
            low: low[i],
            close: close[i],
        })
        .collect();
    Golden {
        name: path.file_name().unwrap().to_string_lossy().into_owned(),
        bars,
        close,
        volume,
        cols,
    }
}

fn goldens() -> Vec<Golden> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 6, "one golden file per shipped series");
    files.iter().map(|p| load(p)).collect()
}

/// Largest relative error, after checking that values exist exactly where TA-Lib's do.
fn compare(g: &Golden, column: &str, ours: &[Option<f64>]) -> f64 {
    let want = &g.cols[column];
    assert_eq!(want.len(), ours.len());
    let mut worst: f64 = 0.0;
    for (i, (w, o)) in want.iter().zip(ours).enumerate() {
        match (w, o) {
            (None, None) => {}
            (Some(w), Some(o)) => {
                let err = (w - o).abs() / w.abs().max(1e-300);
                let err = if (w - o).abs() < 1e-12 { 0.0 } else { err };
                assert!(
                    err <= 1e-9,
                    "{} {column} bar {i}: TA-Lib {w}, ours {o} (relative error {err:e})",
                    g.name
                );
                worst = worst.max(err);
            }
            _ => panic!("{} {column} bar {i}: TA-Lib {w:?}, ours {o:?}", g.name),
        }
    }
    worst
}

#[test]
fn all_indicators_match_talib_on_all_series() {
    let mut report = Vec::new();
    for g in goldens() {
        let mut check = |col: &str, ours: Vec<Option<f64>>| {
            report.push((g.name.clone(), col.to_string(), compare(&g, col, &ours)))
        };
        check(
            "SMA_20",
            batch(&mut Sma::new(20).unwrap(), g.close.iter().copied()),
        );
        check(
            "SMA_50",
            batch(&mut Sma::new(50).unwrap(), g.close.iter().copied()),
        );
        check(
            "EMA_12",
            batch(&mut Ema::new(12).unwrap(), g.close.iter().copied()),
        );
        check(
            "EMA_26",
            batch(&mut Ema::new(26).unwrap(), g.close.iter().copied()),
        );
        check(
            "RSI_14",
            batch(&mut Rsi::new(14).unwrap(), g.close.iter().copied()),
        );
        check(
            "ROC_10",
            batch(&mut Roc::new(10).unwrap(), g.close.iter().copied()),
        );
        check(
            "MOM_10",
            batch(&mut Mom::new(10).unwrap(), g.close.iter().copied()),
        );
        check(
            "ATR_14",
            batch(&mut Atr::new(14).unwrap(), g.bars.iter().copied()),
        );
        check(
            "WILLR_14",
            batch(&mut Willr::new(14).unwrap(), g.bars.iter().copied()),
        );
        check(
            "CCI_20",
            batch(&mut Cci::new(20).unwrap(), g.bars.iter().copied()),
        );
        check(
            "ADX_14",
            batch(&mut Adx::new(14).unwrap(), g.bars.iter().copied()),
        );
        check(
            "OBV",
            batch(
                &mut Obv::new(),
                g.close.iter().copied().zip(g.volume.iter().copied()),
            ),
        );
        let macd = batch(&mut Macd::new(12, 26, 9).unwrap(), g.close.iter().copied());
        check(
            "MACD_12_26_9",
            macd.iter().map(|v| v.map(|v| v.macd)).collect(),
        );
        check(
            "MACDSIGNAL_12_26_9",
            macd.iter().map(|v| v.map(|v| v.signal)).collect(),
        );
        check(
            "MACDHIST_12_26_9",
            macd.iter().map(|v| v.map(|v| v.hist)).collect(),
        );
        let bb = batch(
            &mut Bbands::new(20, 2.0, 2.0).unwrap(),
            g.close.iter().copied(),
        );
        check(
            "BBANDS_UPPER_20_2",
            bb.iter().map(|v| v.map(|v| v.upper)).collect(),
        );
        check(
            "BBANDS_MIDDLE_20_2",
            bb.iter().map(|v| v.map(|v| v.middle)).collect(),
        );
        check(
            "BBANDS_LOWER_20_2",
            bb.iter().map(|v| v.map(|v| v.lower)).collect(),
        );
        let st = batch(&mut Stoch::new(14, 3, 3).unwrap(), g.bars.iter().copied());
        check(
            "STOCH_K_14_3_3",
            st.iter().map(|v| v.map(|v| v.k)).collect(),
        );
        check(
            "STOCH_D_14_3_3",
            st.iter().map(|v| v.map(|v| v.d)).collect(),
        );
    }
    assert_eq!(report.len(), 6 * 20);
    let worst = report.iter().map(|r| r.2).fold(0.0, f64::max);
    eprintln!(
        "worst relative error over {} series x columns: {worst:e}",
        report.len()
    );
}

#[test]
fn lookbacks_are_talibs() {
    assert_eq!(Sma::new(20).unwrap().lookback(), 19);
    assert_eq!(Ema::new(12).unwrap().lookback(), 11);
    assert_eq!(Rsi::new(14).unwrap().lookback(), 14);
    assert_eq!(Macd::new(12, 26, 9).unwrap().lookback(), 33);
    assert_eq!(Bbands::new(20, 2.0, 2.0).unwrap().lookback(), 19);
    assert_eq!(Atr::new(14).unwrap().lookback(), 14);
    assert_eq!(Stoch::new(14, 3, 3).unwrap().lookback(), 17);
    assert_eq!(Roc::new(10).unwrap().lookback(), 10);
    assert_eq!(Mom::new(10).unwrap().lookback(), 10);
    assert_eq!(Willr::new(14).unwrap().lookback(), 13);
    assert_eq!(Cci::new(20).unwrap().lookback(), 19);
    assert_eq!(Obv::new().lookback(), 0);
    assert_eq!(Adx::new(14).unwrap().lookback(), 27);
}

/// Streaming after a reset, and streaming into a fresh instance mid-way,
/// reproduce the batch exactly.
#[test]
fn streaming_equals_batch_and_reset_forgets() {
    let g = goldens()
        .into_iter()
        .find(|g| g.name.starts_with("nflx"))
        .unwrap();
    let mut adx = Adx::new(14).unwrap();
    let first = batch(&mut adx, g.bars.iter().copied());
    let again = batch(&mut adx, g.bars.iter().copied());
    assert_eq!(first, again, "batch resets before running");
    let mut live = Adx::new(14).unwrap();
    for (i, b) in g.bars.iter().enumerate() {
        assert_eq!(live.update(*b), first[i], "bar {i}");
    }
}
