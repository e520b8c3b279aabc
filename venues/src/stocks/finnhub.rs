//! Finnhub: `GET /stock/candle?symbol&resolution&from&to` (unix seconds,
//! both ends inclusive), the token in the `X-Finnhub-Token` header (never in
//! the URL, so it cannot reach a log). Answers are column arrays
//! `{"c":[],"h":[],"l":[],"o":[],"s":"ok","t":[],"v":[]}` or `{"s":"no_data"}`;
//! prices are split-adjusted.

use super::http::Http;
use super::{ProviderConfig, check_symbol, settle, ticker};
use crate::rate::RateBudget;
use crate::{Adjustment, Exchange, ExchangeError, Page};
use engine::{Candle, Market, Symbol, TimeMs, Timeframe};
use serde::Deserialize;
use std::sync::Arc;

pub const VENUE: &str = "finnhub";
const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Default, Deserialize)]
pub struct WireCandles {
    pub s: String,
    #[serde(default)]
    pub t: Vec<i64>,
    #[serde(default)]
    pub o: Vec<f64>,
    #[serde(default)]
    pub h: Vec<f64>,
    #[serde(default)]
    pub l: Vec<f64>,
    #[serde(default)]
    pub c: Vec<f64>,
    #[serde(default)]
    pub v: Vec<f64>,
}

#[derive(Debug, Deserialize)]
struct WireError {
    error: String,
}

/// Finnhub's resolution for a timeframe.
pub fn resolution(tf: Timeframe) -> Option<&'static str> {
    Some(match tf.minutes() {
        1 => "1",
        5 => "5",
        15 => "15",
        30 => "30",
        60 => "60",
        1440 => "D",
        _ => return None,
    })
}

/// How much time one request asks for: a month of intraday bars, five years of days.
fn window_ms(tf: Timeframe) -> i64 {
    if tf.duration_ms() >= DAY_MS {
        1826 * DAY_MS
    } else {
        30 * DAY_MS
    }
}

#[derive(Clone)]
pub struct Finnhub {
    http: Http,
    base: String,
    token: String,
}

impl std::fmt::Debug for Finnhub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Finnhub")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Finnhub {
    /// `None` without a token.
    pub fn new(
        cfg: &ProviderConfig,
        budget: Arc<RateBudget>,
    ) -> Result<Option<Self>, reqwest::Error> {
        let Some(token) = cfg.key.clone() else {
            return Ok(None);
        };
        Ok(Some(Finnhub {
            http: Http::new(VENUE, cfg, budget)?,
            base: cfg.base_url.trim_end_matches('/').to_owned(),
            token,
        }))
    }
}

impl Finnhub {
    /// `GET /quote?symbol=`: the body on 200.
    pub(super) async fn quote(&self, symbol: &Symbol) -> Result<Vec<u8>, ExchangeError> {
        let url = format!("{}/quote", self.base);
        self.http
            .get(
                &url,
                &[("symbol", ticker(symbol).to_owned())],
                &[("X-Finnhub-Token", &self.token)],
                symbol.as_str(),
            )
            .await?
            .map_err(|r| r.into_error(VENUE, symbol.as_str()))
    }
}

/// The bars of an `ok` answer; columns of unequal length are a bad body.
pub fn candles(w: &WireCandles) -> Result<Vec<Candle>, String> {
    let n = w.t.len();
    if [w.o.len(), w.h.len(), w.l.len(), w.c.len(), w.v.len()]
        .iter()
        .any(|l| *l != n)
    {
        return Err(format!(
            "columns of unequal length (t {n}, o {}, h {}, l {}, c {}, v {})",
            w.o.len(),
            w.h.len(),
            w.l.len(),
            w.c.len(),
            w.v.len()
        ));
    }
    Ok((0..n)
        .map(|i| Candle {
            open_time: w.t[i] * 1000,
            open: w.o[i],
            high: w.h[i],
            low: w.l[i],
            close: w.c[i],
            volume: w.v[i],
        })
        .collect())
}

impl Exchange for Finnhub {
    fn venue(&self) -> &str {
        VENUE
    }

    fn market(&self) -> Market {
        Market::Spot
    }

    fn page_limit(&self) -> u32 {
        u32::MAX
    }

    async fn fetch_klines(
        &self,
        symbol: &Symbol,
        tf: Timeframe,
        start: TimeMs,
        end: TimeMs,
    ) -> Result<Page, ExchangeError> {
        check_symbol(VENUE, symbol)?;
        let res = resolution(tf).ok_or_else(|| ExchangeError::UnsupportedTimeframe {
            venue: VENUE.into(),
            timeframe: tf,
        })?;
        let stop = (start + window_ms(tf)).min(end);
        let url = format!("{}/stock/candle", self.base);
        let q = [
            ("symbol", ticker(symbol).to_owned()),
            ("resolution", res.to_owned()),
            ("from", (start / 1000).to_string()),
            ("to", ((stop - 1) / 1000).to_string()),
        ];
        let body = match self
            .http
            .get(
                &url,
                &q,
                &[("X-Finnhub-Token", &self.token)],
                symbol.as_str(),
            )
            .await?
        {
            Ok(b) => b,
            Err(r) => {
                let message = serde_json::from_str::<WireError>(&r.body)
                    .map_or_else(|_| r.body.clone(), |e| e.error);
                return Err(ExchangeError::Rejected {
                    venue: VENUE.into(),
                    symbol: symbol.to_string(),
                    status: r.status,
                    code: 0,
                    message,
                });
            }
        };
        let bad = |last: String| ExchangeError::Exhausted {
            venue: VENUE.into(),
            symbol: symbol.to_string(),
            attempts: 1,
            last,
        };
        let w: WireCandles =
            serde_json::from_slice(&body).map_err(|e| bad(format!("unreadable candles: {e}")))?;
        let bars = match w.s.as_str() {
            "ok" => candles(&w).map_err(bad)?,
            "no_data" => Vec::new(),
            other => return Err(bad(format!("status {other:?}"))),
        };
        Ok(Page {
            candles: settle(bars, tf, start, stop),
            next: (stop < end).then_some(stop),
            provider: VENUE.into(),
            adjustment: Adjustment::Split,
            raw_close: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of Finnhub's stock candles reference.
    #[test]
    fn reads_the_documented_payload() {
        let body = r#"{"c":[217.68,221.03,219.89],"h":[222.49,221.5,220.94],"l":[217.19,217.1402,218.83],"o":[221.03,218.55,220],"s":"ok","t":[1569297600,1569384000,1569470400],"v":[33463820,24018876,20730608]}"#;
        let w: WireCandles = serde_json::from_str(body).unwrap();
        let c = candles(&w).unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c[1].close, 221.03);
        assert_eq!(c[0].open_time, 1_569_297_600_000);
        let nd: WireCandles = serde_json::from_str(r#"{"s":"no_data"}"#).unwrap();
        assert!(candles(&nd).unwrap().is_empty());
        let bad = WireCandles {
            s: "ok".into(),
            t: vec![1],
            ..Default::default()
        };
        assert!(candles(&bad).unwrap_err().contains("unequal"));
    }
}
