//! The trading core shared by paper and live accounts: what happens to an
//! order, what it does to the money, and when trading must stop.
//!
//! Pure by construction: no async runtime, no database, no HTTP (a test
//! checks the dependency tree). Venues (`venues`) implement the traits
//! declared here; the server's runners drive them on a live clock, the
//! backtester on a replay clock, with one engine for both.
//!
//! Money is exact: the ledger keeps [`rust_decimal::Decimal`]; research math
//! (signals, metrics) stays `f64` in `engine`.

pub mod clock;
pub mod execution;
pub mod feed;
pub mod ledger;
pub mod live;
pub mod matcher;
pub mod order;
pub mod paper_venue;
pub mod risk;
pub mod sim;

pub use rust_decimal::Decimal;
