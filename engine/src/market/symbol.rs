use super::MarketError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A trading pair in ccxt style, `BASE/QUOTE` (e.g. `BTC/USDT`, `NVDA/USD`).
///
/// Always upper case; both legs are 1-20 ASCII alphanumerics. Venue spellings
/// (`BTCUSDT`) are produced by the adapters, never stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Symbol(String);

impl Symbol {
    pub fn parse(s: &str) -> Result<Self, MarketError> {
        let up = s.trim().to_ascii_uppercase();
        let leg_ok = |leg: &str| {
            !leg.is_empty() && leg.len() <= 20 && leg.chars().all(|c| c.is_ascii_alphanumeric())
        };
        match up.split_once('/') {
            Some((base, quote)) if leg_ok(base) && leg_ok(quote) => Ok(Symbol(up)),
            _ => Err(MarketError::Symbol(s.to_owned())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn base(&self) -> &str {
        self.0.split_once('/').map(|(b, _)| b).unwrap_or(&self.0)
    }

    pub fn quote(&self) -> &str {
        self.0.split_once('/').map(|(_, q)| q).unwrap_or("")
    }

    /// The concatenated spelling most venues use (`BTCUSDT`).
    pub fn concatenated(&self) -> String {
        format!("{}{}", self.base(), self.quote())
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Symbol {
    type Error = MarketError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Symbol::parse(&s)
    }
}

impl From<Symbol> for String {
    fn from(s: Symbol) -> String {
        s.0
    }
}

impl std::str::FromStr for Symbol {
    type Err = MarketError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Symbol::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ccxt_pairs() {
        let s = Symbol::parse(" btc/usdt ").unwrap();
        assert_eq!(s.as_str(), "BTC/USDT");
        assert_eq!(s.base(), "BTC");
        assert_eq!(s.quote(), "USDT");
        assert_eq!(s.concatenated(), "BTCUSDT");
        assert_eq!(Symbol::parse("1000PEPE/USDT").unwrap().base(), "1000PEPE");
    }

    #[test]
    fn rejects_malformed_pairs() {
        for bad in [
            "BTCUSDT",
            "/USDT",
            "BTC/",
            "BTC/US DT",
            "BTC/USDT/X",
            "",
            "BTC-USD",
        ] {
            assert!(Symbol::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn serde_validates() {
        let ok: Symbol = serde_json_like("ETH/BTC");
        assert_eq!(ok.as_str(), "ETH/BTC");
        assert!(Symbol::try_from("nope".to_string()).is_err());
    }

    fn serde_json_like(s: &str) -> Symbol {
        Symbol::try_from(s.to_string()).unwrap()
    }
}
