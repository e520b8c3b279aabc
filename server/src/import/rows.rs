//! Turning raw rows into candles: validation, grid check, de-duplication,
//! and the bookkeeping the import report needs (every row is accounted for).

use super::timestamp::Stamp;
use engine::market::OhlcError;
use engine::{Candle, TimeMs, Timeframe};
use serde::Serialize;
use std::fmt;

/// Lists in a report keep this many entries; counts are always exact.
pub const LIST_CAP: usize = 1000;

/// Why a row was not stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RejectReason {
    FieldCount { got: usize, need: usize },
    MissingField { field: &'static str },
    BadTime { value: String },
    BadNumber { field: &'static str, value: String },
    InvalidValues { problem: OhlcError },
    HighBelowLow,
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectReason::FieldCount { got, need } => {
                write!(f, "has {got} fields, needs at least {need}")
            }
            RejectReason::MissingField { field } => write!(f, "{field} is empty"),
            RejectReason::BadTime { value } => {
                write!(f, "time {value:?} is not a date, date-time or epoch number")
            }
            RejectReason::BadNumber { field, value } => {
                write!(f, "{field} {value:?} is not a number")
            }
            RejectReason::InvalidValues { problem } => write!(f, "{problem}"),
            RejectReason::HighBelowLow => write!(f, "high is below low"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejection {
    /// 1-based line in a CSV (the header is line 1) or row in a Parquet file.
    pub line: u64,
    pub reason: RejectReason,
    pub message: String,
}

/// A bar whose time is not on the timeframe's UTC grid (e.g. Yahoo's live
/// snapshot stamped 13:50:02 in a 15m file). Not stored: it would be a
/// second, partial bar for the same slot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OffGrid {
    pub line: u64,
    pub time: String,
}

/// The good rows of a file, sorted and unique, with what was set aside.
#[derive(Debug, Default)]
pub struct Parsed {
    pub rows_read: u64,
    pub candles: Vec<Candle>,
    /// Source line of each candle, same order.
    pub lines: Vec<u64>,
    pub rejected: Vec<Rejection>,
    pub rejected_count: u64,
    pub off_grid: Vec<OffGrid>,
    pub off_grid_count: u64,
    /// Lines whose open time appears again later in the file: the later row
    /// wins (a vendor file extended by a later download carries the revised bar).
    pub duplicate_lines: Vec<u64>,
    pub duplicate_count: u64,
    /// Of those, rows whose prices or volume differ from the row that won.
    pub conflicting_duplicates: u64,
    /// Daily rows stamped with a time of day (`4/1/2015 16:00:00`) and keyed by their date.
    pub date_keyed: u64,
}

#[derive(Debug)]
pub struct RowSink {
    tf: Timeframe,
    by_date: bool,
    out: Parsed,
    rows: Vec<(TimeMs, u64, Candle)>,
}

impl RowSink {
    pub fn new(tf: Timeframe) -> Self {
        RowSink {
            tf,
            by_date: tf.duration_ms() >= 86_400_000,
            out: Parsed::default(),
            rows: Vec::new(),
        }
    }

    pub fn reject(&mut self, line: u64, reason: RejectReason) {
        self.out.rows_read += 1;
        self.out.rejected_count += 1;
        if self.out.rejected.len() < LIST_CAP {
            let message = reason.to_string();
            self.out.rejected.push(Rejection {
                line,
                reason,
                message,
            });
        }
    }

    /// One parsed row: OHLCV in that order.
    pub fn push(&mut self, line: u64, stamp: Stamp, v: [f64; 5]) {
        let open_time = if self.by_date {
            stamp.date_ms
        } else {
            stamp.utc_ms
        };
        let candle = Candle {
            open_time,
            open: v[0],
            high: v[1],
            low: v[2],
            close: v[3],
            volume: v[4],
        };
        if let Err(problem) = candle.validate_values() {
            return self.reject(line, RejectReason::InvalidValues { problem });
        }
        if candle.high < candle.low {
            return self.reject(line, RejectReason::HighBelowLow);
        }
        self.out.rows_read += 1;
        if !self.tf.is_aligned(open_time) {
            self.out.off_grid_count += 1;
            if self.out.off_grid.len() < LIST_CAP {
                self.out.off_grid.push(OffGrid {
                    line,
                    time: crate::time::iso(stamp.utc_ms),
                });
            }
            return;
        }
        if self.by_date && stamp.utc_ms != stamp.date_ms {
            self.out.date_keyed += 1;
        }
        self.rows.push((open_time, line, candle));
    }

    pub fn rows_read(&self) -> u64 {
        self.out.rows_read
    }

    pub fn finish(mut self) -> Parsed {
        // Stable sort: rows of equal time stay in file order, the last one wins.
        self.rows.sort_by_key(|r| r.0);
        let n = self.rows.len();
        for i in 0..n {
            let (t, line, c) = self.rows[i];
            if i + 1 < n && self.rows[i + 1].0 == t {
                self.out.duplicate_count += 1;
                if c != self.rows[i + 1].2 {
                    self.out.conflicting_duplicates += 1;
                }
                if self.out.duplicate_lines.len() < LIST_CAP {
                    self.out.duplicate_lines.push(line);
                }
                continue;
            }
            self.out.candles.push(c);
            self.out.lines.push(line);
        }
        self.out
    }
}

/// Parses a price or volume field; empty and non-numeric text are errors.
pub fn parse_number(field: &'static str, s: &str) -> Result<f64, RejectReason> {
    let t = s.trim();
    if t.is_empty() {
        return Err(RejectReason::MissingField { field });
    }
    t.parse::<f64>().map_err(|_| RejectReason::BadNumber {
        field,
        value: t.chars().take(40).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(ms: i64) -> Stamp {
        Stamp::from_utc_ms(ms)
    }

    #[test]
    fn every_row_is_accounted_for() {
        let mut s = RowSink::new(Timeframe::M15);
        s.push(2, st(900_000), [1.0, 2.0, 0.5, 1.5, 10.0]);
        s.push(3, st(0), [1.0, 2.0, 0.5, 1.5, 0.0]);
        s.push(4, st(900_000), [9.0, 9.0, 9.0, 9.0, 9.0]); // same time as line 2, other values
        s.push(5, st(1_000_000), [1.0, 2.0, 0.5, 1.5, 1.0]); // off grid
        s.push(6, st(1_800_000), [1.0, 0.5, 2.0, 1.5, 1.0]); // high < low
        s.push(7, st(2_700_000), [f64::NAN, 2.0, 0.5, 1.5, 1.0]);
        s.reject(8, RejectReason::BadTime { value: "x".into() });
        let p = s.finish();
        assert_eq!(p.rows_read, 7);
        assert_eq!(
            p.candles.iter().map(|c| c.open_time).collect::<Vec<_>>(),
            vec![0, 900_000]
        );
        assert_eq!(p.lines, vec![3, 4]);
        assert_eq!(p.candles[1].open, 9.0, "the later of two equal times wins");
        assert_eq!(
            (
                p.duplicate_count,
                p.duplicate_lines.clone(),
                p.conflicting_duplicates
            ),
            (1, vec![2], 1)
        );
        assert_eq!(p.off_grid_count, 1);
        assert_eq!(p.off_grid[0].line, 5);
        assert_eq!(p.rejected_count, 3);
        assert_eq!(
            p.rejected.iter().map(|r| r.line).collect::<Vec<_>>(),
            vec![6, 7, 8]
        );
        assert_eq!(
            p.rows_read,
            p.candles.len() as u64 + p.duplicate_count + p.off_grid_count + p.rejected_count
        );
    }

    #[test]
    fn daily_rows_are_keyed_by_calendar_date() {
        let mut s = RowSink::new(Timeframe::D1);
        // 16:00 on 2015-04-01 (a US close stamp).
        let stamp = Stamp {
            utc_ms: 1_427_904_000_000,
            date_ms: 1_427_846_400_000,
        };
        s.push(2, stamp, [1.0, 2.0, 0.5, 1.5, 10.0]);
        let p = s.finish();
        assert_eq!(p.candles[0].open_time, 1_427_846_400_000);
        assert_eq!(p.date_keyed, 1);
        assert_eq!(p.off_grid_count, 0);
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number("open", " 1.5 "), Ok(1.5));
        assert_eq!(
            parse_number("open", ""),
            Err(RejectReason::MissingField { field: "open" })
        );
        assert!(matches!(
            parse_number("low", "abc"),
            Err(RejectReason::BadNumber { field: "low", .. })
        ));
    }
}
