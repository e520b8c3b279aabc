//! Macro series (CPI, the fed funds rate, the 10-year yield, VIX,
//! unemployment) as bar features, aligned by when each value was
//! *released*, not the period it describes: March's CPI is known in mid
//! April, and a revision only from the day it is published. A bar sees the
//! newest value released before its close, forward-filled.

use crate::TimeMs;

/// One published value: the period it describes and when it became known.
/// A revision is another observation of the same period, released later.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// The start of the period described (ms).
    pub period: TimeMs,
    /// When this value was published (ms).
    pub released: TimeMs,
    pub value: f64,
}

/// What a bar knows of one series at its close.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MacroAtBar {
    /// The newest period's value as last revised before the close.
    pub value: f64,
    /// Change from the previous period's value (as known at the close).
    pub change: Option<f64>,
    /// Days since that value was released.
    pub days_since_release: f64,
}

/// The series at each bar close `opens[i] + dur`: per period, the latest
/// revision released before the close; the newest such period's value.
pub fn at_bars(opens: &[TimeMs], dur: i64, obs: &[Observation]) -> Vec<Option<MacroAtBar>> {
    let mut by_release: Vec<Observation> = obs
        .iter()
        .copied()
        .filter(|o| o.value.is_finite())
        .collect();
    by_release.sort_by_key(|o| (o.released, o.period));
    // Known values per period, updated as releases pass the bar closes.
    let mut known: std::collections::BTreeMap<TimeMs, (f64, TimeMs)> = Default::default();
    let mut k = 0;
    opens
        .iter()
        .map(|&open| {
            let close = open + dur;
            while k < by_release.len() && by_release[k].released < close {
                let o = by_release[k];
                known.insert(o.period, (o.value, o.released));
                k += 1;
            }
            let mut newest = known.iter().rev();
            let (_, &(value, released)) = newest.next()?;
            let change = newest.next().map(|(_, (prev, _))| value - prev);
            Some(MacroAtBar {
                value,
                change,
                days_since_release: (close - released) as f64 / 86_400_000.0,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    #[test]
    fn values_count_from_their_release_and_revisions_from_theirs() {
        // February's CPI released 12 March (day 70), March's on 10 April
        // (day 99), February revised on 20 April (day 109).
        let obs = [
            Observation {
                period: 31 * DAY,
                released: 70 * DAY,
                value: 300.0,
            },
            Observation {
                period: 59 * DAY,
                released: 99 * DAY,
                value: 301.5,
            },
            Observation {
                period: 31 * DAY,
                released: 109 * DAY,
                value: 300.5,
            },
        ];
        let opens: Vec<TimeMs> = (60..115).map(|d| d * DAY).collect();
        let got = at_bars(&opens, DAY, &obs);
        // Before the first release nothing is known.
        assert!(got[..9].iter().all(Option::is_none), "{:?}", &got[..10]);
        // Day 69's bar closes at day 70 exactly: a release at the close is not before it.
        let d = |day: i64| got[(day - 60) as usize].unwrap();
        assert_eq!(d(70).value, 300.0);
        assert_eq!(d(70).change, None);
        assert!((d(70).days_since_release - 1.0).abs() < 1e-12);
        // March known from day 99's close on; February still as first published.
        assert_eq!(d(98).value, 300.0);
        assert_eq!((d(99).value, d(99).change), (301.5, Some(1.5)));
        // The revision changes the change, from its own release on, not before.
        assert_eq!(d(108).change, Some(1.5));
        assert_eq!(d(109).change, Some(1.0));
        assert_eq!(d(109).value, 301.5);
    }
}
