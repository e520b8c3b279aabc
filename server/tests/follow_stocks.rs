//! A followed stock universe on a replay clock: the follower polls the
//! provider chain (Alpaca first) after each session's close, stores the
//! real NVDA daily bars as they close, and the series stays live over the
//! weekend and the Independence Day holiday instead of turning stale.

mod common;

use common::fresh_db;
use common::live::{follow_and_scan, state, stored};
use engine::{Candle, Timeframe};
use server::config::Settings;
use server::follow::{FollowSettings, Source};
use std::sync::Arc;
use std::time::Duration;
use trading::clock::{Clock, ReplayClock};
use venues::stocks::mock::MockStocks;

fn ms(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .timestamp_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stocks_follow_the_sessions_through_a_weekend_and_a_holiday() {
    let (parsed, _) = server::import::parse_file(
        &common::data("nvda-1d-yahoo.csv"),
        Timeframe::D1,
        None,
        &Default::default(),
        true,
    )
    .unwrap();
    let all: Vec<Candle> = parsed
        .candles
        .into_iter()
        .filter(|c| (ms("2024-01-01T00:00:00Z")..ms("2024-12-31T00:00:00Z")).contains(&c.open_time))
        .collect();
    let (pool, _) = fresh_db().await;
    // Wednesday 2024-06-26 after the close; two days a second.
    let clock = Arc::new(ReplayClock::new(ms("2024-06-26T22:00:00Z"), 172_800.0).unwrap());
    let mock = MockStocks::new("AKTEST", "alpaca-secret", "fh-token");
    mock.list("NVDA", all.clone(), 1.0);
    mock.set_clock(clock.clone());
    let (addr, _) = mock.spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let mut settings = Settings::default();
    settings.stocks.alpaca.key = Some("AKTEST".into());
    settings.stocks.alpaca.secret = Some("alpaca-secret".into());
    settings.stocks.finnhub.key = Some("fh-token".into());
    for p in [
        &mut settings.stocks.alpaca,
        &mut settings.stocks.finnhub,
        &mut settings.stocks.yahoo,
    ] {
        p.requests_per_min = 0;
        p.max_retries = 1;
        p.backoff_base_ms = 5;
    }
    let follow = FollowSettings {
        venue: "stocks".into(),
        market: engine::Market::Spot,
        symbols: vec!["NVDA/USD".into()],
        timeframe: "1d".into(),
        confirm: vec![],
        warmup_bars: 30,
        poll_delay_s: 60.0,
        poll_retry_s: 0.05,
        grace_s: 3600.0,
        ..Default::default()
    };
    let source = Source {
        base_url: Some(format!("http://{addr}")),
        ws_url: None,
        clock: clock.clone(),
        demo: true,
        exchange: None,
    };
    let (stop, tasks) = follow_and_scan(&pool, &settings, follow, source).await;
    let id: i32 = sqlx::query_scalar(
        "SELECT id FROM series WHERE exchange = 'stocks' AND symbol = 'NVDA/USD' AND timeframe = '1d'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    // Friday 5 July before the open: Wednesday's early-close bar is still the
    // newest and live, since 4 July had no session (around the clock it would
    // have been stale since Friday 01:00 UTC).
    tokio::time::sleep(clock.wall_until(ms("2024-07-05T12:00:00Z"))).await;
    let (st, reason, _) = state(&pool, id).await;
    assert_eq!(st, "live", "a holiday is no missing bar ({reason:?})");
    let newest = stored(&pool, id).await.last().unwrap().open_time;
    assert_eq!(newest, ms("2024-07-03T00:00:00Z"));
    // Sunday 7 July: Friday's bar came, and the weekend is no gap either.
    tokio::time::sleep(clock.wall_until(ms("2024-07-07T12:00:00Z"))).await;
    assert_eq!(state(&pool, id).await.0, "live");
    let got = stored(&pool, id).await;
    let want: Vec<Candle> = all
        .iter()
        .filter(|c| c.open_time >= got[0].open_time && c.open_time <= ms("2024-07-05T00:00:00Z"))
        .copied()
        .collect();
    assert_eq!(got, want, "exactly the closed sessions' bars, none twice");
    assert!(
        got.len() >= 20,
        "{} bars (the warm-up window and the replay)",
        got.len()
    );
    assert!(
        mock.requests("alpaca") > 0 && mock.requests("yahoo") == 0,
        "Alpaca answered"
    );
    let sources = server::db::candles::sources(&pool, id).await.unwrap();
    assert!(
        !sources.is_empty()
            && sources
                .iter()
                .all(|r| r.provider == "alpaca" && r.adjustment == "all"),
        "the follower records who supplied its bars: {sources:?}"
    );
    let _ = stop.send(true);
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(10), t)
            .await
            .unwrap()
            .unwrap();
    }
}
