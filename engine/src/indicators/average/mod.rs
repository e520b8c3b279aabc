//! Moving averages.
pub mod ema;
pub mod sma;
