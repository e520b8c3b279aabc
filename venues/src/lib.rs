//! Venue adapters: the I/O between TraderAI and the outside markets, one
//! folder per venue, each with the mock server that speaks its protocol.
//! Each venue implements [`Exchange`]; backfill only sees the trait.
//! Binance spot and USDⓈ-M futures come first. No quant or trading rules
//! live here: those are `engine`'s and `trading`'s.

pub mod binance;
pub mod config;
pub mod rate;

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

/// A source of historical klines.
pub trait Exchange: Send + Sync {
    /// Venue name as stored (`binance`).
    fn venue(&self) -> &str;
    fn market(&self) -> Market;
    /// Most candles one request returns.
    fn page_limit(&self) -> u32;
    /// Closed candles with `start <= open_time < end`, oldest first, at most
    /// `page_limit()` of them. Retries transient failures internally.
    fn fetch_klines(
        &self,
        symbol: &Symbol,
        tf: Timeframe,
        start: TimeMs,
        end: TimeMs,
    ) -> impl Future<Output = Result<Vec<Candle>, ExchangeError>> + Send;
}

/// Now, in UTC milliseconds (the venues' clock for "is this bar closed").
pub fn now_ms() -> TimeMs {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as TimeMs)
}
