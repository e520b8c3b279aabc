//! Named universes shipped as data (`data/universes/*.toml`, compiled in so
//! a user's machine has them without the repository): a stock universe's
//! tickers by sector, expanded wherever a command takes `--universe`.

use engine::Symbol;
use serde::Deserialize;

/// The files, by name.
const SHIPPED: &[(&str, &str)] = &[(
    "us-stocks",
    include_str!("../../data/universes/us-stocks.toml"),
)];

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sector {
    pub name: String,
    pub tickers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Universe {
    pub name: String,
    pub description: String,
    /// The exchange name its series are stored under.
    pub exchange: String,
    pub calendar: engine::calendar::Calendar,
    #[serde(rename = "sector")]
    pub sectors: Vec<Sector>,
}

impl Universe {
    /// Every ticker as a symbol (`AAPL/USD`), in file order.
    pub fn symbols(&self) -> Vec<Symbol> {
        self.sectors
            .iter()
            .flat_map(|s| &s.tickers)
            .filter_map(|t| Symbol::parse(&format!("{t}/USD")).ok())
            .collect()
    }

    /// The sector of a ticker.
    pub fn sector_of(&self, ticker: &str) -> Option<&str> {
        self.sectors
            .iter()
            .find(|s| s.tickers.iter().any(|t| t == ticker))
            .map(|s| s.name.as_str())
    }
}

/// The calendar a stored series trades on: the stock chain's series and
/// any `TICKER/USD` of a shipped stock universe (bundled Yahoo files) keep
/// NYSE sessions; everything else trades around the clock.
pub fn calendar_of(key: &engine::SeriesKey) -> engine::calendar::Calendar {
    use engine::calendar::Calendar;
    if key.exchange == venues::stocks::EXCHANGE {
        return Calendar::Xnys;
    }
    if key.symbol.quote() != "USD" {
        return Calendar::AlwaysOpen;
    }
    static STOCKS: std::sync::LazyLock<Vec<Universe>> =
        std::sync::LazyLock::new(|| SHIPPED.iter().filter_map(|(n, _)| get(n).ok()).collect());
    STOCKS
        .iter()
        .find(|u| {
            u.sectors
                .iter()
                .any(|s| s.tickers.iter().any(|t| t == key.symbol.base()))
        })
        .map_or(Calendar::AlwaysOpen, |u| u.calendar)
}

/// Names of the shipped universes.
pub fn names() -> Vec<&'static str> {
    SHIPPED.iter().map(|(n, _)| *n).collect()
}

/// A shipped universe by name; the error lists the names there are.
pub fn get(name: &str) -> Result<Universe, String> {
    let (_, text) = SHIPPED
        .iter()
        .find(|(n, _)| *n == name)
        .ok_or_else(|| format!("no universe {name:?}; there are: {}", names().join(", ")))?;
    toml::from_str(text).map_err(|e| format!("universe {name}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stock_universe_has_62_unique_tickers_in_seven_sectors() {
        let u = get("us-stocks").unwrap();
        let syms = u.symbols();
        assert_eq!(syms.len(), 62);
        let mut unique: Vec<_> = syms.iter().map(|s| s.to_string()).collect();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 62, "no ticker twice");
        assert_eq!(u.sectors.len(), 7);
        assert_eq!(u.sector_of("XLE"), Some("ETFs"));
        assert_eq!(u.calendar, engine::calendar::Calendar::Xnys);
        assert_eq!(u.exchange, venues::stocks::EXCHANGE);
        assert!(get("nasdaq-9000").unwrap_err().contains("us-stocks"));
        let key = |ex: &str, s: &str| {
            engine::SeriesKey::new(
                ex,
                engine::Market::Spot,
                Symbol::parse(s).unwrap(),
                engine::Timeframe::D1,
            )
            .unwrap()
        };
        use engine::calendar::Calendar;
        assert_eq!(calendar_of(&key("stocks", "ZZZQ/USD")), Calendar::Xnys);
        assert_eq!(calendar_of(&key("yahoo", "NVDA/USD")), Calendar::Xnys);
        assert_eq!(calendar_of(&key("yahoo", "BTC/USD")), Calendar::AlwaysOpen);
        assert_eq!(
            calendar_of(&key("binance", "ETH/USDT")),
            Calendar::AlwaysOpen
        );
    }

    #[test]
    fn the_forms_offer_the_shipped_universes() {
        let offered: Vec<&str> = app::types::SHIPPED_UNIVERSES.iter().map(|u| u.0).collect();
        assert_eq!(offered, names());
        for (name, _) in app::types::SHIPPED_UNIVERSES {
            get(name).unwrap();
        }
    }
}
