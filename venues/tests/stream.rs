//! The kline stream client against the mock's combined stream on a replay
//! clock: bars arrive once, in order, when they close; pings are answered;
//! a server-side disconnect and a malformed message are reported.

use engine::{Candle, Symbol, Timeframe};
use std::sync::Arc;
use std::time::Duration;
use trading::clock::ReplayClock;
use trading::feed::{FeedEvent, MarketFeed};
use venues::binance::mock::{MockConfig, MockExchange};
use venues::binance::stream::{KlineStream, StreamLimits};

const M15: i64 = 900_000;

fn bars(n: i64) -> Vec<Candle> {
    (0..n)
        .map(|i| Candle {
            open_time: (1000 + i) * M15,
            open: 100.0 + i as f64,
            high: 101.0 + i as f64,
            low: 99.0 + i as f64,
            close: 100.5 + i as f64,
            volume: 10.0,
        })
        .collect()
}

async fn mock(speed: f64, cfg: MockConfig) -> (MockExchange, String) {
    // The replay starts as bar 10 closes: 10 bars are history, the rest is to come.
    let clock = ReplayClock::new(1010 * M15, speed).unwrap();
    let m = MockExchange::new(MockConfig {
        clock: Arc::new(clock),
        ..cfg
    })
    .with_series(
        &Symbol::parse("BTC/USDT").unwrap(),
        Timeframe::M15,
        bars(40),
    );
    let (addr, _) = m.spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    (m, format!("ws://{addr}"))
}

fn subs() -> Vec<(Symbol, Timeframe)> {
    vec![
        (Symbol::parse("BTC/USDT").unwrap(), Timeframe::M15),
        (Symbol::parse("BTC/USDT").unwrap(), Timeframe::H1),
    ]
}

#[tokio::test]
async fn replayed_bars_arrive_once_in_order_as_they_close() {
    // 15 minutes of replay per 100 ms of wall time.
    let (m, ws) = mock(9000.0, MockConfig::default()).await;
    let mut s = KlineStream::connect(&ws, &subs(), StreamLimits::default())
        .await
        .unwrap();
    let mut got = Vec::new();
    while got.len() < 12 {
        match tokio::time::timeout(Duration::from_secs(5), s.next_event()).await {
            Ok(FeedEvent::Bar(b)) => {
                // Never before it closed on the mock's clock.
                assert!(b.candle.open_time + b.timeframe.duration_ms() <= m.now());
                got.push((b.timeframe, b.candle.open_time));
            }
            other => panic!("{other:?}"),
        }
    }
    let m15: Vec<i64> = got
        .iter()
        .filter(|g| g.0 == Timeframe::M15)
        .map(|g| g.1)
        .collect();
    assert_eq!(
        m15[0],
        1010 * M15,
        "the first bar to close after the replay origin"
    );
    assert!(m15.windows(2).all(|w| w[1] == w[0] + M15), "{m15:?}");
    // 1h bars are the 15m ones resampled, published at their own close.
    let h1: Vec<i64> = got
        .iter()
        .filter(|g| g.0 == Timeframe::H1)
        .map(|g| g.1)
        .collect();
    assert!(
        !h1.is_empty() && h1.iter().all(|t| t % (4 * M15) == 0),
        "{h1:?}"
    );
    assert_eq!(m.stats().ws_connections, 1);
}

#[tokio::test]
async fn pings_are_answered_and_disconnects_and_bad_messages_reported() {
    let cfg = MockConfig {
        ping_every: Duration::from_millis(50),
        pong_timeout: Duration::from_millis(400),
        ..Default::default()
    };
    // A slow replay: no bar for the length of the test, only pings.
    let (m, ws) = mock(1.0, cfg).await;
    let mut s = KlineStream::connect(&ws, &subs(), StreamLimits::default())
        .await
        .unwrap();
    // Reading for 1 s keeps the link: tungstenite pongs each ping.
    let quiet = tokio::time::timeout(Duration::from_secs(1), s.next_event()).await;
    assert!(quiet.is_err(), "nothing to read yet: {quiet:?}");
    assert_eq!(m.stats().ws_ping_timeouts, 0);

    m.inject("{\"stream\":\"btcusdt@kline_15m\",\"data\":{\"e\":\"kline\"".into());
    match tokio::time::timeout(Duration::from_secs(5), s.next_event())
        .await
        .unwrap()
    {
        FeedEvent::Malformed { text, error } => {
            assert!(text.starts_with("{\"stream\""), "{text}");
            assert!(error.contains("JSON"), "{error}");
        }
        e => panic!("{e:?}"),
    }
    m.disconnect_streams();
    match tokio::time::timeout(Duration::from_secs(5), s.next_event())
        .await
        .unwrap()
    {
        // The venue's close frame (a reset, should the frame be lost, is a disconnect too).
        FeedEvent::Down { reason } => assert!(!reason.is_empty()),
        e => panic!("{e:?}"),
    }
}

#[tokio::test]
async fn a_client_that_never_pongs_is_dropped() {
    // A raw client that does not read (so never answers pings).
    let cfg = MockConfig {
        ping_every: Duration::from_millis(50),
        pong_timeout: Duration::from_millis(200),
        ..Default::default()
    };
    let (m, ws) = mock(1.0, cfg).await;
    let (_ws, _) =
        tokio_tungstenite::connect_async(format!("{ws}/stream?streams=btcusdt@kline_15m"))
            .await
            .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(m.stats().ws_ping_timeouts, 1);
}

#[tokio::test]
async fn the_replay_clock_hides_bars_that_have_not_closed() {
    let (m, ws) = mock(1.0, MockConfig::default()).await;
    let base = ws.replacen("ws://", "http://", 1);
    let body: serde_json::Value = reqwest::get(format!(
        "{base}/fapi/v1/klines?symbol=BTCUSDT&interval=15m&startTime=0&limit=1000"
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        body.as_array().unwrap().len(),
        10,
        "bars 0..10 closed at the origin"
    );
    let t: serde_json::Value = reqwest::get(format!("{base}/mock/clock"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!((t["now_ms"].as_i64().unwrap() - m.clock().now_ms()).abs() < 5_000);
    m.halt("BTCUSDT");
    assert!(m.clock().now_ms() >= 1010 * M15);
}
