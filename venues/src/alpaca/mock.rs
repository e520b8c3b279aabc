//! A mock Alpaca paper broker: `/v2/orders` (simple and `oco`, by id and
//! by client id, listed with legs nested, canceled, replaced), `/v2/positions`,
//! `/v2/account`, `/v2/assets/{symbol}`, the `FILL` activities and the
//! `trade_updates` stream, each as Alpaca shapes it and refuses it:
//! keys in `APCA-API-KEY-ID`/`APCA-API-SECRET-KEY` (401 otherwise); a
//! closing order beyond what the position has left beside its resting exits
//! is "insufficient qty available" (403); advanced (`oco`) orders and
//! resting orders take whole shares; a stop the price has passed is a 422;
//! too little buying power a 403; a request budget per minute (429 with
//! `X-RateLimit-Reset`).
//!
//! Orders are matched by the trading core's `SimVenue` against replayed
//! bars as each closes on the mock's clock — the paper venue's fills on the
//! same bars, so a test compares the client and the account, not two fill
//! models. Matching happens at each request and on the stream's tick.

use super::client::rfc3339;
use super::wire::{self, Fill, NewOrder, Replace};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use engine::costs::CostModel;
use engine::{Candle, TimeMs, Timeframe};
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;
use trading::clock::Clock;
use trading::execution::{ExecError, VenueEvent};
use trading::order::{OrderEvent, OrderKind, OrderRequest, OrderSide, Purpose};
use trading::sim::{SimConfig, SimVenue};

#[derive(Debug, Clone)]
pub struct MockConfig {
    pub clock: Arc<dyn Clock>,
    pub key_id: String,
    pub secret: String,
    /// Cash at the start (USD).
    pub cash: f64,
    /// 1: a cash account; 2: Reg T margin (shorts need it).
    pub multiplier: u32,
    /// Slippage of market and stop fills; Alpaca charges no commission, so
    /// fees here should be zero.
    pub costs: CostModel,
    /// Requests per wall-clock minute before 429s; 0: unlimited (Alpaca: 200).
    pub requests_per_min: u32,
}

impl MockConfig {
    pub fn new(clock: Arc<dyn Clock>) -> MockConfig {
        MockConfig {
            clock,
            key_id: "mock-key-id".into(),
            secret: "mock-secret".into(),
            cash: 100_000.0,
            multiplier: 2,
            costs: CostModel {
                maker_bps: 0.0,
                taker_bps: 0.0,
                slippage_bps: 2.0,
                funding_bps_per_hour: 0.0,
            },
            requests_per_min: 0,
        }
    }
}

/// One order as the broker holds it; `sim` is its id in the matcher.
#[derive(Debug, Clone)]
struct Held {
    order: wire::Order,
    /// The pair's order (for a leg).
    parent: Option<String>,
    sim: String,
}

#[derive(Debug)]
struct Broker {
    sim: SimVenue,
    matched: HashMap<String, TimeMs>,
    /// Alpaca order id → order.
    orders: HashMap<String, Held>,
    /// Placement order of top-level orders (listings are newest first).
    placed: Vec<String>,
    /// Client order id → Alpaca id.
    by_client: HashMap<String, String>,
    /// Matcher id → the Alpaca id that stands for it now (a replaced leg
    /// keeps its matcher id).
    by_sim: HashMap<String, String>,
    fills: Vec<Fill>,
    next: u64,
    /// Wall-clock minute and requests in it.
    window: (u64, u32),
    /// The next `n` placements are carried out, then answered after `delay`.
    stall: Option<(u32, Duration)>,
    requests: u64,
}

#[derive(Debug)]
struct Inner {
    cfg: MockConfig,
    series: HashMap<String, (Timeframe, Arc<Vec<Candle>>)>,
    broker: Mutex<Broker>,
    updates: broadcast::Sender<String>,
    disconnects: tokio::sync::watch::Sender<u64>,
}

#[derive(Debug, Clone)]
pub struct MockBroker {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn refuse(status: StatusCode, code: i64, message: impl Into<String>) -> Response {
    let body = wire::ApiError {
        code: Some(code),
        message: message.into(),
    };
    (status, Json(body)).into_response()
}

fn not_found() -> Response {
    refuse(StatusCode::NOT_FOUND, 40410000, "order not found")
}

fn closed(status: &str) -> bool {
    matches!(
        status,
        "filled" | "canceled" | "expired" | "replaced" | "rejected" | "done_for_day"
    )
}

impl MockBroker {
    pub fn new(cfg: MockConfig) -> MockBroker {
        let sim = SimVenue::new(
            super::VENUE,
            SimConfig {
                costs: cfg.costs,
                balance: Decimal::from_f64_retain(cfg.cash)
                    .unwrap_or_default()
                    .round_dp(2),
                leverage: cfg.multiplier.max(1),
            },
        );
        MockBroker {
            inner: Arc::new(Inner {
                cfg,
                series: HashMap::new(),
                broker: Mutex::new(Broker {
                    sim,
                    matched: HashMap::new(),
                    orders: HashMap::new(),
                    placed: Vec::new(),
                    by_client: HashMap::new(),
                    by_sim: HashMap::new(),
                    fills: Vec::new(),
                    next: 1,
                    window: (0, 0),
                    stall: None,
                    requests: 0,
                }),
                updates: broadcast::channel(65_536).0,
                disconnects: tokio::sync::watch::channel(0).0,
            }),
        }
    }

    /// Replays `candles` as `ticker`'s bars (`NVDA`).
    pub fn with_series(mut self, ticker: &str, tf: Timeframe, candles: Vec<Candle>) -> Self {
        Arc::get_mut(&mut self.inner)
            .expect("configure the mock before serving")
            .series
            .insert(ticker.to_string(), (tf, Arc::new(candles)));
        self
    }

    pub async fn spawn(
        &self,
        addr: SocketAddr,
    ) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let app = self.router();
        let handle = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "mock broker stopped");
            }
        });
        Ok((local, handle))
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/v2/account", get(account))
            .route("/v2/positions", get(positions))
            .route("/v2/assets/{symbol}", get(asset))
            .route("/v2/orders", get(list).post(place))
            .route("/v2/orders:by_client_order_id", get(by_client))
            .route("/v2/orders/{id}", get(by_id).delete(cancel).patch(replace))
            .route("/v2/account/activities/FILL", get(activities))
            .route("/stream", get(stream))
            .with_state(self.clone())
    }

    fn now(&self) -> TimeMs {
        self.inner.cfg.clock.now_ms()
    }

    /// Requests answered so far.
    pub fn requests(&self) -> u64 {
        lock(&self.inner.broker).requests
    }

    /// Orders taken (each leg counts).
    pub fn orders_placed(&self) -> usize {
        lock(&self.inner.broker).sim.order_count()
    }

    /// The next `n` placements are carried out, then answered after `delay`
    /// (past the client's timeout: the answer is lost).
    pub fn stall_orders(&self, n: u32, delay: Duration) {
        lock(&self.inner.broker).stall = Some((n, delay));
    }

    /// Closes every trading stream.
    pub fn disconnect_streams(&self) {
        self.inner.disconnects.send_modify(|n| *n += 1);
    }

    /// Cash plus positions at cost, and positions, as the matcher holds them.
    pub fn account(&self) -> trading::execution::AccountSnapshot {
        let now = self.now();
        let mut b = lock(&self.inner.broker);
        self.catch_up(&mut b, now);
        b.sim.snapshot(now)
    }

    /// Places an order as the account's owner would on Alpaca's site.
    pub fn place_foreign(&self, o: &NewOrder) -> Result<(), String> {
        let now = self.now();
        let mut b = lock(&self.inner.broker);
        self.ensure(&mut b, &o.symbol, now);
        let r = self.submit(&mut b, o, now);
        self.publish(&mut b, now);
        r.map(|_| ()).map_err(|(_, _, m)| m)
    }

    fn id(b: &mut Broker) -> String {
        let n = b.next;
        b.next += 1;
        format!(
            "{:08x}-4d1c-4a6e-9f3b-{:012x}",
            0x6a1f_0000u32 + n as u32,
            n
        )
    }

    fn ensure(&self, b: &mut Broker, symbol: &str, now: TimeMs) {
        if b.matched.contains_key(symbol) {
            return;
        }
        let Some((tf, bars)) = self.inner.series.get(symbol) else {
            return;
        };
        let dur = tf.duration_ms();
        // Bars closed by now are history; matching starts at the next.
        let i = bars.partition_point(|c| c.open_time + dur <= now);
        let from = bars.get(i).map_or(now, |c| c.open_time.min(now));
        b.matched.insert(symbol.to_string(), from);
        Self::quote(b, symbol, bars, i);
    }

    /// The price a market order gets now: the open of bar `i`, the one
    /// forming or the next session's (an order placed while the market is
    /// shut fills at the next open, as Alpaca's queued day orders do); past
    /// the last bar, its close.
    fn quote(b: &mut Broker, symbol: &str, bars: &[Candle], i: usize) {
        match (bars.get(i), i.checked_sub(1).and_then(|k| bars.get(k))) {
            (Some(c), _) => b.sim.set_price(symbol, c.open),
            (None, Some(last)) => b.sim.set_price(symbol, last.close),
            _ => {}
        }
    }

    /// Every bar closed since the last call meets the open orders; the
    /// price becomes the open of the bar forming (or the next).
    fn catch_up(&self, b: &mut Broker, now: TimeMs) {
        let symbols: Vec<(String, TimeMs)> =
            b.matched.iter().map(|(s, t)| (s.clone(), *t)).collect();
        for (symbol, from) in symbols {
            let Some((tf, bars)) = self.inner.series.get(&symbol) else {
                continue;
            };
            let dur = tf.duration_ms();
            let start = bars.partition_point(|c| c.open_time < from);
            let end = bars
                .partition_point(|c| c.open_time + dur <= now)
                .max(start);
            if end == start {
                continue;
            }
            for c in &bars[start..end] {
                b.sim.bar(&symbol, c, dur);
            }
            b.matched
                .insert(symbol.clone(), bars[end - 1].open_time + dur);
            Self::quote(b, &symbol, bars, end);
        }
        self.publish(b, now);
    }

    /// The matcher's events onto the orders, the fills and the stream.
    fn publish(&self, b: &mut Broker, now: TimeMs) {
        for e in b.sim.take_events() {
            let VenueEvent::Order {
                time,
                client_id,
                event,
                ..
            } = e
            else {
                continue;
            };
            let Some(id) = b.by_sim.get(&client_id).cloned() else {
                continue;
            };
            let stamp = rfc3339(time);
            let mut fill = None;
            let name = {
                let Some(h) = b.orders.get_mut(&id) else {
                    continue;
                };
                let o = &mut h.order;
                o.updated_at = Some(stamp.clone());
                match &event {
                    OrderEvent::Accepted { .. } => continue,
                    OrderEvent::Filled(f) => {
                        let before = o.filled_qty;
                        o.filled_qty += f.qty;
                        let avg = o.filled_avg_price.unwrap_or_default();
                        o.filled_avg_price =
                            Some(((avg * before + f.price * f.qty) / o.filled_qty).round_dp(8));
                        let done = Some(o.filled_qty) >= o.qty;
                        o.status = if done { "filled" } else { "partially_filled" }.into();
                        if done {
                            o.filled_at = Some(stamp.clone());
                        }
                        fill = Some(f.clone());
                        if done { "fill" } else { "partial_fill" }
                    }
                    OrderEvent::Canceled { .. } => {
                        o.status = "canceled".into();
                        o.canceled_at = Some(stamp.clone());
                        "canceled"
                    }
                    OrderEvent::Expired => {
                        // A closing order whose position is gone: Alpaca cancels it.
                        o.status = "canceled".into();
                        o.canceled_at = Some(stamp.clone());
                        "canceled"
                    }
                    OrderEvent::Rejected { .. } => {
                        o.status = "rejected".into();
                        "rejected"
                    }
                    _ => continue,
                }
            };
            let order = self.view(b, &id);
            let mut data = serde_json::json!({
                "event": name, "order": order, "timestamp": stamp,
            });
            if let Some(f) = fill {
                // One execution: its id in the stream and in the activity.
                let exec = format!(
                    "e7c2{:04x}-0f3a-4b5c-8d6e-{:012x}",
                    b.fills.len() % 0xffff,
                    b.fills.len() + 1
                );
                let o = &b.orders[&id].order;
                let digits: String = stamp.chars().filter(char::is_ascii_digit).collect();
                b.fills.push(Fill {
                    id: format!("{digits}::{exec}"),
                    activity_type: "FILL".into(),
                    transaction_time: stamp.clone(),
                    kind: if o.status == "filled" {
                        "fill"
                    } else {
                        "partial_fill"
                    }
                    .into(),
                    price: f.price,
                    qty: f.qty,
                    side: o.side.clone(),
                    symbol: o.symbol.clone(),
                    leaves_qty: o.qty.unwrap_or_default() - o.filled_qty,
                    order_id: id.clone(),
                    cum_qty: o.filled_qty,
                    order_status: o.status.clone(),
                });
                let pos = b
                    .sim
                    .snapshot(now)
                    .positions
                    .iter()
                    .find(|p| p.symbol == o.symbol)
                    .map_or(Decimal::ZERO, |p| p.qty);
                data["execution_id"] = serde_json::json!(exec);
                data["price"] = serde_json::json!(f.price);
                data["qty"] = serde_json::json!(f.qty);
                data["position_qty"] = serde_json::json!(pos);
            }
            let msg = serde_json::json!({"stream": "trade_updates", "data": data});
            let _ = self.inner.updates.send(msg.to_string());
        }
    }

    /// The order `id` as Alpaca shows it: legs nested, current.
    fn view(&self, b: &Broker, id: &str) -> wire::Order {
        let mut o = b.orders[id].order.clone();
        if let Some(legs) = &o.legs {
            o.legs = Some(
                legs.iter()
                    .filter_map(|l| b.orders.get(&l.id).map(|h| h.order.clone()))
                    .collect(),
            );
        }
        o
    }

    /// Quantity of the position in `symbol` not held by resting closing
    /// orders (a pair holds its quantity once), and the position.
    fn available(b: &Broker, symbol: &str, now: TimeMs) -> (Decimal, Decimal) {
        let pos = b
            .sim
            .snapshot(now)
            .positions
            .iter()
            .find(|p| p.symbol == symbol)
            .map_or(Decimal::ZERO, |p| p.qty);
        let closing = if pos > Decimal::ZERO { "sell" } else { "buy" };
        let held: Decimal = b
            .orders
            .values()
            .filter(|h| h.parent.is_none() && h.order.symbol == symbol)
            .filter(|h| h.order.side == closing && !closed(&h.order.status))
            .map(|h| h.order.qty.unwrap_or_default() - h.order.filled_qty)
            .sum();
        (pos.abs() - held, pos)
    }

    fn submit(
        &self,
        b: &mut Broker,
        n: &NewOrder,
        now: TimeMs,
    ) -> Result<wire::Order, (StatusCode, i64, String)> {
        let unprocessable = |m: &str| (StatusCode::UNPROCESSABLE_ENTITY, 42210000, m.to_string());
        if !self.inner.series.contains_key(&n.symbol) {
            return Err((
                StatusCode::UNPROCESSABLE_ENTITY,
                40010001,
                format!("asset \"{}\" not found", n.symbol),
            ));
        }
        if b.by_client.contains_key(&n.client_order_id) {
            return Err((
                StatusCode::UNPROCESSABLE_ENTITY,
                40010001,
                "client_order_id must be unique".into(),
            ));
        }
        if n.qty <= Decimal::ZERO {
            return Err(unprocessable("qty must be > 0"));
        }
        let oco = n.order_class.as_deref() == Some("oco");
        let whole = n.qty.fract().is_zero();
        if !whole && (oco || n.kind == "stop" || n.time_in_force != "day") {
            return Err(unprocessable(if oco {
                "fractional orders must be simple orders"
            } else {
                "fractional orders must be DAY orders"
            }));
        }
        let side = match n.side.as_str() {
            "buy" => OrderSide::Buy,
            "sell" => OrderSide::Sell,
            _ => return Err(unprocessable("invalid side")),
        };
        let (left, pos) = Self::available(b, &n.symbol, now);
        let closes = (pos > Decimal::ZERO && side == OrderSide::Sell)
            || (pos < Decimal::ZERO && side == OrderSide::Buy);
        if closes && n.qty > left {
            return Err((
                StatusCode::FORBIDDEN,
                40310000,
                format!(
                    "insufficient qty available for order (requested: {}, available: {left})",
                    n.qty
                ),
            ));
        }
        if oco && !closes {
            return Err(unprocessable("oco orders must be exit orders"));
        }
        let kind = match (n.kind.as_str(), oco) {
            ("limit", true) => {
                let Some(tp) = &n.take_profit else {
                    return Err(unprocessable("oco orders require take_profit.limit_price"));
                };
                OrderKind::Limit {
                    price: tp.limit_price,
                }
            }
            ("market", false) => OrderKind::Market,
            ("limit", false) => OrderKind::Limit {
                price: n
                    .limit_price
                    .ok_or_else(|| unprocessable("limit orders require limit_price"))?,
            },
            ("stop", false) => OrderKind::StopMarket {
                trigger: n
                    .stop_price
                    .ok_or_else(|| unprocessable("stop orders require stop_price"))?,
            },
            _ => return Err(unprocessable("order type not supported by this account")),
        };
        let id = Self::id(b);
        let req = OrderRequest {
            client_id: id.clone(),
            symbol: n.symbol.clone(),
            side,
            kind,
            qty: n.qty,
            reduce_only: closes,
            purpose: Purpose::Entry,
        };
        let stamp = rfc3339(now);
        let order = |id: &str, client: &str, kind: &str, limit, stop, class: &str, status: &str| {
            wire::Order {
                id: id.to_string(),
                client_order_id: client.to_string(),
                created_at: stamp.clone(),
                updated_at: Some(stamp.clone()),
                submitted_at: Some(stamp.clone()),
                filled_at: None,
                canceled_at: None,
                replaced_by: None,
                replaces: None,
                symbol: n.symbol.clone(),
                qty: Some(n.qty),
                filled_qty: Decimal::ZERO,
                filled_avg_price: None,
                order_class: class.to_string(),
                kind: kind.to_string(),
                side: n.side.clone(),
                time_in_force: n.time_in_force.clone(),
                limit_price: limit,
                stop_price: stop,
                status: status.to_string(),
                extended_hours: false,
                legs: None,
            }
        };
        let refusal = |e: ExecError, stop: Option<Decimal>| match e {
            ExecError::WouldTrigger { .. } => {
                let (rel, sign) = if side == OrderSide::Sell {
                    ("greater", "-")
                } else {
                    ("less", "+")
                };
                (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    42210000,
                    format!(
                        "stop price must not be {rel} than base price {sign} 0.01 (stop_price: {})",
                        stop.unwrap_or_default()
                    ),
                )
            }
            ExecError::InsufficientMargin { .. } => (
                StatusCode::FORBIDDEN,
                40310000,
                "insufficient buying power".to_string(),
            ),
            e => (StatusCode::UNPROCESSABLE_ENTITY, 42210000, e.to_string()),
        };
        if oco {
            let Some(sl) = &n.stop_loss else {
                return Err(unprocessable("oco orders require stop_loss.stop_price"));
            };
            let leg_id = Self::id(b);
            let stop = OrderRequest {
                client_id: leg_id.clone(),
                kind: OrderKind::StopMarket {
                    trigger: sl.stop_price,
                },
                ..req.clone()
            };
            b.sim
                .submit_oco(now, &req, &stop)
                .map_err(|e| refusal(e, Some(sl.stop_price)))?;
            let tp = n.take_profit.as_ref().map(|t| t.limit_price);
            let leg_client = format!(
                "{:08x}-0c4a-4f51-9a3b-{:012x}",
                0x0c4a_0000u32 + b.next as u32,
                b.next
            );
            let leg = order(
                &leg_id,
                &leg_client,
                "stop",
                None,
                Some(sl.stop_price),
                "oco",
                "held",
            );
            let mut parent = order(&id, &n.client_order_id, "limit", tp, None, "oco", "new");
            parent.legs = Some(vec![leg.clone()]);
            b.orders.insert(
                leg_id.clone(),
                Held {
                    order: leg,
                    parent: Some(id.clone()),
                    sim: leg_id.clone(),
                },
            );
            b.by_client.insert(leg_client, leg_id.clone());
            b.by_sim.insert(leg_id.clone(), leg_id);
            b.orders.insert(
                id.clone(),
                Held {
                    order: parent,
                    parent: None,
                    sim: id.clone(),
                },
            );
        } else {
            b.sim
                .submit(now, &req)
                .map_err(|e| refusal(e, n.stop_price))?;
            let o = order(
                &id,
                &n.client_order_id,
                &n.kind,
                n.limit_price,
                n.stop_price,
                "simple",
                "new",
            );
            b.orders.insert(
                id.clone(),
                Held {
                    order: o,
                    parent: None,
                    sim: id.clone(),
                },
            );
        }
        b.by_client.insert(n.client_order_id.clone(), id.clone());
        b.by_sim.insert(id.clone(), id.clone());
        b.placed.push(id.clone());
        // A market order fills at once: its events land on the order now.
        self.publish(b, now);
        Ok(self.view(b, &id))
    }

    /// Checks the keys and the request budget; then matches what closed.
    fn desk<R>(
        &self,
        headers: &HeaderMap,
        symbol: Option<&str>,
        f: impl FnOnce(&Self, &mut Broker, TimeMs) -> R,
    ) -> Result<R, Box<Response>> {
        let cfg = &self.inner.cfg;
        let h = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("");
        if h("apca-api-key-id") != cfg.key_id || h("apca-api-secret-key") != cfg.secret {
            return Err(Box::new(refuse(
                StatusCode::UNAUTHORIZED,
                40110000,
                "request is not authorized",
            )));
        }
        let now = self.now();
        let mut b = lock(&self.inner.broker);
        b.requests += 1;
        if cfg.requests_per_min > 0 {
            let minute = (crate::now_ms() / 60_000) as u64;
            if b.window.0 != minute {
                b.window = (minute, 0);
            }
            b.window.1 += 1;
            if b.window.1 > cfg.requests_per_min {
                let reset = (minute + 1) * 60;
                let mut r = refuse(
                    StatusCode::TOO_MANY_REQUESTS,
                    42910000,
                    "rate limit exceeded",
                );
                r.headers_mut().insert(
                    "x-ratelimit-reset",
                    reset.to_string().parse().expect("digits"),
                );
                return Err(Box::new(r));
            }
        }
        if let Some(s) = symbol {
            self.ensure(&mut b, s, now);
        }
        self.catch_up(&mut b, now);
        let r = f(self, &mut b, now);
        self.publish(&mut b, now);
        Ok(r)
    }

    fn find(b: &Broker, id: &str) -> Option<String> {
        b.orders.contains_key(id).then(|| id.to_string())
    }
}

fn answer(r: Result<Response, Box<Response>>) -> Response {
    r.unwrap_or_else(|e| *e)
}

async fn account(State(m): State<MockBroker>, headers: HeaderMap) -> Response {
    answer(m.desk(&headers, None, |m, b, now| {
        let s = b.sim.snapshot(now);
        let at_cost: Decimal = s.positions.iter().map(|p| p.qty * p.entry_price).sum();
        let value: Decimal = s
            .positions
            .iter()
            .map(|p| {
                let px = b
                    .sim
                    .price(&p.symbol)
                    .and_then(Decimal::from_f64_retain)
                    .unwrap_or(p.entry_price);
                p.qty * px.round_dp(4)
            })
            .sum();
        let cash = s.balance - at_cost;
        let lev = Decimal::from(m.inner.cfg.multiplier.max(1));
        Json(wire::Account {
            id: "2f0e8a6c-1b7d-4c55-9e3a-7a1d0c9b4e21".into(),
            account_number: Some("PA3MOCK0001".into()),
            status: "ACTIVE".into(),
            currency: Some("USD".into()),
            cash,
            buying_power: (s.available * lev).round_dp(2),
            equity: Some(cash + value),
            multiplier: Some(lev),
            trading_blocked: false,
            account_blocked: false,
            shorting_enabled: m.inner.cfg.multiplier > 1,
        })
        .into_response()
    }))
}

async fn positions(State(m): State<MockBroker>, headers: HeaderMap) -> Response {
    answer(m.desk(&headers, None, |_, b, now| {
        let s = b.sim.snapshot(now);
        let list: Vec<wire::Position> = s
            .positions
            .iter()
            .map(|p| {
                let (left, _) = MockBroker::available(b, &p.symbol, now);
                wire::Position {
                    symbol: p.symbol.clone(),
                    qty: p.qty,
                    side: if p.qty > Decimal::ZERO {
                        "long"
                    } else {
                        "short"
                    }
                    .into(),
                    avg_entry_price: p.entry_price,
                    cost_basis: p.qty * p.entry_price,
                    market_value: None,
                    qty_available: Some(left),
                }
            })
            .collect();
        Json(list).into_response()
    }))
}

async fn asset(
    State(m): State<MockBroker>,
    headers: HeaderMap,
    Path(symbol): Path<String>,
) -> Response {
    answer(m.desk(&headers, None, |m, _, _| {
        if !m.inner.series.contains_key(&symbol) {
            return refuse(
                StatusCode::NOT_FOUND,
                40410000,
                format!("asset not found for {symbol}"),
            );
        }
        Json(wire::Asset {
            symbol: symbol.clone(),
            status: "active".into(),
            tradable: true,
            shortable: true,
            fractionable: true,
            easy_to_borrow: true,
        })
        .into_response()
    }))
}

async fn place(
    State(m): State<MockBroker>,
    headers: HeaderMap,
    body: Result<Json<NewOrder>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(n)) = body else {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            40010000,
            "request body format is invalid",
        );
    };
    let mut stall = None;
    let r = m.desk(&headers, Some(&n.symbol.clone()), |m, b, now| {
        if let Some((k, d)) = b.stall {
            stall = Some(d);
            b.stall = (k > 1).then(|| (k - 1, d));
        }
        match m.submit(b, &n, now) {
            Ok(o) => Json(o).into_response(),
            Err((s, c, msg)) => refuse(s, c, msg),
        }
    });
    if let Some(d) = stall {
        tokio::time::sleep(d).await;
    }
    answer(r)
}

#[derive(Debug, serde::Deserialize)]
struct ListQuery {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    symbols: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    nested: Option<bool>,
}

async fn list(
    State(m): State<MockBroker>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    answer(m.desk(&headers, None, |m, b, _| {
        let want = q.status.as_deref().unwrap_or("open");
        let symbols: Option<Vec<&str>> = q.symbols.as_deref().map(|s| s.split(',').collect());
        let out: Vec<wire::Order> = b
            .placed
            .iter()
            .rev()
            .map(|id| m.view(b, id))
            .filter(|o| match want {
                "open" => !closed(&o.status) || o.legs.iter().flatten().any(|l| !closed(&l.status)),
                "closed" => closed(&o.status),
                _ => true,
            })
            .filter(|o| {
                symbols
                    .as_ref()
                    .is_none_or(|s| s.contains(&o.symbol.as_str()))
            })
            .map(|mut o| {
                if q.nested != Some(true) {
                    o.legs = None;
                }
                o
            })
            .take(q.limit.unwrap_or(50).min(500))
            .collect();
        Json(out).into_response()
    }))
}

#[derive(Debug, serde::Deserialize)]
struct ClientQuery {
    client_order_id: String,
}

async fn by_client(
    State(m): State<MockBroker>,
    headers: HeaderMap,
    Query(q): Query<ClientQuery>,
) -> Response {
    answer(m.desk(
        &headers,
        None,
        |m, b, _| match b.by_client.get(&q.client_order_id) {
            Some(id) => Json(m.view(b, id)).into_response(),
            None => not_found(),
        },
    ))
}

async fn by_id(
    State(m): State<MockBroker>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    answer(
        m.desk(&headers, None, |m, b, _| match MockBroker::find(b, &id) {
            Some(id) => Json(m.view(b, &id)).into_response(),
            None => not_found(),
        }),
    )
}

async fn cancel(
    State(m): State<MockBroker>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    answer(m.desk(&headers, None, |_, b, now| {
        let Some(h) = b.orders.get(&id).cloned() else {
            return not_found();
        };
        if closed(&h.order.status) {
            return refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                42210000,
                "order is not cancelable",
            );
        }
        // A pair is canceled as one, by either of its orders.
        let target = h
            .parent
            .clone()
            .map_or(h.sim.clone(), |p| b.orders[&p].sim.clone());
        match b.sim.cancel(now, &target) {
            Ok(_) => StatusCode::NO_CONTENT.into_response(),
            Err(_) => refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                42210000,
                "order is not cancelable",
            ),
        }
    }))
}

async fn replace(
    State(m): State<MockBroker>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<Replace>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(r)) = body else {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            40010000,
            "request body format is invalid",
        );
    };
    answer(m.desk(&headers, None, |m, b, now| {
        let Some(h) = b.orders.get(&id).cloned() else {
            return not_found();
        };
        if closed(&h.order.status) {
            return refuse(StatusCode::UNPROCESSABLE_ENTITY, 42210000, "order is not replaceable");
        }
        let (Some(stop), true, None, None) = (r.stop_price, h.order.kind == "stop", r.qty, r.limit_price) else {
            return refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                42210000,
                "this account replaces only the stop_price of a stop order",
            );
        };
        if let Some(c) = &r.client_order_id
            && b.by_client.contains_key(c)
        {
            return refuse(StatusCode::UNPROCESSABLE_ENTITY, 40010001, "client_order_id must be unique");
        }
        if let Err(e) = b.sim.replace_stop(now, &h.sim, stop) {
            let msg = match e {
                ExecError::WouldTrigger { .. } if h.order.side == "sell" => {
                    format!("stop price must not be greater than base price - 0.01 (stop_price: {stop})")
                }
                ExecError::WouldTrigger { .. } => {
                    format!("stop price must not be less than base price + 0.01 (stop_price: {stop})")
                }
                e => e.to_string(),
            };
            return refuse(StatusCode::UNPROCESSABLE_ENTITY, 42210000, msg);
        }
        let new_id = MockBroker::id(b);
        let stamp = rfc3339(now);
        let client = r
            .client_order_id
            .clone()
            .unwrap_or_else(|| format!("{new_id}-r"));
        let mut o = h.order.clone();
        o.id = new_id.clone();
        o.client_order_id = client.clone();
        o.created_at = stamp.clone();
        o.updated_at = Some(stamp.clone());
        o.replaces = Some(id.clone());
        o.stop_price = Some(stop);
        if let Some(old) = b.orders.get_mut(&id) {
            old.order.status = "replaced".into();
            old.order.replaced_by = Some(new_id.clone());
            old.order.updated_at = Some(stamp.clone());
        }
        // The pair now shows the new leg.
        if let Some(p) = &h.parent
            && let Some(parent) = b.orders.get_mut(p)
            && let Some(legs) = parent.order.legs.as_mut()
        {
            for l in legs.iter_mut().filter(|l| l.id == id) {
                l.id = new_id.clone();
            }
        }
        b.orders.insert(
            new_id.clone(),
            Held {
                order: o.clone(),
                parent: h.parent.clone(),
                sim: h.sim.clone(),
            },
        );
        b.by_client.insert(client, new_id.clone());
        b.by_sim.insert(h.sim.clone(), new_id.clone());
        if h.parent.is_none() {
            b.placed.push(new_id.clone());
        }
        let old = m.view(b, &id);
        let msg = serde_json::json!({"stream": "trade_updates", "data": {"event": "replaced", "order": old, "timestamp": stamp}});
        let _ = m.inner.updates.send(msg.to_string());
        Json(o).into_response()
    }))
}

#[derive(Debug, serde::Deserialize)]
struct ActivityQuery {
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    direction: Option<String>,
    #[serde(default)]
    page_size: Option<usize>,
    #[serde(default)]
    page_token: Option<String>,
}

async fn activities(
    State(m): State<MockBroker>,
    headers: HeaderMap,
    Query(q): Query<ActivityQuery>,
) -> Response {
    answer(m.desk(&headers, None, |_, b, _| {
        let after = q.after.as_deref().map(super::client::parse_time);
        let mut list: Vec<&Fill> = b
            .fills
            .iter()
            .filter(|f| after.is_none_or(|a| super::client::parse_time(&f.transaction_time) > a))
            .collect();
        if q.direction.as_deref() != Some("asc") {
            list.reverse();
        }
        if let Some(t) = &q.page_token {
            match list.iter().position(|f| &f.id == t) {
                Some(i) => list.drain(..=i).for_each(drop),
                None => {
                    return refuse(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        40010000,
                        "invalid page_token",
                    );
                }
            }
        }
        let page: Vec<&Fill> = list
            .into_iter()
            .take(q.page_size.unwrap_or(100).min(100))
            .collect();
        Json(page).into_response()
    }))
}

async fn stream(State(m): State<MockBroker>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| session(m, socket))
}

/// Alpaca's paper stream: authenticate, listen, then trade updates as
/// binary frames.
async fn session(m: MockBroker, mut socket: WebSocket) {
    let cfg = &m.inner.cfg;
    let mut updates = m.inner.updates.subscribe();
    let mut disconnects = m.inner.disconnects.subscribe();
    disconnects.mark_unchanged();
    let send = |v: serde_json::Value| Message::Binary(v.to_string().into_bytes().into());
    let mut authed = false;
    let mut listening = false;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let now = m.now();
                let mut b = lock(&m.inner.broker);
                m.catch_up(&mut b, now);
            }
            u = updates.recv(), if listening => match u {
                Ok(text) => if socket.send(Message::Binary(text.into_bytes().into())).await.is_err() { return },
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return,
            },
            _ = disconnects.changed() => {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
            msg = socket.recv() => {
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Binary(b))) => String::from_utf8_lossy(&b).to_string(),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => continue,
                };
                let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                match v["action"].as_str() {
                    Some("authenticate") => {
                        authed = v["data"]["key_id"] == cfg.key_id.as_str() && v["data"]["secret_key"] == cfg.secret.as_str();
                        let status = if authed { "authorized" } else { "unauthorized" };
                        let reply = serde_json::json!({"stream": "authorization", "data": {"action": "authenticate", "status": status}});
                        if socket.send(send(reply)).await.is_err() || !authed { return }
                    }
                    Some("listen") if authed => {
                        listening = true;
                        let reply = serde_json::json!({"stream": "listening", "data": {"streams": ["trade_updates"]}});
                        if socket.send(send(reply)).await.is_err() { return }
                    }
                    _ => {
                        let reply = serde_json::json!({"stream": "authorization", "data": {"action": "listen", "status": "unauthorized"}});
                        let _ = socket.send(send(reply)).await;
                        return;
                    }
                }
            }
        }
    }
}
