//! A local stand-in for Binance's klines endpoints, speaking the real
//! protocol (paths, parameters, payload, weight header, 429 + Retry-After,
//! 418, error bodies). Tests, benchmarks and demos backfill from it; it
//! serves real candles from the repo and, for scale tests only, synthetic
//! ones for symbols whose base starts with `SYN`.

use super::parse;
use crate::config::VenueConfig;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use engine::resample::{Completeness, resample};
use engine::{Candle, Market, Symbol, TimeMs, Timeframe};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            weight_limit_per_min: 0,
            ban_after_429s: None,
            latency: Duration::ZERO,
            synthetic_from: 1_577_836_800_000,
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
                cfg,
                series: HashMap::new(),
                resampled: Mutex::default(),
                faults: Mutex::default(),
                counters: Mutex::default(),
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

    /// Queues faults for the next requests, in order.
    pub fn push_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        lock(&self.inner.faults).extend(faults);
    }

    pub fn stats(&self) -> MockStats {
        lock(&self.inner.counters).stats.clone()
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/api/v3/klines", get(spot))
            .route("/fapi/v1/klines", get(futures))
            .route(
                "/api/v3/ping",
                get(|| async { Json(serde_json::json!({})) }),
            )
            .route(
                "/mock/stats",
                get(|State(m): State<MockExchange>| async move { Json(m.stats()) }),
            )
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
            let seed = rest
                .bytes()
                .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
            let dur = tf.duration_ms();
            let first = tf.floor(
                q.start_time
                    .unwrap_or(self.inner.cfg.synthetic_from)
                    .max(self.inner.cfg.synthetic_from)
                    + dur
                    - 1,
            ) / dur;
            let last_closed = (crate::now_ms() / dur) - 1;
            let last = last_closed.min(end.div_euclid(dur));
            (first..=last)
                .take(limit as usize)
                .map(|i| synthetic(seed, tf, i))
                .collect()
        } else {
            let Some(data) = self.data(&symbol, tf) else {
                return api_error(StatusCode::BAD_REQUEST, -1121, "Invalid symbol.");
            };
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
