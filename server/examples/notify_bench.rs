//! Notification latency and outbox throughput, `/metrics` scrape cost, and
//! the signals endpoint's latency with HTTP metrics on and off.
//!
//! In one process: a fresh database, a webhook receiver that checks nothing
//! but records when each event id arrives, the notifier (`outbox::run`), and
//! two app routers over the bundled data (one with `[web] metrics = false`).
//!
//!   cargo run -p server --example notify_bench -- <admin database url> [events]

use axum::extract::State;
use axum::http::HeaderMap;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Arrivals = Arc<Mutex<HashMap<i64, Instant>>>;

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

async fn receiver(State(a): State<Arrivals>, h: HeaderMap) -> axum::http::StatusCode {
    if let Some(id) = h
        .get("x-traderai-event")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
    {
        a.lock().unwrap().insert(id, Instant::now());
    }
    axum::http::StatusCode::NO_CONTENT
}

async fn wait_for(a: &Arrivals, n: usize, limit: Duration) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if a.lock().unwrap().len() >= n {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    false
}

async fn spawn(pool: sqlx::PgPool, metrics: bool) -> anyhow::Result<String> {
    let mut s = server::config::Settings::default();
    s.web.metrics = metrics;
    let opts = server::web::leptos_options("127.0.0.1:0".parse()?, "target/site")?;
    let app = server::web::router(pool, opts, &s).await?;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    tokio::spawn(server::web::serve_on(l, app, std::future::pending()));
    Ok(format!("http://{addr}"))
}

/// Sequential GETs: (p50 ms, p99 ms, bytes of the last answer).
async fn timed(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    n: usize,
) -> anyhow::Result<(f64, f64, usize)> {
    let mut ms = Vec::with_capacity(n);
    let mut bytes = 0;
    for _ in 0..n {
        let t = Instant::now();
        let r = http.get(url).bearer_auth(token).send().await?;
        anyhow::ensure!(r.status().is_success(), "{url}: {}", r.status());
        bytes = r.bytes().await?.len();
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok((pct(&mut ms, 0.5), pct(&mut ms, 0.99), bytes))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let admin = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let events: usize = args.get(2).map_or(Ok(2000), |s| s.parse())?;
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b.to_owned())
        .unwrap_or(admin.clone());
    let url = format!("{base}/traderai_bench_notify_{:08x}", rand::random::<u32>());
    let pool = server::db::connect(&url, 16).await?;
    server::secrets::install(&"ab".repeat(32))?;

    let arrivals: Arrivals = Arc::default();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receiver))
        .with_state(arrivals.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook = format!("http://{}/hook", l.local_addr()?);
    tokio::spawn(async move { axum::serve(l, app).await });

    let user: i64 = sqlx::query_scalar(
        "INSERT INTO users (username, password_hash, role) VALUES ('bench', 'x', 'admin') RETURNING id",
    )
    .fetch_one(&pool)
    .await?;
    let t = server::notify::channels::Target::Webhook {
        url: hook,
        secret: "bench-secret-0123456789".into(),
    };
    server::notify::outbox::add_channel(&pool, user, &t).await?;
    let mut prefs = server::notify::prefs::Prefs::default_for(true);
    prefs.rate_per_hour = i32::MAX;
    server::notify::prefs::save(&pool, user, &prefs).await?;
    let settings = server::config::Settings::default();
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let notifier = tokio::spawn(server::notify::outbox::run(
        pool.clone(),
        settings.clone(),
        settings.notify.clone(),
        stop,
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Latency: one event at a time, from its commit to its arrival.
    let mut lat = Vec::new();
    for i in 0..200 {
        let e = server::notify::compose::Draft::new(format!("latency {i}"))
            .event(server::notify::EventKind::PaperFill, format!("lat:{i}"))
            .for_user(user);
        let before = arrivals.lock().unwrap().len();
        server::notify::events::emit_now(&pool, &e).await?;
        let committed = Instant::now();
        anyhow::ensure!(
            wait_for(&arrivals, before + 1, Duration::from_secs(10)).await,
            "event {i} not delivered"
        );
        let got = *arrivals.lock().unwrap().values().max().unwrap();
        lat.push((got - committed).as_secs_f64() * 1e3);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (p50, p99) = (pct(&mut lat, 0.5), pct(&mut lat, 0.99));

    // Throughput: `events` committed in one transaction, until the last arrives.
    let already = arrivals.lock().unwrap().len();
    let t0 = Instant::now();
    let mut tx = pool.begin().await?;
    for i in 0..events {
        let e = server::notify::compose::Draft::new(format!("burst {i}"))
            .event(server::notify::EventKind::PaperFill, format!("burst:{i}"))
            .for_user(user);
        server::notify::emit(&mut tx, &e).await?;
    }
    tx.commit().await?;
    let committed = t0.elapsed();
    anyhow::ensure!(
        wait_for(&arrivals, already + events, Duration::from_secs(600)).await,
        "burst not delivered"
    );
    let burst = t0.elapsed();
    let _ = stop_tx.send(true);
    let _ = notifier.await;

    // The web side over the bundled data with its candidates.
    server::seed::run(&pool, std::path::Path::new("data"), true).await?;
    let mut scanner = server::signals::Scanner::new(pool.clone(), models::backend::Backend::Flex);
    scanner.scan().await?;
    let secret = "bench-token-secret-0123456789";
    sqlx::query(
        "INSERT INTO api_tokens (user_id, name, prefix, token_sha256) VALUES ($1, 'bench', $2, $3)",
    )
    .bind(user)
    .bind(&secret[..8])
    .bind(server::auth::token_sha256(secret))
    .execute(&pool)
    .await?;
    let http = reqwest::Client::new();
    let on = spawn(pool.clone(), true).await?;
    let off = spawn(pool.clone(), false).await?;
    // Warm both, then interleave the measured runs so neither gets a quieter machine.
    timed(&http, &format!("{on}/api/v1/signals"), secret, 50).await?;
    timed(&http, &format!("{off}/api/v1/signals"), secret, 50).await?;
    let mut runs_on = Vec::new();
    let mut runs_off = Vec::new();
    for _ in 0..3 {
        runs_on.push(timed(&http, &format!("{on}/api/v1/signals"), secret, 300).await?);
        runs_off.push(timed(&http, &format!("{off}/api/v1/signals"), secret, 300).await?);
    }
    let scrape = timed(&http, &format!("{on}/metrics"), secret, 200).await?;
    let med = |v: &[(f64, f64, usize)], f: fn(&(f64, f64, usize)) -> f64| {
        let mut x: Vec<f64> = v.iter().map(f).collect();
        pct(&mut x, 0.5)
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "notification_latency_ms": { "p50": p50, "p99": p99, "events": 200, "channel": "webhook (loopback)" },
            "outbox_burst": { "events": events, "commit_s": committed.as_secs_f64(), "all_delivered_s": burst.as_secs_f64(),
                              "events_per_s": events as f64 / burst.as_secs_f64() },
            "metrics_scrape_ms": { "p50": scrape.0, "p99": scrape.1, "bytes": scrape.2 },
            "signals_ms_metrics_on": { "p50": med(&runs_on, |r| r.0), "p99": med(&runs_on, |r| r.1), "bytes": runs_on[0].2 },
            "signals_ms_metrics_off": { "p50": med(&runs_off, |r| r.0), "p99": med(&runs_off, |r| r.1), "bytes": runs_off[0].2 },
        }))?
    );
    drop(pool);
    let admin_pool = server::db::connect(&admin, 2).await?;
    let db = url.rsplit('/').next().unwrap_or_default().to_owned();
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"))
        .execute(&admin_pool)
        .await?;
    Ok(())
}
