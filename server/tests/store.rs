//! The candle store's write paths: direct COPY into new ground, the staged
//! path for overlaps, and the fallback when a batch repeats a key.

mod common;

use common::{fresh_db, sym};
use engine::{Candle, Market, SeriesKey, Timeframe};
use server::db::candles;

fn bars(range: std::ops::Range<i64>) -> Vec<Candle> {
    range
        .map(|i| Candle {
            open_time: i * 60_000,
            open: 1.0,
            high: 2.0,
            low: 0.5,
            close: 1.5,
            volume: i as f64,
        })
        .collect()
}

#[tokio::test]
async fn writes_are_idempotent_on_every_path() {
    let (pool, _) = fresh_db().await;
    let key = SeriesKey::new("test", Market::Spot, sym("AAA/USDT"), Timeframe::M1).unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let id = candles::ensure_series(&mut conn, &key).await.unwrap();
    assert_eq!(
        candles::ensure_series(&mut conn, &key).await.unwrap(),
        id,
        "same series, same id"
    );
    drop(conn);

    let write = |batch: Vec<Candle>| {
        let pool = pool.clone();
        async move {
            let mut tx = pool.begin().await.unwrap();
            let n = candles::insert_candles(&mut tx, id, &batch).await.unwrap();
            tx.commit().await.unwrap();
            n
        }
    };
    // New ground: direct COPY.
    assert_eq!(write(bars(0..100)).await, 100);
    // Overlap: only the new half lands.
    assert_eq!(write(bars(50..150)).await, 50);
    // A batch that repeats a key inside itself on new ground falls back to the staged path.
    let mut dup = bars(200..210);
    dup.push(dup[3]);
    assert_eq!(write(dup).await, 10);
    // Everything again: nothing new.
    assert_eq!(write(bars(0..210)).await, 50, "only 150..200 was missing");
    assert_eq!(write(bars(0..210)).await, 0);

    let s = candles::find_series(&pool, &key).await.unwrap().unwrap();
    assert_eq!(
        (s.bars, s.first_open, s.last_open),
        (210, Some(0), Some(209 * 60_000))
    );
    assert_eq!(
        candles::read_range(&pool, id, 0, i64::MAX).await.unwrap(),
        bars(0..210)
    );
    assert_eq!(
        candles::read_range(&pool, id, 10 * 60_000, 20 * 60_000)
            .await
            .unwrap(),
        bars(10..20),
        "half-open range"
    );
}

#[tokio::test]
async fn missing_ranges_are_the_holes_of_the_asked_span() {
    let (pool, _) = fresh_db().await;
    let key = SeriesKey::new("test", Market::Spot, sym("BBB/USDT"), Timeframe::M1).unwrap();
    let mut held = bars(10..20);
    held.extend(bars(30..40));
    server::import::store(&pool, &key, &held, true)
        .await
        .unwrap();
    let id = candles::find_series(&pool, &key).await.unwrap().unwrap().id;
    let m = 60_000;
    assert_eq!(
        candles::missing_ranges(&pool, id, Timeframe::M1, 0, 50 * m)
            .await
            .unwrap(),
        vec![(0, 10 * m), (20 * m, 30 * m), (40 * m, 50 * m)]
    );
    assert_eq!(
        candles::missing_ranges(&pool, id, Timeframe::M1, 12 * m, 35 * m)
            .await
            .unwrap(),
        vec![(20 * m, 30 * m)]
    );
    assert!(
        candles::missing_ranges(&pool, id, Timeframe::M1, 10 * m, 20 * m)
            .await
            .unwrap()
            .is_empty()
    );
    // An unaligned start rounds up to the next bar.
    assert_eq!(
        candles::missing_ranges(&pool, id, Timeframe::M1, m / 2, 5 * m)
            .await
            .unwrap(),
        vec![(m, 5 * m)]
    );
}
