//! Backfill against a local mock of Binance serving the real BTC candles,
//! with injected 429s, 5xx, stalls, truncated bodies, bans and bad symbols.

mod common;

use common::{btc_15m, fresh_db, sym};
use engine::{Candle, Market, SeriesKey, Timeframe};
use server::backfill::{self, BackfillParams};
use server::config::Settings;
use server::db;
use server::jobs;
use sqlx::PgPool;
use std::time::Duration;
use venues::binance::mock::{Fault, MockConfig, MockExchange};

struct Env {
    pool: PgPool,
    mock: MockExchange,
    base: String,
    source: Vec<Candle>,
}

async fn env_with(cfg: MockConfig) -> Env {
    let (pool, _) = fresh_db().await;
    let source = btc_15m();
    let mock = MockExchange::new(cfg)
        .with_series(&sym("BTC/USDT"), Timeframe::M15, source.clone())
        .with_series(&sym("ETH/USDT"), Timeframe::M15, source.clone());
    let (addr, _) = mock.spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    Env {
        pool,
        mock,
        base: format!("http://{addr}"),
        source,
    }
}

fn fast_settings() -> Settings {
    let mut s = Settings::default();
    for v in [&mut s.binance.spot, &mut s.binance.futures] {
        v.backoff_base_ms = 20;
        v.backoff_max_ms = 200;
        v.request_timeout_ms = 1_000;
        v.max_retries = 5;
    }
    s
}

impl Env {
    fn params(&self, market: Market, symbols: &[&str]) -> BackfillParams {
        BackfillParams {
            exchange: "binance".into(),
            market,
            symbols: symbols.iter().map(|s| sym(s)).collect(),
            timeframe: Timeframe::M15,
            from: self.source[0].open_time,
            to: Some(self.source.last().unwrap().open_time + 900_000),
            base_url: Some(self.base.clone()),
            weight_limit: Some(0),
        }
    }

    async fn run(&self, params: &BackfillParams, settings: &Settings) -> db::jobs::Job {
        let job = db::jobs::enqueue(
            &self.pool,
            backfill::KIND,
            &serde_json::to_value(params).unwrap(),
        )
        .await
        .unwrap();
        let owner = jobs::owner_id();
        let job = jobs::take_over(&self.pool, job.id, &owner, 30.0)
            .await
            .unwrap();
        jobs::run_claimed(&self.pool, settings, &job, &owner, &|_, _| {})
            .await
            .unwrap();
        db::jobs::get(&self.pool, job.id).await.unwrap().unwrap()
    }

    async fn stored(&self, market: Market, symbol: &str) -> Vec<Candle> {
        let key = SeriesKey::new("binance", market, sym(symbol), Timeframe::M15).unwrap();
        match db::candles::find_series(&self.pool, &key).await.unwrap() {
            Some(s) => db::candles::read_range(&self.pool, s.id, i64::MIN, i64::MAX)
                .await
                .unwrap(),
            None => Vec::new(),
        }
    }
}

#[tokio::test]
async fn spot_backfill_equals_the_source_through_every_fault() {
    let env = env_with(MockConfig::default()).await;
    env.mock.push_faults([
        Fault::TooManyRequests { retry_after_s: 1 },
        Fault::Pass,
        Fault::ServerError(500),
        Fault::ServerError(503),
        Fault::Stall(Duration::from_millis(2_500)),
        Fault::Truncated,
        Fault::Pass,
        Fault::Truncated,
    ]);
    let job = env
        .run(&env.params(Market::Spot, &["BTC/USDT"]), &fast_settings())
        .await;
    assert_eq!(
        job.status,
        db::jobs::JobStatus::Succeeded,
        "{:?}",
        job.error
    );
    assert_eq!(job.progress, 1.0);
    assert_eq!(
        env.stored(Market::Spot, "BTC/USDT").await,
        env.source,
        "bar for bar"
    );
    let stats = env.mock.stats();
    assert_eq!(
        stats.faults, 6,
        "every injected fault (all but the two passes) was hit"
    );
    assert_eq!(job.detail["stored"], env.source.len());

    // Same range again: nothing new is stored, and only the source's own holes are asked for.
    let served_before = env.mock.stats().candles_served;
    let again = env
        .run(&env.params(Market::Spot, &["BTC/USDT"]), &fast_settings())
        .await;
    assert_eq!(again.status, db::jobs::JobStatus::Succeeded);
    assert_eq!(again.detail["stored"], 0);
    assert_eq!(
        env.mock.stats().candles_served,
        served_before,
        "the holes are empty at the venue too"
    );
}

#[tokio::test]
async fn gap_repair_fetches_only_missing_bars() {
    let env = env_with(MockConfig::default()).await;
    let key = SeriesKey::new("binance", Market::Spot, sym("BTC/USDT"), Timeframe::M15).unwrap();
    // Store the source with two holes cut out: 1,500 bars and 700 bars.
    let kept: Vec<Candle> = env
        .source
        .iter()
        .enumerate()
        .filter(|(i, _)| !(2000..3500).contains(i) && !(6000..6700).contains(i))
        .map(|(_, c)| *c)
        .collect();
    server::import::store(&env.pool, &key, &kept, true)
        .await
        .unwrap();
    let job = env
        .run(&env.params(Market::Spot, &["BTC/USDT"]), &fast_settings())
        .await;
    assert_eq!(
        job.status,
        db::jobs::JobStatus::Succeeded,
        "{:?}",
        job.error
    );
    assert_eq!(
        env.mock.stats().candles_served,
        2200,
        "exactly the cut-out bars travel"
    );
    assert_eq!(job.detail["stored"], 2200);
    assert_eq!(env.stored(Market::Spot, "BTC/USDT").await, env.source);
}

#[tokio::test]
async fn futures_use_the_cheapest_page_and_symbols_fail_alone() {
    let env = env_with(MockConfig::default()).await;
    let job = env
        .run(
            &env.params(Market::Futures, &["ETH/USDT", "NOPE/USDT"]),
            &fast_settings(),
        )
        .await;
    assert_eq!(job.status, db::jobs::JobStatus::Failed, "one symbol failed");
    let failed = &job.detail["symbols"]["NOPE/USDT"]["error"];
    assert!(
        failed.as_str().unwrap().contains("Invalid symbol"),
        "{failed}"
    );
    assert_eq!(
        env.stored(Market::Futures, "ETH/USDT").await,
        env.source,
        "the good symbol completed"
    );
    // 499-candle pages (weight 2): the largest page in the cheapest tier.
    let pages = job.detail["symbols"]["ETH/USDT"]["pages"].as_u64().unwrap();
    assert!(
        pages >= (env.source.len() as u64).div_ceil(499),
        "pages {pages}"
    );
}

#[tokio::test]
async fn a_ban_stops_the_job_with_a_clear_error() {
    let env = env_with(MockConfig::default()).await;
    env.mock
        .push_faults([Fault::Pass, Fault::Banned { retry_after_s: 120 }]);
    let job = env
        .run(&env.params(Market::Spot, &["BTC/USDT"]), &fast_settings())
        .await;
    assert_eq!(job.status, db::jobs::JobStatus::Failed);
    let err = job.error.unwrap();
    assert!(err.contains("banned") && err.contains("418"), "{err}");
    assert_eq!(env.mock.stats().requests, 2, "no request after the ban");
    // What the first page brought is kept.
    assert_eq!(env.stored(Market::Spot, "BTC/USDT").await.len(), 1000);
}

#[tokio::test]
async fn venue_weight_limit_gives_429s_that_are_honoured() {
    // The venue allows 2 weight per minute (one request); we claim 1000 to provoke its 429s.
    let env = env_with(MockConfig {
        weight_limit_per_min: 2,
        ..Default::default()
    })
    .await;
    let mut p = env.params(Market::Spot, &["BTC/USDT"]);
    p.to = Some(env.source[0].open_time + 1500 * 900_000); // two pages
    p.weight_limit = Some(1000);
    let job = tokio::time::timeout(Duration::from_secs(150), env.run(&p, &fast_settings()))
        .await
        .expect("finishes after the window resets");
    assert_eq!(
        job.status,
        db::jobs::JobStatus::Succeeded,
        "{:?}",
        job.error
    );
    assert_eq!(
        env.stored(Market::Spot, "BTC/USDT").await,
        env.source[..1500].to_vec()
    );
    let stats = env.mock.stats();
    assert_eq!(
        stats.requests,
        2 + stats.throttled,
        "two pages, plus one retry per 429: {stats:?}"
    );
}
