//! Binance spot (`/api/v3/klines`) and USDⓈ-M futures (`/fapi/v1/klines`),
//! their kline WebSocket streams, and a mock that speaks both.

pub mod http;
pub mod mock;
pub mod parse;
pub mod stream;
pub mod usdm;

pub use http::BinanceClient;

use engine::{Market, Timeframe};

/// The klines path of a market.
pub fn klines_path(market: Market) -> &'static str {
    match market {
        Market::Spot => "/api/v3/klines",
        Market::Futures => "/fapi/v1/klines",
    }
}

/// Intervals Binance serves, spelled as Binance spells them.
pub fn interval(tf: Timeframe) -> Option<String> {
    const SUPPORTED: &[&str] = &[
        "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d",
    ];
    let s = tf.to_string();
    SUPPORTED.contains(&s.as_str()).then_some(s)
}
