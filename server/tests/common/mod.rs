//! Shared test helpers: a fresh, uniquely named PostgreSQL database per test
//! (migrated), the repo's data folder, and a mock exchange with real candles.
#![allow(dead_code)]

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
