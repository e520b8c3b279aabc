//! The live loop's test rig: a mock exchange replaying real bars on a
//! replay clock, followed and scanned against a fresh database.
#![allow(dead_code)]

use super::{fresh_db, sym};
use engine::{Candle, Timeframe};
use server::config::Settings;
use server::follow::{FollowSettings, Follower, Source};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use trading::clock::{Clock, ReplayClock};
use venues::binance::mock::{MockConfig, MockExchange};

pub const M15: i64 = 900_000;

pub struct Live {
    pub pool: PgPool,
    pub url: String,
    pub mock: MockExchange,
    pub clock: Arc<ReplayClock>,
    pub stop: tokio::sync::watch::Sender<bool>,
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// A mock replaying `series` from `origin` at `speed`, followed and scanned.
pub async fn live(
    series: &[(&str, Vec<Candle>)],
    symbols: &[&str],
    origin: i64,
    speed: f64,
) -> Live {
    live_with(series, symbols, origin, speed, |_| {}).await
}

/// [`live`] with settings changed by `edit`.
pub async fn live_with(
    series: &[(&str, Vec<Candle>)],
    symbols: &[&str],
    origin: i64,
    speed: f64,
    edit: impl FnOnce(&mut Settings),
) -> Live {
    let (pool, url) = fresh_db().await;
    let clock = Arc::new(ReplayClock::new(origin, speed).unwrap());
    let mut mock = MockExchange::new(MockConfig {
        clock: clock.clone(),
        ..Default::default()
    });
    for (s, candles) in series {
        mock = mock.with_series(&sym(s), Timeframe::M15, candles.clone());
    }
    let (addr, _) = mock.spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let follow = FollowSettings {
        symbols: symbols.iter().map(|s| s.to_string()).collect(),
        timeframe: "15m".into(),
        confirm: vec!["1h".into()],
        warmup_bars: 400,
        reconnect_min_ms: 20,
        reconnect_max_ms: 200,
        poll_retry_s: 0.2,
        grace_s: 5.0,
        ..Default::default()
    };
    let mut settings = Settings::default();
    settings.binance.futures.max_retries = 1;
    settings.binance.futures.backoff_base_ms = 10;
    edit(&mut settings);
    let source = Source {
        base_url: Some(format!("http://{addr}")),
        ws_url: None,
        clock: clock.clone(),
        demo: true,
        exchange: None,
    };
    let (stop, tasks) = follow_and_scan(&pool, &settings, follow, source).await;
    Live {
        pool,
        url,
        mock,
        clock,
        stop,
        tasks,
    }
}

impl Live {
    pub async fn until_clock(&self, t: i64) {
        tokio::time::sleep(self.clock.wall_until(t)).await;
    }

    pub async fn finish(self) -> PgPool {
        let _ = self.stop.send(true);
        for t in self.tasks {
            tokio::time::timeout(Duration::from_secs(10), t)
                .await
                .unwrap()
                .unwrap();
        }
        self.pool
    }
}

/// The follower of `follow` and the scanner, running until `stop` is sent.
pub async fn follow_and_scan(
    pool: &PgPool,
    settings: &Settings,
    follow: FollowSettings,
    source: Source,
) -> (
    tokio::sync::watch::Sender<bool>,
    Vec<tokio::task::JoinHandle<()>>,
) {
    let (stop, rx) = tokio::sync::watch::channel(false);
    let follower = Follower::new(pool.clone(), settings, follow, source)
        .await
        .unwrap();
    let f = tokio::spawn({
        let rx = rx.clone();
        async move { follower.run(rx).await.unwrap() }
    });
    let s = tokio::spawn(server::signals::scan_on_closes(
        server::signals::Scanner::new(pool.clone(), models::backend::Backend::Flex)
            .with_gates(&settings.signals),
        rx.clone(),
    ));
    // Paper accounts step at each close the scanner judged: the whole live path.
    let p = tokio::spawn(server::paper::run(
        pool.clone(),
        settings.signals.clone(),
        rx,
    ));
    (stop, vec![f, s, p])
}

pub async fn series_id(pool: &PgPool, symbol: &str, tf: &str) -> i32 {
    sqlx::query_scalar(
        "SELECT id FROM series WHERE exchange = 'binance' AND symbol = $1 AND timeframe = $2",
    )
    .bind(symbol)
    .bind(tf)
    .fetch_one(pool)
    .await
    .unwrap()
}

pub async fn stored(pool: &PgPool, id: i32) -> Vec<Candle> {
    server::db::candles::read_range(pool, id, 0, i64::MAX)
        .await
        .unwrap()
}

pub async fn decisions(pool: &PgPool, id: i32) -> Vec<(i64, Option<String>)> {
    sqlx::query_as(
        "SELECT bar_time, blocked FROM signal_candidates WHERE series_id = $1 ORDER BY bar_time",
    )
    .bind(id)
    .fetch_all(pool)
    .await
    .unwrap()
}

pub async fn state(pool: &PgPool, id: i32) -> (String, Option<String>, Option<String>) {
    sqlx::query_as("SELECT state, reason, detail FROM follow_state WHERE series_id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The real bars, the replay origin (a bar some weeks in), and the bars the
/// venue shows closed by `end` after `warmup` bars of history.
pub fn expected(all: &[Candle], origin: i64, end: i64) -> Vec<Candle> {
    all.iter()
        .filter(|c| c.open_time >= origin - 400 * M15 && c.open_time + M15 <= end)
        .copied()
        .collect()
}
