//! Files of alternative data as users have them: sentiment as CSV or
//! Parquet rows of (time, symbol, text or score), and macro series as FRED
//! publishes them (the graph CSV, ALFRED's all-vintages CSV, or long rows
//! with a `realtime_start`). Every row is accounted for: stored, a
//! duplicate, or rejected with its line and why.

use crate::db::altdata::{MacroRow, SentimentRow};
use crate::import::parquet::{numbers, times};
use crate::import::rows::RejectReason;
use crate::import::timestamp::{Stamp, TextStampParser};
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;
use chrono::{Datelike, NaiveDate};
use engine::TimeMs;
use engine::altdata::sentiment;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

const DAY_MS: i64 = 86_400_000;

#[derive(Debug, thiserror::Error)]
pub enum AltImportError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: the file is empty", path.display())]
    Empty { path: PathBuf },
    #[error("{}: {message}", path.display())]
    Layout { path: PathBuf, message: String },
    #[error("{}: line {line}: {message}", path.display())]
    Csv {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("{}: no usable rows ({rejected} rejected); first problem: {first}", path.display())]
    NothingUsable {
        path: PathBuf,
        rejected: usize,
        first: String,
    },
}

/// A row left out, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejected {
    /// 1-based line of a CSV (the header is line 1), or row of a Parquet file.
    pub line: u64,
    pub reason: String,
}

/// How a file was read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReadReport {
    pub path: String,
    pub format: String,
    /// What each needed field was read from.
    pub columns: String,
    pub rows_read: u64,
    /// Rows whose text named no ticker of the universe (kept out, not errors).
    pub no_ticker: u64,
    /// Rejected rows, in file order (all of them are counted; the first 20 kept).
    pub rejected: usize,
    pub first_rejections: Vec<Rejected>,
    /// Scored from text by the shipped lexicon (rather than given a score).
    pub scored_from_text: u64,
    /// How release times were found (macro files).
    pub release_rule: Option<String>,
}

impl ReadReport {
    fn new(path: &Path, format: &str) -> ReadReport {
        ReadReport {
            path: path.display().to_string(),
            format: format.into(),
            columns: String::new(),
            rows_read: 0,
            no_ticker: 0,
            rejected: 0,
            first_rejections: Vec::new(),
            scored_from_text: 0,
            release_rule: None,
        }
    }

    fn reject(&mut self, line: u64, reason: impl ToString) {
        self.rejected += 1;
        if self.first_rejections.len() < 20 {
            self.first_rejections.push(Rejected {
                line,
                reason: reason.to_string(),
            });
        }
    }

    fn nothing_usable(&self, path: &Path) -> AltImportError {
        AltImportError::NothingUsable {
            path: path.to_path_buf(),
            rejected: self.rejected,
            first: self.first_rejections.first().map_or_else(
                || "no row named a ticker of the universe".to_string(),
                |r| format!("line {}: {}", r.line, r.reason),
            ),
        }
    }
}

/// How a sentiment file is read.
#[derive(Debug, Clone, Default)]
pub struct SentimentOptions {
    /// `source` stored with each row (default `import`).
    pub source: Option<String>,
    /// Every row is about this ticker (the file has no symbol column).
    pub ticker: Option<String>,
    /// Tickers text is searched for when a row names none.
    pub universe: HashSet<String>,
}

const TIME_NAMES: &[&str] = &[
    "time",
    "timestamp",
    "date",
    "datetime",
    "published_at",
    "publishedat",
    "published",
    "created_utc",
    "created_at",
];
const SYMBOL_NAMES: &[&str] = &["symbol", "ticker", "tickers", "symbols"];
const TEXT_NAMES: &[&str] = &[
    "text", "title", "headline", "body", "content", "selftext", "summary",
];
const SCORE_NAMES: &[&str] = &["score", "sentiment", "compound", "sentiment_score"];
const ID_NAMES: &[&str] = &["id", "item_id", "url", "name"];

fn find(headers: &[String], names: &[&str]) -> Option<usize> {
    names.iter().find_map(|n| {
        headers
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(n))
    })
}

/// Where each field is, by header name.
#[derive(Debug, Clone, Copy)]
struct SentimentColumns {
    time: usize,
    symbol: Option<usize>,
    text: Option<usize>,
    score: Option<usize>,
    id: Option<usize>,
}

impl SentimentColumns {
    fn from_header(headers: &[String], opts: &SentimentOptions) -> Result<Self, String> {
        let time = find(headers, TIME_NAMES)
            // pandas writes an unnamed first column for a date index.
            .or_else(|| headers.first().filter(|h| h.trim().is_empty()).map(|_| 0));
        let c = SentimentColumns {
            time: time.ok_or_else(|| {
                format!(
                    "find a time column ({}) in the header {headers:?}",
                    TIME_NAMES.join(", ")
                )
            })?,
            symbol: find(headers, SYMBOL_NAMES),
            text: find(headers, TEXT_NAMES),
            score: find(headers, SCORE_NAMES),
            id: find(headers, ID_NAMES),
        };
        if c.text.is_none() && c.score.is_none() {
            return Err(format!(
                "find a text ({}) or score ({}) column in the header {headers:?}",
                TEXT_NAMES.join(", "),
                SCORE_NAMES.join(", ")
            ));
        }
        if c.symbol.is_none() && opts.ticker.is_none() && c.text.is_none() {
            return Err(format!(
                "the header {headers:?} has no symbol column and no text to find tickers in; give --ticker"
            ));
        }
        Ok(c)
    }

    fn describe(&self, headers: &[String]) -> String {
        let name = |i: Option<usize>| i.map(|i| format!("{:?}", headers[i]));
        [
            ("time", Some(self.time)),
            ("symbol", self.symbol),
            ("text", self.text),
            ("score", self.score),
            ("id", self.id),
        ]
        .iter()
        .filter_map(|(f, i)| name(*i).map(|n| format!("{f}={n}")))
        .collect::<Vec<_>>()
        .join(", ")
    }
}

/// One row's values before they become items.
struct RawItem<'a> {
    line: u64,
    time: Result<Stamp, RejectReason>,
    symbol: Option<&'a str>,
    text: Option<&'a str>,
    score: Option<Result<f64, RejectReason>>,
    id: Option<&'a str>,
}

/// Turns rows into items: score from the row or from its text, tickers
/// from the row, the option or the text.
struct ItemSink<'o> {
    opts: &'o SentimentOptions,
    source: String,
    rows: Vec<SentimentRow>,
    report: ReadReport,
}

impl ItemSink<'_> {
    fn push(&mut self, r: RawItem<'_>) {
        self.report.rows_read += 1;
        let time = match r.time {
            Ok(t) => t.utc_ms,
            Err(e) => return self.report.reject(r.line, e),
        };
        let text = r.text.map(str::trim).filter(|t| !t.is_empty());
        let score = match (r.score, text) {
            (Some(Ok(s)), _) if !(-1.0..=1.0).contains(&s) => {
                return self
                    .report
                    .reject(r.line, format!("score {s} is outside [-1, 1]"));
            }
            (Some(Ok(s)), _) => s,
            (Some(Err(RejectReason::MissingField { .. })) | None, Some(t)) => {
                self.report.scored_from_text += 1;
                sentiment::score(t)
            }
            (Some(Err(e)), _) => return self.report.reject(r.line, e),
            (None, None) => return self.report.reject(r.line, "has neither text nor a score"),
        };
        let tickers: Vec<String> = match (r.symbol.map(str::trim), &self.opts.ticker) {
            (Some(s), _) if !s.is_empty() => s
                .split([',', ';', '|', ' '])
                .map(|t| crate::altdata::ticker_of(t.trim()).to_ascii_uppercase())
                .filter(|t| !t.is_empty())
                .collect(),
            (_, Some(t)) => vec![t.to_ascii_uppercase()],
            _ => {
                let u: HashSet<&str> = self.opts.universe.iter().map(String::as_str).collect();
                sentiment::tickers(text.unwrap_or(""), &u)
            }
        };
        if tickers.is_empty() {
            self.report.no_ticker += 1;
            return;
        }
        // A row without an id is identified by what it says and when, so
        // importing the same file twice stores it once.
        let item_id = match r.id.map(str::trim).filter(|i| !i.is_empty()) {
            Some(id) => id.to_string(),
            None => {
                let mut h = Sha256::new();
                h.update(time.to_le_bytes());
                h.update(text.unwrap_or("").as_bytes());
                h.update(score.to_le_bytes());
                format!("{:x}", h.finalize())[..32].to_string()
            }
        };
        for ticker in tickers {
            self.rows.push(SentimentRow {
                source: self.source.clone(),
                item_id: item_id.clone(),
                ticker,
                published_ms: time,
                score,
                text: text.map(|t| t.chars().take(2000).collect()),
            });
        }
    }
}

/// Reads a sentiment file (CSV, or Parquet by its extension or magic).
pub fn read_sentiment(
    path: &Path,
    opts: &SentimentOptions,
) -> Result<(Vec<SentimentRow>, ReadReport), AltImportError> {
    let bytes = std::fs::read(path).map_err(|source| AltImportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(AltImportError::Empty {
            path: path.to_path_buf(),
        });
    }
    let parquet = bytes.starts_with(b"PAR1");
    let mut sink = ItemSink {
        opts,
        source: opts.source.clone().unwrap_or_else(|| "import".into()),
        rows: Vec::new(),
        report: ReadReport::new(path, if parquet { "parquet" } else { "csv" }),
    };
    let layout = |message: String| AltImportError::Layout {
        path: path.to_path_buf(),
        message,
    };
    if parquet {
        let file = std::fs::File::open(path).map_err(|source| AltImportError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| layout(e.to_string()))?;
        let headers: Vec<String> = builder
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let mut headers_t = headers.clone();
        // pandas' to_parquet() keeps an unnamed date index as `__index_level_0__`.
        if find(&headers, TIME_NAMES).is_none()
            && let Some(i) = headers.iter().position(|h| h == "__index_level_0__")
        {
            headers_t[i] = "time".into();
        }
        let cols = SentimentColumns::from_header(&headers_t, opts).map_err(layout)?;
        sink.report.columns = cols.describe(&headers);
        let reader = builder
            .with_batch_size(65_536)
            .build()
            .map_err(|e| layout(e.to_string()))?;
        let mut parser = TextStampParser::default();
        let mut row = 0u64;
        for batch in reader {
            let batch = batch.map_err(|e| layout(e.to_string()))?;
            let t = times(batch.column(cols.time), &mut parser).map_err(layout)?;
            let text_col = |i: Option<usize>| -> Result<Option<Vec<Option<String>>>, String> {
                i.map(|i| strings(batch.column(i))).transpose()
            };
            let symbol = text_col(cols.symbol).map_err(layout)?;
            let text = text_col(cols.text).map_err(layout)?;
            let id = text_col(cols.id).map_err(layout)?;
            let score = cols
                .score
                .map(|i| numbers(batch.column(i), "score"))
                .transpose()
                .map_err(layout)?;
            for (k, time) in t.into_iter().enumerate() {
                row += 1;
                let at = |c: &Option<Vec<Option<String>>>| {
                    c.as_ref().and_then(|v| v[k].as_deref().map(str::to_owned))
                };
                let (s, x, d) = (at(&symbol), at(&text), at(&id));
                sink.push(RawItem {
                    line: row,
                    time,
                    symbol: s.as_deref(),
                    text: x.as_deref(),
                    score: score.as_ref().map(|v| v[k].clone()),
                    id: d.as_deref(),
                });
            }
        }
    } else {
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(bytes.as_slice());
        let headers: Vec<String> = rdr
            .headers()
            .map_err(|e| AltImportError::Csv {
                path: path.to_path_buf(),
                line: 1,
                message: e.to_string(),
            })?
            .iter()
            .map(str::to_owned)
            .collect();
        let cols = SentimentColumns::from_header(&headers, opts).map_err(layout)?;
        sink.report.columns = cols.describe(&headers);
        let mut parser = TextStampParser::default();
        for rec in rdr.records() {
            let rec = match rec {
                Ok(r) => r,
                Err(e) => {
                    let line = e.position().map_or(0, |p| p.line());
                    sink.report.rows_read += 1;
                    sink.report.reject(line, e);
                    continue;
                }
            };
            let line = rec.position().map_or(0, |p| p.line());
            let get = |i: Option<usize>| i.and_then(|i| rec.get(i));
            let time = match rec.get(cols.time).map(str::trim) {
                None | Some("") => Err(RejectReason::MissingField { field: "time" }),
                Some(s) => parser.parse(s).ok_or_else(|| RejectReason::BadTime {
                    value: s.chars().take(40).collect(),
                }),
            };
            let score = cols
                .score
                .map(|i| crate::import::rows::parse_number("score", rec.get(i).unwrap_or("")));
            sink.push(RawItem {
                line,
                time,
                symbol: get(cols.symbol),
                text: get(cols.text),
                score,
                id: get(cols.id),
            });
        }
    }
    if sink.rows.is_empty() {
        return Err(sink.report.nothing_usable(path));
    }
    Ok((sink.rows, sink.report))
}

fn strings(arr: &ArrayRef) -> Result<Vec<Option<String>>, String> {
    let own = |s: Option<&str>| s.map(str::to_owned);
    Ok(match arr.data_type() {
        DataType::Utf8 => arr.as_string::<i32>().iter().map(own).collect(),
        DataType::LargeUtf8 => arr.as_string::<i64>().iter().map(own).collect(),
        DataType::Utf8View => arr.as_string_view().iter().map(own).collect(),
        DataType::Null => vec![None; arr.len()],
        other => return Err(format!("a text column has type {other}, expected a string")),
    })
}

/// How long after a period ends a series' value is published, where a file
/// carries no release dates: the usual lag, rounded up so a value never
/// counts before it was out (CPI about the 10th–15th of the next month,
/// unemployment the first Friday, rates and VIX the next day).
pub fn publication_lag_days(series: &str) -> Option<i64> {
    Some(match series {
        "CPIAUCSL" | "CPIAUCNS" | "CPILFESL" => 16,
        "UNRATE" | "PAYEMS" => 9,
        "FEDFUNDS" => 2,
        "DFF" | "DGS10" | "DGS2" | "VIXCLS" | "T10Y2Y" => 1,
        _ => return None,
    })
}

/// How a macro file is read.
#[derive(Debug, Clone, Default)]
pub struct MacroOptions {
    /// The series id when the file does not say (a graph CSV's value column is named by it).
    pub series: Option<String>,
    /// Days after a period's end its value counts from, for a file without
    /// release dates (default: [`publication_lag_days`]).
    pub release_lag_days: Option<i64>,
}

fn date_ms(d: NaiveDate) -> TimeMs {
    d.and_hms_opt(0, 0, 0)
        .map_or(0, |t| t.and_utc().timestamp_millis())
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    ["%Y-%m-%d", "%Y%m%d", "%m/%d/%Y"]
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(s, f).ok())
}

/// The end of the period starting at `d`, from the spacing of the periods.
fn period_end(d: NaiveDate, step_days: i64) -> NaiveDate {
    let months = match step_days {
        0..=6 => return d + chrono::Days::new(step_days.max(1) as u64),
        7..=8 => return d + chrono::Days::new(7),
        9..=40 => 1,
        41..=120 => 3,
        _ => 12,
    };
    let m0 = d.year() * 12 + d.month0() as i32 + months;
    NaiveDate::from_ymd_opt(m0.div_euclid(12), m0.rem_euclid(12) as u32 + 1, 1).unwrap_or(d)
}

/// Reads a macro CSV: FRED's graph download (`observation_date,SERIES`,
/// older `DATE,SERIES`), ALFRED's all-vintages download
/// (`observation_date,SERIES_20240110,SERIES_20240213,…`), or long rows
/// (`date,realtime_start,value`, optionally `series_id`). A vintage or
/// `realtime_start` date counts from the end of that day (UTC), never earlier.
pub fn read_macro(
    path: &Path,
    opts: &MacroOptions,
) -> Result<(Vec<MacroRow>, ReadReport), AltImportError> {
    let text = std::fs::read_to_string(path).map_err(|source| AltImportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if text.trim().is_empty() {
        return Err(AltImportError::Empty {
            path: path.to_path_buf(),
        });
    }
    let layout = |message: String| AltImportError::Layout {
        path: path.to_path_buf(),
        message,
    };
    let mut report = ReadReport::new(path, "csv");
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| layout(e.to_string()))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let lower: Vec<String> = headers.iter().map(|h| h.to_ascii_lowercase()).collect();
    let date_col = lower
        .iter()
        .position(|h| matches!(h.as_str(), "observation_date" | "date" | "period"))
        .ok_or_else(|| {
            layout(format!(
                "find a date column (observation_date, DATE) in the header {headers:?}"
            ))
        })?;
    let mut records: Vec<(u64, csv::StringRecord)> = Vec::new();
    for rec in rdr.records() {
        match rec {
            Ok(r) => records.push((r.position().map_or(0, |p| p.line()), r)),
            Err(e) => {
                report.rows_read += 1;
                report.reject(e.position().map_or(0, |p| p.line()), e);
            }
        }
    }
    let value = |s: &str| -> Option<Result<f64, String>> {
        let s = s.trim();
        // FRED writes "." (older files) or nothing for a period without a value.
        if s.is_empty() || s == "." || s.eq_ignore_ascii_case("nan") {
            return None;
        }
        Some(
            s.parse::<f64>()
                .map_err(|_| format!("value {s:?} is not a number")),
        )
    };
    let day_end = |d: NaiveDate| date_ms(d) + DAY_MS;
    let mut out: Vec<MacroRow> = Vec::new();

    if let Some(rt) = lower.iter().position(|h| h == "realtime_start") {
        // Long rows: one value per (period, release).
        let val = lower
            .iter()
            .position(|h| h == "value")
            .ok_or_else(|| layout(format!("find a value column in the header {headers:?}")))?;
        let sid = lower.iter().position(|h| h == "series_id" || h == "series");
        report.columns = format!(
            "date={:?}, released=realtime_start, value",
            headers[date_col]
        );
        report.release_rule = Some("realtime_start, counted from the end of that day".into());
        for (line, r) in &records {
            report.rows_read += 1;
            let series = match sid.and_then(|i| r.get(i)).map(str::trim) {
                Some(s) if !s.is_empty() => s.to_string(),
                _ => match &opts.series {
                    Some(s) => s.clone(),
                    None => {
                        return Err(layout("no series_id column: give --series".to_string()));
                    }
                },
            };
            let (Some(period), Some(released)) = (
                r.get(date_col).and_then(parse_date),
                r.get(rt).and_then(parse_date),
            ) else {
                report.reject(*line, "date or realtime_start is not a date");
                continue;
            };
            match r.get(val).and_then(value) {
                None => {}
                Some(Err(e)) => report.reject(*line, e),
                Some(Ok(v)) => out.push(MacroRow {
                    series,
                    period_ms: date_ms(period),
                    released_ms: day_end(released),
                    value: v,
                    source: "import".into(),
                }),
            }
        }
    } else {
        // Value columns: one (graph CSV) or one per vintage (ALFRED).
        let vintage = |h: &str| -> Option<(String, NaiveDate)> {
            let (s, d) = h.rsplit_once('_')?;
            (d.len() == 8)
                .then(|| parse_date(d))
                .flatten()
                .map(|d| (s.to_string(), d))
        };
        let value_cols: Vec<usize> = (0..headers.len()).filter(|&i| i != date_col).collect();
        if value_cols.is_empty() {
            return Err(layout(format!("no value column in the header {headers:?}")));
        }
        let vintages: Vec<Option<(String, NaiveDate)>> =
            value_cols.iter().map(|&i| vintage(&headers[i])).collect();
        let mut dates: Vec<(u64, NaiveDate, &csv::StringRecord)> = Vec::new();
        for (line, r) in &records {
            report.rows_read += 1;
            match r.get(date_col).and_then(parse_date) {
                Some(d) => dates.push((*line, d, r)),
                None => report.reject(
                    *line,
                    format!(
                        "date {:?} is not a date",
                        r.get(date_col)
                            .unwrap_or("")
                            .chars()
                            .take(40)
                            .collect::<String>()
                    ),
                ),
            }
        }
        if vintages.iter().all(Option::is_some) {
            // ALFRED: per period, a row where the value first appears or changes.
            let series = vintages[0]
                .as_ref()
                .map(|v| v.0.clone())
                .unwrap_or_default();
            report.columns = format!(
                "date={:?}, {} vintages of {series}",
                headers[date_col],
                value_cols.len()
            );
            report.release_rule =
                Some("each vintage date, counted from the end of that day".into());
            let mut order: Vec<usize> = (0..value_cols.len()).collect();
            order.sort_by_key(|&k| vintages[k].as_ref().map(|v| v.1));
            for (line, d, r) in &dates {
                let mut last: Option<f64> = None;
                for &k in &order {
                    let Some((_, vd)) = &vintages[k] else {
                        continue;
                    };
                    match r.get(value_cols[k]).and_then(value) {
                        None => {}
                        Some(Err(e)) => report.reject(*line, e),
                        Some(Ok(v)) if last != Some(v) => {
                            last = Some(v);
                            out.push(MacroRow {
                                series: series.clone(),
                                period_ms: date_ms(*d),
                                released_ms: day_end(*vd),
                                value: v,
                                source: "import".into(),
                            });
                        }
                        Some(Ok(_)) => {}
                    }
                }
            }
        } else {
            // A graph CSV: one value per period, released after its lag.
            if value_cols.len() > 1 {
                return Err(layout(format!(
                    "{} value columns in {headers:?}; a FRED graph CSV has one (or ALFRED's SERIES_YYYYMMDD vintages)",
                    value_cols.len()
                )));
            }
            let col = value_cols[0];
            let series = opts.series.clone().unwrap_or_else(|| headers[col].clone());
            let lag = opts
                .release_lag_days
                .or_else(|| publication_lag_days(&series))
                .ok_or_else(|| {
                    layout(format!(
                        "{series}: the file has no release dates and no publication lag is known for it; give --release-lag-days"
                    ))
                })?;
            report.columns = format!("date={:?}, value={:?}", headers[date_col], headers[col]);
            report.release_rule = Some(format!(
                "no release dates in the file: each value counts from {lag} day(s) after its period ends"
            ));
            let mut sorted: Vec<NaiveDate> = dates.iter().map(|d| d.1).collect();
            sorted.sort();
            let mut steps: Vec<i64> = sorted
                .windows(2)
                .map(|w| (w[1] - w[0]).num_days())
                .collect();
            steps.sort();
            let step = steps.get(steps.len() / 2).copied().unwrap_or(1);
            for (line, d, r) in &dates {
                match r.get(col).and_then(value) {
                    None => {}
                    Some(Err(e)) => report.reject(*line, e),
                    Some(Ok(v)) => out.push(MacroRow {
                        series: series.clone(),
                        period_ms: date_ms(*d),
                        released_ms: date_ms(period_end(*d, step)) + lag * DAY_MS,
                        value: v,
                        source: "import".into(),
                    }),
                }
            }
        }
    }
    if out.is_empty() {
        return Err(report.nothing_usable(path));
    }
    Ok((out, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, body: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("traderai-alt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p
    }

    fn day(s: &str) -> TimeMs {
        date_ms(parse_date(s).unwrap())
    }

    #[test]
    fn sentiment_rows_are_scored_ticked_or_rejected_by_line() {
        let p = file(
            "news.csv",
            b"publishedAt,title,score\n\
              2024-03-01T14:30:00Z,$NVDA beats estimates and raises guidance,\n\
              2024-03-01T15:00:00Z,Intel misses and AAPL slips,-0.4\n\
              not a time,AAPL up,0.1\n\
              2024-03-02T10:00:00Z,AAPL surges,7\n\
              2024-03-02T11:00:00Z,markets quiet,\n",
        );
        let opts = SentimentOptions {
            universe: ["NVDA", "AAPL", "INTC"].map(String::from).into(),
            ..Default::default()
        };
        let (rows, r) = read_sentiment(&p, &opts).unwrap();
        assert_eq!(r.rows_read, 5);
        assert_eq!(r.rejected, 2);
        assert_eq!(r.first_rejections[0].line, 4);
        assert!(r.first_rejections[1].reason.contains("outside [-1, 1]"));
        assert_eq!(r.no_ticker, 1, "the quiet-markets row names no ticker");
        assert_eq!(r.scored_from_text, 2);
        let nvda = rows.iter().find(|x| x.ticker == "NVDA").unwrap();
        assert!(nvda.score > 0.5);
        assert_eq!(
            nvda.published_ms,
            day("2024-03-01") + (14 * 60 + 30) * 60_000
        );
        // "Intel" is no ticker; AAPL is; the given score wins over the text.
        let aapl: Vec<_> = rows.iter().filter(|x| x.ticker == "AAPL").collect();
        assert_eq!(aapl.len(), 1);
        assert_eq!(aapl[0].score, -0.4);
        // Reading twice gives the same ids (so a re-import stores nothing new).
        let (again, _) = read_sentiment(&p, &opts).unwrap();
        assert_eq!(
            rows.iter().map(|r| &r.item_id).collect::<Vec<_>>(),
            again.iter().map(|r| &r.item_id).collect::<Vec<_>>()
        );

        let empty = file("empty.csv", b"\n");
        assert!(matches!(
            read_sentiment(&empty, &opts),
            Err(AltImportError::Empty { .. })
        ));
        let no_cols = file("nocols.csv", b"when,what\n1,2\n");
        let e = read_sentiment(&no_cols, &opts).unwrap_err().to_string();
        assert!(e.contains("nocols.csv") && e.contains("time column"), "{e}");
    }

    #[test]
    fn fred_graph_csv_counts_from_its_publication_lag() {
        let p = file(
            "CPIAUCSL.csv",
            b"observation_date,CPIAUCSL\n2024-01-01,308.417\n2024-02-01,310.326\n2024-03-01,.\n",
        );
        let (rows, r) = read_macro(&p, &MacroOptions::default()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].series, "CPIAUCSL");
        // January's CPI: period ends 1 February, out 16 days later.
        assert_eq!(rows[0].released_ms, day("2024-02-17"));
        assert_eq!(rows[1].released_ms, day("2024-03-17"));
        assert!(r.release_rule.unwrap().contains("16 day"));

        let unknown = file("MYSERIES.csv", b"DATE,MYSERIES\n2024-01-01,1\n");
        let e = read_macro(&unknown, &MacroOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("MYSERIES") && e.contains("--release-lag-days"),
            "{e}"
        );
    }

    #[test]
    fn alfred_vintages_become_releases_and_revisions() {
        let p = file(
            "UNRATE_vintages.csv",
            b"observation_date,UNRATE_20240202,UNRATE_20240308,UNRATE_20240405\n\
              2024-01-01,3.7,3.7,3.7\n\
              2024-02-01,.,3.9,3.9\n\
              2024-03-01,.,.,3.8\n\
              2023-12-01,3.7,3.8,3.8\n",
        );
        let (rows, r) = read_macro(&p, &MacroOptions::default()).unwrap();
        assert_eq!(r.rows_read, 4);
        let of = |period: &str| -> Vec<(TimeMs, f64)> {
            rows.iter()
                .filter(|x| x.period_ms == day(period))
                .map(|x| (x.released_ms, x.value))
                .collect()
        };
        assert_eq!(of("2024-01-01"), vec![(day("2024-02-03"), 3.7)]);
        assert_eq!(of("2024-02-01"), vec![(day("2024-03-09"), 3.9)]);
        // December revised from 3.7 to 3.8 in March's vintage: two rows.
        assert_eq!(
            of("2023-12-01"),
            vec![(day("2024-02-03"), 3.7), (day("2024-03-09"), 3.8)]
        );
    }
}
