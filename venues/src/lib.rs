//! Venue adapters: the I/O between TraderAI and the outside markets, one
//! folder per venue, each with the mock server that speaks its protocol.
//! Each venue implements [`Exchange`]; backfill only sees the trait.
//! Binance spot and USDⓈ-M futures come first. No quant or trading rules
//! live here: those are `engine`'s and `trading`'s.

pub mod alpaca;
pub mod altdata;
pub mod binance;
pub mod config;
pub mod rate;
pub mod stocks;

pub use config::VenueConfig;

use engine::{Candle, Market, Symbol, TimeMs, Timeframe};
use std::future::Future;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ExchangeError {
    /// The venue refused the request itself (bad symbol, bad interval): retrying cannot help.
    #[error("{venue} rejected the request for {symbol}: {message} (HTTP {status}, code {code})")]
    Rejected {
        venue: String,
        symbol: String,
        status: u16,
        code: i64,
        message: String,
    },
    /// HTTP 418: the IP is banned for hammering after 429s. Everything stops.
    #[error("{venue} banned this IP (HTTP 418){}; stopping all requests", retry_after_s.map(|s| format!(" for {s}s")).unwrap_or_default())]
    Banned {
        venue: String,
        retry_after_s: Option<u64>,
    },
    #[error("{venue} does not offer {timeframe} klines")]
    UnsupportedTimeframe { venue: String, timeframe: Timeframe },
    /// The provider has no bars for the symbol (unknown or delisted ticker).
    #[error("{venue} has no data for {symbol}: {message}")]
    NoData {
        venue: String,
        symbol: String,
        message: String,
    },
    /// The provider asked us to wait longer than a provider chain waits for one member.
    #[error("{venue} is rate-limiting requests for {symbol} (retry after {retry_after_ms} ms)")]
    RateLimited {
        venue: String,
        symbol: String,
        retry_after_ms: u64,
    },
    /// Transient failures (5xx, timeouts, malformed bodies, 429s) exhausted the retries.
    #[error("{venue}: gave up on {symbol} after {attempts} attempts; last error: {last}")]
    Exhausted {
        venue: String,
        symbol: String,
        attempts: u32,
        last: String,
    },
}

impl ExchangeError {
    /// Whether other symbols of the same job should stop too.
    pub fn stops_everything(&self) -> bool {
        matches!(self, ExchangeError::Banned { .. })
    }
}

/// How a provider adjusted the prices of the bars it returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Adjustment {
    /// Prices as traded (crypto; nothing to adjust).
    Raw,
    /// Split-adjusted, dividends not.
    Split,
    /// Split- and dividend-adjusted: total-return prices for research.
    All,
}

impl Adjustment {
    pub fn as_str(self) -> &'static str {
        match self {
            Adjustment::Raw => "raw",
            Adjustment::Split => "split",
            Adjustment::All => "all",
        }
    }
}

/// One answer to [`Exchange::fetch_klines`].
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// Closed bars, oldest first, on the timeframe's grid.
    pub candles: Vec<Candle>,
    /// Where the next request starts; `None` when the asked range is done.
    pub next: Option<TimeMs>,
    /// Who supplied the bars (a provider chain names the member that answered).
    pub provider: String,
    pub adjustment: Adjustment,
    /// The unadjusted closes of `candles` (same order) where the provider
    /// adjusts prices and also gave them; empty otherwise.
    pub raw_close: Vec<f64>,
}

impl Page {
    /// A page of unadjusted bars; the range is done when fewer than `limit` came.
    pub fn raw(provider: &str, candles: Vec<Candle>, limit: usize, tf: Timeframe) -> Page {
        let next = (candles.len() >= limit)
            .then(|| candles.last().map(|c| c.open_time + tf.duration_ms()))
            .flatten();
        Page {
            candles,
            next,
            provider: provider.to_owned(),
            adjustment: Adjustment::Raw,
            raw_close: Vec::new(),
        }
    }
}

/// A source of historical klines.
pub trait Exchange: Send + Sync {
    /// Venue name as stored (`binance`).
    fn venue(&self) -> &str;
    fn market(&self) -> Market;
    /// Most candles one request returns.
    fn page_limit(&self) -> u32;
    /// Closed candles with `start <= open_time < end`, oldest first, at most
    /// `page_limit()` of them, and where to go on from. Retries transient
    /// failures internally.
    fn fetch_klines(
        &self,
        symbol: &Symbol,
        tf: Timeframe,
        start: TimeMs,
        end: TimeMs,
    ) -> impl Future<Output = Result<Page, ExchangeError>> + Send;
}

/// Now, in UTC milliseconds (the venues' clock for "is this bar closed").
pub fn now_ms() -> TimeMs {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as TimeMs)
}
