//! The admin's view of the machine and the service.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SystemStatus {
    pub version: String,
    pub uptime_s: u64,
    /// Whole-machine CPU use, percent (0..100 × cores averaged to 0..100).
    pub cpu_pct: f32,
    pub cpus: usize,
    pub memory_used_bytes: u64,
    pub memory_total_bytes: u64,
    /// This process's resident memory.
    pub process_rss_bytes: u64,
    pub database_bytes: i64,
    pub candles: i64,
    pub series: i64,
    pub queued_jobs: i64,
    pub running_jobs: i64,
    pub users: i64,
    /// WebSocket clients connected to this process.
    pub ws_clients: u64,
    /// The follower's state of every followed series.
    pub follow: Vec<FollowView>,
}

/// One followed series as the follower last reported it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct FollowView {
    /// `binance futures BTC/USDT 15m`.
    pub series: String,
    /// base (signals) or confirm (higher timeframe).
    pub role: String,
    /// live, catching_up, stale.
    pub state: String,
    /// Stale only: disconnected, venue_error or no_data, and the words.
    pub reason: Option<String>,
    pub detail: Option<String>,
    /// Stale since (UTC ms on the follower's clock).
    pub since: Option<i64>,
    /// Newest stored bar's open time (UTC ms).
    pub newest: Option<i64>,
    pub demo: bool,
}

/// What an admin may change of the followed universe in the web app (the
/// config file's `[follow]` keeps everything else).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct FollowEdit {
    pub enabled: bool,
    /// spot or futures
    pub market: String,
    /// `BTC/USDT` …
    pub symbols: Vec<String>,
    /// The timeframe signals are made on (`15m`).
    pub timeframe: String,
    /// Higher timeframes followed for confirmation (`1h`, `4h`, `1d`).
    pub confirm: Vec<String>,
}

/// The followed universe in force and where it comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct FollowConfigView {
    pub edit: FollowEdit,
    pub venue: String,
    /// `file` (config) or `admin` (edited here).
    pub source: String,
    pub updated_at: Option<String>,
    /// Followed series this makes (symbols × timeframes).
    pub series: usize,
}
