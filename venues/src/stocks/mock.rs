//! A local stand-in for the three stock data providers on one port, each
//! speaking its own protocol: Alpaca's `/v2/stocks/{symbol}/bars` (key
//! headers, `limit`, `page_token`, `adjustment`, `feed`, its error bodies),
//! Finnhub's `/stock/candle` (token header, column arrays, `no_data`) and
//! Yahoo's `/v8/finance/chart/{ticker}` (`chart.result`/`chart.error`,
//! `adjclose`). Each stamps daily bars as the real one does. Faults per
//! provider (an outage, 429s with Retry-After or a reset header, tickers it
//! lacks) let tests run the fallback chain; every request is counted.

use super::alpaca::rfc3339;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use engine::calendar::Calendar;
use engine::{Candle, TimeMs};
use serde::Deserialize;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use trading::clock::Clock;

const DAY_MS: i64 = 86_400_000;

/// One provider's behaviour.
#[derive(Debug, Clone, Default)]
pub struct ProviderFaults {
    /// Answer every request with this 5xx.
    pub outage: Option<u16>,
    /// Answer 429, asking to wait this many seconds (Retry-After, or Alpaca's
    /// and Finnhub's X-RateLimit-Reset).
    pub rate_limited_s: Option<u64>,
    /// Tickers this provider does not have.
    pub missing: HashSet<String>,
}

/// Daily bars of one ticker, adjusted, with the factor that makes them raw
/// (raw close = adjusted close × `raw_factor`).
#[derive(Debug, Clone)]
pub struct Listing {
    pub bars: Vec<Candle>,
    pub raw_factor: f64,
}

#[derive(Debug, Default)]
struct Inner {
    /// What "now" is (which sessions have closed); the system clock when unset.
    clock: Option<Arc<dyn Clock>>,
    listings: HashMap<String, Listing>,
    faults: HashMap<&'static str, ProviderFaults>,
    requests: HashMap<&'static str, u64>,
    /// Alpaca pages at most this many bars (the real cap is 10,000).
    alpaca_page: usize,
}

/// The mock; clones share state.
#[derive(Debug, Clone, Default)]
pub struct MockStocks {
    inner: Arc<Mutex<Inner>>,
    /// The keys Alpaca accepts and the token Finnhub accepts.
    pub alpaca_key: String,
    pub alpaca_secret: String,
    pub finnhub_token: String,
}

fn lock(m: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MockStocks {
    pub fn new(alpaca_key: &str, alpaca_secret: &str, finnhub_token: &str) -> Self {
        let m = MockStocks {
            inner: Arc::default(),
            alpaca_key: alpaca_key.into(),
            alpaca_secret: alpaca_secret.into(),
            finnhub_token: finnhub_token.into(),
        };
        lock(&m.inner).alpaca_page = 10_000;
        m
    }

    /// Lists a ticker with its daily bars (keyed 00:00 UTC of the session date).
    pub fn list(&self, ticker: &str, bars: Vec<Candle>, raw_factor: f64) {
        lock(&self.inner)
            .listings
            .insert(ticker.into(), Listing { bars, raw_factor });
    }

    pub fn set_faults(&self, provider: &'static str, f: ProviderFaults) {
        lock(&self.inner).faults.insert(provider, f);
    }

    /// Serves only the bars whose session has closed on `clock` (a replay).
    pub fn set_clock(&self, clock: Arc<dyn Clock>) {
        lock(&self.inner).clock = Some(clock);
    }

    pub fn set_alpaca_page(&self, n: usize) {
        lock(&self.inner).alpaca_page = n.max(1);
    }

    /// Requests each provider has been sent (`alpaca`, `finnhub`, `yahoo`).
    pub fn requests(&self, provider: &str) -> u64 {
        lock(&self.inner)
            .requests
            .get(provider)
            .copied()
            .unwrap_or(0)
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/v2/stocks/{symbol}/bars", get(alpaca_bars))
            .route("/stock/candle", get(finnhub_candle))
            .route("/v8/finance/chart/{ticker}", get(yahoo_chart))
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
                tracing::error!(error = %e, "mock stock providers stopped");
            }
        });
        Ok((local, handle))
    }

    /// Counts the request; the fault's response when there is one.
    fn gate(&self, provider: &'static str, ticker: &str) -> Result<Option<Listing>, Box<Response>> {
        let mut s = lock(&self.inner);
        *s.requests.entry(provider).or_default() += 1;
        let f = s.faults.get(provider).cloned().unwrap_or_default();
        if let Some(code) = f.outage {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            return Err(Box::new((status, "upstream unavailable").into_response()));
        }
        if let Some(wait) = f.rate_limited_s {
            let reset = (crate::now_ms() / 1000) as u64 + wait;
            let mut resp = match provider {
                "alpaca" => (StatusCode::TOO_MANY_REQUESTS, Json(json!({"code": 42910000, "message": "rate limit exceeded"}))).into_response(),
                "finnhub" => (StatusCode::TOO_MANY_REQUESTS, Json(json!({"error": "API limit reached. Please try again later. Remaining Limit: 0"}))).into_response(),
                _ => (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests").into_response(),
            };
            let h = resp.headers_mut();
            if provider == "yahoo" {
                h.insert("retry-after", wait.into());
            } else {
                h.insert("x-ratelimit-reset", reset.into());
                h.insert("x-ratelimit-remaining", 0u64.into());
            }
            return Err(Box::new(resp));
        }
        if f.missing.contains(ticker) {
            return Ok(None);
        }
        let now = s.clock.as_ref().map_or_else(crate::now_ms, |c| c.now_ms());
        Ok(s.listings.get(ticker).map(|l| Listing {
            bars: l
                .bars
                .iter()
                .filter(|c| {
                    let date = chrono::DateTime::from_timestamp_millis(c.open_time)
                        .unwrap_or_default()
                        .date_naive();
                    Calendar::Xnys.session(date).is_some_and(|s| s.close <= now)
                })
                .copied()
                .collect(),
            raw_factor: l.raw_factor,
        }))
    }
}

fn in_range(bars: &[Candle], from: TimeMs, to: TimeMs) -> Vec<Candle> {
    bars.iter()
        .filter(|c| c.open_time >= from && c.open_time <= to)
        .copied()
        .collect()
}

/// A daily bar's UTC key at New York midnight (how Alpaca stamps daily bars).
fn ny_midnight(key: TimeMs) -> TimeMs {
    let date = chrono::DateTime::from_timestamp_millis(key)
        .unwrap_or_default()
        .date_naive();
    Calendar::Xnys
        .session(date)
        .map_or(key, |s| s.open - (9 * 60 + 30) * 60_000)
}

#[derive(Debug, Deserialize)]
struct AlpacaQuery {
    timeframe: String,
    start: Option<String>,
    end: Option<String>,
    limit: Option<usize>,
    adjustment: Option<String>,
    feed: Option<String>,
    page_token: Option<String>,
}

async fn alpaca_bars(
    State(m): State<MockStocks>,
    Path(symbol): Path<String>,
    headers: HeaderMap,
    Query(q): Query<AlpacaQuery>,
) -> Response {
    let h = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("");
    if h("apca-api-key-id") != m.alpaca_key || h("apca-api-secret-key") != m.alpaca_secret {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"message": "unauthorized."})),
        )
            .into_response();
    }
    if q.timeframe != "1Day" {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"code": 42210000, "message": format!("invalid timeframe {} (this mock serves 1Day)", q.timeframe)})),
        )
            .into_response();
    }
    if q.feed.as_deref().is_some_and(|f| f != "iex" && f != "sip") {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"code": 42210000, "message": "invalid feed"})),
        )
            .into_response();
    }
    if !symbol.chars().all(|c| c.is_ascii_uppercase() || c == '.') {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"code": 40010001, "message": "invalid symbol"})),
        )
            .into_response();
    }
    let listing = match m.gate("alpaca", &symbol) {
        Ok(l) => l,
        Err(r) => return *r,
    };
    let parse = |s: &Option<String>, d: TimeMs| {
        s.as_deref()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map_or(d, |t| t.timestamp_millis())
    };
    let (from, to) = (parse(&q.start, 0), parse(&q.end, i64::MAX));
    let cap = lock(&m.inner).alpaca_page;
    let limit = q.limit.unwrap_or(1000).clamp(1, 10_000).min(cap);
    let Some(listing) = listing else {
        return Json(json!({"bars": null, "symbol": symbol, "next_page_token": null}))
            .into_response();
    };
    // Alpaca compares its NY-midnight stamps with start/end.
    let all: Vec<Candle> = listing
        .bars
        .iter()
        .filter(|c| {
            let t = ny_midnight(c.open_time);
            t >= from && t <= to
        })
        .copied()
        .collect();
    let skip: usize = q
        .page_token
        .as_deref()
        .and_then(|t| t.strip_prefix("page:"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let raw = q.adjustment.as_deref() == Some("raw");
    let page: Vec<_> = all
        .iter()
        .skip(skip)
        .take(limit)
        .map(|c| {
            let k = if raw { listing.raw_factor } else { 1.0 };
            json!({"t": rfc3339(ny_midnight(c.open_time)), "o": c.open * k, "h": c.high * k, "l": c.low * k, "c": c.close * k, "v": c.volume, "n": 1000, "vw": c.close * k})
        })
        .collect();
    let next = (skip + limit < all.len()).then(|| format!("page:{}", skip + limit));
    Json(json!({"bars": page, "symbol": symbol, "next_page_token": next})).into_response()
}

#[derive(Debug, Deserialize)]
struct FinnhubQuery {
    symbol: String,
    resolution: String,
    from: i64,
    to: i64,
}

async fn finnhub_candle(
    State(m): State<MockStocks>,
    headers: HeaderMap,
    Query(q): Query<FinnhubQuery>,
) -> Response {
    let token = headers
        .get("x-finnhub-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if token != m.finnhub_token {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "Invalid API key"})),
        )
            .into_response();
    }
    if q.resolution != "D" {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": "Wrong resolution"})),
        )
            .into_response();
    }
    let listing = match m.gate("finnhub", &q.symbol) {
        Ok(l) => l,
        Err(r) => return *r,
    };
    let bars = listing.map_or_else(Vec::new, |l| in_range(&l.bars, q.from * 1000, q.to * 1000));
    if bars.is_empty() {
        return Json(json!({"s": "no_data"})).into_response();
    }
    Json(json!({
        "s": "ok",
        "t": bars.iter().map(|c| c.open_time / 1000).collect::<Vec<_>>(),
        "o": bars.iter().map(|c| c.open).collect::<Vec<_>>(),
        "h": bars.iter().map(|c| c.high).collect::<Vec<_>>(),
        "l": bars.iter().map(|c| c.low).collect::<Vec<_>>(),
        "c": bars.iter().map(|c| c.close).collect::<Vec<_>>(),
        "v": bars.iter().map(|c| c.volume).collect::<Vec<_>>(),
    }))
    .into_response()
}

#[derive(Debug, Deserialize)]
struct YahooQuery {
    period1: i64,
    period2: i64,
    interval: String,
}

async fn yahoo_chart(
    State(m): State<MockStocks>,
    Path(ticker): Path<String>,
    Query(q): Query<YahooQuery>,
) -> Response {
    if q.interval != "1d" {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"chart": {"result": null, "error": {"code": "Unprocessable Entity", "description": format!("Invalid input - interval={} is not supported by this mock", q.interval)}}})),
        )
            .into_response();
    }
    let listing = match m.gate("yahoo", &ticker) {
        Ok(l) => l,
        Err(r) => return *r,
    };
    let Some(listing) = listing else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"chart": {"result": null, "error": {"code": "Not Found", "description": "No data found, symbol may be delisted"}}})),
        )
            .into_response();
    };
    // Yahoo stamps a daily bar with its session's open.
    let bars: Vec<(TimeMs, Candle)> =
        in_range(&listing.bars, q.period1 * 1000 - DAY_MS, q.period2 * 1000)
            .into_iter()
            .filter_map(|c| {
                let date = chrono::DateTime::from_timestamp_millis(c.open_time)?.date_naive();
                let open = Calendar::Xnys.session(date).map_or(c.open_time, |s| s.open);
                (open >= q.period1 * 1000 && open < q.period2 * 1000).then_some((open, c))
            })
            .collect();
    let k = listing.raw_factor;
    Json(json!({"chart": {"result": [{
        "meta": {"currency": "USD", "symbol": ticker, "exchangeName": "NMS", "instrumentType": "EQUITY",
                 "gmtoffset": -14400, "timezone": "EDT", "exchangeTimezoneName": "America/New_York", "dataGranularity": "1d"},
        "timestamp": bars.iter().map(|(t, _)| t / 1000).collect::<Vec<_>>(),
        "indicators": {
            "quote": [{
                "open": bars.iter().map(|(_, c)| c.open * k).collect::<Vec<_>>(),
                "high": bars.iter().map(|(_, c)| c.high * k).collect::<Vec<_>>(),
                "low": bars.iter().map(|(_, c)| c.low * k).collect::<Vec<_>>(),
                "close": bars.iter().map(|(_, c)| c.close * k).collect::<Vec<_>>(),
                "volume": bars.iter().map(|(_, c)| c.volume).collect::<Vec<_>>(),
            }],
            "adjclose": [{"adjclose": bars.iter().map(|(_, c)| c.close).collect::<Vec<_>>()}]
        }
    }], "error": null}}))
    .into_response()
}
