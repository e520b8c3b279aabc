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
    /// Added to every answer (a provider's round trip).
    latency: std::time::Duration,
    /// Requests being answered now, and the most at once.
    in_flight: usize,
    peak: usize,
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

    pub fn set_latency(&self, d: std::time::Duration) {
        lock(&self.inner).latency = d;
    }

    /// The most requests it was answering at once.
    pub fn peak_in_flight(&self) -> usize {
        lock(&self.inner).peak
    }

    async fn delay(&self) {
        let d = {
            let mut s = lock(&self.inner);
            s.in_flight += 1;
            s.peak = s.peak.max(s.in_flight);
            s.latency
        };
        if !d.is_zero() {
            tokio::time::sleep(d).await;
        }
        lock(&self.inner).in_flight -= 1;
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
            .route("/v2/stocks/{symbol}/trades/latest", get(alpaca_latest))
            .route("/stock/candle", get(finnhub_candle))
            .route("/quote", get(finnhub_quote))
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
    m.delay().await;
    if !alpaca_auth(&m, &headers) {
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
    m.delay().await;
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
    period1: Option<i64>,
    period2: Option<i64>,
    /// `1d` instead of periods: the last session (what the price lookup asks).
    range: Option<String>,
    interval: String,
}

/// The newest closed bar of a listing and when its session closed.
fn last_trade(l: &Listing) -> Option<(TimeMs, f64)> {
    let c = l.bars.last()?;
    let date = chrono::DateTime::from_timestamp_millis(c.open_time)?.date_naive();
    let close = Calendar::Xnys.session(date)?.close;
    Some((close, c.close * l.raw_factor))
}

fn alpaca_auth(m: &MockStocks, headers: &HeaderMap) -> bool {
    let h = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("");
    h("apca-api-key-id") == m.alpaca_key && h("apca-api-secret-key") == m.alpaca_secret
}

async fn alpaca_latest(
    State(m): State<MockStocks>,
    Path(symbol): Path<String>,
    headers: HeaderMap,
) -> Response {
    m.delay().await;
    if !alpaca_auth(&m, &headers) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"message": "unauthorized."})),
        )
            .into_response();
    }
    match m.gate("alpaca", &symbol) {
        Err(r) => *r,
        Ok(l) => match l.as_ref().and_then(last_trade) {
            Some((t, p)) => Json(json!({"symbol": symbol, "trade": {"t": rfc3339(t), "x": "V", "p": p, "s": 100, "c": ["@"], "i": 52983525029461i64, "z": "C"}})).into_response(),
            None => (StatusCode::NOT_FOUND, Json(json!({"code": 40410000, "message": format!("symbol not found: {symbol}")}))).into_response(),
        },
    }
}

#[derive(Debug, Deserialize)]
struct FinnhubQuoteQuery {
    symbol: String,
}

async fn finnhub_quote(
    State(m): State<MockStocks>,
    headers: HeaderMap,
    Query(q): Query<FinnhubQuoteQuery>,
) -> Response {
    m.delay().await;
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
    match m.gate("finnhub", &q.symbol) {
        Err(r) => *r,
        Ok(l) => match l.as_ref().and_then(last_trade) {
            Some((t, p)) => Json(json!({"c": p, "d": 0.0, "dp": 0.0, "h": p, "l": p, "o": p, "pc": p, "t": t / 1000})).into_response(),
            // What Finnhub answers for a symbol it does not know.
            None => Json(json!({"c": 0, "d": null, "dp": null, "h": 0, "l": 0, "o": 0, "pc": 0, "t": 0})).into_response(),
        },
    }
}

async fn yahoo_chart(
    State(m): State<MockStocks>,
    Path(ticker): Path<String>,
    Query(q): Query<YahooQuery>,
) -> Response {
    m.delay().await;
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
    if q.range.is_some() {
        let Some((t, p)) = last_trade(&listing) else {
            return (StatusCode::NOT_FOUND, Json(json!({"chart": {"result": null, "error": {"code": "Not Found", "description": "No data found, symbol may be delisted"}}}))).into_response();
        };
        return Json(json!({"chart": {"result": [{
            "meta": {"currency": "USD", "symbol": ticker, "exchangeName": "NMS", "instrumentType": "EQUITY",
                     "regularMarketPrice": p, "regularMarketTime": t / 1000, "exchangeTimezoneName": "America/New_York"},
            "timestamp": [t / 1000],
            "indicators": {"quote": [{"open": [p], "high": [p], "low": [p], "close": [p], "volume": [0]}], "adjclose": [{"adjclose": [p / listing.raw_factor]}]}
        }], "error": null}})).into_response();
    }
    let (period1, period2) = (q.period1.unwrap_or(0), q.period2.unwrap_or(i64::MAX / 1000));
    // Yahoo stamps a daily bar with its session's open.
    let bars: Vec<(TimeMs, Candle)> = in_range(
        &listing.bars,
        period1 * 1000 - DAY_MS,
        period2.saturating_mul(1000),
    )
    .into_iter()
    .filter_map(|c| {
        let date = chrono::DateTime::from_timestamp_millis(c.open_time)?.date_naive();
        let open = Calendar::Xnys.session(date).map_or(c.open_time, |s| s.open);
        (open >= period1 * 1000 && open < period2.saturating_mul(1000)).then_some((open, c))
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
