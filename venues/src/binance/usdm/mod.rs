//! Binance USDⓈ-M futures for trading: signed REST (HMAC-SHA256 over the
//! query, `recvWindow`, the server-time offset) and order requests in
//! Binance's own terms. This first part places nothing: it signs and
//! validates orders through `POST /fapi/v1/order/test` (the dry-run a live
//! account starts in); placing, canceling, `positionRisk`, leverage and the
//! user-data stream build on the same signer.
//!
//! Anchors: Binance "SIGNED (TRADE, USER_DATA) Endpoint security";
//! nautilus_trader `crates/adapters/binance/src/common/credential.rs`.

pub mod client;
pub mod order;
pub mod sign;

pub use client::{UsdmClient, UsdmError};
pub use sign::Credentials;
