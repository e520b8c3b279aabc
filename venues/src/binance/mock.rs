//! A local stand-in for Binance, speaking the real protocol: the klines
//! endpoints (paths, parameters, payload, weight header, 429 + Retry-After,
//! 418, error bodies), the combined kline WebSocket stream (Binance's
//! message format, pings, server-side disconnects on demand) and the server
//! time. Tests, benchmarks and demos backfill and follow from it; it serves
//! real candles from the repo and, for scale tests only, synthetic ones for
//! symbols whose base starts with `SYN`.
//!
//! Time is the mock's [`Clock`]: the system clock, or a replay clock that
//! plays stored bars forward at a chosen speed. Only bars closed on that
//! clock are served or streamed, each published on the stream when it
//! closes, so the whole live loop runs offline.

use super::parse;

mod desk;
use crate::config::VenueConfig;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use engine::resample::{Completeness, resample};
use engine::{Candle, Market, Symbol, TimeMs, Timeframe};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use trading::clock::{Clock, SystemClock};

/// Something to go wrong with one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Serve normally.
    Pass,
    /// HTTP 429 with this Retry-After.
    TooManyRequests { retry_after_s: u64 },
    /// HTTP 418 (IP banned).
    Banned { retry_after_s: u64 },
    /// HTTP 500/502/503.
    ServerError(u16),
    /// Wait this long before answering (trips the client's timeout).
    Stall(Duration),
    /// HTTP 200 with the JSON cut in half.
    Truncated,
}

#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Weight per calendar minute before 429s; 0 = unlimited.
    pub weight_limit_per_min: u32,
    /// After this many 429s in one window, answer 418.
    pub ban_after_429s: Option<u32>,
    /// Added to every request.
    pub latency: Duration,
    /// First open time of synthetic `SYN*` series.
    pub synthetic_from: TimeMs,
    /// What "now" is: which bars are closed, when each is streamed.
    pub clock: Arc<dyn Clock>,
    /// The stream pings this often (Binance futures: 3 min)…
    pub ping_every: Duration,
    /// …and drops a client that has not ponged for this long (10 min).
    pub pong_timeout: Duration,
    /// The one USDⓈ-M account the signed endpoints accept.
    pub api_key: String,
    pub api_secret: String,
    /// Its wallet balance (USDT) and leverage, for the margin check.
    pub balance: f64,
    pub leverage: f64,
    /// Fees and slippage of its fills (the cost model's, as the backtester).
    pub costs: engine::costs::CostModel,
    /// A listen key lapses this long (wall time) after its last keep-alive.
    pub listen_key_ttl: Duration,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            weight_limit_per_min: 0,
            ban_after_429s: None,
            latency: Duration::ZERO,
            synthetic_from: 1_577_836_800_000,
            clock: Arc::new(SystemClock),
            ping_every: Duration::from_secs(180),
            pong_timeout: Duration::from_secs(600),
            api_key: "mock-api-key".into(),
            api_secret: "mock-api-secret".into(),
            balance: 10_000.0,
            leverage: 20.0,
            costs: engine::costs::CostModel::default(),
            listen_key_ttl: Duration::from_secs(3600),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MockStats {
    pub requests: u64,
    pub candles_served: u64,
    pub throttled: u64,
    pub faults: u64,
    /// Highest weight counted in any one minute window.
    pub max_window_weight: u32,
    /// Per calendar minute: (window start ms, weight, candles served), oldest first.
    pub windows: Vec<(i64, u32, u64)>,
    /// Stream connections accepted, and closed klines sent on them.
    pub ws_connections: u64,
    pub ws_bars_sent: u64,
    /// Connections dropped for not answering pings.
    pub ws_ping_timeouts: u64,
    /// Stream connections refused while streams were down.
    pub ws_refused: u64,
}

#[derive(Debug, Default)]
struct Counters {
    window: i64,
    weight: u32,
    strikes: u32,
    stats: MockStats,
}

type Series = Arc<Vec<Candle>>;

#[derive(Debug)]
struct Inner {
    cfg: MockConfig,
    /// Base series by venue symbol (`BTCUSDT`).
    series: HashMap<String, (Timeframe, Arc<Vec<Candle>>)>,
    resampled: Mutex<HashMap<(String, Timeframe), Series>>,
    faults: Mutex<VecDeque<Fault>>,
    counters: Mutex<Counters>,
    /// Venue symbols no longer served, from this time (mock clock) on.
    halted: Mutex<HashMap<String, TimeMs>>,
    /// Funding settlements (time, rate) by venue symbol, time-sorted.
    funding: HashMap<String, Arc<Vec<(TimeMs, f64)>>>,
    /// Bumped to make every stream connection close (server-side disconnect).
    disconnects: tokio::sync::watch::Sender<u64>,
    /// While set, stream connections are refused (HTTP 503), REST still answers.
    streams_down: std::sync::atomic::AtomicBool,
    /// Raw text sent on every open stream (malformed-message tests).
    inject: tokio::sync::broadcast::Sender<String>,
    /// The USDⓈ-M account: orders, positions, listen keys.
    desk: Mutex<desk::Desk>,
    /// User-data stream messages, to every open user stream.
    user_events: tokio::sync::broadcast::Sender<String>,
}

#[derive(Debug, Clone)]
pub struct MockExchange {
    inner: Arc<Inner>,
}

#[derive(Debug, Deserialize)]
struct KlineQuery {
    symbol: Option<String>,
    interval: Option<String>,
    #[serde(rename = "startTime")]
    start_time: Option<i64>,
    #[serde(rename = "endTime")]
    end_time: Option<i64>,
    limit: Option<u32>,
}

/// A signed request the venue refuses: status, Binance's code, its message.
#[derive(Debug)]
struct Refusal(StatusCode, i64, &'static str);

fn api_error(status: StatusCode, code: i64, msg: &str) -> Response {
    (
        status,
        Json(serde_json::json!({ "code": code, "msg": msg })),
    )
        .into_response()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Deterministic synthetic bar `i` of a series: a smooth random-looking walk.
fn synthetic(seed: u64, tf: Timeframe, i: i64) -> Candle {
    let mix = |x: u64| {
        let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) as f64 / u64::MAX as f64
    };
    let p = |k: i64| {
        100.0 + 20.0 * (k as f64 / 500.0).sin() + 5.0 * (k as f64 / 37.0 + seed as f64).sin()
    };
    let (open, close) = (p(i), p(i + 1));
    let u = mix(seed ^ i as u64);
    Candle {
        open_time: i * tf.duration_ms(),
        open,
        high: open.max(close) + u,
        low: open.min(close) - u,
        close,
        volume: 1000.0 * u + 1.0,
    }
}

impl MockExchange {
    pub fn new(cfg: MockConfig) -> Self {
        MockExchange {
            inner: Arc::new(Inner {
                desk: Mutex::new(desk::Desk::new(&cfg)),
                user_events: tokio::sync::broadcast::channel(4096).0,
                cfg,
                series: HashMap::new(),
                resampled: Mutex::default(),
                faults: Mutex::default(),
                counters: Mutex::default(),
                halted: Mutex::default(),
                funding: HashMap::new(),
                streams_down: Default::default(),
                disconnects: tokio::sync::watch::channel(0).0,
                inject: tokio::sync::broadcast::channel(64).0,
            }),
        }
    }

    /// Serves `candles` (sorted, unique) as `symbol` at `tf` and every multiple of it.
    pub fn with_series(mut self, symbol: &Symbol, tf: Timeframe, candles: Vec<Candle>) -> Self {
        Arc::get_mut(&mut self.inner)
            .expect("configure the mock before serving")
            .series
            .insert(symbol.concatenated(), (tf, Arc::new(candles)));
        self
    }

    /// Serves `rates` (settlement time, rate) as `symbol`'s funding history.
    pub fn with_funding(mut self, symbol: &Symbol, mut rates: Vec<(TimeMs, f64)>) -> Self {
        rates.sort_by_key(|r| r.0);
        Arc::get_mut(&mut self.inner)
            .expect("configure the mock before serving")
            .funding
            .insert(symbol.concatenated(), Arc::new(rates));
        self
    }

    /// Funding of `symbol`: what was given, else 8-hourly settlements over
    /// its bars with a deterministic rate around Binance's 0.01 % baseline
    /// (synthetic: the repo holds no funding history).
    fn funding_of(&self, symbol: &str) -> Option<Arc<Vec<(TimeMs, f64)>>> {
        if let Some(f) = self.inner.funding.get(symbol) {
            return Some(f.clone());
        }
        let (_, base) = self.inner.series.get(symbol)?;
        let (first, last) = (base.first()?.open_time, base.last()?.open_time);
        const EIGHT_H: TimeMs = 8 * 3_600_000;
        let rates = (first.div_euclid(EIGHT_H) + 1..=last.div_euclid(EIGHT_H))
            .map(|k| (k * EIGHT_H, 0.0001 + 0.00015 * ((k as f64) / 5.0).sin()))
            .collect();
        Some(Arc::new(rates))
    }

    async fn funding_history(&self, q: FundingQuery) -> Response {
        if let Err(r) = self.charge(1) {
            return *r;
        }
        let Some(rates) = self.funding_of(&q.symbol) else {
            return api_error(StatusCode::BAD_REQUEST, -1121, "Invalid symbol.");
        };
        let now = self.now();
        let limit = q.limit.unwrap_or(100).min(1000) as usize;
        let (from, to) = (
            q.start_time.unwrap_or(0),
            q.end_time.unwrap_or(i64::MAX).min(now),
        );
        let mark = self.data(&q.symbol, Timeframe::M15);
        let body: Vec<serde_json::Value> = rates
            .iter()
            .filter(|r| r.0 >= from && r.0 <= to)
            .take(limit)
            .map(|&(t, rate)| {
                let price = mark
                    .as_ref()
                    .and_then(|d| d.get(d.partition_point(|c| c.open_time < t).saturating_sub(1)))
                    .map_or(String::new(), |c| format!("{:.8}", c.close));
                serde_json::json!({ "symbol": q.symbol, "fundingRate": format!("{rate:.8}"), "fundingTime": t, "markPrice": price })
            })
            .collect();
        Json(body).into_response()
    }

    async fn premium(&self, symbol: &str) -> Response {
        if let Err(r) = self.charge(1) {
            return *r;
        }
        let Some(rates) = self.funding_of(symbol) else {
            return api_error(StatusCode::BAD_REQUEST, -1121, "Invalid symbol.");
        };
        let now = self.visible_until(symbol);
        let next = rates.iter().find(|r| r.0 > now).copied();
        let mark = self
            .data(symbol, Timeframe::M15)
            .and_then(|d| {
                d[..d.partition_point(|c| c.open_time + 900_000 <= now)]
                    .last()
                    .copied()
            })
            .map_or(0.0, |c| c.close);
        let (next_time, rate) = next.unwrap_or(((now / 28_800_000 + 1) * 28_800_000, 0.0001));
        Json(serde_json::json!({
            "symbol": symbol, "markPrice": format!("{mark:.8}"), "indexPrice": format!("{mark:.8}"),
            "estimatedSettlePrice": format!("{mark:.8}"), "lastFundingRate": format!("{rate:.8}"),
            "interestRate": "0.00010000", "nextFundingTime": next_time, "time": self.now(),
        }))
        .into_response()
    }

    /// Queues faults for the next requests, in order.
    pub fn push_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        lock(&self.inner.faults).extend(faults);
    }

    pub fn stats(&self) -> MockStats {
        lock(&self.inner.counters).stats.clone()
    }

    /// Checks a signed request as Binance does: the API key, the signature
    /// over the query before `&signature=`, the timestamp within
    /// `recvWindow` of the mock's clock. The parameters, or the venue's error.
    fn signed(&self, headers: &HeaderMap, query: &str) -> Result<HashMap<String, String>, Refusal> {
        let cfg = &self.inner.cfg;
        if headers.get("X-MBX-APIKEY").and_then(|v| v.to_str().ok()) != Some(cfg.api_key.as_str()) {
            return Err(Refusal(
                StatusCode::UNAUTHORIZED,
                -2015,
                "Invalid API-key, IP, or permissions for action.",
            ));
        }
        let Some((payload, sig)) = query.rsplit_once("&signature=") else {
            return Err(Refusal(
                StatusCode::BAD_REQUEST,
                -1102,
                "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
            ));
        };
        if super::usdm::sign::signature(&cfg.api_secret, payload) != sig {
            return Err(Refusal(
                StatusCode::BAD_REQUEST,
                -1022,
                "Signature for this request is not valid.",
            ));
        }
        let params: HashMap<String, String> =
            serde_urlencoded::from_str(payload).map_err(|_| {
                Refusal(
                    StatusCode::BAD_REQUEST,
                    -1100,
                    "Illegal characters found in a parameter.",
                )
            })?;
        let ts: Option<i64> = params.get("timestamp").and_then(|t| t.parse().ok());
        let window: i64 = params
            .get("recvWindow")
            .and_then(|w| w.parse().ok())
            .unwrap_or(5000);
        // Checked against real time (see `server_time`).
        let now = crate::now_ms();
        match ts {
            Some(t) if t <= now + 1000 && now - t <= window => Ok(params),
            _ => Err(Refusal(
                StatusCode::BAD_REQUEST,
                -1021,
                "Timestamp for this request is outside of the recvWindow.",
            )),
        }
    }

    /// `POST /fapi/v1/order/test`: validates an order as the venue would
    /// (signature, symbol, type and its prices, quantity, margin) and places nothing.
    fn test_order(&self, headers: &HeaderMap, query: &str) -> Response {
        let p = match self.signed(headers, query) {
            Ok(p) => p,
            Err(Refusal(status, code, msg)) => return api_error(status, code, msg),
        };
        let bad = |code: i64, msg: &str| api_error(StatusCode::BAD_REQUEST, code, msg);
        let symbol = p.get("symbol").cloned().unwrap_or_default();
        let last = match self.inner.series.get(&symbol) {
            Some((tf, bars)) => {
                let now = self.now();
                bars.iter()
                    .take_while(|c| c.open_time + tf.duration_ms() <= now)
                    .last()
                    .map(|c| c.close)
            }
            None if symbol.starts_with("SYN") => Some(100.0),
            None => return bad(-1121, "Invalid symbol."),
        };
        let num = |k: &str| {
            p.get(k)
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| *v > 0.0)
        };
        let Some(qty) = num("quantity") else {
            return bad(
                -1102,
                "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.",
            );
        };
        let price = match p.get("type").map(String::as_str) {
            Some("MARKET") => last,
            Some("LIMIT") => match num("price") {
                Some(px) => Some(px),
                None => {
                    return bad(
                        -1102,
                        "Mandatory parameter 'price' was not sent, was empty/null, or malformed.",
                    );
                }
            },
            Some("STOP_MARKET" | "TAKE_PROFIT_MARKET") => match num("stopPrice") {
                Some(px) => Some(px),
                None => {
                    return bad(
                        -1102,
                        "Mandatory parameter 'stopPrice' was not sent, was empty/null, or malformed.",
                    );
                }
            },
            _ => return bad(-1116, "Invalid orderType."),
        };
        if !matches!(p.get("side").map(String::as_str), Some("BUY" | "SELL")) {
            return bad(-1117, "Invalid side.");
        }
        let reduce = p.get("reduceOnly").is_some_and(|v| v == "true");
        let cfg = &self.inner.cfg;
        if !reduce && price.is_some_and(|px| qty * px / cfg.leverage > cfg.balance) {
            return bad(-2019, "Margin is insufficient.");
        }
        Json(serde_json::json!({})).into_response()
    }

    /// Now on the mock's clock.
    pub fn now(&self) -> TimeMs {
        self.inner.cfg.clock.now_ms()
    }

    pub fn clock(&self) -> Arc<dyn Clock> {
        self.inner.cfg.clock.clone()
    }

    /// Closes every open stream connection, as the venue does on maintenance.
    pub fn disconnect_streams(&self) {
        self.inner.disconnects.send_modify(|g| *g += 1);
    }

    /// Refuses (or again accepts) stream connections; open ones are closed.
    pub fn set_streams_down(&self, down: bool) {
        self.inner
            .streams_down
            .store(down, std::sync::atomic::Ordering::Relaxed);
        if down {
            self.disconnect_streams();
        }
    }

    /// Stops serving `symbol` (venue spelling, `BTCUSDT`): bars closing from
    /// now on are neither streamed nor returned by the klines endpoint.
    pub fn halt(&self, symbol: &str) {
        let now = self.now();
        lock(&self.inner.halted).insert(symbol.to_ascii_uppercase(), now);
    }

    /// Serves `symbol` again, the bars it missed included.
    pub fn resume(&self, symbol: &str) {
        lock(&self.inner.halted).remove(&symbol.to_ascii_uppercase());
    }

    /// Sends `text` as-is on every open stream.
    pub fn inject(&self, text: String) {
        let _ = self.inner.inject.send(text);
    }

    /// Bars of `symbol` visible now: closed on the mock clock and not halted.
    fn visible_until(&self, symbol: &str) -> TimeMs {
        let now = self.now();
        lock(&self.inner.halted)
            .get(symbol)
            .map_or(now, |&h| h.min(now))
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/api/v3/klines", get(spot))
            .route("/fapi/v1/klines", get(futures))
            .route(
                "/api/v3/ping",
                get(|| async { Json(serde_json::json!({})) }),
            )
            .route("/api/v3/time", get(server_time))
            .route("/fapi/v1/time", get(server_time))
            .route("/stream", get(stream))
            .route(
                "/fapi/v1/order/test",
                post(
                    |State(m): State<MockExchange>,
                     headers: HeaderMap,
                     axum::extract::RawQuery(q): axum::extract::RawQuery| async move {
                        m.test_order(&headers, q.as_deref().unwrap_or_default())
                    },
                ),
            )
            .route(
                "/fapi/v1/fundingRate",
                get(|State(m): State<MockExchange>, Query(q): Query<FundingQuery>| async move { m.funding_history(q).await }),
            )
            .route(
                "/fapi/v1/premiumIndex",
                get(|State(m): State<MockExchange>, Query(q): Query<SymbolQuery>| async move { m.premium(&q.symbol).await }),
            )
            .route(
                "/mock/stats",
                get(|State(m): State<MockExchange>| async move { Json(m.stats()) }),
            )
            .route(
                "/mock/clock",
                get(|State(m): State<MockExchange>| async move {
                    Json(serde_json::json!({ "now_ms": m.now(), "speed": m.inner.cfg.clock.speed() }))
                }),
            )
            .route(
                "/mock/disconnect",
                post(|State(m): State<MockExchange>| async move {
                    m.disconnect_streams();
                    StatusCode::NO_CONTENT
                }),
            )
            .route(
                "/mock/halt",
                post(|State(m): State<MockExchange>, Query(q): Query<SymbolQuery>| async move {
                    m.halt(&q.symbol);
                    StatusCode::NO_CONTENT
                }),
            )
            .route(
                "/mock/resume",
                post(|State(m): State<MockExchange>, Query(q): Query<SymbolQuery>| async move {
                    m.resume(&q.symbol);
                    StatusCode::NO_CONTENT
                }),
            )
            .route(
                "/mock/inject",
                post(|State(m): State<MockExchange>, body: String| async move {
                    m.inject(body);
                    StatusCode::NO_CONTENT
                }),
            )
            .merge(self.trading_routes())
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
                tracing::error!(error = %e, "mock exchange stopped");
            }
        });
        Ok((local, handle))
    }

    /// Candles of `symbol` at `tf`, resampling the base series when needed.
    fn data(&self, symbol: &str, tf: Timeframe) -> Option<Arc<Vec<Candle>>> {
        let (base_tf, base) = self.inner.series.get(symbol)?;
        if *base_tf == tf {
            return Some(base.clone());
        }
        if !tf.is_multiple_of(*base_tf) {
            return None;
        }
        let mut cache = lock(&self.inner.resampled);
        let entry = cache.entry((symbol.to_owned(), tf)).or_insert_with(|| {
            Arc::new(
                resample(base, *base_tf, tf, Completeness::CompleteOnly)
                    .map(|v| v.into_iter().map(|b| b.candle).collect())
                    .unwrap_or_default(),
            )
        });
        Some(entry.clone())
    }

    /// Charges weight; returns the window total, or a 429/418 response.
    fn charge(&self, weight: u32) -> Result<u32, Box<Response>> {
        let cfg = &self.inner.cfg;
        let now = crate::now_ms();
        let window = now.div_euclid(60_000);
        let mut c = lock(&self.inner.counters);
        if c.window != window {
            c.window = window;
            c.weight = 0;
            c.strikes = 0;
            c.stats.windows.push((window * 60_000, 0, 0));
            if c.stats.windows.len() > 120 {
                c.stats.windows.remove(0);
            }
        }
        c.stats.requests += 1;
        c.weight += weight;
        c.stats.max_window_weight = c.stats.max_window_weight.max(c.weight);
        let w = c.weight;
        if let Some(last) = c.stats.windows.last_mut() {
            last.1 = w;
        }
        if cfg.weight_limit_per_min > 0 && c.weight > cfg.weight_limit_per_min {
            c.stats.throttled += 1;
            c.strikes += 1;
            let retry = ((window + 1) * 60_000 - now).div_euclid(1000) + 1;
            let banned = cfg.ban_after_429s.is_some_and(|n| c.strikes > n);
            let (status, code, msg) = if banned {
                (
                    StatusCode::IM_A_TEAPOT,
                    -1003,
                    "Way too many requests; IP banned.",
                )
            } else {
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    -1003,
                    "Too many requests; current limit is exceeded.",
                )
            };
            let mut r = api_error(status, code, msg);
            r.headers_mut()
                .insert("retry-after", HeaderValue::from(retry));
            r.headers_mut()
                .insert("x-mbx-used-weight-1m", HeaderValue::from(c.weight));
            return Err(Box::new(r));
        }
        Ok(c.weight)
    }

    async fn klines(&self, market: Market, q: KlineQuery) -> Response {
        let venue = match market {
            Market::Spot => VenueConfig::binance_spot(),
            Market::Futures => VenueConfig::binance_futures(),
        };
        let max_limit = venue.kline_weight_tiers.last().map_or(1000, |t| t.0);
        let limit = q.limit.unwrap_or(500);
        if limit == 0 || limit > max_limit {
            return api_error(
                StatusCode::BAD_REQUEST,
                -1130,
                "Data sent for parameter 'limit' is not valid.",
            );
        }
        let weight = venue
            .kline_weight_tiers
            .iter()
            .find(|(max, _)| limit <= *max)
            .map_or(1, |t| t.1);
        let used = match self.charge(weight) {
            Ok(u) => u,
            Err(r) => return *r,
        };
        let fault = lock(&self.inner.faults).pop_front().unwrap_or(Fault::Pass);
        if fault != Fault::Pass {
            lock(&self.inner.counters).stats.faults += 1;
        }
        if !self.inner.cfg.latency.is_zero() {
            tokio::time::sleep(self.inner.cfg.latency).await;
        }
        let mut headers = HeaderMap::new();
        headers.insert("x-mbx-used-weight-1m", HeaderValue::from(used));
        match fault {
            Fault::Pass | Fault::Truncated => {}
            Fault::TooManyRequests { retry_after_s } => {
                headers.insert("retry-after", HeaderValue::from(retry_after_s));
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    headers,
                    Json(serde_json::json!({"code": -1003, "msg": "Too many requests."})),
                )
                    .into_response();
            }
            Fault::Banned { retry_after_s } => {
                headers.insert("retry-after", HeaderValue::from(retry_after_s));
                return (
                    StatusCode::IM_A_TEAPOT,
                    headers,
                    Json(serde_json::json!({"code": -1003, "msg": "IP banned."})),
                )
                    .into_response();
            }
            Fault::ServerError(code) => {
                return (
                    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                    headers,
                    "upstream error",
                )
                    .into_response();
            }
            Fault::Stall(d) => tokio::time::sleep(d).await,
        }
        let (Some(symbol), Some(interval)) = (q.symbol, q.interval) else {
            return api_error(
                StatusCode::BAD_REQUEST,
                -1102,
                "Mandatory parameter 'symbol' or 'interval' was not sent, was empty/null, or malformed.",
            );
        };
        let Ok(tf) = Timeframe::parse(&interval) else {
            return api_error(StatusCode::BAD_REQUEST, -1120, "Invalid interval.");
        };
        let end = q.end_time.unwrap_or(i64::MAX);
        let page: Vec<Candle> = if let Some(rest) = symbol.strip_prefix("SYN") {
            let seed = syn_seed(rest);
            let dur = tf.duration_ms();
            let first = tf.floor(
                q.start_time
                    .unwrap_or(self.inner.cfg.synthetic_from)
                    .max(self.inner.cfg.synthetic_from)
                    + dur
                    - 1,
            ) / dur;
            let last_closed = (self.visible_until(&symbol) / dur) - 1;
            let last = last_closed.min(end.div_euclid(dur));
            (first..=last)
                .take(limit as usize)
                .map(|i| synthetic(seed, tf, i))
                .collect()
        } else {
            let Some(data) = self.data(&symbol, tf) else {
                return api_error(StatusCode::BAD_REQUEST, -1121, "Invalid symbol.");
            };
            // Only bars closed on the mock's clock (a replay reveals them as it goes).
            let until = self.visible_until(&symbol);
            let data = &data[..data.partition_point(|c| c.open_time + tf.duration_ms() <= until)];
            let from = data.partition_point(|c| c.open_time < q.start_time.unwrap_or(i64::MIN));
            let from = if q.start_time.is_none() {
                data.len().saturating_sub(limit as usize)
            } else {
                from
            };
            data[from..]
                .iter()
                .take_while(|c| c.open_time <= end)
                .take(limit as usize)
                .copied()
                .collect()
        };
        {
            let mut c = lock(&self.inner.counters);
            c.stats.candles_served += page.len() as u64;
            if let Some(last) = c.stats.windows.last_mut() {
                last.2 += page.len() as u64;
            }
        }
        let mut body = parse::encode(&page, tf.duration_ms());
        if fault == Fault::Truncated {
            body.truncate(body.len() / 2);
        }
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        (StatusCode::OK, headers, body).into_response()
    }
}

#[derive(Debug, Deserialize)]
struct SymbolQuery {
    symbol: String,
}

#[derive(Debug, Deserialize)]
struct FundingQuery {
    symbol: String,
    #[serde(rename = "startTime")]
    start_time: Option<i64>,
    #[serde(rename = "endTime")]
    end_time: Option<i64>,
    limit: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct StreamQuery {
    streams: Option<String>,
}

/// The venue's own clock: the machine's, as Binance's is real time. The
/// replay clock decides only which bars have closed (`/mock/clock`), so
/// signed requests keep their real-time `timestamp` at any replay speed.
async fn server_time() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "serverTime": crate::now_ms() }))
}

/// Where one subscribed stream's bars come from.
#[derive(Debug)]
enum Feed {
    Real {
        data: Series,
        next: usize,
    },
    Synthetic {
        seed: u64,
        next: i64,
    },
    /// A symbol the mock does not know: subscribed, never publishes (as Binance).
    Silent,
}

#[derive(Debug)]
struct Sub {
    name: String,
    symbol: String,
    interval: String,
    tf: Timeframe,
    feed: Feed,
}

impl Sub {
    /// Close time of the next bar to publish.
    fn next_close(&self) -> Option<TimeMs> {
        let dur = self.tf.duration_ms();
        match &self.feed {
            Feed::Real { data, next } => data.get(*next).map(|c| c.open_time + dur),
            Feed::Synthetic { next, .. } => Some((next + 1) * dur),
            Feed::Silent => None,
        }
    }

    fn take(&mut self) -> Option<Candle> {
        match &mut self.feed {
            Feed::Real { data, next } => {
                let c = data.get(*next).copied();
                *next += 1;
                c
            }
            Feed::Synthetic { seed, next } => {
                let c = synthetic(*seed, self.tf, *next);
                *next += 1;
                Some(c)
            }
            Feed::Silent => None,
        }
    }
}

fn syn_seed(rest: &str) -> u64 {
    rest.bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
}

/// `GET /stream?streams=btcusdt@kline_15m/…`: Binance's combined stream.
async fn stream(
    State(m): State<MockExchange>,
    Query(q): Query<StreamQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    if m.inner
        .streams_down
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        lock(&m.inner.counters).stats.ws_refused += 1;
        return (StatusCode::SERVICE_UNAVAILABLE, "streams are down").into_response();
    }
    let Some(streams) = q.streams.filter(|s| !s.is_empty()) else {
        return api_error(
            StatusCode::BAD_REQUEST,
            -1102,
            "Parameter 'streams' was not sent.",
        );
    };
    let now = m.now();
    let mut subs = Vec::new();
    for name in streams.split('/') {
        let parsed = name
            .split_once("@kline_")
            .and_then(|(sym, i)| Timeframe::parse(i).ok().map(|tf| (sym, i, tf)));
        let Some((sym, interval, tf)) = parsed else {
            return api_error(
                StatusCode::BAD_REQUEST,
                -1121,
                &format!("Invalid stream name {name:?}."),
            );
        };
        let symbol = sym.to_ascii_uppercase();
        let dur = tf.duration_ms();
        let feed = if let Some(rest) = symbol.strip_prefix("SYN") {
            Feed::Synthetic {
                seed: syn_seed(rest),
                next: now.div_euclid(dur),
            }
        } else {
            match m.data(&symbol, tf) {
                Some(data) => {
                    let next = data.partition_point(|c| c.open_time + dur <= now);
                    Feed::Real { data, next }
                }
                None => Feed::Silent,
            }
        };
        subs.push(Sub {
            name: name.to_owned(),
            symbol,
            interval: interval.to_owned(),
            tf,
            feed,
        });
    }
    ws.on_upgrade(move |socket| m.session(socket, subs))
}

impl MockExchange {
    /// One stream connection: publishes each subscribed bar when it closes
    /// on the mock clock (a forming update first, then the final one, as
    /// Binance does), pings, and closes on a disconnect request.
    async fn session(self, mut socket: WebSocket, mut subs: Vec<Sub>) {
        lock(&self.inner.counters).stats.ws_connections += 1;
        let cfg = &self.inner.cfg;
        let mut disconnects = self.inner.disconnects.subscribe();
        disconnects.mark_unchanged();
        let mut inject = self.inner.inject.subscribe();
        let mut ping = tokio::time::interval(cfg.ping_every);
        ping.tick().await;
        let mut last_pong = Instant::now();
        loop {
            let next = subs.iter().filter_map(Sub::next_close).min();
            let wait = next.map_or(Duration::from_secs(3600), |t| cfg.clock.wall_until(t));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {
                    let now = cfg.clock.now_ms();
                    let mut due: Vec<(TimeMs, usize)> = subs
                        .iter()
                        .enumerate()
                        .filter_map(|(i, s)| s.next_close().filter(|&t| t <= now).map(|t| (t, i)))
                        .collect();
                    due.sort_unstable();
                    for (close, i) in due {
                        let s = &mut subs[i];
                        while s.next_close().is_some_and(|t| t <= now) {
                            let Some(c) = s.take() else { break };
                            let dur = s.tf.duration_ms();
                            let halted = lock(&self.inner.halted).get(&s.symbol).is_some_and(|&h| c.open_time + dur > h);
                            if halted {
                                continue;
                            }
                            for closed in [false, true] {
                                let text = parse::encode_stream_kline(&s.name, &s.symbol, &s.interval, &c, dur, closed, close.max(c.open_time + dur));
                                if socket.send(Message::Text(text.into())).await.is_err() {
                                    return;
                                }
                            }
                            lock(&self.inner.counters).stats.ws_bars_sent += 1;
                        }
                    }
                }
                _ = ping.tick() => {
                    if last_pong.elapsed() > cfg.pong_timeout {
                        lock(&self.inner.counters).stats.ws_ping_timeouts += 1;
                        let _ = socket.send(Message::Close(None)).await;
                        return;
                    }
                    if socket.send(Message::Ping(b"mock".to_vec().into())).await.is_err() {
                        return;
                    }
                }
                m = socket.recv() => match m {
                    Some(Ok(Message::Pong(_))) => last_pong = Instant::now(),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => {}
                },
                _ = disconnects.changed() => {
                    // A clean close: the client's reply is awaited (briefly), so
                    // it sees a close frame rather than a reset connection.
                    if socket.send(Message::Close(None)).await.is_ok() {
                        let _ = tokio::time::timeout(Duration::from_secs(1), async {
                            while let Some(Ok(m)) = socket.recv().await {
                                if matches!(m, Message::Close(_)) {
                                    break;
                                }
                            }
                        })
                        .await;
                    }
                    return;
                }
                t = inject.recv() => {
                    if let Ok(t) = t && socket.send(Message::Text(t.into())).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

async fn spot(State(m): State<MockExchange>, Query(q): Query<KlineQuery>) -> Response {
    m.klines(Market::Spot, q).await
}

async fn futures(State(m): State<MockExchange>, Query(q): Query<KlineQuery>) -> Response {
    m.klines(Market::Futures, q).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_bars_are_deterministic_and_valid() {
        for i in [0, 1, 12345, 9_000_000] {
            let a = synthetic(3, Timeframe::M1, i);
            assert_eq!(a, synthetic(3, Timeframe::M1, i));
            assert!(
                a.validate_values().is_ok() && a.consistency().is_ok(),
                "{a:?}"
            );
            assert_eq!(a.open_time, i * 60_000);
        }
        assert_eq!(
            synthetic(3, Timeframe::M1, 5).close,
            synthetic(3, Timeframe::M1, 6).open,
            "continuous path"
        );
    }
}
