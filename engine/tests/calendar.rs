//! The US equity calendar against a published table and against real data.

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use engine::calendar::{Calendar, Day};
use std::collections::{BTreeMap, BTreeSet};

fn table() -> BTreeMap<NaiveDate, (String, String)> {
    let text = include_str!("data/xnys-1995-2030.csv");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("date"))
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                NaiveDate::parse_from_str(f[0], "%Y-%m-%d").unwrap(),
                (f[1].to_owned(), f[2].to_owned()),
            )
        })
        .collect()
}

/// Every weekday of 1995–2030: closed, early (13:00) or regular as the
/// `exchange_calendars` XNYS table says.
#[test]
fn matches_the_xnys_table_1995_to_2030() {
    let table = table();
    assert!(table.len() > 400, "the table has {} rows", table.len());
    let mut d = NaiveDate::from_ymd_opt(1995, 1, 1).unwrap();
    let end = NaiveDate::from_ymd_opt(2030, 12, 31).unwrap();
    let mut wrong = Vec::new();
    while d <= end {
        if !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
            let want = table.get(&d).map(|(s, _)| s.as_str()).unwrap_or("regular");
            for cal in [Calendar::Xnys, Calendar::Xnas] {
                let got = match cal.day(d) {
                    Day::Regular => "regular",
                    Day::EarlyClose { .. } => "early",
                    Day::Closed { .. } => "closed",
                };
                if got != want {
                    wrong.push(format!("{d} {cal}: {got}, table says {want}"));
                }
            }
            if let Some(s) = Calendar::Xnys.session(d) {
                let close = chrono::DateTime::from_timestamp_millis(s.close)
                    .unwrap()
                    .with_timezone(&chrono_tz::America::New_York)
                    .format("%H:%M")
                    .to_string();
                let want_close = match table.get(&d) {
                    Some((_, c)) if !c.is_empty() => c.as_str(),
                    _ => "16:00",
                };
                if close != want_close {
                    wrong.push(format!("{d}: closes {close}, table says {want_close}"));
                }
            }
        }
        d += Duration::days(1);
    }
    assert!(
        wrong.is_empty(),
        "{} disagreements:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// The bundled daily stock files hold exactly the calendar's sessions over their spans.
#[test]
fn bundled_stock_files_trade_on_exactly_the_sessions() {
    for file in [
        "nvda-1d-yahoo.csv",
        "amzn-1d-yahoo.csv",
        "nflx-1d-yahoo.csv",
    ] {
        let path = format!("{}/../data/{file}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        let dates: BTreeSet<NaiveDate> = text
            .lines()
            .skip(1)
            .filter_map(|l| l.split(',').next())
            .map(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap())
            .collect();
        let (first, last) = (*dates.first().unwrap(), *dates.last().unwrap());
        let mut sessions = BTreeSet::new();
        let mut d = first;
        while d <= last {
            if Calendar::Xnys.session(d).is_some() {
                sessions.insert(d);
            }
            d += Duration::days(1);
        }
        let missing: Vec<_> = sessions.difference(&dates).take(10).collect();
        let extra: Vec<_> = dates.difference(&sessions).take(10).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{file}: sessions without a bar {missing:?}, bars on closed days {extra:?}"
        );
        assert!(dates.len() > 1000, "{file}: {} dates", dates.len());
    }
}
