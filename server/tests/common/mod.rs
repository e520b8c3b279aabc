//! Shared test helpers: a fresh, uniquely named PostgreSQL database per test
//! (migrated), the repo's data folder, and a mock exchange with real candles.
#![allow(dead_code)]

pub mod api;
pub mod channels;
pub mod live;

use engine::{Candle, Symbol, Timeframe};
use server::import::layout::ColumnOverrides;
use sqlx::PgPool;
use std::path::PathBuf;

/// Server URL whose `postgres` database we may create test databases from.
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A new database `traderai_test_<random>` with migrations applied.
pub async fn fresh_db() -> (PgPool, String) {
    let admin = admin_url();
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b.to_owned())
        .expect("TEST_DATABASE_URL has a database path");
    let url = format!("{base}/traderai_test_{:016x}", rand::random::<u64>());
    let pool = server::db::connect(&url, 8)
        .await
        .unwrap_or_else(|e| panic!("test database at {}: {e}", server::db::redact(&url)));
    (pool, url)
}

pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data")
}

pub fn data(name: &str) -> PathBuf {
    data_dir().join(name)
}

/// The real BTC daily candles as our importer reads them.
pub fn btc_1d() -> Vec<Candle> {
    let (p, _) = server::import::parse_file(
        &data("btc-usd-1d-yahoo.csv"),
        Timeframe::D1,
        None,
        &ColumnOverrides::default(),
        true,
    )
    .unwrap();
    p.candles
}

/// The real BTC 15m candles as our importer reads them.
pub fn btc_15m() -> Vec<Candle> {
    let (p, _) = server::import::parse_file(
        &data("btc-usd-15m-yahoo.csv"),
        Timeframe::M15,
        None,
        &ColumnOverrides::default(),
        true,
    )
    .unwrap();
    p.candles
}

pub fn sym(s: &str) -> Symbol {
    Symbol::parse(s).unwrap()
}

/// Runs the real `traderai` binary (against `db` when given).
pub fn traderai(db: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_traderai"));
    c.env("RUST_LOG", "warn").args(args);
    if let Some(url) = db {
        c.env("DATABASE_URL", url);
    }
    c.output().unwrap()
}

/// Asserts success (showing stderr otherwise); stdout as JSON, or null.
pub fn ok(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

/// Imports the bundled BTC/USD daily file as the stored series yahoo/spot/1d.
pub fn import_btc_1d(url: &str) {
    import_btc(url, "btc-usd-1d-yahoo.csv", "1d");
}

/// Imports a bundled BTC/USD file as the stored series yahoo/spot/`tf`.
pub fn import_btc(url: &str, name: &str, tf: &str) {
    let file = data(name);
    ok(&traderai(
        Some(url),
        &[
            "--json",
            "import",
            file.to_str().unwrap(),
            "--symbol",
            "BTC/USD",
            "--timeframe",
            tf,
            "--exchange",
            "yahoo",
        ],
    ));
}

/// A stored, followed futures series with `bars` of real BTC 15m bars.
pub async fn followed_series(
    pool: &sqlx::PgPool,
    candles: &[engine::Candle],
    tf: engine::Timeframe,
) -> i32 {
    let key = engine::SeriesKey {
        exchange: "binance".into(),
        market: engine::Market::Futures,
        symbol: sym("BTC/USDT"),
        timeframe: tf,
    };
    followed(pool, &key, candles).await
}

/// `candles` stored as the series `key`, followed and live.
pub async fn followed(
    pool: &sqlx::PgPool,
    key: &engine::SeriesKey,
    candles: &[engine::Candle],
) -> i32 {
    let tf = key.timeframe;
    let mut tx = pool.begin().await.unwrap();
    let id = server::db::candles::ensure_series(&mut tx, key)
        .await
        .unwrap();
    server::db::candles::insert_candles(&mut tx, id, candles)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    server::db::follow::upsert_state(
        pool,
        &server::db::follow::StateUpdate {
            series_id: id,
            universe: "default",
            role: "base",
            state: "live",
            stale: None,
            clock_now: candles.last().unwrap().open_time + tf.duration_ms(),
            clock_speed: 1.0,
            demo: false,
            wall: chrono::Utc::now(),
        },
    )
    .await
    .unwrap();
    id
}

/// The technical rule's candidate for bar `c`, stored as the scanner stores it.
pub async fn technical_candidate(
    pool: &sqlx::PgPool,
    series: i32,
    c: &engine::Candle,
    prediction: Option<engine::signals::Prediction>,
    atr: Option<f64>,
) {
    technical_candidate_flagged(pool, series, c, prediction, atr, None).await
}

/// [`technical_candidate`], uncalibrated for `why` when given.
pub async fn technical_candidate_flagged(
    pool: &sqlx::PgPool,
    series: i32,
    c: &engine::Candle,
    prediction: Option<engine::signals::Prediction>,
    atr: Option<f64>,
    why: Option<&str>,
) {
    let mut conn = pool.acquire().await.unwrap();
    server::db::signals::insert(
        &mut conn,
        &server::db::signals::NewCandidate {
            series_id: series,
            bar_time: c.open_time,
            price: c.close,
            atr: atr.filter(|a| a.is_finite() && *a > 0.0),
            source: server::db::signals::Source::Technical,
            model_id: None,
            model_label: "technical rule".into(),
            prediction,
            move_interval: None,
            coverage_level: None,
            prediction_set: None,
            uncalibrated: why.map(str::to_string),
            drivers: Vec::new(),
            blocked: None,
            regime: None,
            htf: Vec::new(),
        },
    )
    .await
    .unwrap();
}

/// A `traderai worker` process on `url` following nothing (`[follow]` off
/// via the config file written into `dir`), its output discarded.
pub fn worker(url: &str, dir: &std::path::Path) -> std::process::Child {
    let config = dir.join("worker.toml");
    std::fs::write(&config, "[follow]\nenabled = false\n").unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_traderai"))
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .args(["--config", config.to_str().unwrap(), "worker"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Sends SIGTERM and waits for the process; its exit status.
pub fn sigterm(child: &mut std::process::Child) -> std::process::ExitStatus {
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -TERM {}", child.id());
    child.wait().unwrap()
}

/// Waits until job `id` succeeds (failing fast when it fails or is cancelled).
pub async fn job_succeeded(
    pool: &PgPool,
    id: i64,
    within: std::time::Duration,
) -> server::db::jobs::Job {
    use server::db::jobs::JobStatus;
    let deadline = std::time::Instant::now() + within;
    loop {
        let j = server::db::jobs::get(pool, id).await.unwrap().unwrap();
        if j.status == JobStatus::Succeeded {
            return j;
        }
        assert!(
            !matches!(j.status, JobStatus::Failed | JobStatus::Cancelled),
            "job {id} {:?}: {:?}",
            j.status,
            j.error
        );
        assert!(
            std::time::Instant::now() < deadline,
            "job {id} did not finish in {within:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The production pipeline, small: `folds` walk-forward windows (0: the
/// final model only) of a few-unit network and 60 rounds of trees.
pub fn tiny_pipeline(dir: &std::path::Path, folds: usize) -> String {
    let path = dir.join(format!("tiny-{folds}.json"));
    let cfg = serde_json::json!({
        "train": {
            "net": { "features": 18, "window": 20, "gru1": 8, "gru2": 6, "attention": 6,
                     "dense1": 8, "dense2": 6, "dropout1": 0.2, "dropout2": 0.15, "classes": 3 },
            "learning_rate": 0.002,
            "max_epochs": 2
        },
        "boost": { "lags": [0, 1, 5, 10], "max_rounds": 60, "early_stopping_rounds": 10 },
        "folds": folds
    });
    std::fs::write(&path, cfg.to_string()).unwrap();
    path.to_str().unwrap().to_string()
}

/// `candles` stored as the series `key` (not followed); its id.
pub async fn store_series(
    pool: &sqlx::PgPool,
    key: &engine::SeriesKey,
    candles: &[engine::Candle],
) -> i32 {
    let mut tx = pool.begin().await.unwrap();
    let id = server::db::candles::ensure_series(&mut tx, key)
        .await
        .unwrap();
    server::db::candles::insert_candles(&mut tx, id, candles)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    id
}
