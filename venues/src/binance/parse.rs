//! Binance's kline payload: an array of 12-element arrays, prices as strings.
//! `[openTime, "open", "high", "low", "close", "volume", closeTime,
//!   "quoteVolume", trades, "takerBuyBase", "takerBuyQuote", "ignore"]`

use engine::Candle;
use serde::Deserialize;
use serde::de::IgnoredAny;

#[derive(Debug, Deserialize)]
struct RawKline(
    i64,
    String,
    String,
    String,
    String,
    String,
    IgnoredAny,
    IgnoredAny,
    IgnoredAny,
    IgnoredAny,
    IgnoredAny,
    IgnoredAny,
);

/// An error body: `{"code": -1121, "msg": "Invalid symbol."}`.
#[derive(Debug, Clone, Deserialize)]
pub struct ApiError {
    pub code: i64,
    pub msg: String,
}

/// Parses a klines body; any malformed element fails the whole page (a
/// truncated body must be fetched again, not half-stored).
pub fn klines(body: &[u8]) -> Result<Vec<Candle>, String> {
    let raw: Vec<RawKline> =
        serde_json::from_slice(body).map_err(|e| format!("malformed klines body: {e}"))?;
    raw.into_iter()
        .map(|k| {
            let num = |name: &str, s: &str| {
                s.parse::<f64>()
                    .map_err(|_| format!("kline at {}: {name} {s:?} is not a number", k.0))
            };
            Ok(Candle {
                open_time: k.0,
                open: num("open", &k.1)?,
                high: num("high", &k.2)?,
                low: num("low", &k.3)?,
                close: num("close", &k.4)?,
                volume: num("volume", &k.5)?,
            })
        })
        .collect()
}

/// Encodes candles the way Binance does (used by the mock exchange).
pub fn encode(candles: &[Candle], tf_ms: i64) -> String {
    let mut s = String::with_capacity(candles.len() * 160 + 2);
    s.push('[');
    for (i, c) in candles.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        use std::fmt::Write;
        let _ = write!(
            s,
            "[{},\"{}\",\"{}\",\"{}\",\"{}\",\"{}\",{},\"{}\",{},\"{}\",\"{}\",\"0\"]",
            c.open_time,
            c.open,
            c.high,
            c.low,
            c.close,
            c.volume,
            c.open_time + tf_ms - 1,
            c.volume * c.close,
            100,
            c.volume / 2.0,
            c.volume * c.close / 2.0
        );
    }
    s.push(']');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A payload as Binance documents it.
    const RECORDED: &str = r#"[[1499040000000,"0.01634790","0.80000000","0.01575800","0.01577100","148976.11427815",1499644799999,"2434.19055334",308,"1756.87402397","28.46694368","0"]]"#;

    #[test]
    fn parses_a_recorded_payload() {
        let k = klines(RECORDED.as_bytes()).unwrap();
        assert_eq!(
            k,
            vec![Candle {
                open_time: 1_499_040_000_000,
                open: 0.0163479,
                high: 0.8,
                low: 0.015758,
                close: 0.015771,
                volume: 148_976.114_278_15
            }]
        );
    }

    #[test]
    fn rejects_truncated_and_wrong_shapes() {
        assert!(klines(&RECORDED.as_bytes()[..RECORDED.len() - 10]).is_err());
        assert!(
            klines(br#"[[1499040000000,"x","1","1","1","1",1,"1",1,"1","1","0"]]"#)
                .unwrap_err()
                .contains("open")
        );
        assert!(klines(br#"{"code":-1121,"msg":"Invalid symbol."}"#).is_err());
        assert!(klines(b"[]").unwrap().is_empty());
    }

    #[test]
    fn encode_round_trips() {
        let c = vec![Candle {
            open_time: 60_000,
            open: 43443.0625,
            high: 43555.515625,
            low: 43443.0625,
            close: 43548.7734375,
            volume: 50628608.0,
        }];
        assert_eq!(klines(encode(&c, 60_000).as_bytes()).unwrap(), c);
    }
}
