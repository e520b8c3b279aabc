//! Live risk state of an account: `Active` (all orders pass), `Reducing`
//! (only orders that close exposure pass), `Halted` (nothing passes), moved
//! by the engine's guards (daily loss, drawdown, exposure) and by the kill
//! switch. An order the state refuses becomes `OrderDenied`, never reaches
//! a venue, and says which rule refused it.
//!
//! Anchor: nautilus_trader `TradingState`.
