//! Jobs as pages and scripts see them, and the requests that start them.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct JobView {
    pub id: i64,
    /// backfill, train, drift, …
    pub kind: String,
    /// queued, running, succeeded, failed, cancelled
    pub status: String,
    /// 0..1
    pub progress: f64,
    pub params: serde_json::Value,
    /// The job's own numbers: for a backfill planned/done/candles_per_s/eta_s,
    /// for training the epochs so far.
    pub detail: serde_json::Value,
    pub error: Option<String>,
    pub attempts: i32,
    pub cancel_requested: bool,
    pub created_by: Option<i64>,
    /// UTC ms.
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

impl JobView {
    pub fn is_finished(&self) -> bool {
        matches!(self.status.as_str(), "succeeded" | "failed" | "cancelled")
    }
}

/// A live change to a job, as `/ws` pushes it (the `job_events` notification).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct JobEvent {
    pub id: i64,
    pub kind: String,
    pub status: String,
    pub progress: f64,
    #[serde(default)]
    pub created_by: Option<i64>,
    /// Absent when too large for a notification; read the job then.
    #[serde(default)]
    pub detail: Option<serde_json::Value>,
}

/// Start a backfill from an exchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct BackfillRequest {
    /// binance, or stocks (the provider chain: Alpaca → Finnhub → Yahoo)
    pub exchange: String,
    /// spot or futures
    pub market: String,
    /// Pairs, e.g. ["BTC/USDT", "ETH/USDT"]; may be empty with a universe.
    pub symbols: Vec<String>,
    /// A shipped universe (`us-stocks`) instead of, or besides, `symbols`:
    /// its tickers, from the exchange it is stored under (`stocks`).
    #[serde(default)]
    pub universe: Option<String>,
    /// 1m 5m 15m 1h 4h 1d
    pub timeframe: String,
    /// Start, ISO 8601 date or time (UTC).
    pub from: String,
    /// End (exclusive); empty = now.
    #[serde(default)]
    pub to: Option<String>,
    /// Another endpoint speaking Binance's API (a testnet, a local mock).
    #[serde(default)]
    pub base_url: Option<String>,
}
