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

/// A kline event of a combined stream, as Binance sends it:
/// `{"stream":"btcusdt@kline_15m","data":{"e":"kline","E":…,"s":"BTCUSDT",
///   "k":{"t":…,"T":…,"s":"BTCUSDT","i":"15m","o":"…","c":"…","h":"…",
///   "l":"…","v":"…","n":…,"x":true,"q":"…","V":"…","Q":"…","B":"0"}}}`
#[derive(Debug, Clone, PartialEq)]
pub struct StreamKline {
    /// `btcusdt@kline_15m`.
    pub stream: String,
    /// `BTCUSDT`.
    pub symbol: String,
    /// `15m`.
    pub interval: String,
    pub candle: Candle,
    /// `x`: the bar is final (closed); Binance sends updates of the forming bar too.
    pub closed: bool,
    /// `E`: when the venue sent it (ms).
    pub event_time: i64,
}

#[derive(Debug, Deserialize)]
struct Combined {
    stream: String,
    data: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct KlineEvent {
    #[serde(rename = "e")]
    event: String,
    #[serde(rename = "E")]
    event_time: i64,
    #[serde(rename = "s")]
    symbol: String,
    k: RawStreamKline,
}

#[derive(Debug, Deserialize)]
struct RawStreamKline {
    t: i64,
    i: String,
    o: String,
    c: String,
    h: String,
    l: String,
    v: String,
    x: bool,
}

/// Reads one combined-stream message: `Ok(None)` for messages that are not
/// kline events (subscription replies, other event types), `Err` with what
/// is wrong for a kline message that cannot be read.
pub fn stream_kline(text: &str) -> Result<Option<StreamKline>, String> {
    let msg: Combined = match serde_json::from_str(text) {
        Ok(m) => m,
        Err(_) => {
            // A reply such as {"result":null,"id":1} is not an error.
            let v: serde_json::Value =
                serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
            return if v.get("result").is_some() || v.get("id").is_some() {
                Ok(None)
            } else {
                Err("not a combined-stream message (no stream/data)".into())
            };
        }
    };
    if msg.data.get("e").and_then(|e| e.as_str()) != Some("kline") {
        return Ok(None);
    }
    let ev: KlineEvent =
        serde_json::from_value(msg.data).map_err(|e| format!("kline event: {e}"))?;
    debug_assert_eq!(ev.event, "kline");
    let k = ev.k;
    let num = |name: &str, s: &str| {
        s.parse::<f64>()
            .map_err(|_| format!("kline at {}: {name} {s:?} is not a number", k.t))
    };
    Ok(Some(StreamKline {
        stream: msg.stream,
        symbol: ev.symbol,
        interval: k.i.clone(),
        candle: Candle {
            open_time: k.t,
            open: num("open", &k.o)?,
            high: num("high", &k.h)?,
            low: num("low", &k.l)?,
            close: num("close", &k.c)?,
            volume: num("volume", &k.v)?,
        },
        closed: k.x,
        event_time: ev.event_time,
    }))
}

/// Encodes a kline event the way Binance's combined stream does (the mock's side).
pub fn encode_stream_kline(
    stream: &str,
    symbol: &str,
    interval: &str,
    c: &Candle,
    tf_ms: i64,
    closed: bool,
    event_time: i64,
) -> String {
    serde_json::json!({
        "stream": stream,
        "data": {
            "e": "kline", "E": event_time, "s": symbol,
            "k": {
                "t": c.open_time, "T": c.open_time + tf_ms - 1, "s": symbol, "i": interval,
                "f": 100, "L": 200,
                "o": c.open.to_string(), "c": c.close.to_string(),
                "h": c.high.to_string(), "l": c.low.to_string(),
                "v": c.volume.to_string(), "n": 100, "x": closed,
                "q": (c.volume * c.close).to_string(), "V": (c.volume / 2.0).to_string(),
                "Q": (c.volume * c.close / 2.0).to_string(), "B": "0"
            }
        }
    })
    .to_string()
}

/// `/fapi/v1/fundingRate`: `[{"symbol":"BTCUSDT","fundingRate":"-0.03750000",
/// "fundingTime":1570608000000,"markPrice":"34287.54619963"}]`.
#[derive(Debug, Deserialize)]
struct RawFunding {
    #[serde(rename = "fundingRate")]
    rate: String,
    #[serde(rename = "fundingTime")]
    time: i64,
    #[serde(rename = "markPrice", default)]
    mark: Option<String>,
}

/// A settled funding rate with the mark price it settled at (when given).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settlement {
    pub time: i64,
    pub rate: f64,
    pub mark_price: Option<f64>,
}

pub fn funding_rates(body: &[u8]) -> Result<Vec<Settlement>, String> {
    let raw: Vec<RawFunding> =
        serde_json::from_slice(body).map_err(|e| format!("malformed fundingRate body: {e}"))?;
    raw.into_iter()
        .map(|r| {
            Ok(Settlement {
                time: r.time,
                rate: r.rate.parse().map_err(|_| {
                    format!(
                        "funding at {}: fundingRate {:?} is not a number",
                        r.time, r.rate
                    )
                })?,
                // Old settlements carry an empty markPrice.
                mark_price: r.mark.and_then(|m| m.parse().ok()),
            })
        })
        .collect()
}

/// `/fapi/v1/premiumIndex?symbol=`: the mark price and the predicted rate.
#[derive(Debug, Clone, PartialEq)]
pub struct PremiumIndex {
    pub mark_price: f64,
    /// `lastFundingRate`: the rate the next settlement is expected to charge.
    pub rate: f64,
    pub next_funding_time: i64,
    pub time: i64,
}

#[derive(Debug, Deserialize)]
struct RawPremium {
    #[serde(rename = "markPrice")]
    mark: String,
    #[serde(rename = "lastFundingRate")]
    rate: String,
    #[serde(rename = "nextFundingTime")]
    next: i64,
    time: i64,
}

pub fn premium_index(body: &[u8]) -> Result<PremiumIndex, String> {
    let r: RawPremium =
        serde_json::from_slice(body).map_err(|e| format!("malformed premiumIndex body: {e}"))?;
    let num = |name: &str, s: &str| {
        s.parse::<f64>()
            .map_err(|_| format!("premiumIndex: {name} {s:?} is not a number"))
    };
    Ok(PremiumIndex {
        mark_price: num("markPrice", &r.mark)?,
        rate: num("lastFundingRate", &r.rate)?,
        next_funding_time: r.next,
        time: r.time,
    })
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

    /// A combined-stream message as Binance documents it (futures kline stream).
    const STREAM: &str = r#"{"stream":"btcusdt@kline_1m","data":{"e":"kline","E":1638747660000,"s":"BTCUSDT","k":{"t":1638747660000,"T":1638747719999,"s":"BTCUSDT","i":"1m","f":100,"L":200,"o":"0.0010","c":"0.0020","h":"0.0025","l":"0.0015","v":"1000","n":100,"x":false,"q":"1.0000","V":"500","Q":"0.500","B":"123456"}}}"#;

    #[test]
    fn reads_a_recorded_stream_message() {
        let k = stream_kline(STREAM).unwrap().unwrap();
        assert_eq!(k.stream, "btcusdt@kline_1m");
        assert_eq!((k.symbol.as_str(), k.interval.as_str()), ("BTCUSDT", "1m"));
        assert!(!k.closed);
        assert_eq!(k.candle.open_time, 1_638_747_660_000);
        assert_eq!(
            (k.candle.open, k.candle.high, k.candle.low, k.candle.close),
            (0.001, 0.0025, 0.0015, 0.002)
        );
        assert_eq!(k.candle.volume, 1000.0);
    }

    #[test]
    fn stream_replies_are_skipped_and_bad_messages_explained() {
        assert_eq!(stream_kline(r#"{"result":null,"id":1}"#).unwrap(), None);
        assert_eq!(
            stream_kline(r#"{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade"}}"#).unwrap(),
            None
        );
        assert!(stream_kline("{not json").unwrap_err().contains("not JSON"));
        let bad = STREAM.replace(r#""o":"0.0010""#, r#""o":"zero""#);
        assert!(stream_kline(&bad).unwrap_err().contains("open \"zero\""));
        let missing = STREAM.replace(r#""x":false,"#, "");
        assert!(stream_kline(&missing).unwrap_err().contains("kline event"));
    }

    #[test]
    fn stream_encoding_round_trips() {
        let c = Candle {
            open_time: 900_000,
            open: 1.5,
            high: 2.0,
            low: 1.0,
            close: 1.75,
            volume: 3.0,
        };
        let text = encode_stream_kline(
            "btcusdt@kline_15m",
            "BTCUSDT",
            "15m",
            &c,
            900_000,
            true,
            1_800_000,
        );
        let k = stream_kline(&text).unwrap().unwrap();
        assert_eq!((k.candle, k.closed, k.event_time), (c, true, 1_800_000));
    }

    #[test]
    fn reads_recorded_funding_payloads() {
        let f = funding_rates(br#"[{"symbol":"BTCUSDT","fundingRate":"-0.03750000","fundingTime":1570608000000,"markPrice":"34287.54619963"},{"symbol":"BTCUSDT","fundingRate":"0.00010000","fundingTime":1570636800000,"markPrice":""}]"#).unwrap();
        assert_eq!(
            f[0],
            Settlement {
                time: 1_570_608_000_000,
                rate: -0.0375,
                mark_price: Some(34287.54619963)
            }
        );
        assert_eq!(f[1].mark_price, None);
        assert!(
            funding_rates(br#"[{"fundingRate":"x","fundingTime":1}]"#)
                .unwrap_err()
                .contains("\"x\"")
        );
        let p = premium_index(br#"{"symbol":"BTCUSDT","markPrice":"11793.63104562","indexPrice":"11781.80495970","estimatedSettlePrice":"11781.16138815","lastFundingRate":"0.00038246","interestRate":"0.00010000","nextFundingTime":1597392000000,"time":1597370495002}"#).unwrap();
        assert_eq!(
            (p.rate, p.next_funding_time),
            (0.00038246, 1_597_392_000_000)
        );
    }
}
