//! The mock's USDⓈ-M trading desk: `/fapi/v1/order` (place, cancel,
//! query), open orders, user trades, `/fapi/v2/positionRisk`, balance,
//! leverage, margin type, listen keys and the user-data stream
//! (`/ws/<listenKey>`: `ORDER_TRADE_UPDATE`, `ACCOUNT_UPDATE`,
//! `listenKeyExpired`), every call signed and checked as Binance does.
//!
//! Orders are matched by the trading core's [`SimVenue`] against the
//! mock's replayed bars as each closes on the mock clock (at the first
//! request after, or the user stream's 20 ms tick), with the series'
//! funding settled on open positions — so a test that follows a signal
//! here gets the fills the paper venue gives on the same bars.

use super::{MockExchange, Refusal, api_error, lock};
use crate::binance::usdm::wire;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use engine::TimeMs;
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use trading::execution::{ExecError, VenueEvent};
use trading::order::{OrderKind, OrderRequest, OrderSide, Purpose};
use trading::sim::{SimConfig, SimVenue};

#[derive(Debug)]
pub(super) struct Desk {
    pub(super) sim: SimVenue,
    /// Per venue symbol: bars closing up to this time have met the orders.
    matched: HashMap<String, TimeMs>,
    /// Listen key → when it lapses (wall time: keep-alives are a wall-clock duty).
    keys: HashMap<String, Instant>,
    next_key: u64,
    leverage: HashMap<String, u32>,
    isolated: HashMap<String, bool>,
    /// Cumulative filled quantity per order, for the stream's `z`/`X`.
    filled: HashMap<String, Decimal>,
    /// The next order placements are carried out and answered only after
    /// this long (the client has given up: a lost answer).
    stall: Option<(u32, Duration)>,
}

impl Desk {
    pub(super) fn new(cfg: &super::MockConfig) -> Desk {
        Desk {
            sim: SimVenue::new(
                crate::binance::usdm::VENUE,
                SimConfig {
                    costs: cfg.costs,
                    balance: Decimal::from_f64_retain(cfg.balance)
                        .unwrap_or_default()
                        .round_dp(8),
                    leverage: cfg.leverage as u32,
                },
            ),
            matched: HashMap::new(),
            keys: HashMap::new(),
            next_key: 1,
            leverage: HashMap::new(),
            isolated: HashMap::new(),
            filled: HashMap::new(),
            stall: None,
        }
    }
}

fn refuse(e: ExecError) -> Response {
    let bad = StatusCode::BAD_REQUEST;
    match e {
        ExecError::Rejected { code, reason, .. } => api_error(bad, code, &reason),
        ExecError::WouldTrigger { reason, .. } => api_error(bad, -2021, &reason),
        ExecError::InsufficientMargin { reason, .. } => api_error(bad, -2019, &reason),
        ExecError::UnknownOrder { .. } => api_error(bad, -2011, "Unknown order sent."),
        ExecError::Auth { reason, .. } => api_error(StatusCode::UNAUTHORIZED, -2015, &reason),
        ExecError::Unreachable { reason, .. } => {
            api_error(StatusCode::SERVICE_UNAVAILABLE, -1001, &reason)
        }
    }
}

fn dec(p: &HashMap<String, String>, k: &str) -> Option<Decimal> {
    p.get(k).and_then(|v| v.parse::<Decimal>().ok())
}

impl MockExchange {
    /// The next `n` order placements are carried out, then answered after
    /// `delay` (past the client's timeout: the answer is lost).
    pub fn stall_orders(&self, n: u32, delay: Duration) {
        lock(&self.inner.desk).stall = Some((n, delay));
    }

    /// Orders the desk has taken, open or not.
    pub fn orders_placed(&self) -> usize {
        lock(&self.inner.desk).sim.order_count()
    }

    /// Balance and positions as the desk holds them (tests compare).
    pub fn account(&self) -> trading::execution::AccountSnapshot {
        let now = self.now();
        let mut d = lock(&self.inner.desk);
        self.catch_up(&mut d, now);
        d.sim.snapshot(now)
    }

    /// Places an order for someone else (the account's owner by hand on the
    /// venue's site): what reconciliation must report and leave alone.
    pub fn place_foreign(&self, req: &OrderRequest) -> Result<(), ExecError> {
        let now = self.now();
        let mut d = lock(&self.inner.desk);
        let symbol = req.symbol.clone();
        self.ensure(&mut d, &symbol, now);
        let r = d.sim.submit(now, req).map(|_| ());
        self.publish(&mut d, now);
        r
    }

    /// Starts matching `symbol` from the bar forming now, at its open.
    fn ensure(&self, d: &mut Desk, symbol: &str, now: TimeMs) {
        if d.matched.contains_key(symbol) {
            return;
        }
        let Some((tf, bars)) = self.inner.series.get(symbol) else {
            return;
        };
        let dur = tf.duration_ms();
        d.matched
            .insert(symbol.to_string(), now.div_euclid(dur) * dur);
        if let Some(c) = bars.iter().rev().find(|c| c.open_time <= now) {
            let price = if c.open_time + dur > now {
                c.open
            } else {
                c.close
            };
            d.sim.set_price(symbol, price);
        }
    }

    /// Every bar that closed since the last call meets the open orders, and
    /// funding settles; the price becomes the open of the bar forming.
    fn catch_up(&self, d: &mut Desk, now: TimeMs) {
        let symbols: Vec<(String, TimeMs)> =
            d.matched.iter().map(|(s, t)| (s.clone(), *t)).collect();
        for (symbol, from) in symbols {
            let Some((tf, bars)) = self.inner.series.get(&symbol) else {
                continue;
            };
            let dur = tf.duration_ms();
            let visible = self.visible_until(&symbol);
            let rates = self.funding_of(&symbol);
            let start = bars.partition_point(|c| c.open_time < from);
            let mut upto = from;
            for c in bars[start..]
                .iter()
                .take_while(|c| c.open_time + dur <= now.min(visible))
            {
                d.sim.bar(&symbol, c, dur);
                let close = c.open_time + dur;
                if let Some(r) = &rates {
                    for &(t, rate) in r.iter().filter(|r| r.0 > c.open_time && r.0 <= close) {
                        d.sim.funding(t, &symbol, rate, c.close);
                    }
                }
                upto = close;
            }
            d.matched.insert(symbol.clone(), upto);
            if let Some(c) = bars.get(bars.partition_point(|c| c.open_time < upto))
                && c.open_time <= now
            {
                d.sim.set_price(&symbol, c.open);
            }
        }
        self.publish(d, now);
    }

    /// The desk's events as Binance's user-data messages, to every stream.
    fn publish(&self, d: &mut Desk, now: TimeMs) {
        for e in d.sim.take_events() {
            let text = match &e {
                VenueEvent::Order {
                    time,
                    client_id,
                    symbol,
                    event,
                    realized_pnl,
                } => {
                    let Some(o) = d.sim.order(client_id).cloned() else {
                        continue;
                    };
                    let (x, last_qty, last_price, fee, trade, maker) = match event {
                        trading::order::OrderEvent::Accepted { .. } => {
                            ("NEW", Decimal::ZERO, Decimal::ZERO, Decimal::ZERO, 0, false)
                        }
                        trading::order::OrderEvent::Filled(f) => (
                            "TRADE",
                            f.qty,
                            f.price,
                            f.fee,
                            f.trade_id.parse().unwrap_or(0),
                            f.liquidity == engine::costs::Liquidity::Maker,
                        ),
                        trading::order::OrderEvent::Canceled { .. } => (
                            "CANCELED",
                            Decimal::ZERO,
                            Decimal::ZERO,
                            Decimal::ZERO,
                            0,
                            false,
                        ),
                        trading::order::OrderEvent::Expired => (
                            "EXPIRED",
                            Decimal::ZERO,
                            Decimal::ZERO,
                            Decimal::ZERO,
                            0,
                            false,
                        ),
                        _ => continue,
                    };
                    let z = d.filled.entry(client_id.clone()).or_default();
                    *z += last_qty;
                    let status = match x {
                        "NEW" => "NEW",
                        "TRADE" if *z == o.qty => "FILLED",
                        "TRADE" => "PARTIALLY_FILLED",
                        other => other,
                    };
                    let (p, sp) = match o.kind {
                        OrderKind::Limit { price } => (price, Decimal::ZERO),
                        OrderKind::StopMarket { trigger }
                        | OrderKind::TakeProfitMarket { trigger } => (Decimal::ZERO, trigger),
                        OrderKind::Market => (Decimal::ZERO, Decimal::ZERO),
                    };
                    let ot = wire::kind_str(&o.kind);
                    serde_json::json!({
                        "e": "ORDER_TRADE_UPDATE", "E": now, "T": time,
                        "o": {
                            "s": symbol, "c": client_id, "S": wire::side_str(o.side), "o": ot,
                            "f": if matches!(o.kind, OrderKind::Limit { .. }) && o.reduce_only { "GTX" } else { "GTC" },
                            "q": o.qty.to_string(), "p": p.to_string(), "ap": last_price.to_string(),
                            "sp": sp.to_string(), "x": x, "X": status, "i": o.venue_id.parse::<i64>().unwrap_or(0),
                            "l": last_qty.to_string(), "z": z.to_string(), "L": last_price.to_string(),
                            "N": "USDT", "n": fee.to_string(), "T": time, "t": trade, "b": "0", "a": "0",
                            "m": maker, "R": o.reduce_only, "wt": "CONTRACT_PRICE", "ot": ot, "ps": "BOTH",
                            "cp": false, "rp": realized_pnl.unwrap_or_default().to_string(),
                            "pP": false, "si": 0, "ss": 0, "V": "NONE", "pm": "NONE", "gtd": 0
                        }
                    })
                }
                VenueEvent::Balance {
                    time,
                    symbol,
                    balance,
                    change,
                    reason,
                } => {
                    let positions: Vec<serde_json::Value> = symbol
                        .iter()
                        .map(|s| {
                            let snap = d.sim.snapshot(now);
                            let p = snap.positions.iter().find(|p| &p.symbol == s);
                            let (pa, ep) = p.map_or((Decimal::ZERO, Decimal::ZERO), |p| (p.qty, p.entry_price));
                            serde_json::json!({"s": s, "pa": pa.to_string(), "ep": ep.to_string(), "bep": ep.to_string(),
                                "cr": "0", "up": "0", "mt": if d.isolated.get(s).copied().unwrap_or(false) { "isolated" } else { "cross" },
                                "iw": "0", "ps": "BOTH"})
                        })
                        .collect();
                    serde_json::json!({
                        "e": "ACCOUNT_UPDATE", "E": now, "T": time,
                        "a": { "m": reason, "B": [{"a": "USDT", "wb": balance.to_string(), "cw": balance.to_string(), "bc": change.to_string()}], "P": positions }
                    })
                }
                _ => continue,
            };
            let _ = self.inner.user_events.send(text.to_string());
        }
    }

    /// A signed trading call: checked, then run on the caught-up desk.
    fn desk<F>(&self, headers: &HeaderMap, query: Option<String>, f: F) -> Response
    where
        F: FnOnce(&MockExchange, &mut Desk, &HashMap<String, String>, TimeMs) -> Response,
    {
        if let Err(r) = self.charge(1) {
            return *r;
        }
        let p = match self.signed(headers, query.as_deref().unwrap_or_default()) {
            Ok(p) => p,
            Err(Refusal(status, code, msg)) => return api_error(status, code, msg),
        };
        let now = self.now();
        let mut d = lock(&self.inner.desk);
        if let Some(s) = p.get("symbol") {
            if !self.inner.series.contains_key(s) {
                return api_error(StatusCode::BAD_REQUEST, -1121, "Invalid symbol.");
            }
            self.ensure(&mut d, s, now);
        }
        self.catch_up(&mut d, now);
        let r = f(self, &mut d, &p, now);
        self.publish(&mut d, now);
        r
    }

    fn order_json(d: &Desk, client_id: &str, now: TimeMs) -> Response {
        let Some(o) = d.sim.order(client_id) else {
            return api_error(StatusCode::BAD_REQUEST, -2013, "Order does not exist.");
        };
        let trades = d.sim.trades_since(&o.symbol, 0);
        let (q, v) = trades
            .iter()
            .filter(|t| t.client_id == client_id)
            .fold((Decimal::ZERO, Decimal::ZERO), |(q, v), t| {
                (q + t.qty, v + t.qty * t.price)
            });
        let avg = if q.is_zero() {
            Decimal::ZERO
        } else {
            (v / q).round_dp(8)
        };
        Json(wire::Order::from_venue(o, &o.symbol, avg, now)).into_response()
    }

    /// Our id for `origClientOrderId` or `orderId`.
    fn find(d: &Desk, p: &HashMap<String, String>) -> Option<String> {
        if let Some(c) = p.get("origClientOrderId") {
            return d.sim.order(c).map(|o| o.client_id.clone());
        }
        d.sim
            .find_by_venue_id(p.get("orderId")?)
            .map(|o| o.client_id.clone())
    }

    async fn place(&self, headers: HeaderMap, query: Option<String>) -> Response {
        let mut stall = None;
        let r = self.desk(&headers, query, |_, d, p, now| {
            let bad = |code: i64, msg: &str| api_error(StatusCode::BAD_REQUEST, code, msg);
            let side = match p.get("side").map(String::as_str) {
                Some("BUY") => OrderSide::Buy,
                Some("SELL") => OrderSide::Sell,
                _ => return bad(-1117, "Invalid side."),
            };
            let need = |k: &str| dec(p, k).filter(|v| *v > Decimal::ZERO);
            let kind = match p.get("type").map(String::as_str) {
                Some("MARKET") => OrderKind::Market,
                Some("LIMIT") => match need("price") {
                    Some(price) => OrderKind::Limit { price },
                    None => return bad(-1102, "Mandatory parameter 'price' was not sent, was empty/null, or malformed."),
                },
                Some(t @ ("STOP_MARKET" | "TAKE_PROFIT_MARKET")) => match need("stopPrice") {
                    Some(trigger) if t == "STOP_MARKET" => OrderKind::StopMarket { trigger },
                    Some(trigger) => OrderKind::TakeProfitMarket { trigger },
                    None => return bad(-1102, "Mandatory parameter 'stopPrice' was not sent, was empty/null, or malformed."),
                },
                _ => return bad(-1116, "Invalid orderType."),
            };
            let Some(qty) = need("quantity") else {
                return bad(-1102, "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.");
            };
            let client_id = p.get("newClientOrderId").cloned().unwrap_or_else(|| format!("mock-{now}"));
            let req = OrderRequest {
                client_id: client_id.clone(),
                symbol: p.get("symbol").cloned().unwrap_or_default(),
                side,
                kind,
                qty,
                reduce_only: p.get("reduceOnly").is_some_and(|v| v == "true"),
                purpose: Purpose::Entry,
            };
            if let Some((n, delay)) = d.stall {
                stall = Some(delay);
                d.stall = (n > 1).then_some((n - 1, delay));
            }
            match d.sim.submit(now, &req) {
                Ok(_) => Self::order_json(d, &client_id, now),
                Err(e) => refuse(e),
            }
        });
        if let Some(delay) = stall {
            tokio::time::sleep(delay).await;
        }
        r
    }

    pub(super) fn trading_routes(&self) -> Router<MockExchange> {
        type Q = RawQuery;
        Router::new()
            .route(
                "/fapi/v1/order",
                post(|State(m): State<MockExchange>, h: HeaderMap, RawQuery(q): Q| async move { m.place(h, q).await })
                    .delete(|State(m): State<MockExchange>, h: HeaderMap, RawQuery(q): Q| async move {
                        m.desk(&h, q, |_, d, p, now| match Self::find(d, p) {
                            Some(id) => match d.sim.cancel(now, &id) {
                                Ok(_) => Self::order_json(d, &id, now),
                                Err(e) => refuse(e),
                            },
                            None => api_error(StatusCode::BAD_REQUEST, -2011, "Unknown order sent."),
                        })
                    })
                    .get(|State(m): State<MockExchange>, h: HeaderMap, RawQuery(q): Q| async move {
                        m.desk(&h, q, |_, d, p, now| match Self::find(d, p) {
                            Some(id) => Self::order_json(d, &id, now),
                            None => api_error(StatusCode::BAD_REQUEST, -2013, "Order does not exist."),
                        })
                    }),
            )
            .route(
                "/fapi/v1/openOrders",
                get(|State(m): State<MockExchange>, h: HeaderMap, RawQuery(q): Q| async move {
                    m.desk(&h, q, |_, d, p, now| {
                        let list: Vec<wire::Order> = d
                            .sim
                            .open_orders()
                            .iter()
                            .filter(|o| p.get("symbol").is_none_or(|s| *s == o.symbol))
                            .map(|o| wire::Order::from_venue(o, &o.symbol, Decimal::ZERO, now))
                            .collect();
                        Json(list).into_response()
                    })
                }),
            )
            .route(
                "/fapi/v1/userTrades",
                get(|State(m): State<MockExchange>, h: HeaderMap, RawQuery(q): Q| async move {
                    m.desk(&h, q, |_, d, p, _| {
                        let Some(symbol) = p.get("symbol") else {
                            return api_error(StatusCode::BAD_REQUEST, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.");
                        };
                        let limit = p.get("limit").and_then(|l| l.parse().ok()).unwrap_or(500usize).min(1000);
                        let from_id: Option<i64> = p.get("fromId").and_then(|v| v.parse().ok());
                        let start: TimeMs = p.get("startTime").and_then(|v| v.parse().ok()).unwrap_or(0);
                        let list: Vec<wire::UserTrade> = d
                            .sim
                            .trades_since(symbol, if from_id.is_some() { 0 } else { start })
                            .iter()
                            .filter(|t| from_id.is_none_or(|f| t.trade_id.parse::<i64>().unwrap_or(0) >= f))
                            .take(limit)
                            .map(|t| {
                                let oid = d.sim.order(&t.client_id).and_then(|o| o.venue_id.parse().ok()).unwrap_or(0);
                                wire::UserTrade::from_venue(t, symbol, oid)
                            })
                            .collect();
                        Json(list).into_response()
                    })
                }),
            )
            .route(
                "/fapi/v1/income",
                get(|State(m): State<MockExchange>, h: HeaderMap, RawQuery(q): Q| async move {
                    m.desk(&h, q, |_, d, p, _| {
                        if p.get("incomeType").is_some_and(|t| t != "FUNDING_FEE") {
                            return Json(Vec::<wire::Income>::new()).into_response();
                        }
                        let start: TimeMs = p.get("startTime").and_then(|v| v.parse().ok()).unwrap_or(0);
                        let limit = p.get("limit").and_then(|l| l.parse().ok()).unwrap_or(100usize).min(1000);
                        let list: Vec<wire::Income> = d
                            .sim
                            .funding_since(start)
                            .iter()
                            .take(limit)
                            .enumerate()
                            .map(|(k, f)| wire::Income {
                                symbol: f.symbol.clone(),
                                income_type: "FUNDING_FEE".into(),
                                income: f.amount.to_string(),
                                asset: "USDT".into(),
                                info: "FUNDING_FEE".into(),
                                time: f.time,
                                tran_id: f.time * 1000 + k as i64,
                                trade_id: String::new(),
                            })
                            .collect();
                        Json(list).into_response()
                    })
                }),
            )
            .route(
                "/fapi/v2/positionRisk",
                get(|State(m): State<MockExchange>, h: HeaderMap, RawQuery(q): Q| async move {
                    m.desk(&h, q, |m, d, _, now| {
                        let snap = d.sim.snapshot(now);
                        let list: Vec<wire::PositionRisk> = d
                            .matched
                            .keys()
                            .map(|s| {
                                let p = snap.positions.iter().find(|p| &p.symbol == s);
                                let mark = d.sim.price(s).unwrap_or(0.0);
                                let (qty, entry) = p.map_or((Decimal::ZERO, Decimal::ZERO), |p| (p.qty, p.entry_price));
                                let mark_d = Decimal::from_f64_retain(mark).unwrap_or_default().round_dp(8);
                                wire::PositionRisk {
                                    symbol: s.clone(),
                                    position_amt: qty.to_string(),
                                    entry_price: entry.to_string(),
                                    mark_price: mark_d.to_string(),
                                    un_realized_profit: ((mark_d - entry) * qty).round_dp(8).to_string(),
                                    liquidation_price: "0".into(),
                                    leverage: d.leverage.get(s).copied().unwrap_or(m.inner.cfg.leverage as u32).to_string(),
                                    margin_type: if d.isolated.get(s).copied().unwrap_or(false) { "isolated" } else { "cross" }.into(),
                                    isolated_margin: "0".into(),
                                    position_side: "BOTH".into(),
                                    update_time: now,
                                }
                            })
                            .collect();
                        Json(list).into_response()
                    })
                }),
            )
            .route(
                "/fapi/v2/balance",
                get(|State(m): State<MockExchange>, h: HeaderMap, RawQuery(q): Q| async move {
                    m.desk(&h, q, |_, d, _, now| {
                        let snap = d.sim.snapshot(now);
                        Json(vec![wire::Balance {
                            account_alias: "SgsR".into(),
                            asset: "USDT".into(),
                            balance: snap.balance.to_string(),
                            cross_wallet_balance: snap.balance.to_string(),
                            cross_un_pnl: "0".into(),
                            available_balance: snap.available.to_string(),
                            max_withdraw_amount: snap.available.to_string(),
                            margin_available: true,
                            update_time: now,
                        }])
                        .into_response()
                    })
                }),
            )
            .route(
                "/fapi/v1/leverage",
                post(|State(m): State<MockExchange>, h: HeaderMap, RawQuery(q): Q| async move {
                    m.desk(&h, q, |_, d, p, _| {
                        let s = p.get("symbol").cloned().unwrap_or_default();
                        match p.get("leverage").and_then(|l| l.parse::<u32>().ok()) {
                            Some(l @ 1..=125) => {
                                d.leverage.insert(s.clone(), l);
                                Json(serde_json::json!({"leverage": l, "maxNotionalValue": "1000000", "symbol": s})).into_response()
                            }
                            _ => api_error(StatusCode::BAD_REQUEST, -4028, "Leverage is not valid"),
                        }
                    })
                }),
            )
            .route(
                "/fapi/v1/marginType",
                post(|State(m): State<MockExchange>, h: HeaderMap, RawQuery(q): Q| async move {
                    m.desk(&h, q, |_, d, p, _| {
                        let s = p.get("symbol").cloned().unwrap_or_default();
                        let want = match p.get("marginType").map(String::as_str) {
                            Some("ISOLATED") => true,
                            Some("CROSSED") => false,
                            _ => return api_error(StatusCode::BAD_REQUEST, -4044, "The margin type is not valid."),
                        };
                        if d.isolated.get(&s).copied().unwrap_or(false) == want {
                            return api_error(StatusCode::BAD_REQUEST, -4046, "No need to change margin type.");
                        }
                        d.isolated.insert(s, want);
                        Json(serde_json::json!({"code": 200, "msg": "success"})).into_response()
                    })
                }),
            )
            .route(
                "/fapi/v1/listenKey",
                post(|State(m): State<MockExchange>, h: HeaderMap| async move { m.listen_key(&h, "POST") })
                    .put(|State(m): State<MockExchange>, h: HeaderMap| async move { m.listen_key(&h, "PUT") })
                    .delete(|State(m): State<MockExchange>, h: HeaderMap| async move { m.listen_key(&h, "DELETE") }),
            )
            .route("/ws/{key}", get(user_stream))
    }

    /// `USER_STREAM` calls carry the key only; one listen key per account,
    /// as Binance keeps (a second POST returns the same key, extended).
    fn listen_key(&self, headers: &HeaderMap, method: &str) -> Response {
        let cfg = &self.inner.cfg;
        if headers.get("X-MBX-APIKEY").and_then(|v| v.to_str().ok()) != Some(cfg.api_key.as_str()) {
            return api_error(
                StatusCode::UNAUTHORIZED,
                -2015,
                "Invalid API-key, IP, or permissions for action.",
            );
        }
        let mut d = lock(&self.inner.desk);
        let now = Instant::now();
        d.keys.retain(|_, until| *until > now);
        let ttl = cfg.listen_key_ttl;
        match method {
            "POST" => {
                let key = match d.keys.keys().next() {
                    Some(k) => k.clone(),
                    None => {
                        let k = format!("mockListenKey{:0>52}", d.next_key);
                        d.next_key += 1;
                        k
                    }
                };
                d.keys.insert(key.clone(), now + ttl);
                Json(serde_json::json!({ "listenKey": key })).into_response()
            }
            "PUT" => match d.keys.values_mut().next() {
                Some(until) => {
                    *until = now + ttl;
                    Json(serde_json::json!({})).into_response()
                }
                None => api_error(
                    StatusCode::BAD_REQUEST,
                    -1125,
                    "This listenKey does not exist.",
                ),
            },
            _ => {
                d.keys.clear();
                Json(serde_json::json!({})).into_response()
            }
        }
    }

    /// Whether `key` is live now.
    fn key_live(&self, key: &str) -> bool {
        lock(&self.inner.desk)
            .keys
            .get(key)
            .is_some_and(|u| *u > Instant::now())
    }

    async fn user_session(self, mut socket: WebSocket, key: String) {
        let cfg = &self.inner.cfg;
        let mut events = self.inner.user_events.subscribe();
        let mut disconnects = self.inner.disconnects.subscribe();
        disconnects.mark_unchanged();
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let mut ping = tokio::time::interval(cfg.ping_every);
        ping.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if !self.key_live(&key) {
                        let msg = serde_json::json!({"e": "listenKeyExpired", "E": self.now(), "listenKey": key});
                        let _ = socket.send(Message::Text(msg.to_string().into())).await;
                        let _ = socket.send(Message::Close(None)).await;
                        return;
                    }
                    let now = self.now();
                    let mut d = lock(&self.inner.desk);
                    self.catch_up(&mut d, now);
                }
                e = events.recv() => match e {
                    Ok(text) => if socket.send(Message::Text(text.into())).await.is_err() { return },
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => return,
                },
                _ = ping.tick() => {
                    if socket.send(Message::Ping(b"mock".to_vec().into())).await.is_err() { return }
                }
                m = socket.recv() => match m {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => {}
                },
                _ = disconnects.changed() => {
                    let _ = socket.send(Message::Close(None)).await;
                    return;
                }
            }
        }
    }
}

async fn user_stream(
    State(m): State<MockExchange>,
    Path(key): Path<String>,
    ws: WebSocketUpgrade,
) -> Response {
    if m.inner
        .streams_down
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        return (StatusCode::SERVICE_UNAVAILABLE, "streams are down").into_response();
    }
    if !m.key_live(&key) {
        return api_error(
            StatusCode::BAD_REQUEST,
            -1125,
            "This listenKey does not exist.",
        );
    }
    ws.on_upgrade(move |socket| m.user_session(socket, key))
}
