//! Time at the edges: parsing user-given instants, formatting ISO 8601.
//! Everything inside is UTC milliseconds (`engine::TimeMs`).

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use engine::TimeMs;

pub fn now_ms() -> TimeMs {
    Utc::now().timestamp_millis()
}

/// `2021-09-27T13:45:00Z`: what exports and reports print.
pub fn iso(ms: TimeMs) -> String {
    match Utc.timestamp_millis_opt(ms).single() {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        None => format!("{ms}ms"),
    }
}

/// Parses a CLI instant: `2021-01-01`, `2021-01-01T12:00:00Z`, an RFC 3339
/// time with offset, `now`, or epoch milliseconds.
pub fn parse_instant(s: &str) -> Result<TimeMs, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("now") {
        return Ok(now_ms());
    }
    if let Ok(ms) = t.parse::<i64>() {
        return Ok(ms);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(dt.timestamp_millis());
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(t, f) {
            return Ok(n.and_utc().timestamp_millis());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(d
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc()
            .timestamp_millis());
    }
    Err(format!(
        "cannot read {s:?} as a time: use 2021-01-01, 2021-01-01T12:00:00Z, epoch ms or now"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cli_instants() {
        assert_eq!(parse_instant("2021-01-01").unwrap(), 1_609_459_200_000);
        assert_eq!(
            parse_instant("2021-01-01T01:00:00Z").unwrap(),
            1_609_462_800_000
        );
        assert_eq!(
            parse_instant("2021-01-01T02:00:00+01:00").unwrap(),
            1_609_462_800_000
        );
        assert_eq!(
            parse_instant("2021-01-01 01:00").unwrap(),
            1_609_462_800_000
        );
        assert_eq!(parse_instant("1609459200000").unwrap(), 1_609_459_200_000);
        assert!(parse_instant("yesterday-ish").is_err());
        assert_eq!(iso(1_609_462_800_000), "2021-01-01T01:00:00Z");
    }
}
