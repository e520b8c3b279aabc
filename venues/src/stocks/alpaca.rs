//! Alpaca market data: `GET /v2/stocks/{symbol}/bars` with `timeframe`,
//! `start`/`end` (RFC 3339), `limit` (≤ 10,000), `adjustment`, `feed` and
//! `page_token`; keys in the `APCA-API-KEY-ID`/`APCA-API-SECRET-KEY` headers.
//! Bars come as `{"bars":[{"t","o","h","l","c","v","n","vw"}],"symbol",
//! "next_page_token"}`; `bars` is null for a symbol with nothing in range.

use super::http::Http;
use super::{ProviderConfig, check_symbol, settle, ticker};
use crate::rate::RateBudget;
use crate::{Adjustment, Exchange, ExchangeError, Page};
use engine::{Candle, Market, Symbol, TimeMs, Timeframe};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;

pub const VENUE: &str = "alpaca";
/// Most bars one request returns.
pub const PAGE: u32 = 10_000;
/// Pages followed by `page_token` within one fetch.
const TOKENS_PER_FETCH: usize = 5;

#[derive(Debug, Deserialize)]
pub struct WireBar {
    pub t: String,
    pub o: f64,
    pub h: f64,
    pub l: f64,
    pub c: f64,
    pub v: f64,
    #[serde(default)]
    pub n: Option<u64>,
    #[serde(default)]
    pub vw: Option<f64>,
}

#[derive(Debug, Deserialize)]
pub struct WireBars {
    pub bars: Option<Vec<WireBar>>,
    #[serde(default)]
    pub symbol: Option<String>,
    pub next_page_token: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireError {
    #[serde(default)]
    code: Option<i64>,
    message: String,
}

/// Alpaca's name for a timeframe (4h bars start at New York hours, off our UTC grid).
pub fn timeframe(tf: Timeframe) -> Option<&'static str> {
    Some(match tf.minutes() {
        1 => "1Min",
        5 => "5Min",
        15 => "15Min",
        30 => "30Min",
        60 => "1Hour",
        1440 => "1Day",
        _ => return None,
    })
}

pub fn rfc3339(t: TimeMs) -> String {
    chrono::DateTime::from_timestamp_millis(t)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn parse_time(s: &str) -> Option<TimeMs> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

#[derive(Clone)]
pub struct Alpaca {
    http: Http,
    base: String,
    key: String,
    secret: String,
    feed: String,
}

impl std::fmt::Debug for Alpaca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alpaca")
            .field("base", &self.base)
            .field("feed", &self.feed)
            .finish_non_exhaustive()
    }
}

impl Alpaca {
    /// `None` without both keys.
    pub fn new(
        cfg: &ProviderConfig,
        budget: Arc<RateBudget>,
    ) -> Result<Option<Self>, reqwest::Error> {
        let (Some(key), Some(secret)) = (cfg.key.clone(), cfg.secret.clone()) else {
            return Ok(None);
        };
        Ok(Some(Alpaca {
            http: Http::new(VENUE, cfg, budget)?,
            base: cfg.base_url.trim_end_matches('/').to_owned(),
            key,
            secret,
            feed: cfg.feed.clone().unwrap_or_else(|| "iex".into()),
        }))
    }

    /// One page of bars; `Ok(None)` pages are the end.
    async fn page(
        &self,
        symbol: &Symbol,
        tf: &str,
        (start, end): (TimeMs, TimeMs),
        adjustment: &str,
        token: Option<&str>,
    ) -> Result<WireBars, ExchangeError> {
        let url = format!("{}/v2/stocks/{}/bars", self.base, ticker(symbol));
        let mut q = vec![
            ("timeframe", tf.to_owned()),
            ("start", rfc3339(start)),
            ("end", rfc3339(end - 1)),
            ("limit", PAGE.to_string()),
            ("adjustment", adjustment.to_owned()),
            ("feed", self.feed.clone()),
            ("sort", "asc".to_owned()),
        ];
        if let Some(t) = token {
            q.push(("page_token", t.to_owned()));
        }
        let headers = [
            ("APCA-API-KEY-ID", self.key.as_str()),
            ("APCA-API-SECRET-KEY", self.secret.as_str()),
        ];
        let body = match self.http.get(&url, &q, &headers, symbol.as_str()).await? {
            Ok(b) => b,
            Err(r) => {
                let api: Option<WireError> = serde_json::from_str(&r.body).ok();
                let message = api
                    .as_ref()
                    .map_or_else(|| r.body.clone(), |a| a.message.clone());
                // 404 and "invalid symbol": the ticker is not Alpaca's.
                if r.status == 404 || message.to_ascii_lowercase().contains("invalid symbol") {
                    return Err(ExchangeError::NoData {
                        venue: VENUE.into(),
                        symbol: symbol.to_string(),
                        message,
                    });
                }
                return Err(ExchangeError::Rejected {
                    venue: VENUE.into(),
                    symbol: symbol.to_string(),
                    status: r.status,
                    code: api.and_then(|a| a.code).unwrap_or(0),
                    message,
                });
            }
        };
        serde_json::from_slice(&body).map_err(|e| ExchangeError::Exhausted {
            venue: VENUE.into(),
            symbol: symbol.to_string(),
            attempts: 1,
            last: format!("unreadable bars: {e}"),
        })
    }

    /// `GET /v2/stocks/{symbol}/trades/latest`: the body on 200.
    pub(super) async fn latest_trade(&self, symbol: &Symbol) -> Result<Vec<u8>, ExchangeError> {
        let url = format!("{}/v2/stocks/{}/trades/latest", self.base, ticker(symbol));
        let headers = [
            ("APCA-API-KEY-ID", self.key.as_str()),
            ("APCA-API-SECRET-KEY", self.secret.as_str()),
        ];
        self.http
            .get(
                &url,
                &[("feed", self.feed.clone())],
                &headers,
                symbol.as_str(),
            )
            .await?
            .map_err(|r| r.into_error(VENUE, symbol.as_str()))
    }

    /// Up to [`TOKENS_PER_FETCH`] pages of `[start, end)`, and whether more remain.
    async fn bars(
        &self,
        symbol: &Symbol,
        tf: &str,
        range: (TimeMs, TimeMs),
        adjustment: &str,
    ) -> Result<(Vec<Candle>, bool), ExchangeError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..TOKENS_PER_FETCH {
            let page = self
                .page(symbol, tf, range, adjustment, token.as_deref())
                .await?;
            for b in page.bars.unwrap_or_default() {
                let Some(t) = parse_time(&b.t) else {
                    continue;
                };
                out.push(Candle {
                    open_time: t,
                    open: b.o,
                    high: b.h,
                    low: b.l,
                    close: b.c,
                    volume: b.v,
                });
            }
            match page.next_page_token {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => return Ok((out, false)),
            }
        }
        Ok((out, true))
    }
}

impl Exchange for Alpaca {
    fn venue(&self) -> &str {
        VENUE
    }

    fn market(&self) -> Market {
        Market::Spot
    }

    fn page_limit(&self) -> u32 {
        PAGE
    }

    /// Split- and dividend-adjusted bars, with the raw closes of the same
    /// bars from a second request (`adjustment=raw`).
    async fn fetch_klines(
        &self,
        symbol: &Symbol,
        tf: Timeframe,
        start: TimeMs,
        end: TimeMs,
    ) -> Result<Page, ExchangeError> {
        check_symbol(VENUE, symbol)?;
        let name = timeframe(tf).ok_or_else(|| ExchangeError::UnsupportedTimeframe {
            venue: VENUE.into(),
            timeframe: tf,
        })?;
        let (bars, more) = self.bars(symbol, name, (start, end), "all").await?;
        let candles = settle(bars, tf, start, end);
        let next = more
            .then(|| candles.last().map(|c| c.open_time + tf.duration_ms()))
            .flatten()
            .filter(|n| *n < end);
        let raw_close = match (candles.first(), candles.last()) {
            (Some(a), Some(b)) => {
                let (raw, _) = self
                    .bars(
                        symbol,
                        name,
                        (a.open_time, b.open_time + tf.duration_ms()),
                        "raw",
                    )
                    .await?;
                let by_time: HashMap<TimeMs, f64> = settle(raw, tf, start, end)
                    .into_iter()
                    .map(|c| (c.open_time, c.close))
                    .collect();
                // Every bar's raw close, or none: a partial column would mislead.
                candles
                    .iter()
                    .map(|c| by_time.get(&c.open_time).copied())
                    .collect::<Option<Vec<f64>>>()
                    .unwrap_or_default()
            }
            _ => Vec::new(),
        };
        Ok(Page {
            candles,
            next,
            provider: VENUE.into(),
            adjustment: Adjustment::All,
            raw_close,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example response of Alpaca's "Historical bars" reference.
    #[test]
    fn reads_the_documented_payload() {
        let body = r#"{"bars":[{"t":"2022-01-03T09:00:00Z","o":178.26,"h":178.26,"l":178.21,"c":178.21,"v":1118,"n":65,"vw":178.235733}],"symbol":"AAPL","next_page_token":"QUFQTHxNfDIwMjItMDEtMDNUMDk6MDA6MDAuMDAwMDAwMDAwWg=="}"#;
        let w: WireBars = serde_json::from_str(body).unwrap();
        let bars = w.bars.unwrap();
        assert_eq!(bars[0].c, 178.21);
        assert_eq!(parse_time(&bars[0].t), Some(1_641_200_400_000));
        assert!(w.next_page_token.is_some());
        let empty: WireBars =
            serde_json::from_str(r#"{"bars":null,"symbol":"ZZZZ","next_page_token":null}"#)
                .unwrap();
        assert!(empty.bars.is_none());
    }
}
