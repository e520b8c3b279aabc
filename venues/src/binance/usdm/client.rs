//! The signed REST client of one USDⓈ-M account, and its
//! [`ExecutionClient`] face: orders, cancels, lookups, open orders, trades,
//! positions (`/fapi/v2/positionRisk`), balance, leverage and margin type,
//! and the user-data stream ([`super::user_stream`]).

use super::order::{self, venue_symbol};
use super::sign::{Credentials, signed_query};
use super::user_stream::{self, UsdmEvents};
use super::wire;
use crate::binance::parse::ApiError;
use reqwest::Method;
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use trading::execution::{
    AccountSnapshot, Ack, ExecError, ExecutionClient, FundingPayment, VenueOrder, VenueTrade,
};
use trading::order::OrderRequest;

pub const VENUE: &str = "binance-usdm";

/// What went wrong, with the venue's code where it gave one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UsdmError {
    /// -1022: the signature does not match (wrong secret, or the query was altered).
    #[error("Binance refused the signature (-1022: {0}); check the API secret")]
    BadSignature(String),
    /// -1021: our clock and the venue's disagree beyond `recvWindow`.
    #[error(
        "Binance refused the timestamp (-1021: {0}); the clock offset is resynchronised on the next call"
    )]
    Timestamp(String),
    /// -2014/-2015: the key is unknown, lacks the permission, or the IP is not allowed.
    #[error("Binance refused the API key ({code}: {msg})")]
    Key { code: i64, msg: String },
    /// -2019: not enough margin for the order.
    #[error("Binance refused the order: insufficient margin (-2019: {0})")]
    InsufficientMargin(String),
    /// Any other refusal, as the venue worded it.
    #[error("Binance refused the request ({code}: {msg})")]
    Api { code: i64, msg: String },
    #[error("Binance could not be reached: {0}")]
    Transport(String),
    #[error("Binance answered {status} with an unreadable body: {body}")]
    Unreadable { status: u16, body: String },
}

impl UsdmError {
    fn from_api(e: ApiError) -> UsdmError {
        match e.code {
            -1022 => UsdmError::BadSignature(e.msg),
            -1021 => UsdmError::Timestamp(e.msg),
            -2014 | -2015 => UsdmError::Key {
                code: e.code,
                msg: e.msg,
            },
            -2019 => UsdmError::InsufficientMargin(e.msg),
            code => UsdmError::Api { code, msg: e.msg },
        }
    }

    /// In the trading core's terms. `id`: the order it was about.
    pub fn exec(self, id: &str) -> ExecError {
        let venue = VENUE;
        match self {
            e @ (UsdmError::BadSignature(_) | UsdmError::Timestamp(_) | UsdmError::Key { .. }) => {
                ExecError::Auth {
                    venue,
                    reason: e.to_string(),
                }
            }
            UsdmError::InsufficientMargin(m) => ExecError::InsufficientMargin { venue, reason: m },
            UsdmError::Api { code: -2021, msg } => ExecError::WouldTrigger { venue, reason: msg },
            UsdmError::Api {
                code: -2011 | -2013,
                ..
            } => ExecError::UnknownOrder {
                venue,
                client_id: id.to_string(),
            },
            UsdmError::Api { code, msg } => ExecError::Rejected {
                venue,
                code,
                reason: msg,
            },
            e @ (UsdmError::Transport(_) | UsdmError::Unreadable { .. }) => {
                ExecError::Unreachable {
                    venue,
                    reason: e.to_string(),
                }
            }
        }
    }
}

#[derive(Debug)]
pub struct UsdmClient {
    http: reqwest::Client,
    base: String,
    ws_base: String,
    creds: Credentials,
    recv_window_ms: u64,
    /// Venue time minus ours, ms (from `GET /fapi/v1/time`).
    offset_ms: AtomicI64,
    /// Venue symbol → ours (`BTCUSDT` → `BTC/USDT`), learnt from the calls.
    symbols: Mutex<HashMap<String, String>>,
    /// `orderId` → our `clientOrderId` (trades carry only the former).
    client_ids: Mutex<HashMap<i64, String>>,
    keepalive: Duration,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl UsdmClient {
    /// A client for `base` (`https://fapi.binance.com`, or the mock's URL),
    /// streams from `wss://fstream.binance.com` (the base with `ws` for the mock).
    pub fn new(base: &str, creds: Credentials, recv_window_ms: u64) -> Result<Self, UsdmError> {
        let base = base.trim_end_matches('/').to_string();
        let ws_base = if base.contains("fapi.binance.com") {
            "wss://fstream.binance.com".to_string()
        } else {
            base.replacen("http", "ws", 1)
        };
        Self::with_streams(
            &base,
            &ws_base,
            creds,
            recv_window_ms,
            Duration::from_secs(10),
        )
    }

    pub fn with_streams(
        base: &str,
        ws_base: &str,
        creds: Credentials,
        recv_window_ms: u64,
        timeout: Duration,
    ) -> Result<Self, UsdmError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("traderai/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| UsdmError::Transport(e.to_string()))?;
        Ok(UsdmClient {
            http,
            base: base.trim_end_matches('/').to_string(),
            ws_base: ws_base.trim_end_matches('/').to_string(),
            creds,
            recv_window_ms,
            offset_ms: AtomicI64::new(0),
            symbols: Mutex::default(),
            client_ids: Mutex::default(),
            // The listen key lives 60 min from its last keep-alive.
            keepalive: Duration::from_secs(30 * 60),
        })
    }

    /// How often the listen key is kept alive (tests shorten it).
    pub fn set_keepalive(&mut self, every: Duration) {
        self.keepalive = every;
    }

    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }

    /// Sets the venue-minus-local offset by hand (tests; a known skew).
    pub fn set_offset_ms(&self, ms: i64) {
        self.offset_ms.store(ms, Ordering::Relaxed);
    }

    fn now_ms() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }

    /// `BTC/USDT` → `BTCUSDT`, remembering the way back.
    fn venue_symbol(&self, ours: &str) -> String {
        let v = venue_symbol(ours);
        lock(&self.symbols).insert(v.clone(), ours.to_string());
        v
    }

    /// Ours for a venue symbol (itself when never seen: a stranger's).
    pub fn our_symbol(&self, venue: &str) -> String {
        lock(&self.symbols)
            .get(venue)
            .cloned()
            .unwrap_or_else(|| venue.to_string())
    }

    fn learn(&self, o: &wire::Order) {
        lock(&self.client_ids).insert(o.order_id, o.client_order_id.clone());
    }

    /// Measures the venue's clock against ours (half the round trip
    /// counted on each side) and keeps the offset for signing.
    pub async fn sync_time(&self) -> Result<i64, UsdmError> {
        let sent = Self::now_ms();
        let r = self
            .http
            .get(format!("{}/fapi/v1/time", self.base))
            .send()
            .await
            .map_err(|e| UsdmError::Transport(e.to_string()))?;
        let got = Self::now_ms();
        let v: serde_json::Value = r
            .json()
            .await
            .map_err(|e| UsdmError::Transport(e.to_string()))?;
        let server = v["serverTime"]
            .as_i64()
            .ok_or_else(|| UsdmError::Unreadable {
                status: 200,
                body: v.to_string(),
            })?;
        let offset = server - (sent + got) / 2;
        self.offset_ms.store(offset, Ordering::Relaxed);
        Ok(offset)
    }

    async fn read<T: serde::de::DeserializeOwned>(
        &self,
        r: reqwest::Response,
    ) -> Result<T, UsdmError> {
        let status = r.status();
        let body = r
            .bytes()
            .await
            .map_err(|e| UsdmError::Transport(e.to_string()))?;
        let unreadable = || UsdmError::Unreadable {
            status: status.as_u16(),
            body: String::from_utf8_lossy(&body).chars().take(200).collect(),
        };
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|_| unreadable());
        }
        match serde_json::from_slice::<ApiError>(&body) {
            Ok(e) => {
                let e = UsdmError::from_api(e);
                if matches!(e, UsdmError::Timestamp(_)) {
                    // The next call signs with a fresh offset.
                    let _ = self.sync_time().await;
                }
                Err(e)
            }
            Err(_) => Err(unreadable()),
        }
    }

    /// A signed request (`SIGNED (TRADE, USER_DATA)`): parameters, then
    /// `recvWindow` and `timestamp`, then the signature, all in the query.
    async fn signed<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<T, UsdmError> {
        let ts = Self::now_ms() + self.offset_ms();
        let query = signed_query(&self.creds, params, self.recv_window_ms, ts);
        let r = self
            .http
            .request(method, format!("{}{path}?{query}", self.base))
            .header("X-MBX-APIKEY", self.creds.api_key())
            .send()
            .await
            .map_err(|e| UsdmError::Transport(e.to_string()))?;
        self.read(r).await
    }

    /// A `USER_STREAM` request: the API key, no signature.
    pub(super) async fn keyed<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
    ) -> Result<T, UsdmError> {
        let r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("X-MBX-APIKEY", self.creds.api_key())
            .send()
            .await
            .map_err(|e| UsdmError::Transport(e.to_string()))?;
        self.read(r).await
    }

    /// Signs `o` and has the venue validate it without placing it
    /// (`POST /fapi/v1/order/test`): a live account's dry run.
    pub async fn test_order(&self, o: &OrderRequest) -> Result<(), UsdmError> {
        // Remembered for the way back (trades and positions name the venue's symbol).
        self.venue_symbol(&o.symbol);
        let p = order::params(o);
        self.signed::<serde_json::Value>(Method::POST, "/fapi/v1/order/test", &p)
            .await
            .map(|_| ())
    }

    /// `POST /fapi/v1/order`.
    pub async fn place(&self, o: &OrderRequest) -> Result<wire::Order, UsdmError> {
        // Remembered for the way back (trades and positions name the venue's symbol).
        self.venue_symbol(&o.symbol);
        let p = order::params(o);
        let r: wire::Order = self.signed(Method::POST, "/fapi/v1/order", &p).await?;
        self.learn(&r);
        Ok(r)
    }

    /// `DELETE /fapi/v1/order` by our id.
    pub async fn cancel_order(
        &self,
        symbol: &str,
        client_id: &str,
    ) -> Result<wire::Order, UsdmError> {
        let p = [
            ("symbol", self.venue_symbol(symbol)),
            ("origClientOrderId", client_id.to_string()),
        ];
        self.signed(Method::DELETE, "/fapi/v1/order", &p).await
    }

    /// `GET /fapi/v1/order` by our id or the venue's.
    pub async fn query_order(
        &self,
        symbol: &str,
        id: OrderRef<'_>,
    ) -> Result<wire::Order, UsdmError> {
        let key = match id {
            OrderRef::Client(c) => ("origClientOrderId", c.to_string()),
            OrderRef::Venue(v) => ("orderId", v.to_string()),
        };
        let p = [("symbol", self.venue_symbol(symbol)), key];
        let r: wire::Order = self.signed(Method::GET, "/fapi/v1/order", &p).await?;
        self.learn(&r);
        Ok(r)
    }

    /// `GET /fapi/v1/openOrders` (every symbol).
    pub async fn open_orders_raw(&self) -> Result<Vec<wire::Order>, UsdmError> {
        let r: Vec<wire::Order> = self.signed(Method::GET, "/fapi/v1/openOrders", &[]).await?;
        for o in &r {
            self.learn(o);
        }
        Ok(r)
    }

    /// `GET /fapi/v1/userTrades` from `since` (at most 1000 a page; pages
    /// on by `fromId`).
    pub async fn user_trades(
        &self,
        symbol: &str,
        since: i64,
    ) -> Result<Vec<wire::UserTrade>, UsdmError> {
        let vs = self.venue_symbol(symbol);
        let mut out: Vec<wire::UserTrade> = Vec::new();
        loop {
            let mut p = vec![("symbol", vs.clone()), ("limit", "1000".to_string())];
            match out.last() {
                Some(t) => p.push(("fromId", (t.id + 1).to_string())),
                None => p.push(("startTime", since.to_string())),
            }
            let page: Vec<wire::UserTrade> =
                self.signed(Method::GET, "/fapi/v1/userTrades", &p).await?;
            let full = page.len() == 1000;
            out.extend(page);
            if !full {
                return Ok(out);
            }
        }
    }

    /// `GET /fapi/v1/income?incomeType=FUNDING_FEE` from `since` (pages of
    /// 1000 on by time).
    pub async fn funding_income(&self, since: i64) -> Result<Vec<wire::Income>, UsdmError> {
        let mut out: Vec<wire::Income> = Vec::new();
        let mut from = since;
        loop {
            let p = [
                ("incomeType", "FUNDING_FEE".to_string()),
                ("startTime", from.to_string()),
                ("limit", "1000".to_string()),
            ];
            let page: Vec<wire::Income> = self.signed(Method::GET, "/fapi/v1/income", &p).await?;
            let full = page.len() == 1000;
            let last = page.last().map(|i| i.time);
            // Pages overlap at their boundary time: keep each transfer once.
            let seen: std::collections::HashSet<i64> = out.iter().map(|i| i.tran_id).collect();
            out.extend(page.into_iter().filter(|i| !seen.contains(&i.tran_id)));
            match (full, last) {
                (true, Some(t)) => from = t,
                _ => return Ok(out),
            }
        }
    }

    /// `GET /fapi/v2/positionRisk`: every symbol's position (one-way mode).
    pub async fn position_risk(&self) -> Result<Vec<wire::PositionRisk>, UsdmError> {
        self.signed(Method::GET, "/fapi/v2/positionRisk", &[]).await
    }

    /// `GET /fapi/v2/balance`.
    pub async fn balances(&self) -> Result<Vec<wire::Balance>, UsdmError> {
        self.signed(Method::GET, "/fapi/v2/balance", &[]).await
    }

    /// `POST /fapi/v1/leverage`: the leverage the venue now applies.
    pub async fn set_leverage(&self, symbol: &str, leverage: u32) -> Result<u32, UsdmError> {
        let p = [
            ("symbol", self.venue_symbol(symbol)),
            ("leverage", leverage.to_string()),
        ];
        let v: serde_json::Value = self.signed(Method::POST, "/fapi/v1/leverage", &p).await?;
        Ok(v["leverage"].as_u64().unwrap_or(0) as u32)
    }

    /// `POST /fapi/v1/marginType` (`ISOLATED` or `CROSSED`); "no need to
    /// change" (-4046) is success.
    pub async fn set_margin_type(&self, symbol: &str, isolated: bool) -> Result<(), UsdmError> {
        let p = [
            ("symbol", self.venue_symbol(symbol)),
            (
                "marginType",
                if isolated { "ISOLATED" } else { "CROSSED" }.to_string(),
            ),
        ];
        match self
            .signed::<serde_json::Value>(Method::POST, "/fapi/v1/marginType", &p)
            .await
        {
            Ok(_) | Err(UsdmError::Api { code: -4046, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Our id for the venue's `orderId`, looked up when not yet known.
    async fn client_id_of(&self, symbol: &str, order_id: i64) -> Result<String, UsdmError> {
        if let Some(c) = lock(&self.client_ids).get(&order_id) {
            return Ok(c.clone());
        }
        Ok(self
            .query_order(symbol, OrderRef::Venue(order_id))
            .await?
            .client_order_id)
    }

    pub(super) fn ws_base(&self) -> &str {
        &self.ws_base
    }

    pub(super) fn keepalive(&self) -> Duration {
        self.keepalive
    }
}

/// Which id an order is looked up by.
#[derive(Debug, Clone, Copy)]
pub enum OrderRef<'a> {
    Client(&'a str),
    Venue(i64),
}

/// A USDⓈ-M account as an [`ExecutionClient`] (cheap to clone; the
/// user-data stream's task holds it too).
#[derive(Debug, Clone)]
pub struct UsdmAccount(std::sync::Arc<UsdmClient>);

impl UsdmAccount {
    pub fn new(client: UsdmClient) -> UsdmAccount {
        UsdmAccount(std::sync::Arc::new(client))
    }
}

impl std::ops::Deref for UsdmAccount {
    type Target = UsdmClient;
    fn deref(&self) -> &UsdmClient {
        &self.0
    }
}

impl ExecutionClient for UsdmAccount {
    type Events = UsdmEvents;

    fn venue(&self) -> &'static str {
        VENUE
    }

    async fn open(&self, order: &OrderRequest) -> Result<Ack, ExecError> {
        let r = self
            .place(order)
            .await
            .map_err(|e| e.exec(&order.client_id))?;
        Ok(Ack {
            venue_id: r.order_id.to_string(),
            status: r.to_venue(&order.symbol).status,
            time: r.update_time,
        })
    }

    async fn cancel(&self, symbol: &str, client_id: &str) -> Result<VenueOrder, ExecError> {
        self.cancel_order(symbol, client_id)
            .await
            .map(|o| o.to_venue(symbol))
            .map_err(|e| e.exec(client_id))
    }

    async fn order(&self, symbol: &str, client_id: &str) -> Result<VenueOrder, ExecError> {
        self.query_order(symbol, OrderRef::Client(client_id))
            .await
            .map(|o| o.to_venue(symbol))
            .map_err(|e| e.exec(client_id))
    }

    async fn open_orders(&self) -> Result<Vec<VenueOrder>, ExecError> {
        let r = self.open_orders_raw().await.map_err(|e| e.exec(""))?;
        Ok(r.iter()
            .map(|o| o.to_venue(&self.our_symbol(&o.symbol)))
            .collect())
    }

    async fn trades_since(&self, symbol: &str, since: i64) -> Result<Vec<VenueTrade>, ExecError> {
        let raw = self
            .user_trades(symbol, since)
            .await
            .map_err(|e| e.exec(""))?;
        let mut out = Vec::with_capacity(raw.len());
        for t in &raw {
            let client = self
                .client_id_of(symbol, t.order_id)
                .await
                .map_err(|e| e.exec(""))?;
            out.push(t.to_venue(symbol, &client));
        }
        Ok(out)
    }

    async fn funding_since(&self, since: i64) -> Result<Vec<FundingPayment>, ExecError> {
        let raw = self.funding_income(since).await.map_err(|e| e.exec(""))?;
        Ok(raw
            .iter()
            .map(|i| i.to_venue(&self.our_symbol(&i.symbol)))
            .collect())
    }

    async fn snapshot(&self) -> Result<AccountSnapshot, ExecError> {
        let balances = self.balances().await.map_err(|e| e.exec(""))?;
        let usdt = balances.iter().find(|b| b.asset == "USDT");
        let dec = |s: &str| s.parse::<Decimal>().unwrap_or_default();
        let positions = self
            .position_risk()
            .await
            .map_err(|e| e.exec(""))?
            .iter()
            .filter(|p| !dec(&p.position_amt).is_zero())
            .map(|p| p.to_venue(&self.our_symbol(&p.symbol)))
            .collect();
        let open_orders = ExecutionClient::open_orders(self).await?;
        Ok(AccountSnapshot {
            time: UsdmClient::now_ms() + self.offset_ms(),
            balance: usdt.map_or(Decimal::ZERO, |b| dec(&b.balance)),
            available: usdt.map_or(Decimal::ZERO, |b| dec(&b.available_balance)),
            positions,
            open_orders,
        })
    }

    async fn events(&self) -> Result<UsdmEvents, ExecError> {
        user_stream::open(self.0.clone())
            .await
            .map_err(|e| e.exec(""))
    }
}
