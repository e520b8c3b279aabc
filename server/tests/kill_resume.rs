//! `kill -9` a backfill process mid-way, twice, resume it each time: the
//! stored series equals the source bar for bar, and committed pages are not
//! fetched again.

mod common;

use common::{btc_15m, fresh_db, sym};
use engine::{Market, SeriesKey, Timeframe};
use server::db;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use venues::binance::mock::{MockConfig, MockExchange};

fn traderai(url: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_traderai"));
    c.env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

/// Waits until the job has committed at least `pages` pages.
async fn wait_for_pages(pool: &sqlx::PgPool, pages: u64) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "backfill made no progress");
        if let Some(job) = db::jobs::list(pool, 1).await.unwrap().into_iter().next() {
            let done: u64 = job
                .checkpoint
                .as_ref()
                .and_then(|c| c["symbols"]["BTC/USDT"]["pages"].as_u64())
                .unwrap_or(0);
            if done >= pages {
                return job.id;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// Multi-threaded: the mock keeps serving while this thread waits on child processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_then_resume_gives_the_source_exactly() {
    let (pool, url) = fresh_db().await;
    let source = btc_15m();
    // Slow pages (futures: 499 bars each, ~18 pages) so the kills land mid-run.
    let mock = MockExchange::new(MockConfig {
        latency: Duration::from_millis(150),
        ..Default::default()
    })
    .with_series(&sym("BTC/USDT"), Timeframe::M15, source.clone());
    let (addr, _) = mock.spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let from = source[0].open_time.to_string();
    let to = (source.last().unwrap().open_time + 900_000).to_string();

    let mut child = traderai(&url)
        .args([
            "backfill",
            "--symbols",
            "BTC/USDT",
            "--timeframe",
            "15m",
            "--market",
            "futures",
            "--from",
            &from,
            "--to",
            &to,
            "--weight-limit",
            "0",
        ])
        .args(["--base-url", &format!("http://{addr}")])
        .spawn()
        .unwrap();
    let id = wait_for_pages(&pool, 4).await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let job = db::jobs::get(&pool, id).await.unwrap().unwrap();
    assert_eq!(
        job.status,
        db::jobs::JobStatus::Running,
        "a killed process leaves its claim behind"
    );

    // Resume, kill again a few pages later, resume to the end.
    let mut child = traderai(&url)
        .args(["jobs", "resume", &id.to_string()])
        .spawn()
        .unwrap();
    wait_for_pages(&pool, 9).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let out = traderai(&url)
        .args(["jobs", "resume", &id.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let job = db::jobs::get(&pool, id).await.unwrap().unwrap();
    assert_eq!(
        job.status,
        db::jobs::JobStatus::Succeeded,
        "{:?}",
        job.error
    );
    assert_eq!(job.attempts, 3);
    let key = SeriesKey::new("binance", Market::Futures, sym("BTC/USDT"), Timeframe::M15).unwrap();
    let series = db::candles::find_series(&pool, &key)
        .await
        .unwrap()
        .unwrap();
    let stored = db::candles::read_range(&pool, series.id, i64::MIN, i64::MAX)
        .await
        .unwrap();
    assert_eq!(stored, source, "no gap, no duplicate, every value equal");
    assert_eq!(series.bars as usize, source.len());
    // At most the page in flight at each kill is fetched twice.
    let served = mock.stats().candles_served as usize;
    assert!(
        served <= source.len() + 2 * 499,
        "served {served} for {} bars",
        source.len()
    );
}

/// SIGTERM to a worker mid-backfill: it stops at the next page, gives the
/// job back to the queue (not left "running" for the stale-claim timeout)
/// and exits; another worker resumes from the checkpoint to the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_releases_a_running_job_to_another_worker() {
    let (pool, url) = fresh_db().await;
    let source = btc_15m();
    let mock = MockExchange::new(MockConfig {
        latency: Duration::from_millis(150),
        ..Default::default()
    })
    .with_series(&sym("BTC/USDT"), Timeframe::M15, source.clone());
    let (addr, _) = mock.spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let params = server::backfill::BackfillParams {
        exchange: "binance".into(),
        market: Market::Futures,
        symbols: vec![sym("BTC/USDT")],
        timeframe: Timeframe::M15,
        from: source[0].open_time,
        to: Some(source.last().unwrap().open_time + 900_000),
        base_url: Some(format!("http://{addr}")),
        weight_limit: Some(0),
    };
    let job = db::jobs::enqueue(
        &pool,
        server::backfill::KIND,
        &serde_json::to_value(&params).unwrap(),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let worker = || common::worker(&url, dir.path());
    let mut a = worker();
    wait_for_pages(&pool, 4).await;
    let asked = Instant::now();
    let status = common::sigterm(&mut a);
    assert!(status.success(), "a clean exit on SIGTERM: {status:?}");
    assert!(
        asked.elapsed() < Duration::from_secs(15),
        "stopped in {:?}",
        asked.elapsed()
    );
    let released = db::jobs::get(&pool, job.id).await.unwrap().unwrap();
    assert_eq!(
        released.status,
        db::jobs::JobStatus::Queued,
        "back in the queue, not left running"
    );
    assert_eq!(released.owner, None);
    let pages = released.checkpoint.as_ref().unwrap()["symbols"]["BTC/USDT"]["pages"]
        .as_u64()
        .unwrap();
    assert!(pages >= 4, "its checkpoint stays: {pages} pages");

    let mut b = worker();
    let done = common::job_succeeded(&pool, job.id, Duration::from_secs(90)).await;
    common::sigterm(&mut b);
    assert_eq!(done.attempts, 2);
    let key = SeriesKey::new("binance", Market::Futures, sym("BTC/USDT"), Timeframe::M15).unwrap();
    let series = db::candles::find_series(&pool, &key)
        .await
        .unwrap()
        .unwrap();
    let stored = db::candles::read_range(&pool, series.id, i64::MIN, i64::MAX)
        .await
        .unwrap();
    assert_eq!(stored, source, "nothing lost, nothing twice");
    let served = mock.stats().candles_served as usize;
    assert!(
        served <= source.len() + 499,
        "served {served} for {} bars",
        source.len()
    );
}
