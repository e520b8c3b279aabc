//! The REST client of one Alpaca trading account (`/v2/orders`,
//! `/v2/positions`, `/v2/account`, `/v2/assets`, the `FILL` activities),
//! and its [`ExecutionClient`] face.
//!
//! Alpaca has no reduce-only orders and holds the quantity of every
//! resting exit, so a live account's exits come as `oco` pairs (see
//! `trading::live::ExitStyle::Oco`): the take-profit is the pair's order,
//! with our client id; the stop is its leg, with an id Alpaca assigns. We
//! name the stop leg `<pair's id>.sl`; a leg we moved (`PATCH`, which makes
//! a new order that `replaces` the old) carries `<id>.sl~<n>`, so every
//! order is found by our name again. Fills come from the `FILL` activities
//! (no fee: Alpaca charges no commission; its regulatory fees are their own
//! activities) and carry no realised P&L: the account computes it.

use super::wire::{self, NewOrder, Replace};
use super::{our_id, our_symbol, venue_symbol};
use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use trading::execution::{
    AccountSnapshot, Ack, ExecError, ExecutionClient, FundingPayment, VenueOrder, VenuePosition,
    VenueTrade,
};
use trading::live::STOP_LEG;
use trading::order::{OrderKind, OrderRequest, OrderSide, OrderStatus};

pub const VENUE: &str = "alpaca";
/// Paper trading: the default. Live trading is `https://api.alpaca.markets`.
pub const PAPER_BASE: &str = "https://paper-api.alpaca.markets";
/// 429s waited out per request before giving up (Alpaca allows 200 a minute).
const RETRIES_429: u32 = 3;

/// An API key pair. Neither half is ever printed.
#[derive(Clone)]
pub struct Keys {
    key_id: String,
    secret: String,
}

impl Keys {
    pub fn new(key_id: impl Into<String>, secret: impl Into<String>) -> Keys {
        Keys {
            key_id: key_id.into(),
            secret: secret.into(),
        }
    }
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.key_id.len();
        let hint = if n > 4 { &self.key_id[n - 4..] } else { "" };
        write!(f, "Keys(…{hint})")
    }
}

/// What went wrong, with Alpaca's code where it gave one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AlpacaError {
    #[error("Alpaca refused the request (HTTP {status}, code {code}): {message}")]
    Api {
        status: u16,
        code: i64,
        message: String,
    },
    #[error("Alpaca could not be reached: {0}")]
    Transport(String),
    #[error("Alpaca answered HTTP {status} with an unreadable body: {body}")]
    Unreadable { status: u16, body: String },
}

impl AlpacaError {
    /// In the trading core's terms. `id`: the order it was about.
    pub fn exec(self, id: &str) -> ExecError {
        let venue = VENUE;
        match self {
            AlpacaError::Api {
                status: 401,
                message,
                ..
            } => ExecError::Auth {
                venue,
                reason: message,
            },
            AlpacaError::Api {
                status: 403,
                message,
                ..
            } if message.contains("buying power") => ExecError::InsufficientMargin {
                venue,
                reason: message,
            },
            AlpacaError::Api {
                status: 403,
                message,
                ..
            } if message.contains("forbidden") || message.contains("not authorized") => {
                ExecError::Auth {
                    venue,
                    reason: message,
                }
            }
            AlpacaError::Api { status: 404, .. } => ExecError::UnknownOrder {
                venue,
                client_id: id.to_string(),
            },
            // "stop price must not be greater than base price - 0.01" and
            // the like: the market is already past the stop.
            AlpacaError::Api {
                status: 422,
                message,
                ..
            } if message.contains("stop price") && message.contains("base price") => {
                ExecError::WouldTrigger {
                    venue,
                    reason: message,
                }
            }
            // A 5xx or a lasting 429: whether it was carried out is unknown.
            e @ AlpacaError::Api {
                status: 429 | 500..,
                ..
            } => ExecError::Unreachable {
                venue,
                reason: e.to_string(),
            },
            AlpacaError::Api { code, message, .. } => ExecError::Rejected {
                venue,
                code,
                reason: message,
            },
            e @ (AlpacaError::Transport(_) | AlpacaError::Unreadable { .. }) => {
                ExecError::Unreachable {
                    venue,
                    reason: e.to_string(),
                }
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(super) fn parse_time(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s).map_or(0, |t| t.timestamp_millis())
}

pub(super) fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Alpaca's order status in the trading core's terms (`held`: a leg
/// waiting on its pair — resting, as far as we are concerned).
pub fn status(s: &str) -> OrderStatus {
    match s {
        "filled" => OrderStatus::Filled,
        "partially_filled" => OrderStatus::PartiallyFilled,
        "canceled" | "replaced" => OrderStatus::Canceled,
        "expired" | "done_for_day" => OrderStatus::Expired,
        "rejected" | "suspended" => OrderStatus::Rejected,
        "pending_new" => OrderStatus::Submitted,
        _ => OrderStatus::Accepted,
    }
}

fn kind_of(o: &wire::Order) -> OrderKind {
    match (o.kind.as_str(), o.limit_price, o.stop_price) {
        ("limit", Some(price), _) => OrderKind::Limit { price },
        ("stop" | "stop_limit", _, Some(trigger)) => OrderKind::StopMarket { trigger },
        _ => OrderKind::Market,
    }
}

fn side_of(s: &str) -> OrderSide {
    if s == "buy" {
        OrderSide::Buy
    } else {
        OrderSide::Sell
    }
}

/// `o` as the trading core sees it, named `client_id`.
pub fn to_venue(o: &wire::Order, client_id: &str) -> VenueOrder {
    VenueOrder {
        client_id: client_id.to_string(),
        venue_id: o.id.clone(),
        symbol: our_symbol(&o.symbol),
        side: side_of(&o.side),
        kind: kind_of(o),
        qty: o.qty.unwrap_or_default(),
        filled: o.filled_qty,
        // Exits: what the account placed as reduce-only, Alpaca holds as
        // closing orders; it has no flag to say so.
        reduce_only: false,
        status: status(&o.status),
        time: parse_time(o.updated_at.as_deref().unwrap_or(&o.created_at)),
    }
}

/// Our name for one venue order, and whether it rests at a limit.
#[derive(Debug, Clone)]
struct Name {
    name: String,
    limit: bool,
}

impl Name {
    fn of(name: String, o: &wire::Order) -> Name {
        Name {
            name,
            limit: o.kind == "limit",
        }
    }
}

#[derive(Debug)]
pub struct AlpacaTrading {
    http: reqwest::Client,
    base: String,
    stream: String,
    keys: Keys,
    /// Venue order id → our name, learnt from placements and listings.
    names: Mutex<HashMap<String, Name>>,
    /// Replacements made by this client (the `~n` of a moved leg).
    replaced: std::sync::atomic::AtomicU64,
}

impl AlpacaTrading {
    /// A client for `base` (`https://paper-api.alpaca.markets`, or a mock),
    /// its stream at the same host (`wss://…/stream`). `timeout` bounds each
    /// request: past it, the outcome is unknown.
    pub fn new(base: &str, keys: Keys, timeout: Duration) -> Result<AlpacaTrading, AlpacaError> {
        let base = base.trim_end_matches('/').to_string();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| AlpacaError::Transport(e.without_url().to_string()))?;
        let stream = format!("{}/stream", base.replacen("http", "ws", 1));
        Ok(AlpacaTrading {
            http,
            base,
            stream,
            keys,
            names: Mutex::default(),
            replaced: std::sync::atomic::AtomicU64::new(0),
        })
    }

    pub(super) fn stream_url(&self) -> &str {
        &self.stream
    }

    pub(super) fn keys(&self) -> (&str, &str) {
        (&self.keys.key_id, &self.keys.secret)
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&(impl Serialize + Sync)>,
    ) -> Result<Option<T>, AlpacaError> {
        let url = format!("{}{path}", self.base);
        let mut attempt = 0;
        loop {
            let mut req = self
                .http
                .request(method.clone(), &url)
                .header("APCA-API-KEY-ID", &self.keys.key_id)
                .header("APCA-API-SECRET-KEY", &self.keys.secret)
                .query(query);
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = req
                .send()
                .await
                .map_err(|e| AlpacaError::Transport(e.without_url().to_string()))?;
            let status = resp.status();
            if status == StatusCode::TOO_MANY_REQUESTS && attempt < RETRIES_429 {
                attempt += 1;
                let wait = super::retry_after(resp.headers()).unwrap_or(Duration::from_secs(1));
                tracing::warn!(
                    path,
                    wait_ms = wait.as_millis() as u64,
                    "alpaca: 429, waiting"
                );
                tokio::time::sleep(wait.min(Duration::from_secs(60))).await;
                continue;
            }
            let text = resp
                .text()
                .await
                .map_err(|e| AlpacaError::Transport(e.without_url().to_string()))?;
            if status == StatusCode::NO_CONTENT || (status.is_success() && text.is_empty()) {
                return Ok(None);
            }
            if !status.is_success() {
                let e: Option<wire::ApiError> = serde_json::from_str(&text).ok();
                return Err(AlpacaError::Api {
                    status: status.as_u16(),
                    code: e.as_ref().and_then(|e| e.code).unwrap_or(0),
                    message: e.map_or_else(|| text.chars().take(300).collect(), |e| e.message),
                });
            }
            return serde_json::from_str(&text)
                .map(Some)
                .map_err(|_| AlpacaError::Unreadable {
                    status: status.as_u16(),
                    body: text.chars().take(300).collect(),
                });
        }
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, AlpacaError> {
        self.call::<T>(Method::GET, path, query, None::<&()>)
            .await?
            .ok_or_else(|| AlpacaError::Unreadable {
                status: 204,
                body: String::new(),
            })
    }

    pub async fn account(&self) -> Result<wire::Account, AlpacaError> {
        self.get("/v2/account", &[]).await
    }

    pub async fn asset(&self, symbol: &str) -> Result<wire::Asset, AlpacaError> {
        self.get(&format!("/v2/assets/{}", venue_symbol(symbol)), &[])
            .await
    }

    pub async fn positions(&self) -> Result<Vec<wire::Position>, AlpacaError> {
        self.get("/v2/positions", &[]).await
    }

    /// Orders, legs nested under their pair: `status` `open`, `closed` or
    /// `all`; newest first, at most 500.
    pub async fn orders(
        &self,
        status: &str,
        symbol: Option<&str>,
    ) -> Result<Vec<wire::Order>, AlpacaError> {
        let mut q = vec![
            ("status", status.to_string()),
            ("nested", "true".to_string()),
            ("limit", "500".to_string()),
        ];
        if let Some(s) = symbol {
            q.push(("symbols", venue_symbol(s)));
        }
        let list: Vec<wire::Order> = self.get("/v2/orders", &q).await?;
        self.learn(&list);
        Ok(list)
    }

    /// Names every order of `list` (pairs, their legs, replacements).
    fn learn(&self, list: &[wire::Order]) {
        let mut names = lock(&self.names);
        for o in list {
            names.insert(o.id.clone(), Name::of(our_id(&o.client_order_id), o));
            for leg in o.legs.iter().flatten() {
                let name = match our_id(&leg.client_order_id) {
                    n if n.ends_with(STOP_LEG) => n,
                    _ => format!("{}{STOP_LEG}", our_id(&o.client_order_id)),
                };
                names.insert(leg.id.clone(), Name::of(name, leg));
            }
        }
    }

    pub async fn place(&self, o: &NewOrder) -> Result<wire::Order, AlpacaError> {
        let r: Option<wire::Order> = self.call(Method::POST, "/v2/orders", &[], Some(o)).await?;
        let r = r.ok_or_else(|| AlpacaError::Unreadable {
            status: 204,
            body: String::new(),
        })?;
        self.learn(std::slice::from_ref(&r));
        Ok(r)
    }

    async fn by_client_id(&self, client_id: &str) -> Result<wire::Order, AlpacaError> {
        self.get(
            "/v2/orders:by_client_order_id",
            &[("client_order_id", client_id.to_string())],
        )
        .await
    }

    async fn by_id(&self, id: &str) -> Result<wire::Order, AlpacaError> {
        self.get(&format!("/v2/orders/{id}"), &[]).await
    }

    /// Our order `name` as Alpaca holds it now: a pair's stop leg through
    /// its pair, a moved one through the orders that replaced it.
    pub async fn find(&self, name: &str) -> Result<wire::Order, AlpacaError> {
        let mut o = match name.strip_suffix(STOP_LEG) {
            Some(pair) => {
                let p = self.by_client_id(pair).await?;
                self.learn(std::slice::from_ref(&p));
                p.legs
                    .into_iter()
                    .flatten()
                    .find(|l| l.kind == "stop" || l.kind == "stop_limit")
                    .ok_or_else(|| AlpacaError::Api {
                        status: 404,
                        code: 40410000,
                        message: format!("order {pair} has no stop leg"),
                    })?
            }
            None => self.by_client_id(name).await?,
        };
        // A replaced order points at its successor.
        for _ in 0..50 {
            match (&o.replaced_by, o.status.as_str()) {
                (Some(next), "replaced") => o = self.by_id(next).await?,
                _ => break,
            }
        }
        lock(&self.names).insert(o.id.clone(), Name::of(name.to_string(), &o));
        Ok(o)
    }

    /// Our name for the venue's order `id` (listing `symbol`'s orders when
    /// it is not known yet); a foreign order keeps its own client id.
    async fn name_of(&self, id: &str, symbol: &str) -> Result<Name, AlpacaError> {
        if let Some(n) = lock(&self.names).get(id) {
            return Ok(n.clone());
        }
        self.orders("all", Some(symbol)).await?;
        if let Some(n) = lock(&self.names).get(id) {
            return Ok(n.clone());
        }
        let o = self.by_id(id).await?;
        let name = Name::of(our_id(&o.client_order_id), &o);
        lock(&self.names).insert(id.to_string(), name.clone());
        Ok(name)
    }

    /// Our name for a stop leg Alpaca named (`id` on `ticker`).
    pub(super) async fn find_leg_name(&self, id: &str, ticker: &str) -> Option<String> {
        self.name_of(id, &our_symbol(ticker))
            .await
            .ok()
            .map(|n| n.name)
    }

    /// Fills at or after `since`, oldest first (all pages).
    pub async fn fills(&self, since: i64) -> Result<Vec<wire::Fill>, AlpacaError> {
        let mut out: Vec<wire::Fill> = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut q = vec![
                ("after", rfc3339(since - 1)),
                ("direction", "asc".to_string()),
                ("page_size", "100".to_string()),
            ];
            if let Some(t) = &token {
                q.push(("page_token", t.clone()));
            }
            let page: Vec<wire::Fill> = self.get("/v2/account/activities/FILL", &q).await?;
            let done = page.len() < 100;
            token = page.last().map(|f| f.id.clone());
            out.extend(page);
            if done || token.is_none() {
                return Ok(out);
            }
        }
    }

    pub async fn cancel_order(&self, name: &str) -> Result<wire::Order, AlpacaError> {
        let o = self.find(name).await?;
        self.call::<serde_json::Value>(
            Method::DELETE,
            &format!("/v2/orders/{}", o.id),
            &[],
            None::<&()>,
        )
        .await?;
        self.by_id(&o.id).await
    }

    pub async fn replace(&self, name: &str, r: &Replace) -> Result<wire::Order, AlpacaError> {
        let o = self.find(name).await?;
        let n = self
            .replaced
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut r = r.clone();
        // Unique per replacement; our name is what comes before the `~`.
        r.client_order_id = Some(format!("{name}~{}{n}", crate::now_ms()));
        let new: Option<wire::Order> = self
            .call(
                Method::PATCH,
                &format!("/v2/orders/{}", o.id),
                &[],
                Some(&r),
            )
            .await?;
        let new = new.ok_or_else(|| AlpacaError::Unreadable {
            status: 204,
            body: String::new(),
        })?;
        lock(&self.names).insert(new.id.clone(), Name::of(name.to_string(), &new));
        Ok(new)
    }
}

fn new_order(o: &OrderRequest) -> Result<NewOrder, ExecError> {
    let (kind, limit, stop, tif) = match o.kind {
        OrderKind::Market => ("market", None, None, "day"),
        OrderKind::Limit { price } => ("limit", Some(price), None, "gtc"),
        OrderKind::StopMarket { trigger } => ("stop", None, Some(trigger), "gtc"),
        OrderKind::TakeProfitMarket { .. } => {
            return Err(ExecError::Rejected {
                venue: VENUE,
                code: 0,
                reason: "Alpaca has no take-profit-market orders".into(),
            });
        }
    };
    Ok(NewOrder {
        symbol: venue_symbol(&o.symbol),
        qty: o.qty,
        side: o.side.as_str().to_string(),
        kind: kind.to_string(),
        time_in_force: tif.to_string(),
        limit_price: limit,
        stop_price: stop,
        client_order_id: o.client_id.clone(),
        order_class: None,
        take_profit: None,
        stop_loss: None,
    })
}

fn ack(o: &wire::Order) -> Ack {
    Ack {
        venue_id: o.id.clone(),
        status: status(&o.status),
        time: parse_time(o.submitted_at.as_deref().unwrap_or(&o.created_at)),
    }
}

/// An Alpaca account as an [`ExecutionClient`] (cheap to clone; the
/// stream's task holds it too).
#[derive(Debug, Clone)]
pub struct AlpacaAccount(pub(super) Arc<AlpacaTrading>);

impl AlpacaAccount {
    pub fn new(client: AlpacaTrading) -> AlpacaAccount {
        AlpacaAccount(Arc::new(client))
    }
}

impl std::ops::Deref for AlpacaAccount {
    type Target = AlpacaTrading;
    fn deref(&self) -> &AlpacaTrading {
        &self.0
    }
}

impl ExecutionClient for AlpacaAccount {
    type Events = super::stream::AlpacaEvents;

    fn venue(&self) -> &'static str {
        VENUE
    }

    async fn open(&self, order: &OrderRequest) -> Result<Ack, ExecError> {
        let body = new_order(order)?;
        let o = self
            .place(&body)
            .await
            .map_err(|e| e.exec(&order.client_id))?;
        Ok(ack(&o))
    }

    async fn open_oco(
        &self,
        take_profit: &OrderRequest,
        stop: &OrderRequest,
    ) -> Result<(Ack, Ack), ExecError> {
        let (OrderKind::Limit { price }, OrderKind::StopMarket { trigger }) =
            (take_profit.kind, stop.kind)
        else {
            return Err(ExecError::Rejected {
                venue: VENUE,
                code: 0,
                reason: "an oco pair is a limit and a stop".into(),
            });
        };
        let body = NewOrder {
            symbol: venue_symbol(&take_profit.symbol),
            qty: take_profit.qty,
            side: take_profit.side.as_str().to_string(),
            kind: "limit".into(),
            time_in_force: "gtc".into(),
            limit_price: None,
            stop_price: None,
            client_order_id: take_profit.client_id.clone(),
            order_class: Some("oco".into()),
            take_profit: Some(wire::TakeProfit { limit_price: price }),
            stop_loss: Some(wire::StopLoss {
                stop_price: trigger,
                limit_price: None,
            }),
        };
        let o = self
            .place(&body)
            .await
            .map_err(|e| e.exec(&take_profit.client_id))?;
        let leg = o
            .legs
            .iter()
            .flatten()
            .find(|l| l.kind == "stop")
            .ok_or_else(|| ExecError::Unreachable {
                venue: VENUE,
                reason: format!("the oco order {} came back without its stop leg", o.id),
            })?;
        lock(&self.names).insert(leg.id.clone(), Name::of(stop.client_id.clone(), leg));
        Ok((ack(&o), ack(leg)))
    }

    async fn replace_stop(
        &self,
        _symbol: &str,
        client_id: &str,
        trigger: Decimal,
    ) -> Result<Ack, ExecError> {
        let r = Replace {
            stop_price: Some(trigger),
            ..Replace::default()
        };
        let o = self
            .replace(client_id, &r)
            .await
            .map_err(|e| e.exec(client_id))?;
        Ok(ack(&o))
    }

    async fn cancel(&self, _symbol: &str, client_id: &str) -> Result<VenueOrder, ExecError> {
        let o = self
            .cancel_order(client_id)
            .await
            .map_err(|e| e.exec(client_id))?;
        Ok(to_venue(&o, client_id))
    }

    async fn order(&self, _symbol: &str, client_id: &str) -> Result<VenueOrder, ExecError> {
        let o = self.find(client_id).await.map_err(|e| e.exec(client_id))?;
        Ok(to_venue(&o, client_id))
    }

    async fn open_orders(&self) -> Result<Vec<VenueOrder>, ExecError> {
        let list = self.orders("open", None).await.map_err(|e| e.exec(""))?;
        let mut out = Vec::new();
        for o in &list {
            let name = our_id(&o.client_order_id);
            out.push(to_venue(o, &name));
            for leg in o.legs.iter().flatten() {
                if !status(&leg.status).is_closed() {
                    out.push(to_venue(leg, &format!("{name}{STOP_LEG}")));
                }
            }
        }
        Ok(out)
    }

    async fn trades_since(&self, symbol: &str, since: i64) -> Result<Vec<VenueTrade>, ExecError> {
        let venue = venue_symbol(symbol);
        let fills = self.fills(since).await.map_err(|e| e.exec(""))?;
        let mut out = Vec::new();
        for f in fills.iter().filter(|f| f.symbol == venue) {
            let name = self
                .name_of(&f.order_id, symbol)
                .await
                .map_err(|e| e.exec(""))?;
            out.push(VenueTrade {
                trade_id: f.execution_id().to_string(),
                client_id: name.name,
                symbol: symbol.to_string(),
                side: side_of(&f.side),
                qty: f.qty,
                price: f.price,
                fee: Decimal::ZERO,
                // A take-profit rests and is taken at its price; stops and
                // market orders take.
                liquidity: if name.limit {
                    engine::costs::Liquidity::Maker
                } else {
                    engine::costs::Liquidity::Taker
                },
                realized_pnl: Decimal::ZERO,
                time: parse_time(&f.transaction_time),
            });
        }
        Ok(out)
    }

    /// Stocks pay no funding.
    async fn funding_since(&self, _since: i64) -> Result<Vec<FundingPayment>, ExecError> {
        Ok(Vec::new())
    }

    /// The balance is cash plus open positions at cost — what a margin
    /// wallet would hold, so it compares with the account's ledger.
    async fn snapshot(&self) -> Result<AccountSnapshot, ExecError> {
        let a = self.account().await.map_err(|e| e.exec(""))?;
        let raw = self.positions().await.map_err(|e| e.exec(""))?;
        let lev = a
            .multiplier
            .and_then(|m| rust_decimal::prelude::ToPrimitive::to_u32(&m))
            .unwrap_or(1);
        let at_cost: Decimal = raw.iter().map(|p| p.qty * p.avg_entry_price).sum();
        let positions = raw
            .iter()
            .filter(|p| !p.qty.is_zero())
            .map(|p| VenuePosition {
                symbol: our_symbol(&p.symbol),
                qty: p.qty,
                entry_price: p.avg_entry_price,
                leverage: lev,
            })
            .collect();
        let open_orders = ExecutionClient::open_orders(self).await?;
        Ok(AccountSnapshot {
            time: crate::now_ms(),
            balance: a.cash + at_cost,
            available: a.buying_power,
            positions,
            open_orders,
        })
    }

    async fn events(&self) -> Result<super::stream::AlpacaEvents, ExecError> {
        super::stream::open(self.0.clone())
            .await
            .map_err(|e| e.exec(""))
    }
}
