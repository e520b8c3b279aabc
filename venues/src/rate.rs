//! A request-weight budget shared by every task talking to one venue.
//!
//! Binance counts weight per IP in fixed calendar-minute windows and reports
//! the running total in `X-MBX-USED-WEIGHT-1M`. We count locally so
//! concurrent tasks never overshoot, take the server's figure when it is
//! higher (someone else shares our IP), and pause everyone on a 429.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const WINDOW_MS: i64 = 60_000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[derive(Debug)]
struct Inner {
    window: i64,
    used: u32,
    paused_until_ms: i64,
}

#[derive(Debug)]
pub struct RateBudget {
    /// Weight per minute; 0 disables limiting.
    limit: u32,
    inner: Mutex<Inner>,
}

/// Proof that weight was taken in a given window; pass it back to [`RateBudget::observe`].
#[derive(Debug, Clone, Copy)]
pub struct Permit {
    window: i64,
}

impl RateBudget {
    pub fn new(limit_per_minute: u32) -> Self {
        RateBudget {
            limit: limit_per_minute,
            inner: Mutex::new(Inner {
                window: 0,
                used: 0,
                paused_until_ms: 0,
            }),
        }
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the counters inconsistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes `weight` at instant `now` if it fits, else says how long to wait.
    fn try_take(&self, now: i64, weight: u32) -> Result<Permit, i64> {
        let mut s = self.lock();
        let window = now.div_euclid(WINDOW_MS);
        if window != s.window {
            s.window = window;
            s.used = 0;
        }
        if s.paused_until_ms > now {
            Err(s.paused_until_ms - now)
        } else if self.limit == 0 || s.used + weight <= self.limit {
            s.used += weight;
            Ok(Permit { window })
        } else {
            // A little past the boundary: our clock and the venue's differ slightly.
            Err((window + 1) * WINDOW_MS - now + 50)
        }
    }

    /// Waits until `weight` fits in the current window, then takes it.
    pub async fn acquire(&self, weight: u32) -> Permit {
        loop {
            match self.try_take(now_ms(), weight) {
                Ok(p) => return p,
                Err(wait_ms) => tokio::time::sleep(Duration::from_millis(wait_ms as u64)).await,
            }
        }
    }

    /// Takes the venue's count for the window the request was sent in.
    pub fn observe(&self, permit: Permit, used_by_venue: u32) {
        let mut s = self.lock();
        if s.window == permit.window && used_by_venue > s.used {
            s.used = used_by_venue;
        }
    }

    /// After a 429: nobody sends until `retry_after` has passed.
    pub fn pause(&self, retry_after: Duration) {
        let until = now_ms() + retry_after.as_millis() as i64;
        let mut s = self.lock();
        s.paused_until_ms = s.paused_until_ms.max(until);
    }

    /// How long requests are paused for (after a 429), in milliseconds.
    pub fn paused_ms(&self) -> u64 {
        (self.lock().paused_until_ms - now_ms()).max(0) as u64
    }

    /// Weight used in the current window, as far as we know.
    pub fn used(&self) -> u32 {
        let s = self.lock();
        if s.window == now_ms().div_euclid(WINDOW_MS) {
            s.used
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_080_000; // 40 s into a minute window

    #[test]
    fn takes_weight_until_the_limit_then_waits_for_the_next_window() {
        let b = RateBudget::new(10);
        for _ in 0..5 {
            assert!(b.try_take(T0, 2).is_ok());
        }
        assert_eq!(b.try_take(T0 + 1_000, 2).unwrap_err(), 19_000 + 50);
        assert!(
            b.try_take(T0 + 20_000, 2).is_ok(),
            "a new window starts empty"
        );
    }

    #[test]
    fn venue_count_raises_ours_in_the_same_window_only() {
        let b = RateBudget::new(100);
        let p = b.try_take(T0, 1).unwrap();
        b.observe(
            Permit {
                window: p.window - 1,
            },
            99,
        );
        assert!(b.try_take(T0, 90).is_ok(), "a stale report is ignored");
        b.observe(p, 95);
        assert!(b.try_take(T0, 6).is_err(), "95 + 6 > 100");
        assert!(b.try_take(T0, 5).is_ok());
    }

    #[test]
    fn zero_means_unlimited() {
        let b = RateBudget::new(0);
        for _ in 0..10_000 {
            assert!(b.try_take(T0, 100).is_ok());
        }
    }

    #[tokio::test]
    async fn pause_blocks_everyone() {
        let b = RateBudget::new(0);
        b.pause(Duration::from_millis(200));
        let t = std::time::Instant::now();
        b.acquire(1).await;
        assert!(t.elapsed() >= Duration::from_millis(150));
    }
}
