//! A training job running beside the live loop does not delay the scan: the
//! scanner has its own task, so every close gets its decision while the only
//! worker is busy training (a test binary of its own: the training run takes
//! the CPU, and the other live tests check timing-sensitive states).

mod common;

use common::live::{M15, decisions, expected, live, series_id};
use common::{btc_15m, import_btc};
use server::config::Settings;
use std::time::Duration;
use trading::clock::Clock;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_training_job_does_not_delay_the_scan() {
    let all = btc_15m();
    let origin = M15 * (all[3000].open_time / M15);
    let l = live(&[("BTC/USDT", all.clone())], &["BTC/USDT"], origin, 3600.0).await;
    // The bundled BTC 15m bars to train on, stored as yahoo.
    let url = l.url.clone();
    tokio::task::spawn_blocking(move || import_btc(&url, "btc-usd-15m-yahoo.csv", "15m"))
        .await
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    let params = serde_json::json!({
        "symbols": ["BTC/USD"], "timeframe": "15m", "exchange": "yahoo",
        "backend": "flex", "out": out.path(), "promote": "never",
    });
    let job = server::db::jobs::enqueue(&l.pool, server::training::KIND, &params)
        .await
        .unwrap();
    let worker = tokio::spawn(server::jobs::worker(
        l.pool.clone(),
        Settings::default(),
        false,
        std::future::pending::<()>(),
    ));
    let status = |pool: sqlx::PgPool, id: i64| async move {
        sqlx::query_scalar::<_, String>("SELECT status FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    for _ in 0..200 {
        if status(l.pool.clone(), job.id).await == "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        status(l.pool.clone(), job.id).await,
        "running",
        "the worker took the training job"
    );
    // Three hours of replayed bars while the job trains.
    let from = l.clock.now_ms() + M15;
    l.until_clock(from + 3 * 3_600_000).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        status(l.pool.clone(), job.id).await,
        "running",
        "still training throughout"
    );
    worker.abort();
    let pool = l.finish().await;
    let id = series_id(&pool, "BTC/USDT", "15m").await;
    let end = from + 3 * 3_600_000;
    let closed: Vec<i64> = expected(&all, origin, end)
        .iter()
        .map(|c| c.open_time)
        .filter(|&t| t >= from)
        .collect();
    let decided: Vec<i64> = decisions(&pool, id)
        .await
        .into_iter()
        .map(|d| d.0)
        .filter(|&t| t >= from && t + M15 <= end)
        .collect();
    assert!(closed.len() >= 10, "{}", closed.len());
    assert_eq!(
        decided, closed,
        "a decision at every close while the job trained"
    );
}
