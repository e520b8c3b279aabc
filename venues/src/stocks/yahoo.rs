//! Yahoo's chart endpoint: `GET /v8/finance/chart/{ticker}?period1&period2
//! &interval&events=div,splits&includeAdjustedClose=true` (unix seconds).
//! Answers `{"chart":{"result":[{"meta","timestamp":[],"indicators":{"quote":
//! [{"open","high","low","close","volume"}],"adjclose":[{"adjclose"}]}}],
//! "error":null}}`; a ticker it does not know is a 404 with
//! `chart.error.description`. `close` is split-adjusted, `adjclose` also
//! for dividends: bars are scaled to `adjclose`, `close` kept as the raw close.

use super::http::Http;
use super::{ProviderConfig, check_symbol, settle_with};
use crate::rate::RateBudget;
use crate::{Adjustment, Exchange, ExchangeError, Page};
use engine::{Candle, Market, Symbol, TimeMs, Timeframe};
use serde::Deserialize;
use std::sync::Arc;

pub const VENUE: &str = "yahoo";
const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Deserialize)]
pub struct WireChart {
    pub chart: WireChartBody,
}

#[derive(Debug, Deserialize)]
pub struct WireChartBody {
    pub result: Option<Vec<WireResult>>,
    pub error: Option<WireError>,
}

#[derive(Debug, Deserialize)]
pub struct WireError {
    pub code: String,
    pub description: String,
}

#[derive(Debug, Deserialize)]
pub struct WireResult {
    #[serde(default)]
    pub timestamp: Vec<i64>,
    pub indicators: WireIndicators,
}

#[derive(Debug, Deserialize)]
pub struct WireIndicators {
    pub quote: Vec<WireQuote>,
    #[serde(default)]
    pub adjclose: Vec<WireAdjClose>,
}

#[derive(Debug, Default, Deserialize)]
pub struct WireQuote {
    #[serde(default)]
    pub open: Vec<Option<f64>>,
    #[serde(default)]
    pub high: Vec<Option<f64>>,
    #[serde(default)]
    pub low: Vec<Option<f64>>,
    #[serde(default)]
    pub close: Vec<Option<f64>>,
    #[serde(default)]
    pub volume: Vec<Option<f64>>,
}

#[derive(Debug, Deserialize)]
pub struct WireAdjClose {
    #[serde(default)]
    pub adjclose: Vec<Option<f64>>,
}

/// Yahoo's interval. Its hourly bars start at :30 (off the UTC grid), and it has no 4h.
pub fn interval(tf: Timeframe) -> Option<&'static str> {
    Some(match tf.minutes() {
        1 => "1m",
        5 => "5m",
        15 => "15m",
        30 => "30m",
        1440 => "1d",
        _ => return None,
    })
}

/// Yahoo serves one-minute bars a week at a time and other intraday bars
/// for the last 60 days; daily history in one answer.
fn window_ms(tf: Timeframe) -> i64 {
    match tf.minutes() {
        1 => 7 * DAY_MS,
        m if m < 1440 => 59 * DAY_MS,
        _ => i64::MAX / 4,
    }
}

/// Adjusted bars and their raw closes; rows with a null are left out.
pub fn bars(r: &WireResult) -> (Vec<Candle>, Vec<f64>) {
    let q = r.indicators.quote.first();
    let adj = r.indicators.adjclose.first();
    let at = |v: Option<&Vec<Option<f64>>>, i: usize| v.and_then(|v| v.get(i).copied().flatten());
    let mut out = Vec::new();
    let mut raw = Vec::new();
    for (i, t) in r.timestamp.iter().enumerate() {
        let (Some(o), Some(h), Some(l), Some(c)) = (
            at(q.map(|q| &q.open), i),
            at(q.map(|q| &q.high), i),
            at(q.map(|q| &q.low), i),
            at(q.map(|q| &q.close), i),
        ) else {
            continue;
        };
        let v = at(q.map(|q| &q.volume), i).unwrap_or(0.0);
        let k = at(adj.map(|a| &a.adjclose), i)
            .filter(|a| c != 0.0 && a.is_finite())
            .map_or(1.0, |a| a / c);
        out.push(Candle {
            open_time: t * 1000,
            open: o * k,
            high: h * k,
            low: l * k,
            close: c * k,
            volume: v,
        });
        raw.push(c);
    }
    (out, raw)
}

#[derive(Debug, Clone)]
pub struct Yahoo {
    http: Http,
    base: String,
}

impl Yahoo {
    pub fn new(cfg: &ProviderConfig, budget: Arc<RateBudget>) -> Result<Self, reqwest::Error> {
        Ok(Yahoo {
            http: Http::new(VENUE, cfg, budget)?,
            base: cfg.base_url.trim_end_matches('/').to_owned(),
        })
    }
}

impl Yahoo {
    /// The chart of the last day (its `meta` holds the market price).
    pub(super) async fn meta(&self, symbol: &Symbol) -> Result<Vec<u8>, ExchangeError> {
        let url = format!("{}/v8/finance/chart/{}", self.base, yahoo_ticker(symbol));
        self.http
            .get(
                &url,
                &[("range", "1d".to_owned()), ("interval", "1d".to_owned())],
                &[],
                symbol.as_str(),
            )
            .await?
            .map_err(|r| r.into_error(VENUE, symbol.as_str()))
    }
}

/// Yahoo spells class shares with a dash (BRK-B).
fn yahoo_ticker(symbol: &Symbol) -> String {
    symbol.base().replace('.', "-")
}

impl Exchange for Yahoo {
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
        let iv = interval(tf).ok_or_else(|| ExchangeError::UnsupportedTimeframe {
            venue: VENUE.into(),
            timeframe: tf,
        })?;
        let stop = start.saturating_add(window_ms(tf)).min(end);
        let url = format!("{}/v8/finance/chart/{}", self.base, yahoo_ticker(symbol));
        let q = [
            ("period1", (start / 1000).to_string()),
            ("period2", (stop / 1000).to_string()),
            ("interval", iv.to_owned()),
            ("events", "div,splits".to_owned()),
            ("includeAdjustedClose", "true".to_owned()),
        ];
        let body = match self.http.get(&url, &q, &[], symbol.as_str()).await? {
            Ok(b) => b,
            Err(r) => {
                let err = serde_json::from_str::<WireChart>(&r.body)
                    .ok()
                    .and_then(|c| c.chart.error);
                let message = err.as_ref().map_or_else(
                    || r.body.clone(),
                    |e| format!("{}: {}", e.code, e.description),
                );
                if r.status == 404 {
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
                    code: 0,
                    message,
                });
            }
        };
        let chart: WireChart =
            serde_json::from_slice(&body).map_err(|e| ExchangeError::Exhausted {
                venue: VENUE.into(),
                symbol: symbol.to_string(),
                attempts: 1,
                last: format!("unreadable chart: {e}"),
            })?;
        let (candles, raw) = chart
            .chart
            .result
            .as_ref()
            .and_then(|r| r.first())
            .map(bars)
            .unwrap_or_default();
        let pairs = settle_with(candles.into_iter().zip(raw).collect(), tf, start, stop);
        Ok(Page {
            raw_close: pairs.iter().map(|p| p.1).collect(),
            candles: pairs.into_iter().map(|p| p.0).collect(),
            next: (stop < end).then_some(stop),
            provider: VENUE.into(),
            adjustment: Adjustment::All,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of a real chart answer (AAPL around its 2020 split, trimmed).
    #[test]
    fn reads_a_chart_and_scales_to_adjclose() {
        let body = r#"{"chart":{"result":[{"meta":{"currency":"USD","symbol":"AAPL","exchangeName":"NMS","instrumentType":"EQUITY","gmtoffset":-14400,"timezone":"EDT","exchangeTimezoneName":"America/New_York","dataGranularity":"1d"},"timestamp":[1598880600,1598967000,1599053400],"events":{"splits":{"1598880600":{"date":1598880600,"numerator":4,"denominator":1,"splitRatio":"4:1"}}},"indicators":{"quote":[{"open":[127.58,132.76,137.59],"high":[131.0,134.8,137.98],"low":[126.0,130.53,127.0],"close":[129.04,134.18,131.4],"volume":[225702700,151948100,null]}],"adjclose":[{"adjclose":[126.59,131.63,null]}]}}],"error":null}}"#;
        let c: WireChart = serde_json::from_str(body).unwrap();
        let r = &c.chart.result.unwrap()[0];
        let (b, raw) = bars(r);
        assert_eq!(b.len(), 3, "a null volume is no reason to drop a bar");
        assert_eq!(raw, vec![129.04, 134.18, 131.4]);
        assert!((b[0].close - 126.59).abs() < 1e-9);
        assert!((b[0].open - 127.58 * 126.59 / 129.04).abs() < 1e-9);
        assert_eq!(b[2].close, 131.4, "no adjclose: unscaled");
        let nf = r#"{"chart":{"result":null,"error":{"code":"Not Found","description":"No data found, symbol may be delisted"}}}"#;
        let c: WireChart = serde_json::from_str(nf).unwrap();
        assert!(c.chart.error.unwrap().description.contains("delisted"));
    }
}
