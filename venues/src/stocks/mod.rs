//! US stock data providers: Alpaca market data, Finnhub and Yahoo's chart
//! endpoint, each behind [`Exchange`], and the [`Chain`] that asks them in
//! order (default Alpaca → Finnhub → Yahoo): a provider that fails,
//! rate-limits or lacks the symbol hands the request to the next, and each
//! page says who answered.
//!
//! Our symbols are `TICKER/USD`; daily bars are keyed by the session's date
//! at 00:00 UTC whatever the provider stamps them with (Alpaca: midnight New
//! York, Yahoo: the 09:30 open, Finnhub: midnight UTC). Bars are stored
//! adjusted for splits and dividends where the provider can (research wants
//! total-return prices), with the raw close kept beside them for display.

pub mod alpaca;
pub mod finnhub;
pub(crate) mod http;
pub mod mock;
pub mod quote;
pub mod yahoo;

use crate::rate::RateBudget;
use crate::{Exchange, ExchangeError, Page};
use engine::calendar::Calendar;
use engine::{Candle, Market, Symbol, TimeMs, Timeframe};
use serde::Deserialize;
use std::fmt;
use std::sync::Arc;

pub use alpaca::Alpaca;
pub use finnhub::Finnhub;
pub use yahoo::Yahoo;

const DAY_MS: i64 = 86_400_000;

/// The exchange name stock series are stored under, whoever supplied them
/// (the provider is recorded per range).
pub const EXCHANGE: &str = "stocks";

/// Timeframes at least one provider serves on our UTC grid.
pub fn supports(tf: Timeframe) -> bool {
    alpaca::timeframe(tf).is_some()
        || finnhub::resolution(tf).is_some()
        || yahoo::interval(tf).is_some()
}

/// Points every provider at one base URL (the mock serves all three).
pub fn with_base(mut cfg: StocksConfig, base: &str) -> StocksConfig {
    for p in [&mut cfg.alpaca, &mut cfg.finnhub, &mut cfg.yahoo] {
        p.base_url = base.to_owned();
    }
    cfg
}

/// Endpoint, credentials and published limits of one provider.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub base_url: String,
    /// Alpaca's key id; Finnhub's token. From the environment when unset.
    #[serde(default)]
    pub key: Option<String>,
    /// Alpaca's secret key.
    #[serde(default)]
    pub secret: Option<String>,
    /// Requests per minute (the provider's published limit); 0: no limit.
    pub requests_per_min: u32,
    pub max_retries: u32,
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    pub request_timeout_ms: u64,
    /// A 429 asking for a longer wait hands the request to the next provider.
    pub max_wait_ms: u64,
    /// Alpaca's feed: `iex` (free) or `sip`.
    #[serde(default)]
    pub feed: Option<String>,
}

// Credentials never print.
impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("base_url", &self.base_url)
            .field("key", &self.key.as_ref().map(|_| "<set>"))
            .field("secret", &self.secret.as_ref().map(|_| "<set>"))
            .field("requests_per_min", &self.requests_per_min)
            .field("feed", &self.feed)
            .finish_non_exhaustive()
    }
}

impl ProviderConfig {
    pub(crate) fn defaults(base_url: &str, requests_per_min: u32) -> Self {
        ProviderConfig {
            base_url: base_url.into(),
            key: None,
            secret: None,
            requests_per_min,
            max_retries: 3,
            backoff_base_ms: 250,
            backoff_max_ms: 8_000,
            request_timeout_ms: 15_000,
            max_wait_ms: 2_000,
            feed: None,
        }
    }

    /// Alpaca market data: 200 requests/min on the free plan, IEX feed.
    pub fn alpaca() -> Self {
        ProviderConfig {
            feed: Some("iex".into()),
            ..Self::defaults("https://data.alpaca.markets", 200)
        }
    }

    /// Finnhub: 60 calls/min on the free plan.
    pub fn finnhub() -> Self {
        Self::defaults("https://finnhub.io/api/v1", 60)
    }

    /// Yahoo publishes no limit; about one request a second stays clear of its 429s.
    pub fn yahoo() -> Self {
        Self::defaults("https://query1.finance.yahoo.com", 60)
    }

    /// A budget for this provider's limit.
    pub fn budget(&self) -> Arc<RateBudget> {
        Arc::new(RateBudget::new(self.requests_per_min))
    }
}

/// The ticker of `AAPL/USD`.
pub fn ticker(symbol: &Symbol) -> &str {
    symbol.base()
}

/// Only US-dollar tickers are stocks here.
fn check_symbol(venue: &str, symbol: &Symbol) -> Result<(), ExchangeError> {
    if symbol.quote() == "USD" {
        Ok(())
    } else {
        Err(ExchangeError::NoData {
            venue: venue.into(),
            symbol: symbol.to_string(),
            message: "US stocks are quoted in USD (TICKER/USD)".into(),
        })
    }
}

/// The storage key of a daily bar a provider stamped at `t`: its session
/// date at 00:00 UTC. A stamp at UTC midnight is already that; any other
/// (New York midnight, the 09:30 open) is read in New York.
pub fn daily_key(t: TimeMs) -> TimeMs {
    if t.rem_euclid(DAY_MS) == 0 {
        return t;
    }
    let date = Calendar::Xnys.local_date(t);
    date.and_hms_opt(0, 0, 0)
        .map_or(t, |d| d.and_utc().timestamp_millis())
}

/// Keeps closed bars of `[start, end)` on the grid; daily stamps are re-keyed.
fn settle(bars: Vec<Candle>, tf: Timeframe, start: TimeMs, end: TimeMs) -> Vec<Candle> {
    settle_with(bars.into_iter().map(|c| (c, ())).collect(), tf, start, end)
        .into_iter()
        .map(|(c, ())| c)
        .collect()
}

/// [`settle`] for bars that carry something along (Yahoo's raw closes).
fn settle_with<T>(
    mut bars: Vec<(Candle, T)>,
    tf: Timeframe,
    start: TimeMs,
    end: TimeMs,
) -> Vec<(Candle, T)> {
    let daily = tf.duration_ms() >= DAY_MS;
    let now = crate::now_ms();
    for (b, _) in &mut bars {
        if daily {
            b.open_time = daily_key(b.open_time);
        }
    }
    bars.retain(|(c, _)| {
        c.open_time >= start
            && c.open_time < end
            && tf.is_aligned(c.open_time)
            && c.open_time + tf.duration_ms() <= now
            && [c.open, c.high, c.low, c.close, c.volume]
                .iter()
                .all(|v| v.is_finite())
    });
    bars.sort_by_key(|(c, _)| c.open_time);
    bars.dedup_by_key(|(c, _)| c.open_time);
    bars
}

/// One member of a provider chain.
#[derive(Debug, Clone)]
pub enum Provider {
    Alpaca(Alpaca),
    Finnhub(Finnhub),
    Yahoo(Yahoo),
}

impl Provider {
    pub fn name(&self) -> &'static str {
        match self {
            Provider::Alpaca(_) => alpaca::VENUE,
            Provider::Finnhub(_) => finnhub::VENUE,
            Provider::Yahoo(_) => yahoo::VENUE,
        }
    }

    async fn fetch(
        &self,
        symbol: &Symbol,
        tf: Timeframe,
        start: TimeMs,
        end: TimeMs,
    ) -> Result<Page, ExchangeError> {
        match self {
            Provider::Alpaca(p) => p.fetch_klines(symbol, tf, start, end).await,
            Provider::Finnhub(p) => p.fetch_klines(symbol, tf, start, end).await,
            Provider::Yahoo(p) => p.fetch_klines(symbol, tf, start, end).await,
        }
    }
}

/// Names of the providers a chain can hold, for config (`alpaca`, `finnhub`, `yahoo`).
pub const PROVIDERS: [&str; 3] = [alpaca::VENUE, finnhub::VENUE, yahoo::VENUE];

/// What one member did with a request, for the chain's error and the logs.
#[derive(Debug, Clone, PartialEq)]
pub struct Handover {
    pub provider: &'static str,
    pub why: String,
}

/// Providers asked in order. Stored under one exchange name (`stocks`): the
/// series is the ticker's, the provider is recorded per range.
#[derive(Debug, Clone)]
pub struct Chain {
    name: String,
    members: Vec<Provider>,
    /// Answers kept for a while: a page asked again (a second backfill, a
    /// research load) within the TTL costs no request.
    pages: Option<moka::sync::Cache<(String, i64, TimeMs, TimeMs), Page>>,
    /// Handovers of the last requests (newest last), for reports and tests.
    log: Arc<std::sync::Mutex<Vec<Handover>>>,
}

impl Chain {
    pub fn new(name: &str, members: Vec<Provider>) -> Self {
        Chain {
            name: name.into(),
            members,
            pages: None,
            log: Arc::default(),
        }
    }

    /// Keeps pages with bars for `ttl` (weighed by bars, a million at most).
    pub fn with_page_cache(mut self, ttl: std::time::Duration) -> Self {
        self.pages = (!ttl.is_zero()).then(|| {
            moka::sync::Cache::builder()
                .time_to_live(ttl)
                .weigher(|_, p: &Page| u32::try_from(p.candles.len()).unwrap_or(u32::MAX).max(1))
                .max_capacity(1_000_000)
                .build()
        });
        self
    }

    pub fn providers(&self) -> &[Provider] {
        &self.members
    }

    pub fn members(&self) -> Vec<&'static str> {
        self.members.iter().map(Provider::name).collect()
    }

    /// Handovers since the chain was made (a bounded log: the newest 1000).
    pub fn handovers(&self) -> Vec<Handover> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn note(&self, provider: &'static str, why: String) {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        if log.len() >= 1000 {
            log.remove(0);
        }
        log.push(Handover { provider, why });
    }
}

impl Exchange for Chain {
    fn venue(&self) -> &str {
        &self.name
    }

    fn market(&self) -> Market {
        Market::Spot
    }

    fn page_limit(&self) -> u32 {
        alpaca::PAGE
    }

    /// Asks each member in turn. An answer with no bars where the calendar
    /// expects some counts as "lacks the symbol" and goes on to the next
    /// member. When nobody has bars, an empty answer that says where to go
    /// on (a window before the listing) stands; else the error names the
    /// ticker and every member's answer.
    async fn fetch_klines(
        &self,
        symbol: &Symbol,
        tf: Timeframe,
        start: TimeMs,
        end: TimeMs,
    ) -> Result<Page, ExchangeError> {
        let key = (symbol.to_string(), tf.duration_ms(), start, end);
        if let Some(p) = self.pages.as_ref().and_then(|c| c.get(&key)) {
            return Ok(p);
        }
        let expects = Calendar::Xnys.expected_slots(tf, tf.floor(start), end) > 0;
        let mut empty: Option<Page> = None;
        let mut answers = Vec::new();
        let mut rate_limited: Option<u64> = None;
        let mut only_missing = true;
        for m in &self.members {
            let why = match m.fetch(symbol, tf, start, end).await {
                Ok(page) if page.candles.is_empty() && expects => {
                    let why = "no bars in a range with sessions".to_owned();
                    if page.next.is_some() && empty.as_ref().is_none_or(|e| e.next.is_none()) {
                        empty = Some(page);
                    }
                    why
                }
                Ok(page) => {
                    if let Some(c) = &self.pages
                        && !page.candles.is_empty()
                    {
                        c.insert(key, page.clone());
                    }
                    return Ok(page);
                }
                Err(e) => {
                    match &e {
                        ExchangeError::NoData { .. } => {}
                        ExchangeError::RateLimited { retry_after_ms, .. } => {
                            rate_limited = Some(
                                rate_limited.map_or(*retry_after_ms, |r| r.min(*retry_after_ms)),
                            );
                        }
                        _ => only_missing = false,
                    }
                    e.to_string()
                }
            };
            tracing::info!(provider = m.name(), %symbol, why = %why, "stock provider handed over");
            self.note(m.name(), why.clone());
            answers.push(format!("{}: {why}", m.name()));
        }
        if let Some(page) = empty {
            return Ok(page);
        }
        let all = if answers.is_empty() {
            "the chain has no providers".to_owned()
        } else {
            answers.join("; ")
        };
        if only_missing {
            return Err(match rate_limited {
                Some(ms) => ExchangeError::RateLimited {
                    venue: self.name.clone(),
                    symbol: symbol.to_string(),
                    retry_after_ms: ms,
                },
                None => ExchangeError::NoData {
                    venue: self.name.clone(),
                    symbol: symbol.to_string(),
                    message: all,
                },
            });
        }
        Err(ExchangeError::Exhausted {
            venue: self.name.clone(),
            symbol: symbol.to_string(),
            attempts: answers.len() as u32,
            last: all,
        })
    }
}

/// Settings of the stock chain: `[stocks]` in the config file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StocksConfig {
    /// Providers in the order they are asked.
    pub chain: Vec<String>,
    pub alpaca: ProviderConfig,
    pub finnhub: ProviderConfig,
    pub yahoo: ProviderConfig,
    /// Latest prices are served from a cache this young.
    pub quote_ttl_s: u64,
    /// Provider pages of history are kept this long (0: not at all).
    pub history_ttl_s: u64,
    /// Requests in flight at most when collecting a universe's prices.
    pub concurrency: usize,
}

impl Default for StocksConfig {
    fn default() -> Self {
        StocksConfig {
            chain: PROVIDERS.iter().map(|s| s.to_string()).collect(),
            alpaca: ProviderConfig::alpaca(),
            finnhub: ProviderConfig::finnhub(),
            yahoo: ProviderConfig::yahoo(),
            quote_ttl_s: 15,
            history_ttl_s: 7200,
            concurrency: 20,
        }
    }
}

impl StocksConfig {
    /// Fills credentials from the environment where the file has none:
    /// `APCA_API_KEY_ID`/`APCA_API_SECRET_KEY` (Alpaca's own names) and
    /// `FINNHUB_API_KEY`.
    pub fn with_env(mut self) -> Self {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        if self.alpaca.key.is_none() {
            self.alpaca.key = env("APCA_API_KEY_ID");
        }
        if self.alpaca.secret.is_none() {
            self.alpaca.secret = env("APCA_API_SECRET_KEY");
        }
        if self.finnhub.key.is_none() {
            self.finnhub.key = env("FINNHUB_API_KEY");
        }
        self
    }

    /// Checks the chain's names.
    pub fn validate(&self) -> Result<(), String> {
        for p in &self.chain {
            if !PROVIDERS.contains(&p.as_str()) {
                return Err(format!(
                    "[stocks] chain: unknown provider {p:?} (expected {})",
                    PROVIDERS.join(", ")
                ));
            }
        }
        if self.chain.is_empty() {
            return Err("[stocks] chain: name at least one provider".into());
        }
        Ok(())
    }

    /// The chain as configured; a provider without credentials is left out
    /// (and said so in the returned notes), Yahoo needs none.
    pub fn build(&self) -> Result<(Chain, Vec<String>), String> {
        self.validate()?;
        let mut members = Vec::new();
        let mut notes = Vec::new();
        let http_err = |e: reqwest::Error| format!("building the HTTP client: {e}");
        for name in &self.chain {
            match name.as_str() {
                alpaca::VENUE => match Alpaca::new(&self.alpaca, self.alpaca.budget()) {
                    Ok(Some(a)) => members.push(Provider::Alpaca(a)),
                    Ok(None) => notes.push(
                        "alpaca left out: no key (APCA_API_KEY_ID and APCA_API_SECRET_KEY)".into(),
                    ),
                    Err(e) => return Err(http_err(e)),
                },
                finnhub::VENUE => match Finnhub::new(&self.finnhub, self.finnhub.budget()) {
                    Ok(Some(f)) => members.push(Provider::Finnhub(f)),
                    Ok(None) => notes.push("finnhub left out: no token (FINNHUB_API_KEY)".into()),
                    Err(e) => return Err(http_err(e)),
                },
                _ => members.push(Provider::Yahoo(
                    Yahoo::new(&self.yahoo, self.yahoo.budget()).map_err(http_err)?,
                )),
            }
        }
        if members.is_empty() {
            return Err(format!(
                "[stocks] chain: no provider can be used ({})",
                notes.join("; ")
            ));
        }
        Ok((
            Chain::new(EXCHANGE, members)
                .with_page_cache(std::time::Duration::from_secs(self.history_ttl_s)),
            notes,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily_stamps_are_keyed_by_session_date() {
        // 2024-01-02: Alpaca's 05:00Z (midnight EST), Yahoo's 14:30Z (the open), Finnhub's 00:00Z.
        let key = 1_704_153_600_000;
        assert_eq!(daily_key(1_704_171_600_000), key);
        assert_eq!(daily_key(1_704_205_800_000), key);
        assert_eq!(daily_key(key), key);
        // Summer: 04:00Z is midnight EDT.
        assert_eq!(daily_key(1_719_892_800_000), 1_719_878_400_000);
    }

    #[test]
    fn config_debug_hides_credentials_and_chain_names_are_checked() {
        let mut c = StocksConfig::default();
        c.alpaca.key = Some("AKXXXXSECRETKEY".into());
        c.alpaca.secret = Some("very-secret".into());
        let d = format!("{c:?}");
        assert!(
            !d.contains("AKXXXXSECRETKEY") && !d.contains("very-secret"),
            "{d}"
        );
        c.chain = vec!["alpaca".into(), "bloomberg".into()];
        assert!(c.validate().unwrap_err().contains("bloomberg"));
        c.chain = vec!["alpaca".into(), "yahoo".into()];
        c.alpaca.key = None;
        let (chain, notes) = c.build().unwrap();
        assert_eq!(chain.members(), vec!["yahoo"]);
        assert!(notes[0].contains("alpaca left out"), "{notes:?}");
    }
}
