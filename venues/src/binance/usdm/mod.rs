//! Binance USDⓈ-M futures for trading: signed REST (HMAC-SHA256 over the
//! query, `recvWindow`, the server-time offset), orders in Binance's own
//! terms (market, limit, STOP_MARKET, TAKE_PROFIT_MARKET, `reduceOnly`),
//! cancel and query, open orders, trades, `positionRisk`, balance,
//! leverage and margin type, the `/fapi/v1/order/test` dry run, and the
//! user-data stream — behind the trading core's `ExecutionClient`.
//!
//! Anchors: Binance "SIGNED (TRADE, USER_DATA) Endpoint security" and
//! "User Data Streams"; nautilus_trader
//! `crates/adapters/binance/src/common/credential.rs`.

pub mod client;
pub mod order;
pub mod sign;
pub mod user_stream;
pub mod wire;

pub use client::{OrderRef, UsdmAccount, UsdmClient, UsdmError, VENUE};
pub use sign::Credentials;
pub use user_stream::UsdmEvents;
