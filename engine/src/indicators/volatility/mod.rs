//! Volatility.
pub mod atr;
pub mod bbands;
