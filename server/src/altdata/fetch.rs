//! Fetching alternative data into the store: news per ticker, Reddit's
//! subreddits (tickers found in each post), FRED's macro series with every
//! vintage. A source or ticker that fails is reported by name and the rest
//! carries on; a rerun resumes after what is stored.

use crate::db::altdata::{MacroRow, SentimentRow};
use crate::db::{self, DbError};
use engine::TimeMs;
use engine::altdata::sentiment;
use serde::Serialize;
use sqlx::PgPool;
use std::collections::HashSet;
use venues::altdata::fred::Fred;
use venues::altdata::newsapi::NewsApi;
use venues::altdata::reddit::Reddit;
use venues::altdata::{AltDataConfig, TextItem, TextQuery, TextSource};

/// What one query did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub source: String,
    /// The ticker, subreddits or series asked about.
    pub what: String,
    pub fetched: usize,
    /// New rows stored (items × tickers, or values).
    pub stored: u64,
    pub error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0}: {1}")]
    Client(&'static str, String),
}

fn rows_of(items: &[TextItem], universe: &HashSet<String>) -> Vec<SentimentRow> {
    let u: HashSet<&str> = universe.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    for it in items {
        let score = sentiment::score(&it.text);
        // A news search is about the ticker it asked for; a post about the tickers it names.
        let tickers = match &it.queried {
            Some(t) => vec![t.clone()],
            None => sentiment::tickers(&it.text, &u),
        };
        for ticker in tickers {
            out.push(SentimentRow {
                source: it.source.to_string(),
                item_id: it.id.clone(),
                ticker,
                published_ms: it.published_ms,
                score,
                text: Some(it.text.chars().take(2000).collect()),
            });
        }
    }
    out
}

/// News about each ticker published in `[from, until)`; `from` defaults to
/// just after the newest stored item of that ticker (else 30 days back).
pub async fn news(
    pool: &PgPool,
    cfg: &AltDataConfig,
    tickers: &[String],
    from: Option<TimeMs>,
    until: TimeMs,
) -> Result<Vec<Outcome>, FetchError> {
    let client = NewsApi::new(&cfg.newsapi, cfg.max_pages)
        .map_err(|e| FetchError::Client("newsapi", e.to_string()))?;
    let mut out = Vec::new();
    for t in tickers {
        let since = match from {
            Some(f) => f,
            None => db::altdata::newest_item(pool, client.name(), t)
                .await?
                .map_or(until - 30 * 86_400_000, |n| n + 1),
        };
        let q = TextQuery {
            ticker: Some(t.clone()),
            since,
            until,
        };
        out.push(match client.fetch(&q).await {
            Ok(items) => {
                let rows = rows_of(&items, &HashSet::new());
                Outcome {
                    source: client.name().into(),
                    what: t.clone(),
                    fetched: items.len(),
                    stored: db::altdata::insert_sentiment(pool, &rows).await?,
                    error: None,
                }
            }
            Err(e) => {
                tracing::warn!(source = client.name(), ticker = %t, error = %e, "news fetch failed; going on");
                Outcome {
                    source: client.name().into(),
                    what: t.clone(),
                    fetched: 0,
                    stored: 0,
                    error: Some(e.to_string()),
                }
            }
        });
    }
    Ok(out)
}

/// The configured subreddits' new posts in `[from, until)` (default: the
/// last 7 days), stored under each universe ticker a post names.
pub async fn reddit(
    pool: &PgPool,
    cfg: &AltDataConfig,
    universe: &HashSet<String>,
    from: Option<TimeMs>,
    until: TimeMs,
) -> Result<Vec<Outcome>, FetchError> {
    let mut out = Vec::new();
    for sub in &cfg.subreddits {
        let client = Reddit::new(&cfg.reddit, std::slice::from_ref(sub), cfg.max_pages)
            .map_err(|e| FetchError::Client("reddit", e.to_string()))?;
        let q = TextQuery {
            ticker: None,
            since: from.unwrap_or(until - 7 * 86_400_000),
            until,
        };
        let what = format!("r/{sub}");
        out.push(match client.fetch(&q).await {
            Ok(items) => Outcome {
                source: "reddit".into(),
                what,
                fetched: items.len(),
                stored: db::altdata::insert_sentiment(pool, &rows_of(&items, universe)).await?,
                error: None,
            },
            Err(e) => {
                tracing::warn!(source = "reddit", %sub, error = %e, "subreddit fetch failed; going on");
                Outcome {
                    source: "reddit".into(),
                    what,
                    fetched: 0,
                    stored: 0,
                    error: Some(e.to_string()),
                }
            }
        });
    }
    Ok(out)
}

/// Every vintage of each FRED series.
pub async fn fred(
    pool: &PgPool,
    cfg: &AltDataConfig,
    series: &[String],
) -> Result<Vec<Outcome>, FetchError> {
    let client = Fred::new(&cfg.fred).map_err(|e| FetchError::Client("fred", e.to_string()))?;
    let mut out = Vec::new();
    for id in series {
        out.push(match client.releases(id).await {
            Ok(rel) => {
                let rows: Vec<MacroRow> = rel
                    .iter()
                    .map(|r| MacroRow {
                        series: id.clone(),
                        period_ms: r.period_ms,
                        released_ms: r.released_ms,
                        value: r.value,
                        source: "fred".into(),
                    })
                    .collect();
                Outcome {
                    source: "fred".into(),
                    what: id.clone(),
                    fetched: rel.len(),
                    stored: db::altdata::insert_macro(pool, &rows).await?,
                    error: None,
                }
            }
            Err(e) => {
                tracing::warn!(source = "fred", series = %id, error = %e, "FRED fetch failed; going on");
                Outcome {
                    source: "fred".into(),
                    what: id.clone(),
                    fetched: 0,
                    stored: 0,
                    error: Some(e.to_string()),
                }
            }
        });
    }
    Ok(out)
}
