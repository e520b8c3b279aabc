//! Reddit's public JSON listings: `GET /r/{sub}/new.json?limit=100&after=…`
//! (`{"kind":"Listing","data":{"after":…,"children":[{"kind":"t3","data":{…}}]}}`),
//! newest first, paged by the last post's fullname until the posts are older
//! than asked. Reddit wants a descriptive User-Agent and answers 429 with
//! `x-ratelimit-reset` (seconds to wait). A listing reaches back about 1,000
//! posts: older history comes from an import.

use super::{TextItem, TextQuery, TextSource, unreadable};
use crate::ExchangeError;
use crate::rate::RateBudget;
use crate::stocks::ProviderConfig;
use crate::stocks::http::Http;
use serde::Deserialize;
use std::sync::Arc;

pub const VENUE: &str = "reddit";

#[derive(Debug)]
pub struct Reddit {
    http: Http,
    base: String,
    subreddits: Vec<String>,
    max_pages: u32,
}

#[derive(Debug, Deserialize)]
struct Listing {
    data: ListingData,
}

#[derive(Debug, Deserialize)]
struct ListingData {
    after: Option<String>,
    children: Vec<Child>,
}

#[derive(Debug, Deserialize)]
struct Child {
    kind: String,
    data: Post,
}

#[derive(Debug, Deserialize)]
struct Post {
    name: String,
    title: String,
    #[serde(default)]
    selftext: String,
    created_utc: f64,
    subreddit: String,
}

impl Reddit {
    pub fn new(
        cfg: &ProviderConfig,
        subreddits: &[String],
        max_pages: u32,
    ) -> Result<Self, reqwest::Error> {
        Ok(Reddit {
            http: Http::new(VENUE, cfg, Arc::new(RateBudget::new(cfg.requests_per_min)))?,
            base: cfg.base_url.trim_end_matches('/').to_string(),
            subreddits: subreddits.to_vec(),
            max_pages: max_pages.max(1),
        })
    }
}

impl TextSource for Reddit {
    fn name(&self) -> &'static str {
        VENUE
    }

    async fn fetch(&self, q: &TextQuery) -> Result<Vec<TextItem>, ExchangeError> {
        let mut out = Vec::new();
        for sub in &self.subreddits {
            let what = format!("r/{sub}");
            let url = format!("{}/r/{sub}/new.json", self.base);
            let mut after: Option<String> = None;
            'pages: for _ in 0..self.max_pages {
                let mut query = vec![("limit", "100".to_string()), ("raw_json", "1".into())];
                if let Some(a) = &after {
                    query.push(("after", a.clone()));
                }
                let body = self
                    .http
                    .get(&url, &query, &[], &what)
                    .await?
                    .map_err(|r| r.into_error(VENUE, &what))?;
                let l: Listing =
                    serde_json::from_slice(&body).map_err(|e| unreadable(VENUE, &what, e))?;
                for c in l.data.children.into_iter().filter(|c| c.kind == "t3") {
                    let t = (c.data.created_utc * 1000.0) as i64;
                    if t < q.since {
                        // Newest first: everything after this is older still.
                        break 'pages;
                    }
                    if t >= q.until {
                        continue;
                    }
                    let text = [c.data.title, c.data.selftext]
                        .into_iter()
                        .filter(|s| !s.trim().is_empty())
                        .collect::<Vec<_>>()
                        .join("\n");
                    out.push(TextItem {
                        source: VENUE,
                        id: c.data.name,
                        published_ms: t,
                        text,
                        queried: None,
                        channel: c.data.subreddit,
                    });
                }
                match l.data.after {
                    Some(a) => after = Some(a),
                    None => break,
                }
            }
        }
        out.sort_by_key(|i| i.published_ms);
        Ok(out)
    }
}
