//! Volume.
pub mod obv;
