//! Momentum and oscillators.
pub mod adx;
pub mod cci;
pub mod macd;
pub mod mom;
pub mod roc;
pub mod rsi;
pub mod stoch;
pub mod willr;
