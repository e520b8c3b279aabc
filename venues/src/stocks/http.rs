//! One GET as a stock data provider wants it: the shared rate budget, 429s
//! with Retry-After (or the provider's reset header), retries of 5xx and
//! timeouts with jittered backoff, and errors that name the provider.

use crate::ExchangeError;
use crate::rate::RateBudget;
use rand::Rng;
use reqwest::StatusCode;
use std::sync::Arc;
use std::time::Duration;

/// Retry policy and limits of one provider (see [`super::ProviderConfig`]).
#[derive(Debug, Clone)]
pub struct Http {
    pub(crate) client: reqwest::Client,
    pub(super) venue: &'static str,
    pub(super) budget: Arc<RateBudget>,
    pub(super) max_retries: u32,
    pub(super) backoff_base_ms: u64,
    pub(super) backoff_max_ms: u64,
    /// A 429 asking for a longer wait than this is handed to the caller as
    /// [`ExchangeError::RateLimited`] (a chain tries the next provider).
    pub(super) max_wait_ms: u64,
}

/// A non-200 answer the provider module turns into its own error.
#[derive(Debug)]
pub struct Refusal {
    pub status: u16,
    pub body: String,
}

impl Http {
    pub(crate) fn new(
        venue: &'static str,
        cfg: &super::ProviderConfig,
        budget: Arc<RateBudget>,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(cfg.request_timeout_ms))
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("traderai/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Http {
            client,
            venue,
            budget,
            max_retries: cfg.max_retries,
            backoff_base_ms: cfg.backoff_base_ms,
            backoff_max_ms: cfg.backoff_max_ms,
            max_wait_ms: cfg.max_wait_ms,
        })
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let cap = self
            .backoff_base_ms
            .saturating_mul(1 << attempt.min(20))
            .min(self.backoff_max_ms);
        Duration::from_millis(rand::rng().random_range(cap / 2..=cap.max(1)))
    }

    fn limited(&self, symbol: &str, ms: u64) -> ExchangeError {
        ExchangeError::RateLimited {
            venue: self.venue.into(),
            symbol: symbol.into(),
            retry_after_ms: ms,
        }
    }

    /// GETs `url`; `Ok(Ok(body))` on 200, `Ok(Err(refusal))` on a 4xx other
    /// than 429 (the provider's module reads its error body).
    pub(crate) async fn get(
        &self,
        url: &str,
        query: &[(&str, String)],
        headers: &[(&str, &str)],
        symbol: &str,
    ) -> Result<Result<Vec<u8>, Refusal>, ExchangeError> {
        let mut failures = 0u32;
        loop {
            let paused = self.budget.paused_ms();
            if paused > self.max_wait_ms {
                return Err(self.limited(symbol, paused));
            }
            self.budget.acquire(1).await;
            let mut req = self.client.get(url).query(query);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            let last = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    if status == StatusCode::OK {
                        match resp.bytes().await {
                            Ok(b) => return Ok(Ok(b.to_vec())),
                            Err(e) => format!("reading body: {e}"),
                        }
                    } else if status == StatusCode::TOO_MANY_REQUESTS {
                        let wait = retry_after_ms(resp.headers());
                        self.budget.pause(Duration::from_millis(wait));
                        tracing::warn!(venue = self.venue, %symbol, wait_ms = wait, "HTTP 429; pausing this provider");
                        if wait > self.max_wait_ms {
                            return Err(self.limited(symbol, wait));
                        }
                        "HTTP 429".to_owned()
                    } else if status.is_server_error() {
                        format!("HTTP {status}")
                    } else {
                        let body = resp.text().await.unwrap_or_default();
                        return Ok(Err(Refusal {
                            status: status.as_u16(),
                            body: body.chars().take(300).collect(),
                        }));
                    }
                }
                // Without the URL: Finnhub-style tokens may travel in it.
                Err(e) => format!("request failed: {}", e.without_url()),
            };
            failures += 1;
            if failures > self.max_retries {
                return Err(ExchangeError::Exhausted {
                    venue: self.venue.into(),
                    symbol: symbol.into(),
                    attempts: failures,
                    last,
                });
            }
            tokio::time::sleep(self.backoff(failures - 1)).await;
        }
    }
}

/// Retry-After in seconds, else `X-RateLimit-Reset` (unix seconds for
/// Alpaca and Finnhub, seconds to wait for Reddit), else one second.
fn retry_after_ms(h: &reqwest::header::HeaderMap) -> u64 {
    let num = |name: &str| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    if let Some(s) = num("retry-after") {
        return s.max(1) * 1000;
    }
    if let Some(reset) = num("x-ratelimit-reset") {
        // An instant (Alpaca, Finnhub) or, below any recent instant,
        // seconds from now (Reddit).
        if reset < 1_000_000_000 {
            return reset.max(1) * 1000;
        }
        let now = crate::now_ms().max(0) as u64 / 1000;
        return reset.saturating_sub(now).max(1) * 1000;
    }
    1000
}

impl Refusal {
    /// The refusal as the provider's error: a 404 or an "invalid symbol" is
    /// the ticker missing there, anything else a rejected request.
    pub(crate) fn into_error(self, venue: &str, symbol: &str) -> ExchangeError {
        let lower = self.body.to_ascii_lowercase();
        if self.status == 404 || lower.contains("invalid symbol") || lower.contains("not found") {
            return ExchangeError::NoData {
                venue: venue.into(),
                symbol: symbol.into(),
                message: self.body,
            };
        }
        ExchangeError::Rejected {
            venue: venue.into(),
            symbol: symbol.into(),
            status: self.status,
            code: 0,
            message: self.body,
        }
    }
}
