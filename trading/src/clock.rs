//! `Clock`: the time the trading core sees, in UTC milliseconds. The live
//! runner reads the system clock; backtests and replays advance it bar by
//! bar, which is all that differs between them.
//!
//! Anchor: barter-rs `barter/src/engine/clock.rs`.
