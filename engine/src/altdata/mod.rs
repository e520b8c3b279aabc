//! Alternative data as bar features: news and social sentiment, and macro
//! series, each joined onto bars by when it became known (no look-ahead).

pub mod macro_series;
pub mod sentiment;

use crate::TimeMs;

/// The sentiment group's columns, per bar.
pub const SENTIMENT_COLUMNS: [&str; 3] = [
    "sentiment_mean",
    "sentiment_log_count",
    "sentiment_abnormal_volume",
];

/// Bars of history the abnormal mention volume compares a bar with.
pub const SENTIMENT_WINDOW: usize = 20;

/// The macro group's series (FRED ids): CPI, the effective fed funds rate,
/// the 10-year Treasury yield, VIX and unemployment. Each gives two
/// columns, `<id>_level` and `<id>_change`.
pub const MACRO_SERIES: [&str; 5] = ["CPIAUCSL", "DFF", "DGS10", "VIXCLS", "UNRATE"];

/// The macro group's column names, in order.
pub fn macro_columns() -> Vec<String> {
    MACRO_SERIES
        .iter()
        .flat_map(|s| [format!("{s}_level"), format!("{s}_change")])
        .collect()
}

fn finite_or(v: Option<f64>, or: f64) -> f64 {
    v.filter(|v| v.is_finite()).unwrap_or(or)
}

/// Sentiment columns for bars opening at `opens` (each `dur` long), always
/// finite: a bar without items reads mean 0, log count 0 and, until
/// [`SENTIMENT_WINDOW`] bars have passed, abnormal volume 1 (ordinary). So
/// a row is usable with the group exactly when it is without it, and a
/// comparison with and without the group runs on the same samples.
pub fn sentiment_at_bars(opens: &[TimeMs], dur: i64, items: &[sentiment::Item]) -> Vec<[f64; 3]> {
    sentiment::per_bar(opens, dur, items, SENTIMENT_WINDOW)
        .into_iter()
        .map(|b| {
            [
                finite_or(b.mean, 0.0),
                f64::from(b.count).ln_1p(),
                finite_or(b.abnormal_volume, 1.0),
            ]
        })
        .collect()
}

/// Macro columns (level, change per [`MACRO_SERIES`]) at each bar close,
/// always finite: a series not given, or not yet released at a bar, reads 0.
pub fn macro_at_bars(
    opens: &[TimeMs],
    dur: i64,
    series: &[(String, Vec<macro_series::Observation>)],
) -> Vec<Vec<f64>> {
    let mut out = vec![Vec::with_capacity(2 * MACRO_SERIES.len()); opens.len()];
    for id in MACRO_SERIES {
        let at = match series.iter().find(|(s, _)| s == id) {
            Some((_, obs)) => macro_series::at_bars(opens, dur, obs),
            None => vec![None; opens.len()],
        };
        for (row, m) in out.iter_mut().zip(at) {
            row.push(finite_or(m.map(|m| m.value), 0.0));
            row.push(finite_or(m.and_then(|m| m.change), 0.0));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    #[test]
    fn group_columns_are_finite_and_see_nothing_after_the_close() {
        let opens: Vec<TimeMs> = (0..30).map(|d| d * DAY).collect();
        let items = [
            sentiment::Item {
                time: 5 * DAY + 1,
                score: 0.5,
            },
            // Published the instant bar 6 closes: it belongs to bar 7.
            sentiment::Item {
                time: 7 * DAY,
                score: -1.0,
            },
            sentiment::Item {
                time: 7 * DAY + 5,
                score: f64::NAN,
            },
        ];
        let s = sentiment_at_bars(&opens, DAY, &items);
        assert_eq!(s[5], [0.5, 2f64.ln(), 1.0]);
        assert_eq!(s[6], [0.0, 0.0, 1.0]);
        assert_eq!(s[7][0], -1.0);
        assert!(s.iter().flatten().all(|v| v.is_finite()));

        let cpi = vec![
            macro_series::Observation {
                period: 0,
                released: 10 * DAY,
                value: 300.0,
            },
            macro_series::Observation {
                period: 31 * DAY,
                released: 20 * DAY,
                value: 301.5,
            },
        ];
        let m = macro_at_bars(&opens, DAY, &[("CPIAUCSL".into(), cpi)]);
        assert_eq!(m[0].len(), macro_columns().len());
        // Released at day 10: the bar closing at day 10 does not see it yet.
        assert_eq!(m[8][..2], [0.0, 0.0]);
        assert_eq!(m[9][..2], [0.0, 0.0]);
        assert_eq!(m[10][..2], [300.0, 0.0]);
        assert_eq!(m[20][..2], [301.5, 1.5]);
        // Series not given read 0.
        assert!(m[29][2..].iter().all(|v| *v == 0.0));
    }
}
