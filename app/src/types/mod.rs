//! Request and response types shared by the server and the browser.

mod auth;
mod backtest;
mod error;
mod jobs;
mod live;
mod models;
mod notify;
mod paper;
mod signals;
mod system;

pub use auth::*;
pub use backtest::*;
pub use error::*;
pub use jobs::*;
pub use live::*;
pub use models::*;
pub use notify::*;
pub use paper::*;
pub use signals::*;
pub use system::*;

use serde::{Deserialize, Serialize};

/// The universes the project ships (`data/universes/`), as forms offer
/// them: (name, what it holds). The server's list is checked against it.
pub const SHIPPED_UNIVERSES: [(&str, &str); 1] =
    [("us-stocks", "US stocks: the 62 tickers by sector")];

/// What the store holds for one candle series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SeriesCoverage {
    pub exchange: String,
    pub market: String,
    pub symbol: String,
    pub timeframe: String,
    pub bars: i64,
    /// Open time of the first and last bar, UTC ms.
    pub first: i64,
    pub last: i64,
}

/// A duration as people say it: `45 s`, `12 min`, `3 h`, `5 days` (bar
/// ages on the board, and the scanner's "closed … ago").
pub fn human_span(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        7200..=172_799 => format!("{} h", s / 3600),
        _ => format!("{} days", s / 86_400),
    }
}

/// Formats UTC milliseconds as `YYYY-MM-DD HH:MM` (UTC) without a clock or
/// time-zone database, so the same code renders on the server and in WASM.
pub fn format_utc(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000) / 60_000;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", rem / 60, rem % 60)
}

/// Days since 1970-01-01 → proleptic Gregorian (year, month, day).
/// Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_utc(0), "1970-01-01 00:00");
        assert_eq!(format_utc(1_632_750_300_000), "2021-09-27 13:45");
        assert_eq!(format_utc(951_782_400_000), "2000-02-29 00:00");
        assert_eq!(format_utc(-86_400_000), "1969-12-31 00:00");
    }
}
