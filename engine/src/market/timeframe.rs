use super::{MarketError, TimeMs};
use serde::{Deserialize, Serialize};
use std::fmt;

const MINUTE_MS: i64 = 60_000;
const DAY_MINUTES: u32 = 1440;

/// A bar length. Bars are aligned to the UTC epoch: a bar of timeframe `tf`
/// opens at a multiple of `tf.duration_ms()`, so a 1d bar opens at 00:00 UTC
/// and a 4h bar at 00:00, 04:00, … UTC.
///
/// Only lengths that tile a UTC day (or are whole days) are representable,
/// so every higher timeframe is an exact multiple of every lower one that
/// divides it, and resampling never straddles a day boundary by accident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Timeframe {
    minutes: u32,
}

impl Timeframe {
    pub const M1: Timeframe = Timeframe { minutes: 1 };
    pub const M5: Timeframe = Timeframe { minutes: 5 };
    pub const M15: Timeframe = Timeframe { minutes: 15 };
    pub const H1: Timeframe = Timeframe { minutes: 60 };
    pub const H4: Timeframe = Timeframe { minutes: 240 };
    pub const D1: Timeframe = Timeframe { minutes: 1440 };

    pub fn from_minutes(minutes: u32) -> Result<Self, MarketError> {
        let tiles = minutes > 0
            && (DAY_MINUTES.is_multiple_of(minutes) || minutes.is_multiple_of(DAY_MINUTES));
        if tiles {
            Ok(Timeframe { minutes })
        } else {
            Err(MarketError::TimeframeGrid(format!("{minutes}m")))
        }
    }

    /// Parses `15m`, `1h`, `4h`, `1d` (any `<n>m|h|d` that tiles a UTC day).
    pub fn parse(s: &str) -> Result<Self, MarketError> {
        let t = s.trim();
        let bad = || MarketError::Timeframe(s.to_owned());
        // The unit is the last character, which need not be one byte.
        let Some((at, _)) = t.char_indices().last().filter(|(at, _)| *at > 0) else {
            return Err(bad());
        };
        let (num, unit) = t.split_at(at);
        let n: u32 = num.parse().map_err(|_| bad())?;
        let minutes = match unit {
            "m" => Some(n),
            "h" => n.checked_mul(60),
            "d" | "D" => n.checked_mul(DAY_MINUTES),
            _ => None,
        }
        .ok_or_else(bad)?;
        Self::from_minutes(minutes).map_err(|_| MarketError::TimeframeGrid(t.to_owned()))
    }

    pub fn minutes(self) -> u32 {
        self.minutes
    }

    pub fn duration_ms(self) -> TimeMs {
        i64::from(self.minutes) * MINUTE_MS
    }

    /// The open time of the bar containing `t`.
    pub fn floor(self, t: TimeMs) -> TimeMs {
        t.div_euclid(self.duration_ms()) * self.duration_ms()
    }

    /// True when `t` is a bar open time of this timeframe.
    pub fn is_aligned(self, t: TimeMs) -> bool {
        t.rem_euclid(self.duration_ms()) == 0
    }

    /// Whether bars of `self` can be built from whole bars of `base`.
    pub fn is_multiple_of(self, base: Timeframe) -> bool {
        self.minutes >= base.minutes && self.minutes.is_multiple_of(base.minutes)
    }

    /// Number of bars of this timeframe in `[from, to)`, both aligned.
    pub fn bars_between(self, from: TimeMs, to: TimeMs) -> i64 {
        (to - from).max(0) / self.duration_ms()
    }
}

impl fmt::Display for Timeframe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.minutes;
        if m.is_multiple_of(DAY_MINUTES) {
            write!(f, "{}d", m / DAY_MINUTES)
        } else if m.is_multiple_of(60) {
            write!(f, "{}h", m / 60)
        } else {
            write!(f, "{m}m")
        }
    }
}

impl TryFrom<String> for Timeframe {
    type Error = MarketError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Timeframe::parse(&s)
    }
}

impl From<Timeframe> for String {
    fn from(t: Timeframe) -> String {
        t.to_string()
    }
}

impl std::str::FromStr for Timeframe {
    type Err = MarketError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Timeframe::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multibyte_unit_is_refused_not_a_panic() {
        assert!(Timeframe::parse("5²").is_err());
        assert!(Timeframe::parse("²").is_err());
        assert!(Timeframe::parse("1hé").is_err());
    }

    #[test]
    fn parses_and_prints_canonically() {
        for (input, canon, minutes) in [
            ("1m", "1m", 1),
            ("15m", "15m", 15),
            ("60m", "1h", 60),
            ("4h", "4h", 240),
            ("24h", "1d", 1440),
            ("1d", "1d", 1440),
            ("3d", "3d", 4320),
        ] {
            let tf = Timeframe::parse(input).unwrap();
            assert_eq!(tf.minutes(), minutes, "{input}");
            assert_eq!(tf.to_string(), canon, "{input}");
        }
    }

    #[test]
    fn rejects_what_does_not_tile_a_day() {
        for bad in ["7m", "5h", "0m", "m", "15", "1w", "-1h", "36h"] {
            assert!(Timeframe::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn floors_to_utc_grid_including_before_epoch() {
        let h4 = Timeframe::H4;
        assert_eq!(h4.floor(4 * 3_600_000 + 1), 4 * 3_600_000);
        assert_eq!(h4.floor(-1), -4 * 3_600_000);
        assert!(Timeframe::D1.is_aligned(86_400_000 * 3));
        assert!(!Timeframe::M15.is_aligned(60_000));
    }

    #[test]
    fn multiples() {
        assert!(Timeframe::H4.is_multiple_of(Timeframe::M15));
        assert!(!Timeframe::M15.is_multiple_of(Timeframe::H1));
        assert!(Timeframe::D1.is_multiple_of(Timeframe::H4));
        assert_eq!(Timeframe::H1.bars_between(0, 86_400_000), 24);
    }
}
