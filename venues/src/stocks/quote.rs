//! Latest prices: Alpaca's `/v2/stocks/{symbol}/trades/latest`, Finnhub's
//! `/quote`, Yahoo's chart `meta.regularMarketPrice`; asked along the same
//! chain as bars, cached with a TTL, collected for a universe with bounded
//! concurrency.

use super::{Chain, Provider, ticker};
use crate::ExchangeError;
use engine::{Symbol, TimeMs};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// The last traded price of a ticker, as a provider gave it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quote {
    pub symbol: String,
    pub price: f64,
    /// When the provider says the price was made (ms).
    pub time: TimeMs,
    pub provider: String,
}

#[derive(Debug, Deserialize)]
struct AlpacaLatest {
    trade: Option<AlpacaTrade>,
}

#[derive(Debug, Deserialize)]
struct AlpacaTrade {
    t: String,
    p: f64,
}

#[derive(Debug, Deserialize)]
struct FinnhubQuote {
    c: f64,
    t: i64,
}

#[derive(Debug, Deserialize)]
struct YahooChart {
    chart: YahooBody,
}

#[derive(Debug, Deserialize)]
struct YahooBody {
    result: Option<Vec<YahooResult>>,
}

#[derive(Debug, Deserialize)]
struct YahooResult {
    meta: YahooMeta,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct YahooMeta {
    regular_market_price: Option<f64>,
    regular_market_time: Option<i64>,
}

fn no_data(venue: &str, symbol: &Symbol, message: &str) -> ExchangeError {
    ExchangeError::NoData {
        venue: venue.into(),
        symbol: symbol.to_string(),
        message: message.into(),
    }
}

fn unreadable(venue: &str, symbol: &Symbol, e: impl std::fmt::Display) -> ExchangeError {
    ExchangeError::Exhausted {
        venue: venue.into(),
        symbol: symbol.to_string(),
        attempts: 1,
        last: format!("unreadable quote: {e}"),
    }
}

impl Provider {
    /// The provider's latest price of `symbol`.
    pub async fn latest(&self, symbol: &Symbol) -> Result<Quote, ExchangeError> {
        super::check_symbol(self.name(), symbol)?;
        let quote = |price: f64, time: TimeMs| Quote {
            symbol: symbol.to_string(),
            price,
            time,
            provider: self.name().into(),
        };
        match self {
            Provider::Alpaca(a) => {
                let body = a.latest_trade(symbol).await?;
                let w: AlpacaLatest =
                    serde_json::from_slice(&body).map_err(|e| unreadable("alpaca", symbol, e))?;
                let t = w
                    .trade
                    .ok_or_else(|| no_data("alpaca", symbol, "no trade"))?;
                let time = chrono::DateTime::parse_from_rfc3339(&t.t)
                    .map_err(|e| unreadable("alpaca", symbol, e))?
                    .timestamp_millis();
                Ok(quote(t.p, time))
            }
            Provider::Finnhub(f) => {
                let body = f.quote(symbol).await?;
                let w: FinnhubQuote =
                    serde_json::from_slice(&body).map_err(|e| unreadable("finnhub", symbol, e))?;
                // Finnhub answers zeros for a symbol it does not know.
                if w.t == 0 || w.c <= 0.0 {
                    return Err(no_data("finnhub", symbol, "no quote (unknown symbol)"));
                }
                Ok(quote(w.c, w.t * 1000))
            }
            Provider::Yahoo(y) => {
                let body = y.meta(symbol).await?;
                let w: YahooChart =
                    serde_json::from_slice(&body).map_err(|e| unreadable("yahoo", symbol, e))?;
                let m = w
                    .chart
                    .result
                    .and_then(|r| r.into_iter().next())
                    .map(|r| r.meta)
                    .ok_or_else(|| no_data("yahoo", symbol, "no chart"))?;
                match (m.regular_market_price, m.regular_market_time) {
                    (Some(p), Some(t)) if p > 0.0 => Ok(quote(p, t * 1000)),
                    _ => Err(no_data("yahoo", symbol, "no regular market price")),
                }
            }
        }
    }
}

impl Chain {
    /// The first member's latest price; every member's answer when none has one.
    pub async fn latest(&self, symbol: &Symbol) -> Result<Quote, ExchangeError> {
        let mut answers = Vec::new();
        let mut only_missing = true;
        for m in self.providers() {
            match m.latest(symbol).await {
                Ok(q) => return Ok(q),
                Err(e) => {
                    only_missing &= matches!(e, ExchangeError::NoData { .. });
                    answers.push(format!("{}: {e}", m.name()));
                }
            }
        }
        let all = answers.join("; ");
        Err(if only_missing {
            no_data(super::EXCHANGE, symbol, &all)
        } else {
            ExchangeError::Exhausted {
                venue: super::EXCHANGE.into(),
                symbol: symbol.to_string(),
                attempts: answers.len() as u32,
                last: all,
            }
        })
    }
}

/// A price or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Priced {
    pub symbol: String,
    pub quote: Option<Quote>,
    /// Served from the cache (younger than the TTL).
    pub cached: bool,
    pub error: Option<String>,
}

/// Latest prices through a chain, cached for `ttl`.
#[derive(Debug, Clone)]
pub struct QuoteCache {
    chain: Chain,
    cache: moka::sync::Cache<String, Quote>,
    concurrency: usize,
}

impl QuoteCache {
    pub fn new(chain: Chain, ttl: Duration, concurrency: usize) -> Self {
        QuoteCache {
            chain,
            cache: moka::sync::Cache::builder()
                .time_to_live(ttl)
                .max_capacity(10_000)
                .build(),
            concurrency: concurrency.max(1),
        }
    }

    /// Prices of `symbols`, in order: cached ones at once, the rest asked
    /// with at most `concurrency` requests in flight. Also returns how long
    /// the whole collection took.
    pub async fn prices(&self, symbols: &[Symbol]) -> (Vec<Priced>, Duration) {
        let started = Instant::now();
        let out: Vec<Priced> = futures::stream::iter(symbols.iter().cloned())
            .map(|s| async move {
                let key = ticker(&s).to_owned();
                if let Some(q) = self.cache.get(&key) {
                    return Priced {
                        symbol: s.to_string(),
                        quote: Some(q),
                        cached: true,
                        error: None,
                    };
                }
                match self.chain.latest(&s).await {
                    Ok(q) => {
                        self.cache.insert(key, q.clone());
                        Priced {
                            symbol: s.to_string(),
                            quote: Some(q),
                            cached: false,
                            error: None,
                        }
                    }
                    Err(e) => Priced {
                        symbol: s.to_string(),
                        quote: None,
                        cached: false,
                        error: Some(e.to_string()),
                    },
                }
            })
            .buffered(self.concurrency)
            .collect()
            .await;
        (out, started.elapsed())
    }
}
