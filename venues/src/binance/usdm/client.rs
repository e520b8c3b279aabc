//! The signed REST client of one USDⓈ-M account.

use super::order;
use super::sign::{Credentials, signed_query};
use crate::binance::parse::ApiError;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use trading::order::OrderRequest;

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
}

#[derive(Debug)]
pub struct UsdmClient {
    http: reqwest::Client,
    base: String,
    creds: Credentials,
    recv_window_ms: u64,
    /// Venue time minus ours, ms (from `GET /fapi/v1/time`).
    offset_ms: AtomicI64,
}

impl UsdmClient {
    /// A client for `base` (`https://fapi.binance.com`, or the mock's URL).
    pub fn new(base: &str, creds: Credentials, recv_window_ms: u64) -> Result<Self, UsdmError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("traderai/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| UsdmError::Transport(e.to_string()))?;
        Ok(UsdmClient {
            http,
            base: base.trim_end_matches('/').to_string(),
            creds,
            recv_window_ms,
            offset_ms: AtomicI64::new(0),
        })
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

    async fn signed_post(
        &self,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<serde_json::Value, UsdmError> {
        let ts = Self::now_ms() + self.offset_ms();
        let query = signed_query(&self.creds, params, self.recv_window_ms, ts);
        let r = self
            .http
            .post(format!("{}{path}?{query}", self.base))
            .header("X-MBX-APIKEY", self.creds.api_key())
            .send()
            .await
            .map_err(|e| UsdmError::Transport(e.to_string()))?;
        let status = r.status();
        let body = r
            .bytes()
            .await
            .map_err(|e| UsdmError::Transport(e.to_string()))?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|_| UsdmError::Unreadable {
                status: status.as_u16(),
                body: String::from_utf8_lossy(&body).chars().take(200).collect(),
            });
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
            Err(_) => Err(UsdmError::Unreadable {
                status: status.as_u16(),
                body: String::from_utf8_lossy(&body).chars().take(200).collect(),
            }),
        }
    }

    /// Signs `o` and has the venue validate it without placing it
    /// (`POST /fapi/v1/order/test`): a live account's dry run.
    pub async fn test_order(&self, o: &OrderRequest) -> Result<(), UsdmError> {
        self.signed_post("/fapi/v1/order/test", &order::params(o))
            .await
            .map(|_| ())
    }
}
