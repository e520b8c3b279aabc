//! The exact ledger of an account.
//!
//! Money moves only through entries: realised price P&L of a fill, its fee,
//! a funding payment (each keeping its cause: order, trade id, funding
//! time). Balance (capital + Σ entries), realised P&L, fees and funding are
//! sums over the entries ([`Totals`]; the store sums its rows the same
//! way), never kept beside them. Amounts are [`Decimal`] rounded to
//! [`SCALE`] places; the engine's `f64` arithmetic that produced them stays
//! within a cent of the sum over any run (a test checks it on real bars).

use engine::TimeMs;
use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use serde::{Deserialize, Serialize};

/// Decimal places kept: a satoshi of a USDT.
pub const SCALE: u32 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// Price P&L realised by a closing fill.
    RealisedPnl,
    /// A trading fee (negative).
    Fee,
    /// A funding payment (negative) or receipt (positive).
    Funding,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::RealisedPnl => "realised_pnl",
            EntryKind::Fee => "fee",
            EntryKind::Funding => "funding",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub time: TimeMs,
    pub kind: EntryKind,
    pub symbol: String,
    /// Signed: what it adds to the balance.
    pub amount: Decimal,
    pub order_id: Option<String>,
    pub trade_id: Option<String>,
}

impl Entry {
    /// An engine amount as an entry; `None` for an amount that rounds to
    /// zero (no entry), an error for a non-finite one.
    pub fn of(
        time: TimeMs,
        kind: EntryKind,
        symbol: &str,
        value: f64,
        order_id: Option<&str>,
        trade_id: Option<&str>,
    ) -> Result<Option<Entry>, LedgerError> {
        let amount = money(value).ok_or_else(|| LedgerError::NotFinite {
            what: kind.as_str(),
            symbol: symbol.to_string(),
            time,
            value,
        })?;
        Ok((!amount.is_zero()).then(|| Entry {
            time,
            kind,
            symbol: symbol.to_string(),
            amount,
            order_id: order_id.map(str::to_string),
            trade_id: trade_id.map(str::to_string),
        }))
    }
}

/// An engine amount (`f64`) as money. `None` for a non-finite value, which
/// no entry may carry.
pub fn money(x: f64) -> Option<Decimal> {
    Decimal::from_f64(x).map(|d| d.round_dp(SCALE))
}

/// Money for display and the engine's comparisons.
pub fn to_f64(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(f64::NAN)
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LedgerError {
    #[error("{what} of {symbol} at {time} is not a finite amount ({value})")]
    NotFinite {
        what: &'static str,
        symbol: String,
        time: TimeMs,
        value: f64,
    },
}

/// Totals of a set of entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub realised_pnl: Decimal,
    pub fees: Decimal,
    pub funding: Decimal,
}

impl Totals {
    pub fn of<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> Totals {
        let mut t = Totals::default();
        for e in entries {
            t.add(e.kind, e.amount);
        }
        t
    }

    pub fn add(&mut self, kind: EntryKind, amount: Decimal) {
        match kind {
            EntryKind::RealisedPnl => self.realised_pnl += amount,
            EntryKind::Fee => self.fees += amount,
            EntryKind::Funding => self.funding += amount,
        }
    }

    /// Everything the entries add to the capital.
    pub fn net(&self) -> Decimal {
        self.realised_pnl + self.fees + self.funding
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balance_is_capital_plus_the_entries() {
        let capital = Decimal::from(100);
        let entries: Vec<Entry> = [
            Entry::of(1, EntryKind::Fee, "A/B", -0.05, Some("o1"), Some("t1")),
            Entry::of(
                2,
                EntryKind::RealisedPnl,
                "A/B",
                1.234_567_891_2,
                None,
                None,
            ),
            Entry::of(3, EntryKind::Funding, "A/B", 0.0, None, None),
        ]
        .into_iter()
        .filter_map(|e| e.unwrap())
        .collect();
        assert_eq!(entries.len(), 2, "a zero amount is no entry");
        let t = Totals::of(&entries);
        assert_eq!((capital + t.net()).to_string(), "101.18456789");
        assert_eq!(t.fees.to_string(), "-0.05");
        assert!(matches!(
            Entry::of(4, EntryKind::Fee, "A/B", f64::NAN, None, None),
            Err(LedgerError::NotFinite { .. })
        ));
    }
}
