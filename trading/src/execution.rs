//! `ExecutionClient`: what a venue (paper, Binance USDⓈ-M, Alpaca) does for
//! an account — submit, cancel, and report order events and fills — as a
//! trait over plain values, so the trading core stays free of I/O. On every
//! (re)connect a client first reports a snapshot of open orders and
//! positions; what we did not expect is reported, never adopted silently.
//!
//! Anchors: barter-rs `barter-execution`; nautilus_trader
//! `crates/live/src/execution/manager.rs` (reconciliation).
