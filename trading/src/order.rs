//! Orders and their events.
//!
//! To hold: the order (client id, venue id, side, kind, quantity, limit and
//! trigger prices, reduce-only) and one status transition table
//! (`Initialized → Submitted → Accepted → PartiallyFilled → Filled`, with
//! `Denied` by our risk before submission, `Rejected` by the venue,
//! `Canceled`, `Expired`); events named in the past tense (`OrderSubmitted`,
//! `OrderAccepted`, `OrderRejected`, `OrderDenied`, `OrderFilled`,
//! `OrderCanceled`, `OrderExpired`). Applying an event the table does not
//! allow is an error that leaves the order unchanged; a fill whose trade id
//! was already applied is refused before it changes state.
//!
//! Anchor: nautilus_trader `crates/model/src/orders/mod.rs` and
//! `crates/model/src/events/order/`.
