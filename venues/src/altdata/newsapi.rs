//! NewsAPI's `GET /v2/everything`: articles matching a query, newest first,
//! 100 a page (`page`, `pageSize`), the key in `X-Api-Key`. Errors come as
//! `{"status":"error","code":…,"message":…}`: `apiKeyInvalid`/`apiKeyMissing`
//! (401), `rateLimited` (429), `maximumResultsReached` (426, the developer
//! plan's 100-result cap: what was fetched so far is kept).

use super::{TextItem, TextQuery, TextSource, parse_rfc3339, unreadable};
use crate::ExchangeError;
use crate::rate::RateBudget;
use crate::stocks::ProviderConfig;
use crate::stocks::http::Http;
use serde::Deserialize;
use std::sync::Arc;

pub const VENUE: &str = "newsapi";
const PAGE: usize = 100;

#[derive(Debug)]
pub struct NewsApi {
    http: Http,
    base: String,
    key: Option<String>,
    max_pages: u32,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    status: String,
    #[serde(default)]
    total_results: usize,
    #[serde(default)]
    articles: Vec<Article>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Article {
    source: ArticleSource,
    title: Option<String>,
    description: Option<String>,
    url: String,
    published_at: String,
}

#[derive(Debug, Deserialize)]
struct ArticleSource {
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    code: String,
    message: String,
}

impl NewsApi {
    pub fn new(cfg: &ProviderConfig, max_pages: u32) -> Result<Self, reqwest::Error> {
        Ok(NewsApi {
            http: Http::new(VENUE, cfg, Arc::new(RateBudget::new(cfg.requests_per_min)))?,
            base: cfg.base_url.trim_end_matches('/').to_string(),
            key: cfg.key.clone(),
            max_pages: max_pages.max(1),
        })
    }
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

impl TextSource for NewsApi {
    fn name(&self) -> &'static str {
        VENUE
    }

    async fn fetch(&self, q: &TextQuery) -> Result<Vec<TextItem>, ExchangeError> {
        let ticker = q.ticker.clone().unwrap_or_default();
        let Some(key) = &self.key else {
            return Err(ExchangeError::Rejected {
                venue: VENUE.into(),
                symbol: ticker,
                status: 401,
                code: 0,
                message: "no API key: set [altdata.newsapi] key or NEWSAPI_KEY".into(),
            });
        };
        let url = format!("{}/v2/everything", self.base);
        let mut out = Vec::new();
        for page in 1..=self.max_pages {
            let query = [
                ("q", ticker.clone()),
                ("from", iso(q.since)),
                ("to", iso(q.until - 1)),
                ("sortBy", "publishedAt".into()),
                ("language", "en".into()),
                ("pageSize", PAGE.to_string()),
                ("page", page.to_string()),
            ];
            let body = match self
                .http
                .get(&url, &query, &[("X-Api-Key", key)], &ticker)
                .await?
            {
                Ok(b) => b,
                Err(refusal) => {
                    let e: Option<ErrorBody> = serde_json::from_str(&refusal.body).ok();
                    if e.as_ref()
                        .is_some_and(|e| e.code == "maximumResultsReached")
                    {
                        break;
                    }
                    let (code, message) = e.map_or((String::new(), refusal.body.clone()), |e| {
                        (e.code, e.message)
                    });
                    return Err(ExchangeError::Rejected {
                        venue: VENUE.into(),
                        symbol: ticker,
                        status: refusal.status,
                        code: 0,
                        message: format!("{code}: {message}"),
                    });
                }
            };
            let a: Answer =
                serde_json::from_slice(&body).map_err(|e| unreadable(VENUE, &ticker, e))?;
            if a.status != "ok" {
                return Err(unreadable(VENUE, &ticker, format!("status {}", a.status)));
            }
            let n = a.articles.len();
            for art in a.articles {
                let Some(t) = parse_rfc3339(&art.published_at) else {
                    tracing::warn!(venue = VENUE, url = %art.url, at = %art.published_at, "an article without a readable publish time; skipped");
                    continue;
                };
                let text = [art.title, art.description]
                    .into_iter()
                    .flatten()
                    .filter(|s| !s.trim().is_empty())
                    .collect::<Vec<_>>()
                    .join(". ");
                if text.is_empty() || t < q.since || t >= q.until {
                    continue;
                }
                out.push(TextItem {
                    source: VENUE,
                    id: art.url,
                    published_ms: t,
                    text,
                    queried: q.ticker.clone(),
                    channel: art.source.name.unwrap_or_default(),
                });
            }
            if n < PAGE || page as usize * PAGE >= a.total_results {
                break;
            }
        }
        out.sort_by_key(|i| i.published_ms);
        out.dedup_by(|a, b| a.id == b.id);
        Ok(out)
    }
}
