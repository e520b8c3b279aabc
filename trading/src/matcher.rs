//! The paper matcher: fills orders against bars exactly as the backtester
//! does (next-open entry with slippage, worst-case intrabar path, maker
//! take-profits, taker stops), so paper and backtest give the same trades
//! on the same bars. A parity test replays real bars through both.
//!
//! Anchors: barter-rs `barter-execution/src/exchange/mock/mod.rs`;
//! nautilus_trader `crates/execution/src/matching_engine/engine.rs` (one
//! matching engine for its backtest and its sandbox venue).
