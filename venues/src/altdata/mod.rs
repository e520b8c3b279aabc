//! Sources of alternative data: news (a NewsAPI-style `/v2/everything`),
//! Reddit's JSON listings, and FRED's `series/observations` with every
//! vintage (so each value carries the day it was published). Each goes
//! through the stock providers' HTTP (rate budget, 429 with Retry-After or a
//! reset header, retries); keys come from config or the environment and
//! never print. Scoring and ticker extraction are the engine's; this module
//! only fetches.

pub mod fred;
pub mod mock;
pub mod newsapi;
pub mod reddit;

use crate::ExchangeError;
use crate::stocks::ProviderConfig;
use engine::TimeMs;
use serde::{Deserialize, Serialize};
use std::future::Future;

/// `[altdata]`: where each source is and how hard it may be asked.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AltDataConfig {
    /// NewsAPI (`X-Api-Key`; NEWSAPI_KEY). The developer plan allows 100
    /// requests a day and 100 results per query: a fetch pages at most
    /// `max_pages` and stops at its 426 "maximumResultsReached".
    pub newsapi: ProviderConfig,
    /// Reddit's public JSON listings: about 10 requests a minute without OAuth.
    pub reddit: ProviderConfig,
    pub subreddits: Vec<String>,
    /// FRED (`api_key`; FRED_API_KEY): 120 requests a minute.
    pub fred: ProviderConfig,
    /// Pages asked per query at most (100 items a page).
    pub max_pages: u32,
}

impl Default for AltDataConfig {
    fn default() -> Self {
        // No second source to hand over to: a 429 is waited out up to a minute.
        let p = |base: &str, rpm: u32| ProviderConfig {
            max_wait_ms: 60_000,
            ..ProviderConfig::defaults(base, rpm)
        };
        AltDataConfig {
            newsapi: p("https://newsapi.org", 30),
            reddit: p("https://www.reddit.com", 10),
            subreddits: ["stocks", "investing", "wallstreetbets"]
                .map(String::from)
                .to_vec(),
            fred: p("https://api.stlouisfed.org", 120),
            max_pages: 5,
        }
    }
}

impl AltDataConfig {
    /// Keys from the environment where the config has none.
    pub fn with_env(mut self) -> Self {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if self.newsapi.key.is_none() {
            self.newsapi.key = env("NEWSAPI_KEY");
        }
        if self.fred.key.is_none() {
            self.fred.key = env("FRED_API_KEY");
        }
        self
    }

    /// Every source at `base` (a mock serving all three).
    pub fn with_base(mut self, base: &str) -> Self {
        for p in [&mut self.newsapi, &mut self.reddit, &mut self.fred] {
            p.base_url = base.to_string();
        }
        self
    }
}

/// A piece of text someone published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextItem {
    /// `newsapi` or `reddit`.
    pub source: &'static str,
    /// The source's own id (an article's URL, a post's fullname `t3_…`).
    pub id: String,
    pub published_ms: TimeMs,
    pub text: String,
    /// The ticker the query asked about (a news search), if any.
    pub queried: Option<String>,
    /// Where it was published (subreddit, outlet).
    pub channel: String,
}

/// What to fetch: items published in `[since, until)`, about `ticker` where
/// the source searches by query.
#[derive(Debug, Clone, PartialEq)]
pub struct TextQuery {
    pub ticker: Option<String>,
    pub since: TimeMs,
    pub until: TimeMs,
}

/// A source of published text.
pub trait TextSource: Send + Sync {
    fn name(&self) -> &'static str;

    /// Items of `query`, oldest first.
    fn fetch(
        &self,
        query: &TextQuery,
    ) -> impl Future<Output = Result<Vec<TextItem>, ExchangeError>> + Send;
}

/// RFC 3339 / ISO 8601 → ms.
pub(crate) fn parse_rfc3339(s: &str) -> Option<TimeMs> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.timestamp_millis())
}

pub(crate) fn unreadable(venue: &str, what: &str, e: impl std::fmt::Display) -> ExchangeError {
    ExchangeError::Exhausted {
        venue: venue.into(),
        symbol: what.into(),
        attempts: 1,
        last: format!("unreadable answer: {e}"),
    }
}
