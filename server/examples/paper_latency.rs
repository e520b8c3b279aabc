//! Paper-account latency and replay throughput on the whole live path: the
//! mock exchange's kline stream publishes a closed bar → the follower
//! stores it → the scanner judges it → the paper runner applies the close
//! to an account trading every pair (its orders, fills, ledger and mark
//! committed in one transaction).
//!
//! In one process: the mock with synthetic `SYN…/USDT` perpetuals on a
//! replay clock, the follower (15m only), the scanner, the paper runner and
//! one account on all pairs; a client holds its own stream connection to
//! the mock (its receive time is the publish time) and polls the account's
//! equity marks every 5 ms. A close counts as applied when its mark is
//! committed; its latency runs from the publish of the last of that close's
//! bars.
//!
//!   cargo run --release -p server --example paper_latency -- \
//!     <admin database url> <pairs> <closes> <speed>

use engine::{Symbol, Timeframe};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use trading::clock::ReplayClock;
use trading::feed::{FeedEvent, MarketFeed};
use venues::binance::mock::{MockConfig, MockExchange};
use venues::binance::stream::{KlineStream, StreamLimits};

const M15: i64 = 900_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let admin = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let pairs: usize = args.get(2).map_or(Ok(10), |s| s.parse())?;
    let closes: usize = args.get(3).map_or(Ok(200), |s| s.parse())?;
    let speed: f64 = args.get(4).map_or(Ok(900.0), |s| s.parse())?;
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b.to_owned())
        .unwrap_or(admin.clone());
    let url = format!("{base}/traderai_bench_paper_{:08x}", rand::random::<u32>());
    let pool = server::db::connect(&url, 16).await?;

    let symbols: Vec<Symbol> = (0..pairs)
        .map(|i| Symbol::parse(&format!("SYN{i:03}/USDT")).unwrap())
        .collect();
    let clock =
        Arc::new(ReplayClock::new(server::time::now_ms(), speed).map_err(anyhow::Error::msg)?);
    let mock = MockExchange::new(MockConfig {
        clock: clock.clone(),
        ..Default::default()
    });
    let (mock_addr, _) = mock.spawn("127.0.0.1:0".parse()?).await?;
    let follow = server::follow::FollowSettings {
        symbols: symbols.iter().map(ToString::to_string).collect(),
        timeframe: "15m".into(),
        confirm: Vec::new(),
        warmup_bars: 1500,
        ..Default::default()
    };
    let mut settings = server::config::Settings::default();
    settings.binance.futures.weight_limit_per_min = 0;
    // No higher timeframes are followed here: that gate would refuse everything.
    settings.signals.htf = server::config::HtfGate::Off;
    let source = server::follow::Source {
        base_url: Some(format!("http://{mock_addr}")),
        ws_url: None,
        clock: clock.clone(),
        demo: true,
        exchange: None,
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let follower = server::follow::Follower::new(pool.clone(), &settings, follow, source).await?;
    tokio::spawn(follower.run(stop_rx.clone()));
    tokio::spawn(server::signals::scan_on_closes(
        server::signals::Scanner::new(pool.clone(), models::backend::Backend::Flex)
            .with_gates(&settings.signals),
        stop_rx.clone(),
    ));
    tokio::spawn(server::paper::run(
        pool.clone(),
        settings.signals.clone(),
        stop_rx.clone(),
    ));

    let warm = Instant::now();
    loop {
        let live: i64 =
            sqlx::query_scalar("SELECT count(*) FROM follow_state WHERE state = 'live'")
                .fetch_one(&pool)
                .await?;
        if live as usize >= pairs {
            break;
        }
        anyhow::ensure!(
            warm.elapsed() < Duration::from_secs(600),
            "the universe never went live"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("live after {:.1} s", warm.elapsed().as_secs_f64());
    let user = server::db::users::create(&pool, "bench", "x", app::types::Role::User).await?;
    let acct = server::paper::open(
        &pool,
        &settings,
        &server::paper::OpenRequest {
            user_id: user.view.id,
            name: "bench".into(),
            capital: "10000".parse()?,
            profile: engine::risk::RiskProfile::High,
            follow: server::paper::FollowMode::All,
            series: Vec::new(),
            // Trades happen, so fills and ledger rows are part of what is timed.
            min_net_profit: Some(0.0),
        },
    )
    .await?;

    let subs: Vec<(Symbol, Timeframe)> = symbols
        .iter()
        .map(|s| (s.clone(), Timeframe::M15))
        .collect();
    // Per bar open time: when the last of its pairs' bars was published.
    let published: Arc<std::sync::Mutex<HashMap<i64, Instant>>> = Arc::default();
    {
        let mut s =
            KlineStream::connect(&format!("ws://{mock_addr}"), &subs, StreamLimits::default())
                .await?;
        let published = published.clone();
        tokio::spawn(async move {
            while let FeedEvent::Bar(b) = s.next_event().await {
                published
                    .lock()
                    .unwrap()
                    .insert(b.candle.open_time, Instant::now());
            }
        });
    }
    let mut last = acct.applied_until + M15;
    let mut lat = Vec::new();
    let started = Instant::now();
    while lat.len() < closes {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(1800),
            "only {} closes applied",
            lat.len()
        );
        let marks: Vec<i64> = sqlx::query_scalar(
            "SELECT time FROM paper_equity WHERE account_id = $1 AND time > $2 ORDER BY time",
        )
        .bind(acct.id)
        .bind(last)
        .fetch_all(&pool)
        .await?;
        let at = Instant::now();
        for t in marks {
            if let Some(p) = published.lock().unwrap().get(&(t - M15)) {
                lat.push(at.duration_since(*p).as_secs_f64() * 1000.0);
            }
            last = t;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let fills: i64 = sqlx::query_scalar("SELECT count(*) FROM paper_fills WHERE account_id = $1")
        .bind(acct.id)
        .fetch_one(&pool)
        .await?;
    let _ = stop_tx.send(true);
    lat.sort_by(f64::total_cmp);
    let q = |p: f64| lat[((lat.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "pairs": pairs, "speed": speed, "closes": lat.len(), "fills": fills,
            "p50_ms": q(0.5), "p90_ms": q(0.9), "p99_ms": q(0.99), "max_ms": lat[lat.len() - 1],
            "bars_applied_per_s": (lat.len() * pairs) as f64 / elapsed,
            "elapsed_s": elapsed, "poll_ms": 5,
        }))?
    );
    Ok(())
}
