//! FRED's `GET /fred/series/observations` with the whole real-time period
//! (`realtime_start=1776-07-04&realtime_end=9999-12-31`, ALFRED's vintages):
//! each row is a value and the span of days it was the published one, so
//! a first release and every revision carry the day they came out. Values
//! are strings (`"."` for none); errors are `{"error_code":…,"error_message":…}`
//! (400 for an unknown series, 429 over 120 requests a minute). Pages of
//! `limit` rows by `offset`.

use super::unreadable;
use crate::ExchangeError;
use crate::rate::RateBudget;
use crate::stocks::ProviderConfig;
use crate::stocks::http::Http;
use chrono::NaiveDate;
use engine::TimeMs;
use serde::Deserialize;
use std::sync::Arc;

pub const VENUE: &str = "fred";
const LIMIT: usize = 100_000;
const DAY_MS: i64 = 86_400_000;

/// One published value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Release {
    /// The period's first day (ms, 00:00 UTC).
    pub period_ms: TimeMs,
    /// The end (UTC) of the day it was published: it counts from then, never earlier.
    pub released_ms: TimeMs,
    pub value: f64,
}

#[derive(Debug)]
pub struct Fred {
    http: Http,
    base: String,
    key: Option<String>,
    limit: usize,
}

#[derive(Debug, Deserialize)]
struct Answer {
    count: usize,
    offset: usize,
    observations: Vec<Obs>,
}

#[derive(Debug, Deserialize)]
struct Obs {
    realtime_start: String,
    date: String,
    value: String,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error_message: String,
}

fn day_ms(s: &str) -> Option<TimeMs> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

impl Fred {
    pub fn new(cfg: &ProviderConfig) -> Result<Self, reqwest::Error> {
        Ok(Fred {
            http: Http::new(VENUE, cfg, Arc::new(RateBudget::new(cfg.requests_per_min)))?,
            base: cfg.base_url.trim_end_matches('/').to_string(),
            key: cfg.key.clone(),
            limit: LIMIT,
        })
    }

    /// Rows a page (tests page small).
    pub fn set_page_limit(&mut self, n: usize) {
        self.limit = n.clamp(1, LIMIT);
    }

    /// Every value of `series` ever published, with its release day:
    /// first releases and revisions, unchanged re-publications left out.
    pub async fn releases(&self, series: &str) -> Result<Vec<Release>, ExchangeError> {
        let Some(key) = &self.key else {
            return Err(ExchangeError::Rejected {
                venue: VENUE.into(),
                symbol: series.into(),
                status: 400,
                code: 0,
                message: "no API key: set [altdata.fred] key or FRED_API_KEY".into(),
            });
        };
        let url = format!("{}/fred/series/observations", self.base);
        let mut rows: Vec<Obs> = Vec::new();
        loop {
            let query = [
                ("series_id", series.to_string()),
                ("api_key", key.clone()),
                ("file_type", "json".into()),
                ("realtime_start", "1776-07-04".into()),
                ("realtime_end", "9999-12-31".into()),
                ("limit", self.limit.to_string()),
                ("offset", rows.len().to_string()),
            ];
            let body = match self.http.get(&url, &query, &[], series).await? {
                Ok(b) => b,
                Err(r) => {
                    let msg = serde_json::from_str::<ErrorBody>(&r.body)
                        .map_or(r.body.clone(), |e| e.error_message);
                    // FRED says 400 "The series does not exist." for an unknown id.
                    return Err(if msg.to_ascii_lowercase().contains("does not exist") {
                        ExchangeError::NoData {
                            venue: VENUE.into(),
                            symbol: series.into(),
                            message: msg,
                        }
                    } else {
                        ExchangeError::Rejected {
                            venue: VENUE.into(),
                            symbol: series.into(),
                            status: r.status,
                            code: 0,
                            message: msg,
                        }
                    });
                }
            };
            let a: Answer =
                serde_json::from_slice(&body).map_err(|e| unreadable(VENUE, series, e))?;
            let n = a.observations.len();
            rows.extend(a.observations);
            if n == 0 || a.offset + n >= a.count {
                break;
            }
        }
        let mut out = Vec::new();
        // Per period, in release order: keep a value when it first appears or changes.
        rows.sort_by(|a, b| (&a.date, &a.realtime_start).cmp(&(&b.date, &b.realtime_start)));
        let mut last: Option<(String, f64)> = None;
        for o in rows {
            let Ok(v) = o.value.trim().parse::<f64>() else {
                continue; // "." : no value in this vintage
            };
            let (Some(period), Some(rt)) = (day_ms(&o.date), day_ms(&o.realtime_start)) else {
                return Err(unreadable(
                    VENUE,
                    series,
                    format!("dates {:?}/{:?}", o.date, o.realtime_start),
                ));
            };
            if last.as_ref().is_some_and(|(d, x)| *d == o.date && *x == v) {
                continue;
            }
            last = Some((o.date.clone(), v));
            out.push(Release {
                period_ms: period,
                released_ms: rt + DAY_MS,
                value: v,
            });
        }
        Ok(out)
    }
}
