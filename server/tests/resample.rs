//! `traderai resample` over the stored real BTC 15m series.

mod common;

use common::{btc_15m, fresh_db, sym};
use engine::{Market, SeriesKey, Timeframe};
use server::db;
use std::collections::BTreeMap;

#[tokio::test]
async fn builds_only_complete_utc_windows() {
    let (pool, url) = fresh_db().await;
    let source = btc_15m();
    let base = SeriesKey::new("binance", Market::Spot, sym("BTC/USDT"), Timeframe::M15).unwrap();
    server::import::store(&pool, &base, &source, true)
        .await
        .unwrap();

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_traderai"))
        .args([
            "resample",
            "--symbol",
            "BTC/USDT",
            "--from-timeframe",
            "15m",
            "--to",
            "1h,4h,1d",
            "--json",
        ])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    for (tf, per) in [
        (Timeframe::H1, 4usize),
        (Timeframe::H4, 16),
        (Timeframe::D1, 96),
    ] {
        // Expected: windows of the source holding all their 15m bars.
        let mut windows: BTreeMap<i64, Vec<_>> = BTreeMap::new();
        for c in &source {
            windows.entry(tf.floor(c.open_time)).or_default().push(*c);
        }
        let expect: Vec<_> = windows
            .into_iter()
            .filter(|(_, v)| v.len() == per)
            .collect();
        let key = SeriesKey::new("binance", Market::Spot, sym("BTC/USDT"), tf).unwrap();
        let s = db::candles::find_series(&pool, &key)
            .await
            .unwrap()
            .unwrap();
        let got = db::candles::read_range(&pool, s.id, i64::MIN, i64::MAX)
            .await
            .unwrap();
        assert_eq!(got.len(), expect.len(), "{tf}");
        for (g, (t, bars)) in got.iter().zip(&expect) {
            assert_eq!(g.open_time, *t);
            assert_eq!(g.open, bars[0].open);
            assert_eq!(g.close, bars[per - 1].close);
            assert_eq!(g.high, bars.iter().map(|b| b.high).fold(f64::MIN, f64::max));
            assert_eq!(g.low, bars.iter().map(|b| b.low).fold(f64::MAX, f64::min));
            assert!((g.volume - bars.iter().map(|b| b.volume).sum::<f64>()).abs() < 1e-6);
        }
    }
    // The data has holes: some days are incomplete and were skipped.
    let d1 = db::candles::find_series(
        &pool,
        &SeriesKey::new("binance", Market::Spot, sym("BTC/USDT"), Timeframe::D1).unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(
        d1.bars < 94,
        "of ~94 calendar days some are incomplete, got {}",
        d1.bars
    );
}
