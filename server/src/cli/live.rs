//! Live commands: a scan now, and the local mock exchange.

use super::serve::shutdown_signal;
use super::{Cli, connect, print_json};
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
pub(super) async fn scan_cmd(cli: &Cli, a: &ScanArgs) -> anyhow::Result<()> {
    let pool = connect(cli).await?;
    let Some(sum) = Scanner::new(pool, a.backend).scan().await? else {
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
}

pub(super) async fn mock_cmd(cli: &Cli, a: &MockArgs) -> anyhow::Result<()> {
    let mut mock = MockExchange::new(MockConfig {
        weight_limit_per_min: a.weight_limit,
        latency: std::time::Duration::from_millis(a.latency_ms),
        ..Default::default()
    });
    for spec in &a.series {
        let (file, rest) = spec
            .split_once('=')
            .with_context(|| format!("--serve {spec:?}: expected FILE=SYMBOL@TIMEFRAME"))?;
        let (sym, tf) = rest
            .split_once('@')
            .with_context(|| format!("--serve {spec:?}: expected FILE=SYMBOL@TIMEFRAME"))?;
        let (sym, tf) = (Symbol::parse(sym)?, Timeframe::parse(tf)?);
        let (parsed, _) = import::parse_file(
            std::path::Path::new(file),
            tf,
            None,
            &ColumnOverrides::default(),
            true,
        )?;
        mock = mock.with_series(&sym, tf, parsed.candles);
    }
    let (addr, handle) = mock.spawn(a.addr).await?;
    if cli.json {
        print_json(&serde_json::json!({ "url": format!("http://{addr}") }))?;
    } else {
        println!("mock binance on http://{addr}");
    }
    use std::io::Write;
    std::io::stdout().flush()?;
    tokio::select! { _ = handle => {}, _ = shutdown_signal() => {} }
    Ok(())
}
