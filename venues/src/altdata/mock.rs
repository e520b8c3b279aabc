//! A local stand-in for NewsAPI, Reddit and FRED on one port, each with its
//! real request and answer shapes: `/v2/everything` (`X-Api-Key`, `q`,
//! `from`/`to`, `page`/`pageSize`, the developer plan's 100-result cap as a
//! 426, `{"status":"error",…}` bodies), `/r/{sub}/new.json` (listings newest
//! first, `after` paging, 404 for a missing subreddit), and
//! `/fred/series/observations` (`api_key`, real-time rows, `offset`/`limit`,
//! 400 "The series does not exist."). Any source can be set to answer 429
//! (Retry-After, or Reddit's `x-ratelimit-reset`) or to fail; requests are counted.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use engine::TimeMs;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// An article the news mock can find.
#[derive(Debug, Clone)]
pub struct MockArticle {
    pub url: String,
    pub outlet: String,
    pub title: String,
    pub description: String,
    pub published_ms: TimeMs,
}

/// A post of a subreddit.
#[derive(Debug, Clone)]
pub struct MockPost {
    /// Base-36 id (the fullname is `t3_<id>`).
    pub id: String,
    pub title: String,
    pub selftext: String,
    pub created_ms: TimeMs,
}

/// One FRED real-time row: `value` was the published one from
/// `realtime_start` to `realtime_end` (dates, `YYYY-MM-DD`).
#[derive(Debug, Clone)]
pub struct MockObservation {
    pub date: String,
    pub realtime_start: String,
    pub realtime_end: String,
    pub value: String,
}

#[derive(Debug, Default)]
struct Inner {
    articles: Vec<MockArticle>,
    posts: HashMap<String, Vec<MockPost>>,
    fred: HashMap<String, Vec<MockObservation>>,
    /// Source → seconds to ask callers to wait (429).
    limited: HashMap<&'static str, u64>,
    /// Source → an outage status.
    outage: HashMap<&'static str, u16>,
    requests: HashMap<&'static str, u64>,
    /// Results NewsAPI serves per query at most (the developer plan: 100).
    news_cap: usize,
}

/// The mock; clones share state.
#[derive(Debug, Clone)]
pub struct MockAltData {
    inner: Arc<Mutex<Inner>>,
    pub news_key: String,
    pub fred_key: String,
}

fn lock(m: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn iso(ms: TimeMs) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

impl MockAltData {
    pub fn new(news_key: &str, fred_key: &str) -> Self {
        let m = MockAltData {
            inner: Arc::default(),
            news_key: news_key.into(),
            fred_key: fred_key.into(),
        };
        lock(&m.inner).news_cap = 100;
        m
    }

    pub fn add_article(&self, a: MockArticle) {
        lock(&self.inner).articles.push(a);
    }

    pub fn add_post(&self, subreddit: &str, p: MockPost) {
        lock(&self.inner)
            .posts
            .entry(subreddit.into())
            .or_default()
            .push(p);
    }

    pub fn set_fred(&self, series: &str, rows: Vec<MockObservation>) {
        lock(&self.inner).fred.insert(series.into(), rows);
    }

    /// `source` (`newsapi`, `reddit`, `fred`) answers 429 asking for `wait_s`; `None` lifts it.
    pub fn set_rate_limited(&self, source: &'static str, wait_s: Option<u64>) {
        let mut s = lock(&self.inner);
        match wait_s {
            Some(w) => s.limited.insert(source, w),
            None => s.limited.remove(source),
        };
    }

    pub fn set_outage(&self, source: &'static str, status: Option<u16>) {
        let mut s = lock(&self.inner);
        match status {
            Some(c) => s.outage.insert(source, c),
            None => s.outage.remove(source),
        };
    }

    pub fn requests(&self, source: &str) -> u64 {
        lock(&self.inner).requests.get(source).copied().unwrap_or(0)
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/v2/everything", get(everything))
            .route("/r/{sub}/new.json", get(subreddit_new))
            .route("/fred/series/observations", get(fred_observations))
            .with_state(self.clone())
    }

    /// Binds `addr` (port 0 for any) and serves in the background.
    pub async fn spawn(
        &self,
        addr: SocketAddr,
    ) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let app = self.router();
        let handle = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "mock alternative-data sources stopped");
            }
        });
        Ok((local, handle))
    }

    /// Counts the request; the 429 or outage when one is set.
    fn gate(&self, source: &'static str) -> Result<(), Box<Response>> {
        let mut s = lock(&self.inner);
        *s.requests.entry(source).or_default() += 1;
        if let Some(&code) = s.outage.get(source) {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            return Err(Box::new((status, "upstream unavailable").into_response()));
        }
        if let Some(&wait) = s.limited.get(source) {
            let mut resp = match source {
                "newsapi" => (
                    StatusCode::TOO_MANY_REQUESTS,
                    Json(json!({"status": "error", "code": "rateLimited",
                        "message": "You have been rate limited. Back off for a while before trying the request again."})),
                )
                    .into_response(),
                "fred" => (
                    StatusCode::TOO_MANY_REQUESTS,
                    Json(json!({"error_code": 429, "error_message": "Too Many Requests.  Exceeded Rate Limit"})),
                )
                    .into_response(),
                _ => (
                    StatusCode::TOO_MANY_REQUESTS,
                    Json(json!({"message": "Too Many Requests", "error": 429})),
                )
                    .into_response(),
            };
            let h = resp.headers_mut();
            if source == "reddit" {
                // Reddit's reset is seconds from now, not an instant.
                h.insert("x-ratelimit-remaining", 0u64.into());
                h.insert("x-ratelimit-used", 100u64.into());
                h.insert("x-ratelimit-reset", wait.into());
            } else {
                h.insert("retry-after", wait.into());
            }
            return Err(Box::new(resp));
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewsQuery {
    q: Option<String>,
    from: Option<String>,
    to: Option<String>,
    page: Option<usize>,
    page_size: Option<usize>,
}

fn news_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"status": "error", "code": code, "message": message})),
    )
        .into_response()
}

async fn everything(
    State(m): State<MockAltData>,
    headers: HeaderMap,
    Query(q): Query<NewsQuery>,
) -> Response {
    if let Err(r) = m.gate("newsapi") {
        return *r;
    }
    match headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        None => {
            return news_error(
                StatusCode::UNAUTHORIZED,
                "apiKeyMissing",
                "Your API key is missing. Append this to the URL with the apiKey param, or use the x-api-key HTTP header.",
            );
        }
        Some(k) if k != m.news_key => {
            return news_error(
                StatusCode::UNAUTHORIZED,
                "apiKeyInvalid",
                "Your API key is invalid or incorrect. Check your key, or go to https://newsapi.org to create a free API key.",
            );
        }
        _ => {}
    }
    let Some(term) = q.q.filter(|t| !t.trim().is_empty()) else {
        return news_error(
            StatusCode::BAD_REQUEST,
            "parametersMissing",
            "Required parameters are missing. Please set any of the following parameters and try again: q, qInTitle, sources, domains.",
        );
    };
    let parse = |s: &Option<String>| {
        s.as_deref()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.timestamp_millis())
    };
    let (from, to) = (
        parse(&q.from).unwrap_or(i64::MIN),
        parse(&q.to).unwrap_or(i64::MAX),
    );
    let (page, size) = (
        q.page.unwrap_or(1).max(1),
        q.page_size.unwrap_or(100).clamp(1, 100),
    );
    let s = lock(&m.inner);
    let needle = term.to_ascii_lowercase();
    let mut hits: Vec<&MockArticle> = s
        .articles
        .iter()
        .filter(|a| a.published_ms >= from && a.published_ms <= to)
        .filter(|a| {
            format!("{} {}", a.title, a.description)
                .to_ascii_lowercase()
                .contains(&needle)
        })
        .collect();
    hits.sort_by_key(|a| std::cmp::Reverse(a.published_ms));
    if (page - 1) * size >= s.news_cap && !hits.is_empty() {
        return news_error(
            StatusCode::UPGRADE_REQUIRED,
            "maximumResultsReached",
            "You have requested too many results. Developer accounts are limited to a max of 100 results.",
        );
    }
    let total = hits.len();
    let articles: Vec<_> = hits
        .into_iter()
        .skip((page - 1) * size)
        .take(size)
        .map(|a| {
            json!({
                "source": {"id": null, "name": a.outlet},
                "author": null,
                "title": a.title,
                "description": a.description,
                "url": a.url,
                "urlToImage": null,
                "publishedAt": iso(a.published_ms),
                "content": format!("{}… [+1200 chars]", a.description),
            })
        })
        .collect();
    Json(json!({"status": "ok", "totalResults": total, "articles": articles})).into_response()
}

#[derive(Debug, Deserialize)]
struct ListingQuery {
    limit: Option<usize>,
    after: Option<String>,
}

async fn subreddit_new(
    State(m): State<MockAltData>,
    headers: HeaderMap,
    Path(sub): Path<String>,
    Query(q): Query<ListingQuery>,
) -> Response {
    if let Err(r) = m.gate("reddit") {
        return *r;
    }
    // Reddit throttles generic agents hard; the client must say who it is.
    if headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ua| ua.trim().is_empty())
    {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({"message": "Too Many Requests", "error": 429})),
        )
            .into_response();
    }
    let s = lock(&m.inner);
    let Some(posts) = s.posts.get(&sub) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"message": "Not Found", "error": 404})),
        )
            .into_response();
    };
    let mut posts: Vec<&MockPost> = posts.iter().collect();
    posts.sort_by_key(|p| std::cmp::Reverse(p.created_ms));
    let start = match &q.after {
        Some(a) => posts
            .iter()
            .position(|p| format!("t3_{}", p.id) == *a)
            .map_or(posts.len(), |i| i + 1),
        None => 0,
    };
    let limit = q.limit.unwrap_or(25).clamp(1, 100);
    let page: Vec<&MockPost> = posts.iter().skip(start).take(limit).copied().collect();
    let after = (start + page.len() < posts.len())
        .then(|| page.last().map(|p| format!("t3_{}", p.id)))
        .flatten();
    let children: Vec<_> = page
        .iter()
        .map(|p| {
            json!({
                "kind": "t3",
                "data": {
                    "id": p.id,
                    "name": format!("t3_{}", p.id),
                    "subreddit": sub,
                    "title": p.title,
                    "selftext": p.selftext,
                    "created_utc": p.created_ms as f64 / 1000.0,
                    "score": 1,
                    "num_comments": 0,
                    "permalink": format!("/r/{sub}/comments/{}/", p.id),
                }
            })
        })
        .collect();
    Json(json!({
        "kind": "Listing",
        "data": {"after": after, "before": null, "dist": children.len(), "modhash": "", "children": children}
    }))
    .into_response()
}

#[derive(Debug, Deserialize)]
struct FredQuery {
    series_id: Option<String>,
    api_key: Option<String>,
    file_type: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

fn fred_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({"error_code": status.as_u16(), "error_message": message})),
    )
        .into_response()
}

async fn fred_observations(State(m): State<MockAltData>, Query(q): Query<FredQuery>) -> Response {
    if let Err(r) = m.gate("fred") {
        return *r;
    }
    if q.api_key.as_deref() != Some(m.fred_key.as_str()) {
        return fred_error(
            StatusCode::BAD_REQUEST,
            "Bad Request.  The value for variable api_key is not registered.  Read https://fred.stlouisfed.org/docs/api/api_key.html for more information.",
        );
    }
    if q.file_type.as_deref() != Some("json") {
        // Without file_type=json FRED answers XML.
        return (StatusCode::OK, "<?xml version=\"1.0\"?><observations/>").into_response();
    }
    let s = lock(&m.inner);
    let Some(rows) = q.series_id.as_ref().and_then(|id| s.fred.get(id)) else {
        return fred_error(
            StatusCode::BAD_REQUEST,
            "Bad Request.  The series does not exist.",
        );
    };
    let (offset, limit) = (
        q.offset.unwrap_or(0),
        q.limit.unwrap_or(100_000).clamp(1, 100_000),
    );
    let obs: Vec<_> = rows
        .iter()
        .skip(offset)
        .take(limit)
        .map(|o| {
            json!({"realtime_start": o.realtime_start, "realtime_end": o.realtime_end,
                   "date": o.date, "value": o.value})
        })
        .collect();
    Json(json!({
        "realtime_start": "1776-07-04", "realtime_end": "9999-12-31",
        "observation_start": "1600-01-01", "observation_end": "9999-12-31",
        "units": "lin", "output_type": 1, "file_type": "json",
        "order_by": "observation_date", "sort_order": "asc",
        "count": rows.len(), "offset": offset, "limit": limit,
        "observations": obs,
    }))
    .into_response()
}
