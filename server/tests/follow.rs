//! The live loop against the mock exchange on a replay clock: the follower
//! stores exactly the bars the venue publishes (a dropped stream and a
//! malformed message repaired with no gap and no duplicate), the scanner
//! decides once per close, a halted series turns stale and recovers, an
//! unknown symbol is named without stopping the others, a spike is flagged
//! and blocks signals.

mod common;

use common::live::{M15, decisions, expected, follow_and_scan, live, series_id, state, stored};
use common::{btc_15m, fresh_db};
use engine::Candle;
use server::config::Settings;
use server::follow::FollowSettings;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replayed_day_is_stored_exactly_through_drops_and_bad_messages_and_scanned_once_per_close()
 {
    let all = btc_15m();
    let origin = M15 * (all[3000].open_time / M15);
    // A day of 15m bars in 24 s of wall time.
    let l = live(&[("BTC/USDT", all.clone())], &["BTC/USDT"], origin, 3600.0).await;
    let day = origin + 86_400_000;
    // Mid-replay: streams down for 3 h (the follower polls the klines
    // endpoint meanwhile), a malformed message, a server-side disconnect.
    l.until_clock(origin + 5 * 3_600_000).await;
    l.mock.set_streams_down(true);
    l.until_clock(origin + 8 * 3_600_000).await;
    l.mock.set_streams_down(false);
    l.until_clock(origin + 9 * 3_600_000).await;
    l.mock.inject(
        r#"{"stream":"btcusdt@kline_15m","data":{"e":"kline","E":1,"s":"BTCUSDT","k":{"t":"#.into(),
    );
    l.until_clock(origin + 14 * 3_600_000 + 100_000).await;
    l.mock.disconnect_streams();
    l.until_clock(day + 60_000).await;
    // Let the last close's scan land.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stats = l.mock.stats();
    let pool = l.finish().await;
    assert!(
        stats.ws_connections >= 3,
        "reconnected after each drop: {stats:?}"
    );
    assert!(stats.ws_refused >= 1, "the outage was felt: {stats:?}");

    let id = series_id(&pool, "BTC/USDT", "15m").await;
    let want = expected(&all, origin, day);
    let got: Vec<Candle> = stored(&pool, id)
        .await
        .into_iter()
        .filter(|c| c.open_time + M15 <= day)
        .collect();
    assert_eq!(got.len(), want.len(), "no gap, no duplicate");
    assert_eq!(got, want, "exactly the published bars");
    let replayed: Vec<i64> = want
        .iter()
        .map(|c| c.open_time)
        .filter(|&t| t >= origin)
        .collect();
    assert!(replayed.len() > 90, "{}", replayed.len());

    // One decision per close: every replayed bar, once (UNIQUE per bar and source).
    let d: Vec<i64> = decisions(&pool, id)
        .await
        .into_iter()
        .map(|d| d.0)
        .filter(|&t| t + M15 <= day)
        .collect();
    let after: Vec<i64> = d.iter().copied().filter(|&t| t >= origin).collect();
    assert_eq!(after, replayed, "a scan decision at every replayed close");
    assert!(
        d.len() <= after.len() + 1,
        "before the replay only the newest history bar: {}",
        d.len() - after.len()
    );

    // The 1h confirmation series is followed too, and never scanned.
    let h1 = series_id(&pool, "BTC/USDT", "1h").await;
    assert!(
        stored(&pool, h1)
            .await
            .iter()
            .any(|c| c.open_time >= origin)
    );
    assert!(decisions(&pool, h1).await.is_empty());
    // The first follow queued the history backfill as a job.
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE kind = 'backfill'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(jobs, 2, "one per timeframe");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_halted_series_turns_stale_without_signals_and_recovers_and_a_bad_symbol_is_named() {
    let all = btc_15m();
    let origin = M15 * (all[3000].open_time / M15);
    let l = live(
        &[("BTC/USDT", all.clone()), ("ETH/USDT", all.clone())],
        &["BTC/USDT", "ETH/USDT", "NOPE/USDT"],
        origin,
        3600.0,
    )
    .await;
    l.until_clock(origin + 2 * 3_600_000).await;
    l.mock.halt("ETHUSDT");
    l.until_clock(origin + 5 * 3_600_000).await;
    let eth = series_id(&l.pool, "ETH/USDT", "15m").await;
    let btc = series_id(&l.pool, "BTC/USDT", "15m").await;
    let nope = series_id(&l.pool, "NOPE/USDT", "15m").await;
    let (st, reason, _) = state(&l.pool, eth).await;
    assert_eq!((st.as_str(), reason.as_deref()), ("stale", Some("no_data")));
    assert_eq!(state(&l.pool, btc).await.0, "live", "the others go on");
    let (st, reason, detail) = state(&l.pool, nope).await;
    assert_eq!(
        (st.as_str(), reason.as_deref()),
        ("stale", Some("venue_error"))
    );
    let detail = detail.unwrap();
    assert!(
        detail.contains("NOPE/USDT") && detail.contains("Invalid symbol"),
        "{detail}"
    );
    // No decision while halted (after the halt plus one bar in flight).
    let halted_from = origin + 2 * 3_600_000 + M15;
    let during: Vec<_> = decisions(&l.pool, eth)
        .await
        .into_iter()
        .filter(|d| d.0 > halted_from)
        .collect();
    assert!(during.is_empty(), "{during:?}");

    l.mock.resume("ETHUSDT");
    l.until_clock(origin + 7 * 3_600_000).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(state(&l.pool, eth).await.0, "live", "recovered by itself");
    let pool = l.finish().await;
    let end = origin + 7 * 3_600_000;
    let got: Vec<Candle> = stored(&pool, eth)
        .await
        .into_iter()
        .filter(|c| c.open_time + M15 <= end)
        .collect();
    assert_eq!(
        got,
        expected(&all, origin, end),
        "the halt's gap is repaired"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_spike_is_flagged_and_blocks_signals_until_a_normal_bar() {
    let mut all = btc_15m();
    let origin = M15 * (all[3000].open_time / M15);
    let i = all
        .iter()
        .position(|c| c.open_time >= origin + 4 * M15)
        .unwrap();
    let spike_at = all[i].open_time;
    // A bad print: the close 40 % above the bar before.
    let c = &mut all[i];
    c.close *= 1.4;
    c.high = c.close;
    let l = live(&[("BTC/USDT", all.clone())], &["BTC/USDT"], origin, 1800.0).await;
    l.until_clock(spike_at + 4 * M15).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pool = l.finish().await;
    let id = series_id(&pool, "BTC/USDT", "15m").await;
    let (kind, detail) = server::db::follow::flag_of(&pool, id, spike_at)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kind, "spike");
    assert!(detail.contains("ATR"), "{detail}");
    let stored_bar = stored(&pool, id)
        .await
        .into_iter()
        .find(|c| c.open_time == spike_at)
        .unwrap();
    assert_eq!(stored_bar.close, all[i].close, "stored as published");
    let d = decisions(&pool, id).await;
    let at = |t: i64| d.iter().find(|x| x.0 == t).map(|x| x.1.clone());
    assert_eq!(at(spike_at), Some(Some("flagged_bar".into())), "{d:?}");
    // The bar after it is normal: it does not carry the flag.
    let next = all[i + 1].open_time;
    assert_ne!(at(next), Some(Some("flagged_bar".into())), "{d:?}");
    assert!(
        server::db::follow::flag_of(&pool, id, next)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_demo_replays_the_bundled_bars_under_its_own_name() {
    let (pool, _) = fresh_db().await;
    let f = FollowSettings {
        demo_speed: 3600.0,
        ..Default::default()
    };
    let (follow, source) = server::live::demo_replay(&common::data_dir(), &f)
        .await
        .unwrap();
    assert!(source.demo);
    assert_eq!(follow.symbols, vec!["BTC/USDT".to_string()]);
    let clock = source.clock.clone();
    let start = clock.now_ms();
    let (stop, tasks) = follow_and_scan(&pool, &Settings::default(), follow, source).await;
    // Two hours of replay.
    tokio::time::sleep(clock.wall_until(start + 2 * 3_600_000 + 60_000)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = stop.send(true);
    for t in tasks {
        t.await.unwrap();
    }
    // Stored as the exchange `demo`, never as a venue's data.
    let (id, bars): (i32, i64) = sqlx::query_as("SELECT id, bars FROM series WHERE exchange = 'demo' AND symbol = 'BTC/USDT' AND timeframe = '15m'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let binance: i64 = sqlx::query_scalar("SELECT count(*) FROM series WHERE exchange = 'binance'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(binance, 0);
    // The whole bundled history before the replay origin is the warm-up (60 % of ~8,700 bars).
    assert!(bars > 5000, "{bars}");
    let (state, demo): (String, bool) =
        sqlx::query_as("SELECT state, demo FROM follow_state WHERE series_id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((state.as_str(), demo), ("live", true));
    let after: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM signal_candidates WHERE series_id = $1 AND bar_time >= $2",
    )
    .bind(id)
    .bind(start)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(after >= 6, "decisions as the replay went on: {after}");
    // The demo queues no history job (its warm-up is the whole file).
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(jobs, 0);
    // Funding of the demo perpetual came from the mock's endpoints.
    let funding: i64 =
        sqlx::query_scalar("SELECT count(*) FROM funding_rates WHERE exchange = 'demo'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(funding > 100, "{funding}");
}
