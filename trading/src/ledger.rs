//! The exact ledger of an account.
//!
//! To hold: balances, positions and realised P&L in `Decimal`, changed only
//! by applying fills, fees and funding payments, each entry keeping its
//! cause (order, trade id, funding time) so that the balance is always the
//! sum of its entries and can be rebuilt from them.
