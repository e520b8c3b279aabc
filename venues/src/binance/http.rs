//! HTTP client for Binance klines with weight accounting, 429/418 handling
//! and retries with exponential backoff and full jitter.

use super::{interval, klines_path, parse};
use crate::config::VenueConfig;
use crate::rate::RateBudget;
use crate::{Exchange, ExchangeError, Page};
use engine::{Candle, Market, Symbol, TimeMs, Timeframe};
use rand::Rng;
use reqwest::StatusCode;
use std::sync::Arc;
use std::time::Duration;

pub const VENUE: &str = "binance";

#[derive(Debug, Clone)]
pub struct BinanceClient {
    http: reqwest::Client,
    market: Market,
    cfg: VenueConfig,
    budget: Arc<RateBudget>,
    limit: u32,
    weight: u32,
}

/// What one attempt came to.
enum Attempt {
    Done(Vec<Candle>),
    /// Worth trying again after a pause (5xx, timeout, bad body).
    Transient(String),
    /// 429: wait as told, then again.
    Throttled(Duration),
    Fatal(ExchangeError),
}

impl BinanceClient {
    /// `budget` is shared by every client of the same venue market so
    /// concurrent symbols stay under one limit.
    pub fn new(
        market: Market,
        cfg: VenueConfig,
        budget: Arc<RateBudget>,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(cfg.request_timeout_ms))
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("traderai/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(32)
            .build()?;
        let (limit, weight) = cfg.best_page();
        Ok(BinanceClient {
            http,
            market,
            cfg,
            budget,
            limit,
            weight,
        })
    }

    pub fn budget(&self) -> &Arc<RateBudget> {
        &self.budget
    }

    /// Request weight of one page.
    pub fn page_weight(&self) -> u32 {
        self.weight
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let cap = self
            .cfg
            .backoff_base_ms
            .saturating_mul(1 << attempt.min(20))
            .min(self.cfg.backoff_max_ms);
        Duration::from_millis(rand::rng().random_range(cap / 2..=cap.max(1)))
    }

    async fn attempt(
        &self,
        symbol: &Symbol,
        interval: &str,
        start: TimeMs,
        end: TimeMs,
    ) -> Attempt {
        let permit = self.budget.acquire(self.weight).await;
        let url = format!(
            "{}{}",
            self.cfg.base_url.trim_end_matches('/'),
            klines_path(self.market)
        );
        let req = self.http.get(&url).query(&[
            ("symbol", symbol.concatenated()),
            ("interval", interval.to_owned()),
            ("startTime", start.to_string()),
            ("endTime", (end - 1).to_string()),
            ("limit", self.limit.to_string()),
        ]);
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return Attempt::Transient(format!("request failed: {e}")),
        };
        let status = resp.status();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        if let Some(used) = header("x-mbx-used-weight-1m") {
            self.budget.observe(permit, used as u32);
        }
        let retry_after = header("retry-after");
        match status {
            StatusCode::OK => {}
            StatusCode::TOO_MANY_REQUESTS => {
                return Attempt::Throttled(Duration::from_secs(retry_after.unwrap_or(1).max(1)));
            }
            StatusCode::IM_A_TEAPOT => {
                return Attempt::Fatal(ExchangeError::Banned {
                    venue: VENUE.into(),
                    retry_after_s: retry_after,
                });
            }
            s if s.is_server_error() => return Attempt::Transient(format!("HTTP {s}")),
            s => {
                let body = resp.bytes().await.unwrap_or_default();
                let api: Option<parse::ApiError> = serde_json::from_slice(&body).ok();
                return Attempt::Fatal(ExchangeError::Rejected {
                    venue: VENUE.into(),
                    symbol: symbol.to_string(),
                    status: s.as_u16(),
                    code: api.as_ref().map_or(0, |a| a.code),
                    message: api.map_or_else(
                        || String::from_utf8_lossy(&body).chars().take(200).collect(),
                        |a| a.msg,
                    ),
                });
            }
        }
        let body = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => return Attempt::Transient(format!("reading body: {e}")),
        };
        match parse::klines(&body) {
            Ok(c) => Attempt::Done(c),
            Err(e) => Attempt::Transient(e),
        }
    }
}

impl BinanceClient {
    /// One GET with the client's weight accounting and retries; the body on 200.
    async fn get_json(
        &self,
        path: &str,
        query: &[(&str, String)],
        what: &str,
    ) -> Result<Vec<u8>, ExchangeError> {
        let mut failures = 0u32;
        loop {
            let permit = self.budget.acquire(1).await;
            let url = format!("{}{path}", self.cfg.base_url.trim_end_matches('/'));
            let resp = self.http.get(&url).query(query).send().await;
            let err = match resp {
                Ok(resp) => {
                    if let Some(used) = resp
                        .headers()
                        .get("x-mbx-used-weight-1m")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u32>().ok())
                    {
                        self.budget.observe(permit, used);
                    }
                    let status = resp.status();
                    if status == StatusCode::OK {
                        match resp.bytes().await {
                            Ok(b) => return Ok(b.to_vec()),
                            Err(e) => format!("reading body: {e}"),
                        }
                    } else if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                        format!("HTTP {status}")
                    } else {
                        let body = resp.bytes().await.unwrap_or_default();
                        let api: Option<parse::ApiError> = serde_json::from_slice(&body).ok();
                        return Err(ExchangeError::Rejected {
                            venue: VENUE.into(),
                            symbol: what.into(),
                            status: status.as_u16(),
                            code: api.as_ref().map_or(0, |a| a.code),
                            message: api.map_or_else(
                                || String::from_utf8_lossy(&body).chars().take(200).collect(),
                                |a| a.msg,
                            ),
                        });
                    }
                }
                Err(e) => format!("request failed: {e}"),
            };
            failures += 1;
            if failures > self.cfg.max_retries {
                return Err(ExchangeError::Exhausted {
                    venue: VENUE.into(),
                    symbol: what.into(),
                    attempts: failures,
                    last: err,
                });
            }
            tokio::time::sleep(self.backoff(failures - 1)).await;
        }
    }

    /// Settled funding rates of a USDⓈ-M perpetual in `[start, end)`, oldest
    /// first, at most 1000 (the endpoint's page).
    pub async fn funding_rates(
        &self,
        symbol: &Symbol,
        start: TimeMs,
        end: TimeMs,
    ) -> Result<Vec<parse::Settlement>, ExchangeError> {
        let body = self
            .get_json(
                "/fapi/v1/fundingRate",
                &[
                    ("symbol", symbol.concatenated()),
                    ("startTime", start.to_string()),
                    ("endTime", (end - 1).to_string()),
                    ("limit", "1000".into()),
                ],
                symbol.as_str(),
            )
            .await?;
        parse::funding_rates(&body).map_err(|last| ExchangeError::Exhausted {
            venue: VENUE.into(),
            symbol: symbol.to_string(),
            attempts: 1,
            last,
        })
    }

    /// The current mark price and predicted funding rate.
    pub async fn premium_index(
        &self,
        symbol: &Symbol,
    ) -> Result<parse::PremiumIndex, ExchangeError> {
        let body = self
            .get_json(
                "/fapi/v1/premiumIndex",
                &[("symbol", symbol.concatenated())],
                symbol.as_str(),
            )
            .await?;
        parse::premium_index(&body).map_err(|last| ExchangeError::Exhausted {
            venue: VENUE.into(),
            symbol: symbol.to_string(),
            attempts: 1,
            last,
        })
    }
}

impl Exchange for BinanceClient {
    fn venue(&self) -> &str {
        VENUE
    }

    fn market(&self) -> Market {
        self.market
    }

    fn page_limit(&self) -> u32 {
        self.limit
    }

    async fn fetch_klines(
        &self,
        symbol: &Symbol,
        tf: Timeframe,
        start: TimeMs,
        end: TimeMs,
    ) -> Result<Page, ExchangeError> {
        let interval = interval(tf).ok_or_else(|| ExchangeError::UnsupportedTimeframe {
            venue: VENUE.into(),
            timeframe: tf,
        })?;
        let mut failures = 0u32;
        let mut throttles = 0u32;
        loop {
            let last = match self.attempt(symbol, &interval, start, end).await {
                Attempt::Done(mut candles) => {
                    // Only closed bars inside the asked range, on the grid.
                    let now = crate::now_ms();
                    let full = candles.len() >= self.limit as usize;
                    candles.retain(|c| {
                        c.open_time >= start
                            && c.open_time < end
                            && c.open_time + tf.duration_ms() <= now
                            && tf.is_aligned(c.open_time)
                    });
                    let next = candles
                        .last()
                        .map(|c| c.open_time + tf.duration_ms())
                        .filter(|n| full && *n < end);
                    return Ok(Page {
                        next,
                        ..Page::raw(VENUE, candles, usize::MAX, tf)
                    });
                }
                Attempt::Fatal(e) => return Err(e),
                Attempt::Throttled(wait) => {
                    throttles += 1;
                    tracing::warn!(symbol = %symbol, wait_s = wait.as_secs(), "HTTP 429 from binance; pausing all requests");
                    self.budget.pause(wait);
                    // 429s are the venue pacing us, not failures, but endless ones are.
                    if throttles <= self.cfg.max_retries * 4 {
                        continue;
                    }
                    format!("HTTP 429 {throttles} times")
                }
                Attempt::Transient(msg) => {
                    failures += 1;
                    if failures <= self.cfg.max_retries {
                        let wait = self.backoff(failures - 1);
                        tracing::warn!(symbol = %symbol, attempt = failures, wait_ms = wait.as_millis() as u64, error = %msg, "transient error from binance; retrying");
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    msg
                }
            };
            return Err(ExchangeError::Exhausted {
                venue: VENUE.into(),
                symbol: symbol.to_string(),
                attempts: failures + throttles,
                last,
            });
        }
    }
}
