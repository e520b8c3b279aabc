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
}
