//! `Clock`: the time the trading core sees, in UTC milliseconds. The live
//! runner reads the system clock; a replay runs a clock that starts at a
//! historical instant and goes `speed` times faster than the wall clock,
//! which is all that differs between them: freshness, bar ages and "is this
//! bar closed" are asked of a `Clock`, never of the system directly.
//!
//! Anchor: barter-rs `barter/src/engine/clock.rs`.

use engine::TimeMs;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, in UTC milliseconds on this clock.
    fn now_ms(&self) -> TimeMs;
    /// How many clock milliseconds pass per wall-clock millisecond (1 live).
    fn speed(&self) -> f64;
    /// Wall time until this clock reads `t` (zero when it already has).
    fn wall_until(&self, t: TimeMs) -> Duration {
        let left = (t - self.now_ms()).max(0) as f64 / self.speed();
        Duration::from_secs_f64(left / 1000.0)
    }
}

/// The machine's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> TimeMs {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as TimeMs)
    }

    fn speed(&self) -> f64 {
        1.0
    }
}

/// Replayed time: reads `origin` when created and runs `speed` times the
/// wall clock from there (monotonic: it never jumps with the system clock).
#[derive(Debug, Clone, Copy)]
pub struct ReplayClock {
    origin: TimeMs,
    started: Instant,
    speed: f64,
}

impl ReplayClock {
    /// `speed` must be positive and finite; anything else is a config error.
    pub fn new(origin: TimeMs, speed: f64) -> Result<ReplayClock, String> {
        if !(speed.is_finite() && speed > 0.0) {
            return Err(format!(
                "replay speed must be a positive number, not {speed}"
            ));
        }
        Ok(ReplayClock {
            origin,
            started: Instant::now(),
            speed,
        })
    }
}

impl Clock for ReplayClock {
    fn now_ms(&self) -> TimeMs {
        self.origin + (self.started.elapsed().as_secs_f64() * 1000.0 * self.speed) as TimeMs
    }

    fn speed(&self) -> f64 {
        self.speed
    }
}

/// A clock moved by hand: tests step a venue and an account bar by bar.
#[derive(Debug, Default)]
pub struct ManualClock(std::sync::atomic::AtomicI64);

impl ManualClock {
    pub fn new(t: TimeMs) -> ManualClock {
        ManualClock(std::sync::atomic::AtomicI64::new(t))
    }

    pub fn set(&self, t: TimeMs) {
        self.0.store(t, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> TimeMs {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Stepped by hand, not running.
    fn speed(&self) -> f64 {
        0.0
    }

    /// Waiters poll: the time moves when the test sets it.
    fn wall_until(&self, t: TimeMs) -> Duration {
        if t <= self.now_ms() {
            Duration::ZERO
        } else {
            Duration::from_millis(5)
        }
    }
}

/// Parses a replay speed as people write it: `300x`, `300`, `1.5x`.
pub fn parse_speed(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let n = t.strip_suffix(['x', 'X']).unwrap_or(t);
    let v: f64 = n
        .parse()
        .map_err(|_| format!("replay speed {s:?}: expected a number such as 300x"))?;
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(format!("replay speed {s:?} must be positive"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_runs_at_its_speed_from_its_origin() {
        let c = ReplayClock::new(1_000_000, 1000.0).unwrap();
        let a = c.now_ms();
        assert!((1_000_000..1_000_000 + 500).contains(&a), "{a}");
        std::thread::sleep(Duration::from_millis(20));
        // 20 ms of wall time are at least 20 s on a 1000x clock.
        assert!(c.now_ms() - a >= 20_000, "{}", c.now_ms() - a);
        // 60 s on the clock ahead are at most 60 ms of wall time.
        assert!(c.wall_until(c.now_ms() + 60_000) <= Duration::from_millis(60));
        assert_eq!(c.wall_until(0), Duration::ZERO);
    }

    #[test]
    fn speeds_parse_and_bad_ones_are_refused() {
        assert_eq!(parse_speed("300x").unwrap(), 300.0);
        assert_eq!(parse_speed("1.5").unwrap(), 1.5);
        assert!(parse_speed("0x").is_err());
        assert!(parse_speed("fast").unwrap_err().contains("fast"));
        assert!(ReplayClock::new(0, f64::NAN).is_err());
        assert!(ReplayClock::new(0, -2.0).is_err());
    }
}
