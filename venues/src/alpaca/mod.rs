//! Alpaca trading (paper by default): the account's orders, positions and
//! fills through the REST API, the `trade_updates` stream, and a mock
//! broker that speaks both. Its market data lives in [`crate::stocks`].

pub mod client;
pub mod mock;
pub mod stream;
pub mod wire;

pub use client::{AlpacaAccount, AlpacaError, AlpacaTrading, Keys, PAPER_BASE, VENUE};

use reqwest::header::HeaderMap;
use std::time::Duration;

/// Alpaca's symbol for ours: `NVDA/USD` → `NVDA`.
pub fn venue_symbol(ours: &str) -> String {
    ours.split('/').next().unwrap_or(ours).to_string()
}

/// Ours for Alpaca's: `NVDA` → `NVDA/USD`.
pub fn our_symbol(venue: &str) -> String {
    format!("{venue}/USD")
}

/// Our name in a client order id: a moved stop leg carries `~<n>` after it.
pub fn our_id(client_order_id: &str) -> String {
    client_order_id
        .split_once('~')
        .map_or(client_order_id, |(n, _)| n)
        .to_string()
}

/// How long a 429 asks us to wait: `Retry-After` seconds, or Alpaca's
/// `X-RateLimit-Reset` (the Unix second the window resets).
pub(crate) fn retry_after(h: &HeaderMap) -> Option<Duration> {
    let num = |k: &str| h.get(k)?.to_str().ok()?.trim().parse::<u64>().ok();
    if let Some(s) = num("retry-after") {
        return Some(Duration::from_secs(s));
    }
    let reset = num("x-ratelimit-reset")?;
    let now = (crate::now_ms() / 1000).max(0) as u64;
    Some(Duration::from_secs(reset.saturating_sub(now).max(1)))
}
