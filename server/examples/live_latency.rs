//! Live-loop latency: from the moment the mock's kline stream publishes a
//! closed bar to the candidate being readable at `GET /api/v1/signals`.
//!
//! In one process: the mock exchange with synthetic `SYN…/USDT` perpetuals
//! on a replay clock, the follower (base 15m + 1h + 4h), the scanner at every
//! close, and the web app; a client holds its own stream connection to the
//! mock (its receive time is the publish time: same host, same loop) and
//! polls the board every `POLL_MS`. Optionally a CPU-heavy command (a
//! training run) runs beside it for the whole measurement.
//!
//!   cargo run --release -p server --example live_latency -- \
//!     <admin database url> <pairs> <closes> <speed> [command to run beside…]

use engine::{Symbol, Timeframe};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use trading::clock::ReplayClock;
use trading::feed::{FeedEvent, MarketFeed};
use venues::binance::mock::{MockConfig, MockExchange};
use venues::binance::stream::{KlineStream, StreamLimits};

const POLL_MS: u64 = 10;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let admin = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let pairs: usize = args.get(2).map_or(Ok(10), |s| s.parse())?;
    let closes: usize = args.get(3).map_or(Ok(500), |s| s.parse())?;
    let speed: f64 = args.get(4).map_or(Ok(900.0), |s| s.parse())?;
    let beside: Vec<String> = args.iter().skip(5).cloned().collect();

    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b.to_owned())
        .unwrap_or(admin.clone());
    let url = format!("{base}/traderai_bench_live_{:08x}", rand::random::<u32>());
    let pool = server::db::connect(&url, 16).await?;

    let symbols: Vec<Symbol> = (0..pairs)
        .map(|i| Symbol::parse(&format!("SYN{i:03}/USDT")).unwrap())
        .collect();
    let now = server::time::now_ms();
    let clock = Arc::new(ReplayClock::new(now, speed).map_err(anyhow::Error::msg)?);
    let mock = MockExchange::new(MockConfig {
        clock: clock.clone(),
        ..Default::default()
    });
    let (mock_addr, _) = mock.spawn("127.0.0.1:0".parse()?).await?;

    let follow = server::follow::FollowSettings {
        symbols: symbols.iter().map(ToString::to_string).collect(),
        timeframe: "15m".into(),
        confirm: vec!["1h".into(), "4h".into()],
        warmup_bars: 1500,
        ..Default::default()
    };
    let mut settings = server::config::Settings::default();
    settings.binance.futures.weight_limit_per_min = 0;
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

    // The web app and a signed-in API client.
    server::auth::ensure_first_admin(&pool, Some("bench"), Some("bench-pass-123")).await?;
    let opts = server::web::leptos_options("127.0.0.1:0".parse()?, "target/site")?;
    let app = server::web::router(pool.clone(), opts, &settings).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let web = format!("http://{}", listener.local_addr()?);
    tokio::spawn(server::web::serve_on(listener, app, std::future::pending()));
    let http = reqwest::Client::new();
    let login = http
        .post(format!("{web}/api/v1/auth/login"))
        .json(&json!({"username": "bench", "password": "bench-pass-123"}))
        .send()
        .await?;
    let cookie = login.headers()["set-cookie"]
        .to_str()?
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned();
    let csrf = login.json::<Value>().await?["csrf"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let token: Value = http
        .post(format!("{web}/api/v1/tokens"))
        .header("cookie", &cookie)
        .header("x-csrf-token", csrf)
        .json(&json!({"name": "bench"}))
        .send()
        .await?
        .json()
        .await?;
    let token = token["secret"].as_str().unwrap_or_default().to_owned();

    // Let the follower repair its warm-up history and go live first.
    let warm = Instant::now();
    loop {
        let live: i64 =
            sqlx::query_scalar("SELECT count(*) FROM follow_state WHERE state = 'live'")
                .fetch_one(&pool)
                .await?;
        if live as usize >= pairs * 3 {
            break;
        }
        anyhow::ensure!(
            warm.elapsed() < Duration::from_secs(600),
            "the universe never went live"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("live after {:.1} s", warm.elapsed().as_secs_f64());

    let mut side = match beside.split_first() {
        Some((cmd, rest)) => Some(
            tokio::process::Command::new(cmd)
                .args(rest)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()?,
        ),
        None => None,
    };

    // Publish times from our own stream connection.
    let subs: Vec<(Symbol, Timeframe)> = symbols
        .iter()
        .map(|s| (s.clone(), Timeframe::M15))
        .collect();
    let published: Arc<std::sync::Mutex<HashMap<(String, i64), Instant>>> = Arc::default();
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
                    .insert((b.symbol.to_string(), b.candle.open_time), Instant::now());
            }
        });
    }
    let mut seen: HashMap<(String, i64), ()> = HashMap::new();
    let mut lat: Vec<f64> = Vec::new();
    let started = Instant::now();
    while lat.len() < closes {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(1800),
            "only {} closes measured",
            lat.len()
        );
        let board: Value = http
            .get(format!("{web}/api/v1/signals"))
            .bearer_auth(&token)
            .send()
            .await?
            .json()
            .await?;
        let at = Instant::now();
        for v in board["signals"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(board["rejected"].as_array().into_iter().flatten())
        {
            let key = (
                v["symbol"].as_str().unwrap_or_default().to_owned(),
                v["bar_time"].as_i64().unwrap_or_default(),
            );
            if v["timeframe"] != "15m" || seen.contains_key(&key) {
                continue;
            }
            if let Some(t) = published.lock().unwrap().get(&key) {
                lat.push(at.duration_since(*t).as_secs_f64() * 1000.0);
                seen.insert(key, ());
            }
        }
        tokio::time::sleep(Duration::from_millis(POLL_MS)).await;
    }
    let _ = stop_tx.send(true);
    let side_ran = match side.as_mut() {
        Some(c) => {
            let running = c.try_wait()?.is_none();
            let _ = c.kill().await;
            Some(running)
        }
        None => None,
    };
    lat.sort_by(f64::total_cmp);
    let q = |p: f64| lat[((lat.len() as f64 - 1.0) * p).round() as usize];
    let out = json!({
        "pairs": pairs, "timeframes": 3, "speed": speed, "closes": lat.len(),
        "p50_ms": q(0.5), "p90_ms": q(0.9), "p99_ms": q(0.99), "max_ms": lat[lat.len() - 1],
        "poll_ms": POLL_MS,
        "beside": if beside.is_empty() { Value::Null } else { json!(beside.join(" ")) },
        "beside_still_running_at_end": side_ran,
        "elapsed_s": started.elapsed().as_secs_f64(),
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    drop(pool);
    Ok(())
}
