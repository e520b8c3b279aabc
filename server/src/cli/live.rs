//! Live commands: following the universe, a scan now, and the local mock
//! exchange (with its replay clock).

use super::serve::shutdown_signal;
use super::{Cli, connect, print_json};
use crate::config::Settings;
use crate::import::{self, layout::ColumnOverrides};
use crate::signals::Scanner;
use anyhow::Context;
use clap::Args;
use engine::{Symbol, Timeframe};
use models::backend::Backend;
use std::net::SocketAddr;
use venues::binance::mock::{MockConfig, MockExchange};

#[derive(Debug, Args)]
pub struct ScanArgs {
    #[arg(long, value_parser = super::models::parse_backend, default_value_t = Backend::preferred())]
    pub backend: Backend,
}

/// `traderai scan`: one scan now.
pub(super) async fn scan_cmd(cli: &Cli, settings: &Settings, a: &ScanArgs) -> anyhow::Result<()> {
    let pool = connect(cli).await?;
    let Some(sum) = Scanner::new(pool, a.backend)
        .with_gates(&settings.signals)
        .scan()
        .await?
    else {
        anyhow::bail!("another scan is running (a worker's); try again in a moment");
    };
    if cli.json {
        return print_json(&sum);
    }
    println!(
        "scanned {} series: {} new candidates, {} up to date",
        sum.series, sum.new, sum.up_to_date
    );
    for s in &sum.skipped {
        println!("  skipped {}: {}", s.series, s.reason);
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct MockArgs {
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: SocketAddr,
    /// Serve FILE as SYMBOL at TIMEFRAME: data/btc-usd-15m-yahoo.csv=BTC/USDT@15m
    #[arg(long = "serve")]
    pub series: Vec<String>,
    /// Weight per minute before 429s (0 = unlimited).
    #[arg(long, default_value_t = 0)]
    pub weight_limit: u32,
    /// Added latency per request, in ms.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Replay FILE as SYMBOL at TIMEFRAME on the mock's clock, publishing
    /// each bar on the kline stream as it closes (repeatable; implies a replay clock).
    #[arg(long = "replay")]
    pub replay: Vec<String>,
    /// How fast the replay clock runs: 300x plays a 15m bar every 3 s.
    #[arg(long, default_value = "60x", value_parser = trading::clock::parse_speed)]
    pub speed: f64,
    /// Replay clock start (ISO time or epoch ms); default: 60 % into the first replayed file.
    #[arg(long, value_parser = crate::time::parse_instant)]
    pub from: Option<i64>,
}

#[derive(Debug, Args)]
pub struct FollowArgs {
    /// Follow this REST base instead of the configured venue (a mock, a testnet);
    /// its kline streams are expected on the same host.
    #[arg(long)]
    pub base_url: Option<String>,
    /// Take the clock from the mock's replay (GET /mock/clock on --base-url).
    #[arg(long, requires = "base_url")]
    pub replay_clock: bool,
    /// Store under this exchange name instead of the venue's.
    #[arg(long)]
    pub exchange: Option<String>,
}

/// `traderai follow`: the follower and the scanner in the foreground.
pub(super) async fn follow_cmd(
    cli: &Cli,
    settings: &crate::config::Settings,
    a: &FollowArgs,
) -> anyhow::Result<()> {
    // A bad [follow] is reported in full before anything connects.
    crate::follow::universe_for(&settings.follow, a.exchange.as_deref())?;
    let pool = connect(cli).await?;
    let clock: std::sync::Arc<dyn trading::clock::Clock> = match (&a.base_url, a.replay_clock) {
        (Some(url), true) => std::sync::Arc::new(crate::live::mock_clock(url).await?),
        _ => std::sync::Arc::new(trading::clock::SystemClock),
    };
    let source = crate::follow::Source {
        base_url: a.base_url.clone(),
        ws_url: None,
        clock,
        demo: a.replay_clock,
        exchange: a.exchange.clone(),
    };
    // The universe in force: an admin's edit applies here as in `serve`.
    let (follow, _) =
        crate::follow::effective(&pool, &settings.follow, source.exchange.is_none()).await;
    let universe = crate::follow::universe_for(&follow, source.exchange.as_deref())?;
    if !cli.json {
        println!(
            "following {} ({} series); Ctrl-C stops",
            universe.name,
            universe.series.len()
        );
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let scan = tokio::spawn(crate::signals::scan_on_closes(
        Scanner::new(pool.clone(), models::backend::Backend::preferred())
            .with_gates(&settings.signals),
        stop_rx.clone(),
    ));
    let lock = crate::db::follow::try_follow_lock(&pool, &universe.name)
        .await?
        .with_context(|| format!("another process follows {}; stop it first", universe.name))?;
    let follower = crate::follow::Follower::new(pool.clone(), settings, follow, source).await?;
    let run = tokio::spawn(follower.run(stop_rx));
    shutdown_signal().await;
    let _ = stop_tx.send(true);
    let r = run.await?;
    let _ = scan.await;
    drop(lock);
    r
}

fn parse_spec(spec: &str) -> anyhow::Result<(Vec<engine::Candle>, Symbol, Timeframe)> {
    let (file, rest) = spec
        .split_once('=')
        .with_context(|| format!("{spec:?}: expected FILE=SYMBOL@TIMEFRAME"))?;
    let (sym, tf) = rest
        .split_once('@')
        .with_context(|| format!("{spec:?}: expected FILE=SYMBOL@TIMEFRAME"))?;
    let (sym, tf) = (Symbol::parse(sym)?, Timeframe::parse(tf)?);
    let (parsed, _) = import::parse_file(
        std::path::Path::new(file),
        tf,
        None,
        &ColumnOverrides::default(),
        true,
    )
    .with_context(|| format!("{spec:?}"))?;
    Ok((parsed.candles, sym, tf))
}

pub(super) async fn mock_cmd(cli: &Cli, a: &MockArgs) -> anyhow::Result<()> {
    let replays = a
        .replay
        .iter()
        .map(|s| parse_spec(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let clock: std::sync::Arc<dyn trading::clock::Clock> = match replays.first() {
        Some((candles, _, _)) => {
            let origin = match a.from {
                Some(t) => t,
                None => candles
                    .get(candles.len() * 3 / 5)
                    .map(|c| c.open_time)
                    .context("the replayed file holds no bars")?,
            };
            std::sync::Arc::new(
                trading::clock::ReplayClock::new(origin, a.speed).map_err(anyhow::Error::msg)?,
            )
        }
        None => std::sync::Arc::new(trading::clock::SystemClock),
    };
    let mut mock = MockExchange::new(MockConfig {
        weight_limit_per_min: a.weight_limit,
        latency: std::time::Duration::from_millis(a.latency_ms),
        clock: clock.clone(),
        ..Default::default()
    });
    for (candles, sym, tf) in replays {
        mock = mock.with_series(&sym, tf, candles);
    }
    for spec in &a.series {
        let (candles, sym, tf) = parse_spec(spec).with_context(|| format!("--serve {spec:?}"))?;
        mock = mock.with_series(&sym, tf, candles);
    }
    let (addr, handle) = mock.spawn(a.addr).await?;
    if cli.json {
        print_json(
            &serde_json::json!({ "url": format!("http://{addr}"), "clock_ms": clock.now_ms(), "speed": clock.speed() }),
        )?;
    } else {
        println!("mock binance on http://{addr} (streams at ws://{addr}/stream)");
        if !a.replay.is_empty() {
            println!(
                "replaying from {} at {}x",
                crate::time::iso(clock.now_ms()),
                clock.speed()
            );
        }
    }
    use std::io::Write;
    std::io::stdout().flush()?;
    tokio::select! { _ = handle => {}, _ = shutdown_signal() => {} }
    Ok(())
}
