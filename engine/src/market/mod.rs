//! The nouns of market data: symbols, timeframes, markets and candles.

mod candle;
mod symbol;
mod timeframe;

pub use candle::{Candle, OhlcError};
pub use symbol::Symbol;
pub use timeframe::Timeframe;

use serde::{Deserialize, Serialize};
use std::fmt;

/// UTC milliseconds since the Unix epoch: the only time type below the UI.
pub type TimeMs = i64;

/// Errors raised when parsing market identifiers at the edge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarketError {
    #[error("invalid symbol {0:?}: expected BASE/QUOTE in ccxt style, e.g. BTC/USDT")]
    Symbol(String),
    #[error("invalid timeframe {0:?}: expected <n>m, <n>h or <n>d, e.g. 15m, 4h, 1d")]
    Timeframe(String),
    #[error("timeframe {0} does not tile a UTC day: minutes must divide 1440, or be whole days")]
    TimeframeGrid(String),
    #[error("invalid market {0:?}: expected spot or futures")]
    Market(String),
    #[error("invalid exchange name {0:?}: expected 1-32 chars of [a-z0-9_-]")]
    Exchange(String),
}

/// Which book a series comes from. USDⓈ-M perpetual futures are `futures`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Market {
    Spot,
    Futures,
}

impl Market {
    pub fn parse(s: &str) -> Result<Self, MarketError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "spot" => Ok(Market::Spot),
            "futures" | "usdm" | "usd-m" | "perp" => Ok(Market::Futures),
            _ => Err(MarketError::Market(s.to_owned())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Market::Spot => "spot",
            Market::Futures => "futures",
        }
    }
}

impl fmt::Display for Market {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Market {
    type Err = MarketError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Checks an exchange name (`binance`, `yahoo`, `csv`): lower-case, short, no spaces.
pub fn parse_exchange(s: &str) -> Result<String, MarketError> {
    let t = s.trim().to_ascii_lowercase();
    let ok = !t.is_empty()
        && t.len() <= 32
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(t)
    } else {
        Err(MarketError::Exchange(s.to_owned()))
    }
}

/// Identifies one candle series in the store.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SeriesKey {
    pub exchange: String,
    pub market: Market,
    pub symbol: Symbol,
    pub timeframe: Timeframe,
}

impl SeriesKey {
    pub fn new(
        exchange: &str,
        market: Market,
        symbol: Symbol,
        timeframe: Timeframe,
    ) -> Result<Self, MarketError> {
        Ok(Self {
            exchange: parse_exchange(exchange)?,
            market,
            symbol,
            timeframe,
        })
    }
}

impl fmt::Display for SeriesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}:{}",
            self.exchange, self.market, self.symbol, self.timeframe
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn market_parses_aliases_and_rejects_junk() {
        assert_eq!(Market::parse("SPOT").unwrap(), Market::Spot);
        assert_eq!(Market::parse("usdm").unwrap(), Market::Futures);
        assert!(Market::parse("margin").is_err());
    }

    #[test]
    fn exchange_names_are_normalised() {
        assert_eq!(parse_exchange(" Binance ").unwrap(), "binance");
        assert!(parse_exchange("bin ance").is_err());
        assert!(parse_exchange("").is_err());
    }
}
