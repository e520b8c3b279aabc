//! Reading bar timestamps as vendors publish them: ISO dates and date-times
//! with or without a UTC offset, US `M/D/YYYY`, and epoch integers in
//! seconds, milliseconds, microseconds (Binance since 2025) or nanoseconds.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime};
use engine::TimeMs;

const DAY_MS: i64 = 86_400_000;

/// A parsed timestamp: the instant, and the calendar date as written (which
/// keys daily bars: a stock's `4/1/2015 16:00:00` close is the 2015-04-01 bar).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub utc_ms: TimeMs,
    /// Midnight UTC of the calendar date in the stamp's own time zone.
    pub date_ms: TimeMs,
}

impl Stamp {
    fn from_naive(n: NaiveDateTime, offset_s: i64) -> Stamp {
        let local_ms = n.and_utc().timestamp_millis();
        Stamp {
            utc_ms: local_ms - offset_s * 1000,
            date_ms: local_ms.div_euclid(DAY_MS) * DAY_MS,
        }
    }

    pub fn from_utc_ms(ms: TimeMs) -> Stamp {
        Stamp {
            utc_ms: ms,
            date_ms: ms.div_euclid(DAY_MS) * DAY_MS,
        }
    }
}

/// Epoch integer with its unit guessed from magnitude: seconds until year
/// 5138, then ms, µs, ns.
pub fn from_epoch(v: i64) -> Stamp {
    let a = v.unsigned_abs();
    let ms = if a < 100_000_000_000 {
        v.saturating_mul(1000)
    } else if a < 100_000_000_000_000 {
        v
    } else if a < 100_000_000_000_000_000 {
        v / 1000
    } else {
        v / 1_000_000
    };
    Stamp::from_utc_ms(ms)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    WithOffset,
    Naive,
    Date,
}

const FORMATS: &[(&str, Kind)] = &[
    ("%Y-%m-%d %H:%M:%S%:z", Kind::WithOffset),
    ("%Y-%m-%dT%H:%M:%S%:z", Kind::WithOffset),
    ("%Y-%m-%d %H:%M:%S%.f%:z", Kind::WithOffset),
    ("%Y-%m-%dT%H:%M:%S%.f%:z", Kind::WithOffset),
    ("%Y-%m-%dT%H:%M:%S%.fZ", Kind::Naive),
    ("%Y-%m-%dT%H:%M:%SZ", Kind::Naive),
    ("%Y-%m-%d %H:%M:%S", Kind::Naive),
    ("%Y-%m-%dT%H:%M:%S", Kind::Naive),
    ("%Y-%m-%d %H:%M:%S%.f", Kind::Naive),
    ("%Y-%m-%dT%H:%M:%S%.f", Kind::Naive),
    ("%Y-%m-%d %H:%M", Kind::Naive),
    ("%m/%d/%Y %H:%M:%S", Kind::Naive),
    ("%m/%d/%Y %H:%M", Kind::Naive),
    ("%Y-%m-%d", Kind::Date),
    ("%m/%d/%Y", Kind::Date),
    ("%Y/%m/%d", Kind::Date),
];

/// Parses text timestamps, remembering which format matched last so a file
/// of a million rows tries one format per row, not sixteen.
#[derive(Debug, Default)]
pub struct TextStampParser {
    last: Option<usize>,
}

impl TextStampParser {
    /// The format that matched most recently, for the import report.
    pub fn format(&self) -> Option<&'static str> {
        self.last.map(|i| FORMATS[i].0)
    }

    pub fn parse(&mut self, s: &str) -> Option<Stamp> {
        let s = s.trim();
        // Epoch integers (Binance kline files) first: no date format matches them.
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            return s.parse::<i64>().ok().map(from_epoch);
        }
        if let Some(i) = self.last
            && let Some(st) = try_format(s, i)
        {
            return Some(st);
        }
        for i in 0..FORMATS.len() {
            if Some(i) != self.last
                && let Some(st) = try_format(s, i)
            {
                self.last = Some(i);
                return Some(st);
            }
        }
        None
    }
}

fn try_format(s: &str, i: usize) -> Option<Stamp> {
    let (f, kind) = FORMATS[i];
    match kind {
        Kind::WithOffset => {
            let dt = DateTime::parse_from_str(s, f).ok()?;
            Some(Stamp::from_naive(
                dt.naive_local(),
                i64::from(dt.offset().local_minus_utc()),
            ))
        }
        Kind::Naive => NaiveDateTime::parse_from_str(s, f)
            .ok()
            .map(|n| Stamp::from_naive(n, 0)),
        Kind::Date => NaiveDate::parse_from_str(s, f)
            .ok()
            .map(|d| Stamp::from_naive(d.and_time(NaiveTime::MIN), 0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_of_vendor_stamps() {
        struct Case {
            input: &'static str,
            utc: &'static str,
            date: &'static str,
        }
        let cases = [
            Case {
                input: "2021-09-27 14:45:00+01:00",
                utc: "2021-09-27T13:45:00Z",
                date: "2021-09-27T00:00:00Z",
            },
            Case {
                input: "2021-12-29 13:45:00+00:00",
                utc: "2021-12-29T13:45:00Z",
                date: "2021-12-29T00:00:00Z",
            },
            Case {
                input: "2021-09-28 00:30:00+01:00",
                utc: "2021-09-27T23:30:00Z",
                date: "2021-09-28T00:00:00Z",
            },
            Case {
                input: "2020-01-01",
                utc: "2020-01-01T00:00:00Z",
                date: "2020-01-01T00:00:00Z",
            },
            Case {
                input: "4/1/2015 16:00:00",
                utc: "2015-04-01T16:00:00Z",
                date: "2015-04-01T00:00:00Z",
            },
            Case {
                input: "2021-01-01T00:15:00Z",
                utc: "2021-01-01T00:15:00Z",
                date: "2021-01-01T00:00:00Z",
            },
            Case {
                input: "1609459200000",
                utc: "2021-01-01T00:00:00Z",
                date: "2021-01-01T00:00:00Z",
            },
            Case {
                input: "1735689600000000",
                utc: "2025-01-01T00:00:00Z",
                date: "2025-01-01T00:00:00Z",
            },
        ];
        let mut p = TextStampParser::default();
        for c in cases {
            let st = p
                .parse(c.input)
                .unwrap_or_else(|| panic!("{} did not parse", c.input));
            assert_eq!(crate::time::iso(st.utc_ms), c.utc, "utc of {}", c.input);
            assert_eq!(crate::time::iso(st.date_ms), c.date, "date of {}", c.input);
        }
        assert!(p.parse("not a date").is_none());
        assert!(p.parse("2021-13-01").is_none());
    }

    #[test]
    fn epoch_units() {
        assert_eq!(from_epoch(1_609_459_200).utc_ms, 1_609_459_200_000);
        assert_eq!(from_epoch(1_609_459_200_000).utc_ms, 1_609_459_200_000);
        assert_eq!(from_epoch(1_609_459_200_000_000).utc_ms, 1_609_459_200_000);
        assert_eq!(
            from_epoch(1_609_459_200_000_000_000).utc_ms,
            1_609_459_200_000
        );
    }
}
