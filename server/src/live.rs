//! The live loop's background tasks, as `serve` and `worker` run them: the
//! follower of the configured universe (or, offline, of the demo replay)
//! and the scanner at every bar close, each in a task of its own.

use crate::config::Settings;
use crate::follow::{self, DemoMode, FollowSettings, Source};
use crate::import::{self, layout::ColumnOverrides};
use anyhow::Context;
use engine::{Market, Symbol, Timeframe};
use sqlx::PgPool;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use trading::clock::{Clock, ReplayClock, SystemClock};
use venues::binance::mock::{MockConfig, MockExchange};

/// The bundled file the demo replays, and what it plays as.
pub const DEMO_FILE: &str = "btc-usd-15m-yahoo.csv";
/// The demo's exchange name: its bars are Yahoo's BTC-USD, not a venue's.
pub const DEMO_EXCHANGE: &str = "demo";
/// Share of the bundled bars that are history when the replay starts.
const DEMO_HISTORY_SHARE: f64 = 0.6;

/// Starts the scanner, and the follower when `[follow] enabled`. With
/// `demo_data` (the bundled data folder) a server may fall back to the demo
/// replay; a worker passes `None` and only follows the venue.
pub async fn start(
    pool: &PgPool,
    settings: &Settings,
    demo_data: Option<&Path>,
    stop: &watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let mut tasks = vec![
        tokio::spawn(crate::signals::scan_on_closes(
            crate::signals::Scanner::new(pool.clone(), models::backend::Backend::preferred())
                .with_gates(&settings.signals),
            stop.clone(),
        )),
        // Paper accounts step at every close the scanner has judged.
        tokio::spawn(crate::paper::run(
            pool.clone(),
            settings.signals.clone(),
            stop.clone(),
        )),
    ];
    // The notifier: fans out and delivers what the tasks above record.
    tasks.extend(crate::notify::start(pool, settings, stop));
    let (follow, source) = match choose(pool, settings, demo_data).await {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "the replay cannot start; following the venue on the system clock");
            (settings.follow.clone(), venue_source())
        }
    };
    // The demo's universe is its own; otherwise an admin's edit applies.
    let editable = source.exchange.is_none();
    if !follow.enabled && !editable {
        tracing::info!("[follow] enabled = false: no universe is followed");
        return tasks;
    }
    tasks.push(tokio::spawn(follow::supervise(
        pool.clone(),
        settings.clone(),
        follow,
        source,
        stop.clone(),
        editable,
    )));
    tasks
}

fn venue_source() -> Source {
    Source {
        base_url: None,
        ws_url: None,
        clock: Arc::new(SystemClock),
        demo: false,
        exchange: None,
    }
}

/// The venue, or the demo when it is switched on, or (`auto`) when nothing
/// of the universe is stored yet and the venue does not answer.
async fn choose(
    pool: &PgPool,
    settings: &Settings,
    demo_data: Option<&Path>,
) -> anyhow::Result<(FollowSettings, Source)> {
    let f = &settings.follow;
    if f.replay_clock {
        return Ok((f.clone(), replay_source(settings).await?));
    }
    let Some(dir) = demo_data.filter(|_| f.enabled) else {
        return Ok((f.clone(), venue_source()));
    };
    let demo = match f.demo {
        DemoMode::On => true,
        DemoMode::Off => false,
        DemoMode::Auto => {
            let stored = crate::db::candles::list_series(pool)
                .await?
                .iter()
                .any(|s| s.key.exchange == f.venue && s.key.market == f.market && s.bars > 0);
            !stored && !reachable(settings, f.market).await
        }
    };
    if !demo {
        return Ok((f.clone(), venue_source()));
    }
    let (follow, source) = demo_replay(dir, f).await?;
    tracing::warn!(url = ?source.base_url, speed = f.demo_speed, "DEMO: the venue is not followed; replaying the bundled BTC 15m bars on a mock exchange (said so on the dashboard)");
    Ok((follow, source))
}

/// The configured venue is a replaying mock: its clock, read from `/mock/clock`
/// (a few tries: the mock may still be starting).
async fn replay_source(settings: &Settings) -> anyhow::Result<Source> {
    let base = match settings.follow.market {
        Market::Spot => &settings.binance.spot.base_url,
        Market::Futures => &settings.binance.futures.base_url,
    };
    let mut last = None;
    for _ in 0..20 {
        match mock_clock(base).await {
            Ok(clock) => {
                tracing::info!(%base, now = %crate::time::iso(clock.now_ms()), speed = clock.speed(), "following a replaying mock on its clock");
                return Ok(Source {
                    base_url: None,
                    ws_url: None,
                    clock: Arc::new(clock),
                    demo: true,
                    exchange: None,
                });
            }
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(last
        .unwrap_or_else(|| anyhow::anyhow!("no answer"))
        .context("[follow] replay_clock"))
}

/// The replay clock of the mock exchange at `base` (`GET /mock/clock`).
pub async fn mock_clock(base: &str) -> anyhow::Result<ReplayClock> {
    let url = format!("{}/mock/clock", base.trim_end_matches('/'));
    let c: serde_json::Value = reqwest::get(&url)
        .await
        .and_then(|r| r.error_for_status())
        .with_context(|| format!("{url} does not answer"))?
        .json()
        .await
        .with_context(|| format!("{url}: not JSON"))?;
    let (Some(now), Some(speed)) = (c["now_ms"].as_i64(), c["speed"].as_f64()) else {
        anyhow::bail!("{url}: expected {{now_ms, speed}}, got {c}");
    };
    ReplayClock::new(now, speed).map_err(anyhow::Error::msg)
}

async fn reachable(settings: &Settings, market: Market) -> bool {
    let (base, path) = match market {
        Market::Spot => (&settings.binance.spot.base_url, "/api/v3/ping"),
        Market::Futures => (&settings.binance.futures.base_url, "/fapi/v1/ping"),
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build();
    let ok = match client {
        Ok(c) => c
            .get(format!("{}{path}", base.trim_end_matches('/')))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success()),
        Err(_) => false,
    };
    if !ok {
        tracing::warn!(%base, "the venue does not answer");
    }
    ok
}

/// A mock exchange in this process replaying the bundled BTC 15m bars as
/// BTC/USDT, and the follow settings and source that follow it.
pub async fn demo_replay(
    dir: &Path,
    f: &FollowSettings,
) -> anyhow::Result<(FollowSettings, Source)> {
    let (parsed, _) = import::parse_file(
        &dir.join(DEMO_FILE),
        Timeframe::M15,
        None,
        &ColumnOverrides::default(),
        true,
    )?;
    let candles = parsed.candles;
    anyhow::ensure!(
        candles.len() > 100,
        "{DEMO_FILE} holds too few bars for a demo"
    );
    let origin = candles[(candles.len() as f64 * DEMO_HISTORY_SHARE) as usize].open_time;
    let clock = Arc::new(ReplayClock::new(origin, f.demo_speed).map_err(anyhow::Error::msg)?);
    let symbol = Symbol::parse("BTC/USDT")?;
    let mock = MockExchange::new(MockConfig {
        clock: clock.clone(),
        ..Default::default()
    })
    .with_series(&symbol, Timeframe::M15, candles);
    let (addr, _) = mock.spawn("127.0.0.1:0".parse()?).await?;
    let follow = FollowSettings {
        symbols: vec![symbol.to_string()],
        timeframe: "15m".into(),
        // Three months of bars: too few 1d bars for a daily trend.
        confirm: vec!["1h".into(), "4h".into()],
        // The whole bundled history is the warm-up.
        warmup_bars: 100_000,
        ..f.clone()
    };
    let source = Source {
        base_url: Some(format!("http://{addr}")),
        ws_url: None,
        clock,
        demo: true,
        exchange: Some(DEMO_EXCHANGE.into()),
    };
    Ok((follow, source))
}
