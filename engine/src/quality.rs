//! Data-quality analysis of a candle series: gaps, zero volume, OHLC
//! inconsistencies. Used by import, backfill and the coverage view, so every
//! path reports the same numbers.

use crate::calendar::{Calendar, Day};
use crate::market::{Candle, OhlcError, TimeMs, Timeframe};
use serde::{Deserialize, Serialize};

const DAY_MS: i64 = 86_400_000;

/// When bars are expected. Crypto trades around the clock; a US stock
/// trades in the exchange's sessions, and counting weekends and holidays as
/// gaps would bury the real holes under a thousand false ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Session {
    /// Every slot of the grid is expected.
    Continuous,
    /// Slots on Saturday and Sunday (UTC) are not expected; holidays are
    /// (a weekday market whose calendar we do not know).
    Weekdays,
    /// US equities: the NYSE/Nasdaq sessions (holidays, early closes and
    /// special closures left out; intraday bars only inside 09:30–16:00 ET).
    Xnys,
}

impl Session {
    /// For a series of some length: `Continuous` when it has weekend bars;
    /// `Xnys` when it has none on NYSE holidays either (one stray bar is
    /// tolerated: vendors sometimes print a holiday row); else `Weekdays`.
    pub fn detect(candles: &[Candle]) -> Session {
        if candles.len() < 10 || candles.iter().any(|c| is_weekend(c.open_time)) {
            return Session::Continuous;
        }
        let cal = Calendar::Xnys;
        // Daily bars are keyed by their UTC date, intraday ones by New York's.
        let daily = candles
            .windows(2)
            .all(|w| (w[1].open_time - w[0].open_time) >= DAY_MS);
        let on_holidays = candles
            .iter()
            .filter(|c| {
                let date = if daily {
                    chrono::DateTime::from_timestamp_millis(c.open_time)
                        .unwrap_or_default()
                        .date_naive()
                } else {
                    cal.local_date(c.open_time)
                };
                matches!(cal.day(date), Day::Closed { .. })
            })
            .count();
        if on_holidays <= 1 {
            Session::Xnys
        } else {
            Session::Weekdays
        }
    }

    /// The calendar a series' own bars show it trades on (around the clock
    /// unless it is detected as a US equity; a weekday market of unknown
    /// calendar counts as around the clock).
    pub fn calendar_of(candles: &[Candle]) -> Calendar {
        Session::detect(candles)
            .calendar()
            .unwrap_or(Calendar::AlwaysOpen)
    }

    /// The exchange calendar behind the session, when there is one.
    pub fn calendar(self) -> Option<Calendar> {
        match self {
            Session::Continuous => Some(Calendar::AlwaysOpen),
            Session::Weekdays => None,
            Session::Xnys => Some(Calendar::Xnys),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Session::Continuous => "continuous",
            Session::Weekdays => "weekdays",
            Session::Xnys => "xnys",
        }
    }

    /// Number of expected slots of `tf` in `[from, to)`; both aligned to `tf`.
    pub fn expected_slots(self, tf: Timeframe, from: TimeMs, to: TimeMs) -> i64 {
        if to <= from {
            return 0;
        }
        let dur = tf.duration_ms();
        match self {
            Session::Continuous => (to - from) / dur,
            Session::Xnys => Calendar::Xnys.expected_slots(tf, from, to),
            // Whole-day-or-longer bars in a weekday session: count weekdays.
            Session::Weekdays if dur >= DAY_MS => {
                let mut n = 0;
                let mut t = from;
                while t < to {
                    if !is_weekend(t) {
                        n += 1;
                    }
                    t += dur;
                }
                n
            }
            Session::Weekdays => {
                let per_day = DAY_MS / dur;
                let first_day = from.div_euclid(DAY_MS);
                let last_day = (to - 1).div_euclid(DAY_MS);
                if first_day == last_day {
                    return if is_weekend(from) {
                        0
                    } else {
                        (to - from) / dur
                    };
                }
                let head = if is_weekend(from) {
                    0
                } else {
                    ((first_day + 1) * DAY_MS - from) / dur
                };
                let tail = if is_weekend(to - 1) {
                    0
                } else {
                    (to - last_day * DAY_MS) / dur
                };
                head + weekdays_between(first_day + 1, last_day) * per_day + tail
            }
        }
    }

    /// Bars of `tf` in one regular trading day of this session.
    pub fn bars_per_day(self, tf: Timeframe) -> f64 {
        let per_day = 1440.0 / tf.minutes() as f64;
        match self {
            Session::Continuous => per_day,
            Session::Weekdays => per_day.max(1.0),
            // A regular session (a Wednesday in January: no DST change, no holiday).
            Session::Xnys => {
                let from = chrono::NaiveDate::from_ymd_opt(2025, 1, 15)
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .map_or(0, |t| t.and_utc().timestamp_millis());
                Calendar::Xnys
                    .expected_slots(tf, from, from + DAY_MS)
                    .max(1) as f64
            }
        }
    }

    /// Trading days per year: 365.25 around the clock, 252 on an exchange.
    pub fn days_per_year(self) -> f64 {
        match self {
            Session::Continuous => 365.25,
            Session::Weekdays | Session::Xnys => 252.0,
        }
    }
}

/// Day number (since epoch) → is it Saturday or Sunday? 1970-01-01 was a Thursday.
fn is_weekend_day(day: i64) -> bool {
    (day + 3).rem_euclid(7) >= 5
}

/// True when the UTC calendar day of `t` is a Saturday or Sunday.
pub fn is_weekend(t: TimeMs) -> bool {
    is_weekend_day(t.div_euclid(DAY_MS))
}

/// Weekdays among day numbers `[from_day, to_day)`.
fn weekdays_between(from_day: i64, to_day: i64) -> i64 {
    if to_day <= from_day {
        return 0;
    }
    let days = to_day - from_day;
    let mut n = days / 7 * 5;
    for d in from_day + days / 7 * 7..to_day {
        if !is_weekend_day(d) {
            n += 1;
        }
    }
    n
}

/// A run of missing bars: `[from, to)` holds `missing` expected bars and none present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    pub from: TimeMs,
    pub to: TimeMs,
    pub missing: i64,
}

/// A bar whose prices contradict each other, as published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inconsistency {
    /// Index into the analysed slice.
    pub index: usize,
    pub open_time: TimeMs,
    pub problem: OhlcError,
}

/// What [`analyze`] found in a sorted, de-duplicated, on-grid series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityReport {
    pub bars: usize,
    pub first: Option<TimeMs>,
    pub last: Option<TimeMs>,
    pub session: Session,
    pub gaps: Vec<Gap>,
    pub missing_bars: i64,
    pub zero_volume: usize,
    pub inconsistencies: Vec<Inconsistency>,
}

/// Scans `candles` (sorted by open time, unique, aligned to `tf`).
pub fn analyze(candles: &[Candle], tf: Timeframe, session: Session) -> QualityReport {
    let mut gaps = Vec::new();
    for w in candles.windows(2) {
        let (from, to) = (w[0].open_time + tf.duration_ms(), w[1].open_time);
        let missing = session.expected_slots(tf, from, to);
        if missing > 0 {
            gaps.push(Gap { from, to, missing });
        }
    }
    let inconsistencies = candles
        .iter()
        .enumerate()
        .filter_map(|(index, c)| {
            c.consistency().err().map(|problem| Inconsistency {
                index,
                open_time: c.open_time,
                problem,
            })
        })
        .collect();
    QualityReport {
        bars: candles.len(),
        first: candles.first().map(|c| c.open_time),
        last: candles.last().map(|c| c.open_time),
        session,
        missing_bars: gaps.iter().map(|g| g.missing).sum(),
        gaps,
        zero_volume: candles.iter().filter(|c| c.volume == 0.0).count(),
        inconsistencies,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const H: i64 = 3_600_000;

    fn bar(t: TimeMs) -> Candle {
        Candle {
            open_time: t,
            open: 1.0,
            high: 2.0,
            low: 0.5,
            close: 1.5,
            volume: 10.0,
        }
    }

    #[test]
    fn weekday_arithmetic() {
        // 1970-01-01 Thursday, 01-03 Saturday, 01-04 Sunday, 01-05 Monday.
        assert!(!is_weekend(0));
        assert!(is_weekend(2 * DAY_MS));
        assert!(is_weekend(3 * DAY_MS + 5));
        assert!(!is_weekend(4 * DAY_MS));
        assert!(is_weekend(-5 * DAY_MS)); // 1969-12-27 was a Saturday
    }

    #[test]
    fn finds_gaps_and_counts_missing_bars() {
        let tf = Timeframe::H1;
        let bars: Vec<_> = [0, 1, 2, 6, 7, 10].iter().map(|h| bar(h * H)).collect();
        let r = analyze(&bars, tf, Session::Continuous);
        assert_eq!(
            r.gaps,
            vec![
                Gap {
                    from: 3 * H,
                    to: 6 * H,
                    missing: 3
                },
                Gap {
                    from: 8 * H,
                    to: 10 * H,
                    missing: 2
                }
            ]
        );
        assert_eq!(r.missing_bars, 5);
        assert_eq!(r.first, Some(0));
        assert_eq!(r.last, Some(10 * H));
    }

    #[test]
    fn weekend_is_no_gap_for_weekday_sessions() {
        // Friday 1970-01-02 then Monday 1970-01-05: no gap for stocks.
        let bars = vec![bar(DAY_MS), bar(4 * DAY_MS)];
        assert!(
            analyze(&bars, Timeframe::D1, Session::Weekdays)
                .gaps
                .is_empty()
        );
        assert_eq!(
            analyze(&bars, Timeframe::D1, Session::Continuous).missing_bars,
            2
        );
        // Friday → Tuesday misses Monday only.
        let bars = vec![bar(DAY_MS), bar(5 * DAY_MS)];
        assert_eq!(
            analyze(&bars, Timeframe::D1, Session::Weekdays).missing_bars,
            1
        );
    }

    #[test]
    fn detects_sessions() {
        let weekdays: Vec<_> = (0..30)
            .filter(|d| !is_weekend(d * DAY_MS))
            .map(|d| bar(d * DAY_MS))
            .collect();
        // January 1970 holds one NYSE holiday (New Year's Day): one stray bar is tolerated.
        assert_eq!(Session::detect(&weekdays), Session::Xnys);
        let all: Vec<_> = (0..30).map(|d| bar(d * DAY_MS)).collect();
        assert_eq!(Session::detect(&all), Session::Continuous);
        // Every weekday of 2024 (its ten holidays included): a weekday market, not the NYSE.
        let y2024 = 19_723; // 2024-01-01 as a day number
        let weekdays_2024: Vec<_> = (y2024..y2024 + 366)
            .filter(|d| !is_weekend(d * DAY_MS))
            .map(|d| bar(d * DAY_MS))
            .collect();
        assert_eq!(Session::detect(&weekdays_2024), Session::Weekdays);
        let sessions_2024: Vec<_> = weekdays_2024
            .iter()
            .filter(|c| {
                let date = chrono::DateTime::from_timestamp_millis(c.open_time)
                    .unwrap()
                    .date_naive();
                Calendar::Xnys.session(date).is_some()
            })
            .copied()
            .collect();
        assert_eq!(sessions_2024.len(), 252, "NYSE held 252 sessions in 2024");
        assert_eq!(Session::detect(&sessions_2024), Session::Xnys);
        let r = analyze(&sessions_2024, Timeframe::D1, Session::Xnys);
        assert_eq!((r.gaps.len(), r.missing_bars), (0, 0));
        // Drop one session: exactly one gap of one bar; as weekdays it would be ten more.
        let mut holed = sessions_2024.clone();
        holed.remove(100);
        assert_eq!(
            analyze(&holed, Timeframe::D1, Session::Xnys).missing_bars,
            1
        );
        assert_eq!(
            analyze(&holed, Timeframe::D1, Session::Weekdays).missing_bars,
            1 + 9,
            "the holidays inside the span (all but New Year's Day) count as gaps on a weekday calendar"
        );
        assert_eq!(periods_per_year_check(Timeframe::D1), 252.0);
    }

    fn periods_per_year_check(tf: Timeframe) -> f64 {
        Session::Xnys.days_per_year() * Session::Xnys.bars_per_day(tf)
    }

    #[test]
    fn bars_per_exchange_day() {
        assert_eq!(Session::Xnys.bars_per_day(Timeframe::D1), 1.0);
        assert_eq!(
            Session::Xnys.bars_per_day(Timeframe::parse("15m").unwrap()),
            26.0
        );
        assert_eq!(Session::Xnys.bars_per_day(Timeframe::H1), 7.0);
        assert_eq!(Session::Continuous.bars_per_day(Timeframe::H1), 24.0);
    }

    #[test]
    fn flags_zero_volume_and_inconsistent_bars() {
        let mut bars = vec![bar(0), bar(H), bar(2 * H)];
        bars[1].volume = 0.0;
        bars[2].close = 3.0;
        let r = analyze(&bars, Timeframe::H1, Session::Continuous);
        assert_eq!(r.zero_volume, 1);
        assert_eq!(r.inconsistencies.len(), 1);
        assert_eq!(r.inconsistencies[0].index, 2);
        assert_eq!(r.inconsistencies[0].problem, OhlcError::OutsideRange);
    }

    proptest! {
        /// Intraday weekday counting equals a slot-by-slot count.
        #[test]
        fn weekday_slots_match_brute_force(start in -2000i64..2000, len in 0i64..3000, step in prop::sample::select(vec![15i64, 60, 240])) {
            let tf = Timeframe::from_minutes(step as u32).unwrap();
            let dur = tf.duration_ms();
            let from = start * dur;
            let to = from + len * dur;
            let brute = (0..len).filter(|i| !is_weekend(from + i * dur)).count() as i64;
            prop_assert_eq!(Session::Weekdays.expected_slots(tf, from, to), brute);
        }
    }
}
