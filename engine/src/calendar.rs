//! Exchange calendars: when a market holds a session.
//!
//! Crypto trades around the clock. US equities (NYSE and Nasdaq share one
//! calendar) trade 09:30–16:00 America/New_York on weekdays that are not
//! holidays, close at 13:00 on the days around Independence Day,
//! Thanksgiving and Christmas, and were shut on a few days nobody scheduled
//! (11 September 2001, Hurricane Sandy, national days of mourning).
//!
//! No crate covers holidays, early closes and the special closures together
//! over our data's span (1995 onward), so the rules are ours; the test
//! checks them against the `exchange_calendars` XNYS table for 1995–2030 and
//! against the trading days of the bundled NVDA, AMZN and NFLX files.

use crate::market::{TimeMs, Timeframe};
use chrono::{Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Weekday};
use chrono_tz::America::New_York;
use serde::{Deserialize, Serialize};
use std::fmt;

const DAY_MS: i64 = 86_400_000;

/// A venue's calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Calendar {
    /// Every minute of every day (crypto).
    AlwaysOpen,
    /// New York Stock Exchange.
    Xnys,
    /// Nasdaq: the NYSE's holidays, early closes and closures.
    Xnas,
}

/// What kind of day a date is for a calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Day {
    /// A full regular session.
    Regular,
    /// A session that ends early; the reason names the holiday it precedes or follows.
    EarlyClose { reason: &'static str },
    /// No session: a weekend, a holiday or a special closure.
    Closed { reason: &'static str },
}

/// One regular session, in UTC milliseconds: `[open, close)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SessionWindow {
    pub date: NaiveDate,
    pub open: TimeMs,
    pub close: TimeMs,
    pub early: bool,
}

/// Closures nobody scheduled, in the span the rules cover.
const SPECIAL_CLOSURES: &[((i32, u32, u32), &str)] = &[
    ((2001, 9, 11), "September 11 attacks"),
    ((2001, 9, 12), "September 11 attacks"),
    ((2001, 9, 13), "September 11 attacks"),
    ((2001, 9, 14), "September 11 attacks"),
    ((2004, 6, 11), "National Day of Mourning (Ronald Reagan)"),
    ((2007, 1, 2), "National Day of Mourning (Gerald Ford)"),
    ((2012, 10, 29), "Hurricane Sandy"),
    ((2012, 10, 30), "Hurricane Sandy"),
    (
        (2018, 12, 5),
        "National Day of Mourning (George H. W. Bush)",
    ),
    ((2025, 1, 9), "National Day of Mourning (Jimmy Carter)"),
];

/// Early closes that no rule gives.
const SPECIAL_EARLY: &[((i32, u32, u32), &str)] = &[
    ((1997, 12, 26), "day after Christmas"),
    ((1999, 12, 31), "New Year's Eve 1999"),
    ((2003, 12, 26), "day after Christmas"),
];

fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid calendar date")
}

fn nth_weekday(year: i32, month: u32, wd: Weekday, n: u8) -> NaiveDate {
    NaiveDate::from_weekday_of_month_opt(year, month, wd, n).expect("a valid nth weekday")
}

fn last_weekday(year: i32, month: u32, wd: Weekday) -> NaiveDate {
    let next = if month == 12 {
        ymd(year + 1, 1, 1)
    } else {
        ymd(year, month + 1, 1)
    };
    let mut d = next - Duration::days(1);
    while d.weekday() != wd {
        d -= Duration::days(1);
    }
    d
}

/// Gregorian Easter Sunday (the anonymous algorithm).
fn easter(year: i32) -> NaiveDate {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    ymd(year, month as u32, day as u32)
}

/// A fixed-date holiday moved off the weekend: Saturday to Friday, Sunday to Monday.
fn observed(d: NaiveDate) -> NaiveDate {
    match d.weekday() {
        Weekday::Sat => d - Duration::days(1),
        Weekday::Sun => d + Duration::days(1),
        _ => d,
    }
}

/// The NYSE holiday on `d`, if any.
fn nyse_holiday(d: NaiveDate) -> Option<&'static str> {
    let y = d.year();
    // New Year's Day on a Saturday is not observed on the Friday before
    // (NYSE Rule 7.2): that Friday closes a year.
    let new_year = ymd(y, 1, 1);
    if d == new_year || new_year.weekday() == Weekday::Sun && d == ymd(y, 1, 2) {
        return Some("New Year's Day");
    }
    if y >= 1998 && d == nth_weekday(y, 1, Weekday::Mon, 3) {
        return Some("Martin Luther King Jr. Day");
    }
    if d == nth_weekday(y, 2, Weekday::Mon, 3) {
        return Some("Washington's Birthday");
    }
    if d == easter(y) - Duration::days(2) {
        return Some("Good Friday");
    }
    if d == last_weekday(y, 5, Weekday::Mon) {
        return Some("Memorial Day");
    }
    if y >= 2022 && d == observed(ymd(y, 6, 19)) {
        return Some("Juneteenth");
    }
    if d == observed(ymd(y, 7, 4)) {
        return Some("Independence Day");
    }
    if d == nth_weekday(y, 9, Weekday::Mon, 1) {
        return Some("Labor Day");
    }
    if d == nth_weekday(y, 11, Weekday::Thu, 4) {
        return Some("Thanksgiving Day");
    }
    if d == observed(ymd(y, 12, 25)) {
        return Some("Christmas Day");
    }
    None
}

/// The reason `d` (a weekday session) closes at 13:00, if it does.
fn nyse_early_close(d: NaiveDate) -> Option<&'static str> {
    let y = d.year();
    if let Some((_, why)) = SPECIAL_EARLY
        .iter()
        .find(|((yy, m, dd), _)| ymd(*yy, *m, *dd) == d)
    {
        return Some(why);
    }
    let july4 = ymd(y, 7, 4);
    match july4.weekday() {
        // The day before, when it is a weekday that trades.
        Weekday::Tue | Weekday::Wed | Weekday::Fri if d == ymd(y, 7, 3) => {
            return Some("day before Independence Day");
        }
        // A Thursday holiday: the Friday after until 2012, the Wednesday before since 2013.
        Weekday::Thu if y < 2013 && d == ymd(y, 7, 5) => {
            return Some("day after Independence Day");
        }
        Weekday::Thu if y >= 2013 && d == ymd(y, 7, 3) => {
            return Some("day before Independence Day");
        }
        _ => {}
    }
    if d == nth_weekday(y, 11, Weekday::Thu, 4) + Duration::days(1) {
        return Some("day after Thanksgiving");
    }
    // Christmas Eve on Monday to Thursday; on a Friday it is the observed holiday.
    if d == ymd(y, 12, 24) && d.weekday().num_days_from_monday() <= 3 {
        return Some("Christmas Eve");
    }
    None
}

impl Calendar {
    pub fn as_str(self) -> &'static str {
        match self {
            Calendar::AlwaysOpen => "24/7",
            Calendar::Xnys => "XNYS",
            Calendar::Xnas => "XNAS",
        }
    }

    pub fn is_always_open(self) -> bool {
        self == Calendar::AlwaysOpen
    }

    /// What `date` is on this calendar (venue-local date).
    pub fn day(self, date: NaiveDate) -> Day {
        if self.is_always_open() {
            return Day::Regular;
        }
        if matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
            return Day::Closed { reason: "weekend" };
        }
        if let Some((_, why)) = SPECIAL_CLOSURES
            .iter()
            .find(|((y, m, d), _)| ymd(*y, *m, *d) == date)
        {
            return Day::Closed { reason: why };
        }
        if let Some(why) = nyse_holiday(date) {
            return Day::Closed { reason: why };
        }
        match nyse_early_close(date) {
            Some(reason) => Day::EarlyClose { reason },
            None => Day::Regular,
        }
    }

    /// The session on `date`, or `None` when the market is closed. An
    /// always-open calendar's "session" is the whole UTC day.
    pub fn session(self, date: NaiveDate) -> Option<SessionWindow> {
        let at = |h: u32, m: u32| -> TimeMs {
            let local = date.and_time(NaiveTime::from_hms_opt(h, m, 0).expect("a valid time"));
            // 09:30 and 16:00 are never inside a DST change (02:00), so the
            // local time maps to exactly one instant.
            New_York
                .from_local_datetime(&local)
                .single()
                .map_or(0, |t| t.timestamp_millis())
        };
        match self.day(date) {
            _ if self.is_always_open() => {
                let open = date.and_time(NaiveTime::MIN).and_utc().timestamp_millis();
                Some(SessionWindow {
                    date,
                    open,
                    close: open + DAY_MS,
                    early: false,
                })
            }
            Day::Closed { .. } => None,
            Day::Regular => Some(SessionWindow {
                date,
                open: at(9, 30),
                close: at(16, 0),
                early: false,
            }),
            Day::EarlyClose { .. } => Some(SessionWindow {
                date,
                open: at(9, 30),
                close: at(13, 0),
                early: true,
            }),
        }
    }

    /// The venue-local date of an instant.
    pub fn local_date(self, t: TimeMs) -> NaiveDate {
        let utc = chrono::DateTime::from_timestamp_millis(t).unwrap_or_default();
        match self {
            Calendar::AlwaysOpen => utc.date_naive(),
            Calendar::Xnys | Calendar::Xnas => utc.with_timezone(&New_York).date_naive(),
        }
    }

    /// Whether the market is in a regular session at `t`.
    pub fn is_open(self, t: TimeMs) -> bool {
        self.is_always_open()
            || self
                .session(self.local_date(t))
                .is_some_and(|s| s.open <= t && t < s.close)
    }

    /// The first session that has not ended at `t` (the one in progress, or the next).
    /// Searches two weeks ahead; no closure in the rules is longer.
    pub fn current_or_next(self, t: TimeMs) -> Option<SessionWindow> {
        let mut date = self.local_date(t);
        for _ in 0..15 {
            if let Some(s) = self.session(date).filter(|s| t < s.close) {
                return Some(s);
            }
            date = date.succ_opt()?;
        }
        None
    }

    /// When the market next opens, `t` itself when it is open now.
    pub fn next_open(self, t: TimeMs) -> Option<TimeMs> {
        self.current_or_next(t).map(|s| s.open.max(t))
    }

    /// Whether a bar of `tf` opening at `open` should exist: its span
    /// overlaps a session. Daily and longer bars are keyed by their UTC date,
    /// which is the session's date for equities.
    pub fn expects_bar(self, tf: Timeframe, open: TimeMs) -> bool {
        if self.is_always_open() {
            return true;
        }
        let dur = tf.duration_ms();
        if dur >= DAY_MS {
            let first = chrono::DateTime::from_timestamp_millis(open)
                .unwrap_or_default()
                .date_naive();
            let days = (dur / DAY_MS).max(1);
            return (0..days).any(|k| {
                first
                    .checked_add_signed(Duration::days(k))
                    .and_then(|d| self.session(d))
                    .is_some()
            });
        }
        let end = open + dur;
        // A bar can touch the session of its own local date only (sessions
        // never cross midnight in New York).
        [self.local_date(open), self.local_date(end - 1)]
            .into_iter()
            .filter_map(|d| self.session(d))
            .any(|s| s.open < end && open < s.close)
    }

    /// The number of bars of `tf` expected in `[from, to)`, both on the grid.
    pub fn expected_slots(self, tf: Timeframe, from: TimeMs, to: TimeMs) -> i64 {
        if to <= from {
            return 0;
        }
        let dur = tf.duration_ms();
        if self.is_always_open() {
            return (to - from) / dur;
        }
        let mut n = 0;
        let mut t = from;
        while t < to {
            if self.expects_bar(tf, t) {
                n += 1;
                t += dur;
            } else if dur < DAY_MS {
                // Skip to the bar holding the next session's open.
                match self.current_or_next(t) {
                    Some(s) if s.open > t => t += ((s.open - t) / dur).max(1) * dur,
                    Some(_) => t += dur,
                    None => break,
                }
            } else {
                t += dur;
            }
        }
        n
    }

    /// The open time of the first bar of `tf` after the one opening at
    /// `open` that the calendar expects (two weeks ahead at most).
    pub fn next_bar_after(self, tf: Timeframe, open: TimeMs) -> TimeMs {
        let dur = tf.duration_ms();
        let mut t = open + dur;
        if self.is_always_open() {
            return t;
        }
        let limit = open + 15 * DAY_MS;
        while t < limit && !self.expects_bar(tf, t) {
            t = if dur < DAY_MS {
                match self.current_or_next(t) {
                    Some(s) if s.open > t => t + ((s.open - t) / dur).max(1) * dur,
                    _ => t + dur,
                }
            } else {
                t + dur
            };
        }
        t
    }

    /// Time the market is open in `[from, to)`, in milliseconds.
    pub fn open_ms_between(self, from: TimeMs, to: TimeMs) -> i64 {
        if to <= from {
            return 0;
        }
        if self.is_always_open() {
            return to - from;
        }
        let mut total = 0;
        let mut t = from;
        while let Some(s) = self.current_or_next(t) {
            if s.open >= to {
                break;
            }
            total += s.close.min(to) - s.open.max(t);
            t = s.close;
        }
        total
    }
}

impl fmt::Display for Calendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> TimeMs {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn easter_dates() {
        assert_eq!(easter(2000), ymd(2000, 4, 23));
        assert_eq!(easter(2019), ymd(2019, 4, 21));
        assert_eq!(easter(2024), ymd(2024, 3, 31));
        assert_eq!(easter(2038), ymd(2038, 4, 25));
    }

    #[test]
    fn sessions_follow_daylight_saving() {
        // Winter: 09:30 EST = 14:30 UTC; summer: 09:30 EDT = 13:30 UTC.
        let w = Calendar::Xnys.session(ymd(2024, 1, 10)).unwrap();
        assert_eq!(w.open, ms("2024-01-10T14:30:00Z"));
        assert_eq!(w.close, ms("2024-01-10T21:00:00Z"));
        let s = Calendar::Xnys.session(ymd(2024, 7, 10)).unwrap();
        assert_eq!(s.open, ms("2024-07-10T13:30:00Z"));
        let e = Calendar::Xnys.session(ymd(2024, 11, 29)).unwrap();
        assert!(e.early);
        assert_eq!(e.close, ms("2024-11-29T18:00:00Z"));
        assert!(
            Calendar::Xnys.session(ymd(2024, 3, 29)).is_none(),
            "Good Friday"
        );
    }

    #[test]
    fn open_and_next_open() {
        let c = Calendar::Xnys;
        assert!(c.is_open(ms("2024-07-10T15:00:00Z")));
        assert!(!c.is_open(ms("2024-07-10T20:00:00Z")));
        // Friday evening → Monday 09:30 EDT.
        assert_eq!(
            c.next_open(ms("2024-07-12T21:00:00Z")),
            Some(ms("2024-07-15T13:30:00Z"))
        );
        // Wednesday before Thanksgiving, after the close → Friday (early close day).
        assert_eq!(
            c.next_open(ms("2024-11-27T22:00:00Z")),
            Some(ms("2024-11-29T14:30:00Z"))
        );
        let t = ms("2024-07-10T15:00:00Z");
        assert_eq!(c.next_open(t), Some(t));
        assert!(Calendar::AlwaysOpen.is_open(ms("2024-07-13T03:00:00Z")));
    }

    #[test]
    fn expected_bars() {
        let c = Calendar::Xnys;
        // A week of daily bars with a holiday (2024-07-04): 4 sessions Mon–Fri.
        let mon = ms("2024-07-01T00:00:00Z");
        assert_eq!(c.expected_slots(Timeframe::D1, mon, mon + 7 * DAY_MS), 4);
        // One regular day of 15-minute bars: 26; 1-hour bars on the UTC
        // grid: 13:00..20:00 UTC in summer, i.e. 7 bars.
        let m15 = Timeframe::parse("15m").unwrap();
        let day = ms("2024-07-10T00:00:00Z");
        assert_eq!(c.expected_slots(m15, day, day + DAY_MS), 26);
        assert_eq!(c.expected_slots(Timeframe::H1, day, day + DAY_MS), 7);
        // The early close (13:00 EDT = 17:00 UTC): 14 quarter hours.
        let eve = ms("2024-07-03T00:00:00Z");
        assert_eq!(c.expected_slots(m15, eve, eve + DAY_MS), 14);
        // Brute force agrees over a month of mixed days.
        let from = ms("2024-11-01T00:00:00Z");
        let to = ms("2024-12-31T00:00:00Z");
        let brute = (0..(to - from) / m15.duration_ms())
            .filter(|k| c.expects_bar(m15, from + k * m15.duration_ms()))
            .count() as i64;
        assert_eq!(c.expected_slots(m15, from, to), brute);
        assert_eq!(c.open_ms_between(eve, eve + DAY_MS), (3 * 60 + 30) * 60_000);
        // After Wednesday 2024-07-03's last bar comes Friday's first (the 4th is a holiday).
        let last = ms("2024-07-03T16:45:00Z");
        assert_eq!(c.next_bar_after(m15, last), ms("2024-07-05T13:30:00Z"));
        assert_eq!(
            c.next_bar_after(Timeframe::D1, ms("2024-07-03T00:00:00Z")),
            ms("2024-07-05T00:00:00Z")
        );
        assert_eq!(
            c.next_bar_after(m15, ms("2024-07-05T14:00:00Z")),
            ms("2024-07-05T14:15:00Z")
        );
        assert_eq!(
            Calendar::AlwaysOpen.next_bar_after(m15, 0),
            m15.duration_ms()
        );
    }
}
