//! How long pricing and fetching the 62-ticker universe takes through the
//! provider chain, against the local mock with a chosen round-trip latency
//! (default 80 ms; no real provider is reached). Prints a Markdown table.
//!
//!     cargo run --release -p venues --example stock_refresh -- [latency_ms]

use engine::{Candle, Symbol, Timeframe};
use futures::StreamExt;
use std::time::{Duration, Instant};
use venues::Exchange;
use venues::stocks::mock::MockStocks;
use venues::stocks::quote::QuoteCache;
use venues::stocks::{Alpaca, Chain, Provider, ProviderConfig};

const TICKERS: &str = "AAPL MSFT GOOGL AMZN NVDA META TSLA GOOG NFLX AMD JPM BAC WFC GS MS BLK SCHW COIN V MA AXP UNH JNJ LLY MRK PFE ABBV TMO AMGN CVX XOM COP MPC PSX VLO HES SLB MCD SBUX NKE LULU WMT KO PEP HD SPY QQQ IWM EEM XLK XLV XLF XLE AVGO ORCL INTC CRM ADBE IBM CSCO QCOM TXN";

fn nvda() -> Vec<Candle> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../data/nvda-1d-yahoo.csv"
    ))
    .expect("data/nvda-1d-yahoo.csv");
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let t = chrono::NaiveDate::parse_from_str(f[0], "%Y-%m-%d").ok()?;
            let n = |i: usize| f[i].parse::<f64>().ok();
            Some(Candle {
                open_time: t.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis(),
                open: n(5)?,
                high: n(3)?,
                low: n(4)?,
                close: n(2)?,
                volume: n(6)?,
            })
        })
        .collect()
}

#[tokio::main]
async fn main() {
    let latency: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(80);
    let mock = MockStocks::new("AK", "SK", "FH");
    let bars = nvda();
    let year: Vec<Candle> = bars.iter().rev().take(252).rev().copied().collect();
    let symbols: Vec<Symbol> = TICKERS
        .split_whitespace()
        .map(|t| {
            mock.list(t, year.clone(), 1.0);
            Symbol::parse(&format!("{t}/USD")).unwrap()
        })
        .collect();
    mock.set_latency(Duration::from_millis(latency));
    let (addr, _) = mock.spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let cfg = ProviderConfig {
        base_url: format!("http://{addr}"),
        key: Some("AK".into()),
        secret: Some("SK".into()),
        requests_per_min: 0,
        ..ProviderConfig::alpaca()
    };
    let chain = || {
        Chain::new(
            "stocks",
            vec![Provider::Alpaca(
                Alpaca::new(&cfg, cfg.budget()).unwrap().unwrap(),
            )],
        )
    };
    println!(
        "| what ({} tickers, {latency} ms per request) | concurrency | wall time |",
        symbols.len()
    );
    println!("|---|---|---|");
    for c in [1usize, 5, 20] {
        let cache = QuoteCache::new(chain(), Duration::from_secs(60), c);
        let (rows, took) = cache.prices(&symbols).await;
        assert!(rows.iter().all(|r| r.quote.is_some()));
        println!(
            "| latest prices, cold cache | {c} | {:.2} s |",
            took.as_secs_f64()
        );
        if c == 20 {
            let (_, warm) = cache.prices(&symbols).await;
            println!(
                "| latest prices, warm cache | {c} | {:.3} ms |",
                warm.as_secs_f64() * 1000.0
            );
        }
    }
    let (from, to) = (
        year[0].open_time,
        year.last().unwrap().open_time + 86_400_000,
    );
    for c in [1usize, 20] {
        let ch = chain();
        let started = Instant::now();
        let n: usize = futures::stream::iter(symbols.iter())
            .map(|s| {
                let ch = &ch;
                async move {
                    ch.fetch_klines(s, Timeframe::D1, from, to)
                        .await
                        .unwrap()
                        .candles
                        .len()
                }
            })
            .buffer_unordered(c)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .sum();
        println!(
            "| a year of daily bars (adjusted + raw: 2 requests each, {n} bars) | {c} | {:.2} s |",
            started.elapsed().as_secs_f64()
        );
    }
}
