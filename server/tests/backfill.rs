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

/// The real NVDA daily bars through the stock provider chain: Alpaca down,
/// Finnhub rate-limiting, Yahoo answering; the stored series records who
/// supplied which range and keeps the raw closes; weekends and holidays are
/// not refetched; a ticker nobody has fails alone, by name.
#[tokio::test]
async fn stock_backfill_through_the_provider_chain_records_who_supplied_what() {
    use venues::stocks::mock::{MockStocks, ProviderFaults};
    let (pool, _) = fresh_db().await;
    let (parsed, _) = server::import::parse_file(
        &common::data("nvda-1d-yahoo.csv"),
        Timeframe::D1,
        None,
        &Default::default(),
        true,
    )
    .unwrap();
    let year: Vec<Candle> = parsed
        .candles
        .into_iter()
        .filter(|c| (1_704_067_200_000..1_735_689_600_000).contains(&c.open_time))
        .collect();
    assert_eq!(year.len(), 252);
    let mock = MockStocks::new("AKTEST", "alpaca-secret", "fh-token");
    mock.list("NVDA", year.clone(), 1.0 / 0.98);
    mock.set_faults(
        "alpaca",
        ProviderFaults {
            outage: Some(503),
            ..Default::default()
        },
    );
    mock.set_faults(
        "finnhub",
        ProviderFaults {
            rate_limited_s: Some(60),
            ..Default::default()
        },
    );
    let (addr, _) = mock.spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let mut settings = Settings::default();
    for p in [
        &mut settings.stocks.alpaca,
        &mut settings.stocks.finnhub,
        &mut settings.stocks.yahoo,
    ] {
        p.backoff_base_ms = 5;
        p.backoff_max_ms = 10;
        p.max_retries = 1;
        p.requests_per_min = 0;
    }
    settings.stocks.alpaca.key = Some("AKTEST".into());
    settings.stocks.alpaca.secret = Some("alpaca-secret".into());
    settings.stocks.finnhub.key = Some("fh-token".into());
    let params = BackfillParams {
        exchange: "stocks".into(),
        market: Market::Spot,
        symbols: vec![sym("NVDA/USD"), sym("ZZZQ/USD")],
        timeframe: Timeframe::D1,
        from: 1_704_067_200_000,
        to: Some(1_735_689_600_000),
        base_url: Some(format!("http://{addr}")),
        weight_limit: None,
    };
    let run = |params: BackfillParams| {
        let (pool, settings) = (pool.clone(), settings.clone());
        async move {
            let job = db::jobs::enqueue(
                &pool,
                backfill::KIND,
                &serde_json::to_value(&params).unwrap(),
            )
            .await
            .unwrap();
            let owner = jobs::owner_id();
            let job = jobs::take_over(&pool, job.id, &owner, 30.0).await.unwrap();
            jobs::run_claimed(&pool, &settings, &job, &owner, &|_, _| {})
                .await
                .unwrap();
            db::jobs::get(&pool, job.id).await.unwrap().unwrap()
        }
    };
    let job = run(params.clone()).await;
    // ZZZQ fails alone, named with every provider's answer; NVDA is whole.
    assert_eq!(job.status, db::jobs::JobStatus::Failed, "{}", job.detail);
    let d = &job.detail;
    assert_eq!(d["failed"], serde_json::json!(["ZZZQ/USD"]), "{d}");
    let err = d["symbols"]["ZZZQ/USD"]["error"].as_str().unwrap();
    assert!(
        err.contains("ZZZQ/USD") && err.contains("may be delisted"),
        "{err}"
    );
    let key = SeriesKey::new("stocks", Market::Spot, sym("NVDA/USD"), Timeframe::D1).unwrap();
    let s = db::candles::find_series(&pool, &key)
        .await
        .unwrap()
        .unwrap();
    let stored = db::candles::read_range(&pool, s.id, i64::MIN, i64::MAX)
        .await
        .unwrap();
    assert_eq!(stored.len(), 252);
    for (a, b) in stored.iter().zip(&year) {
        assert_eq!(a.open_time, b.open_time);
        assert!((a.close - b.close).abs() < 1e-9 * b.close, "{a:?} {b:?}");
    }
    let sources = db::candles::sources(&pool, s.id).await.unwrap();
    assert_eq!(sources.len(), 1, "{sources:?}");
    assert_eq!(
        (sources[0].provider.as_str(), sources[0].adjustment.as_str()),
        ("yahoo", "all")
    );
    assert_eq!(
        (sources[0].from_ms, sources[0].to_ms),
        (params.from, params.to.unwrap())
    );
    let raw = db::candles::raw_closes(&pool, s.id, i64::MIN, i64::MAX)
        .await
        .unwrap();
    assert_eq!(raw.len(), 252);
    assert!((raw[0].1 - year[0].close / 0.98).abs() < 1e-9);

    // A year on, with Alpaca back: only the new range is fetched, from Alpaca,
    // and the store says so beside Yahoo's range. Weekends and holidays of
    // the stored year are no holes to refetch.
    let more: Vec<Candle> = {
        let (p, _) = server::import::parse_file(
            &common::data("nvda-1d-yahoo.csv"),
            Timeframe::D1,
            None,
            &Default::default(),
            true,
        )
        .unwrap();
        p.candles
            .into_iter()
            .filter(|c| c.open_time >= 1_704_067_200_000)
            .collect()
    };
    mock.list("NVDA", more.clone(), 1.0 / 0.98);
    mock.set_faults("alpaca", ProviderFaults::default());
    let before = mock.requests("alpaca") + mock.requests("yahoo");
    let job = run(BackfillParams {
        symbols: vec![sym("NVDA/USD")],
        to: Some(more.last().unwrap().open_time + 86_400_000),
        ..params.clone()
    })
    .await;
    assert_eq!(job.status, db::jobs::JobStatus::Succeeded, "{}", job.detail);
    assert_eq!(
        mock.requests("alpaca") + mock.requests("yahoo") - before,
        2,
        "one range, one adjusted and one raw request to Alpaca"
    );
    let sources = db::candles::sources(&pool, s.id).await.unwrap();
    assert_eq!(
        sources
            .iter()
            .map(|r| r.provider.as_str())
            .collect::<Vec<_>>(),
        vec!["yahoo", "alpaca"]
    );
    let stored = db::candles::read_range(&pool, s.id, i64::MIN, i64::MAX)
        .await
        .unwrap();
    assert_eq!(stored.len(), more.len());
}
