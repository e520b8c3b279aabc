//! `MarketFeed`: closed bars of the followed universe as a venue publishes
//! them (a kline stream, REST polling, or a replay of stored bars). The
//! follower repairs the gap since the newest stored bar on every
//! (re)connect, so a consumer sees every bar once and in order.
//!
//! Also here, because they are rules and not I/O: when a followed series
//! counts as live, catching up or stale ([`Freshness`]), and when a
//! published bar looks wrong enough to block signals ([`BarGate`]).

use engine::calendar::Calendar;
use engine::{Candle, Symbol, TimeMs, Timeframe};
use std::future::Future;

/// A bar the venue published as closed.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedBar {
    pub symbol: Symbol,
    pub timeframe: Timeframe,
    pub candle: Candle,
}

/// What a feed yields next.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedEvent {
    Bar(ClosedBar),
    /// A message that could not be read: logged with its text and skipped;
    /// the next gap repair fetches what it should have carried.
    Malformed {
        text: String,
        error: String,
    },
    /// The connection ended (venue closed it, network, lifetime reached).
    Down {
        reason: String,
    },
}

/// A venue's stream of closed bars for a set of series.
pub trait MarketFeed: Send {
    /// The next event; after `Down` the feed is spent and a new one is opened.
    fn next_event(&mut self) -> impl Future<Output = FeedEvent> + Send;
}

/// How the follower's link for a series stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// Not connected yet.
    Connecting,
    /// Fetching the bars missed since the newest stored one.
    Repairing,
    /// Receiving bars as they close.
    Streaming,
    /// Cut off since `since`; why.
    Down { since: TimeMs, reason: StaleReason },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaleReason {
    Disconnected(String),
    /// The venue answers but refuses or fails (bad symbol, 5xx, ban).
    VenueError(String),
    /// Connected, but no bar arrived when one was due (or none is stored).
    NoData,
}

impl StaleReason {
    pub fn kind(&self) -> &'static str {
        match self {
            StaleReason::Disconnected(_) => "disconnected",
            StaleReason::VenueError(_) => "venue_error",
            StaleReason::NoData => "no_data",
        }
    }
}

impl std::fmt::Display for StaleReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StaleReason::Disconnected(why) => write!(f, "disconnected: {why}"),
            StaleReason::VenueError(why) => write!(f, "venue error: {why}"),
            StaleReason::NoData => f.write_str("no data: no bar arrived when one was due"),
        }
    }
}

/// Whether a series' stored bars are current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freshness {
    /// The newest closed bar is within one bar of now.
    Live,
    /// Connected and fetching the bars it missed.
    CatchingUp,
    /// Not current since `since`.
    Stale { since: TimeMs, reason: StaleReason },
}

impl Freshness {
    /// `live`, `catching_up`, `stale`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Freshness::Live => "live",
            Freshness::CatchingUp => "catching_up",
            Freshness::Stale { .. } => "stale",
        }
    }

    /// The rule: live while the bar after the newest one is not overdue by
    /// more than `grace_ms` (the venue's publishing delay); otherwise
    /// catching up while repairing, else stale since the moment it stopped
    /// being live (or since the link went down, when that is earlier and
    /// nothing is stored).
    pub fn of(
        newest_open: Option<TimeMs>,
        tf: Timeframe,
        link: &Link,
        now: TimeMs,
        grace_ms: i64,
    ) -> Freshness {
        Self::of_in(Calendar::AlwaysOpen, newest_open, tf, link, now, grace_ms)
    }

    /// [`Freshness::of`] for a market with sessions: the next bar is the
    /// next one the calendar expects, so a stock series stays live over a
    /// weekend or a holiday and is stale only when a session's bar is late.
    pub fn of_in(
        cal: Calendar,
        newest_open: Option<TimeMs>,
        tf: Timeframe,
        link: &Link,
        now: TimeMs,
        grace_ms: i64,
    ) -> Freshness {
        let dur = tf.duration_ms();
        let Some(open) = newest_open else {
            return match link {
                Link::Repairing => Freshness::CatchingUp,
                Link::Down { since, reason } => Freshness::Stale {
                    since: *since,
                    reason: reason.clone(),
                },
                _ => Freshness::Stale {
                    since: now,
                    reason: StaleReason::NoData,
                },
            };
        };
        // The next expected bar closes a bar after it opens; until then (plus
        // grace) the newest is current.
        let live_until = cal.next_bar_after(tf, open) + dur + grace_ms;
        if now < live_until {
            return Freshness::Live;
        }
        match link {
            Link::Repairing | Link::Connecting => Freshness::CatchingUp,
            Link::Down { reason, .. } => Freshness::Stale {
                since: live_until,
                reason: reason.clone(),
            },
            Link::Streaming => Freshness::Stale {
                since: live_until,
                reason: StaleReason::NoData,
            },
        }
    }
}

/// Thresholds for bars that look wrong.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QualityRules {
    /// A bar whose true range exceeds this many ATRs of the bars before it.
    pub spike_atr_multiple: f64,
    /// This many zero-volume bars in a row (and each one after).
    pub zero_volume_run: usize,
    /// Wilder ATR period for the spike test.
    pub atr_period: usize,
}

impl Default for QualityRules {
    fn default() -> Self {
        QualityRules {
            spike_atr_multiple: 15.0,
            zero_volume_run: 3,
            atr_period: 14,
        }
    }
}

/// Why a stored bar blocks signals until a normal one follows.
#[derive(Debug, Clone, PartialEq)]
pub enum Flag {
    Spike { true_range: f64, atr: f64 },
    ZeroVolume { run: usize },
    OutOfOrder { after: TimeMs },
}

impl Flag {
    pub fn kind(&self) -> &'static str {
        match self {
            Flag::Spike { .. } => "spike",
            Flag::ZeroVolume { .. } => "zero_volume",
            Flag::OutOfOrder { .. } => "out_of_order",
        }
    }
}

impl std::fmt::Display for Flag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Flag::Spike { true_range, atr } => write!(
                f,
                "price jump of {:.1} ATR (true range {true_range:.6}, ATR {atr:.6})",
                true_range / atr
            ),
            Flag::ZeroVolume { run } => write!(f, "{run} zero-volume bars in a row"),
            Flag::OutOfOrder { after } => {
                write!(f, "bar arrived after a newer one (newest open {after})")
            }
        }
    }
}

/// Judges each new bar of one series against the bars before it.
#[derive(Debug, Clone)]
pub struct BarGate {
    rules: QualityRules,
    atr: Option<f64>,
    warm: Vec<f64>,
    prev_close: Option<f64>,
    last_open: Option<TimeMs>,
    zero_run: usize,
}

impl BarGate {
    pub fn new(rules: QualityRules) -> BarGate {
        BarGate {
            rules,
            atr: None,
            warm: Vec::new(),
            prev_close: None,
            last_open: None,
            zero_run: 0,
        }
    }

    /// Learns from stored bars (oldest first) without judging them.
    pub fn seed(&mut self, history: &[Candle]) {
        for c in history {
            self.learn(c);
        }
    }

    /// The flag `c` earns, if any; then counts it in.
    pub fn check(&mut self, c: &Candle) -> Option<Flag> {
        if let Some(last) = self.last_open
            && c.open_time <= last
        {
            // Out-of-order bars do not move the gate's state.
            return Some(Flag::OutOfOrder { after: last });
        }
        let tr = self.true_range(c);
        let flag = if c.volume == 0.0 && self.zero_run + 1 >= self.rules.zero_volume_run {
            Some(Flag::ZeroVolume {
                run: self.zero_run + 1,
            })
        } else {
            match (self.atr, tr) {
                (Some(atr), Some(tr)) if atr > 0.0 && tr > self.rules.spike_atr_multiple * atr => {
                    Some(Flag::Spike {
                        true_range: tr,
                        atr,
                    })
                }
                _ => None,
            }
        };
        // A spike's close is not the reference for the next bar: a bad print
        // that reverts must not flag the bar that undoes it. Its range does
        // count into the ATR, so a real jump that holds stops being flagged.
        let prev = self.prev_close;
        self.learn(c);
        if matches!(flag, Some(Flag::Spike { .. })) {
            self.prev_close = prev;
        }
        flag
    }

    fn true_range(&self, c: &Candle) -> Option<f64> {
        let pc = self.prev_close?;
        Some(
            (c.high - c.low)
                .max((c.high - pc).abs())
                .max((c.low - pc).abs()),
        )
    }

    fn learn(&mut self, c: &Candle) {
        if self.last_open.is_some_and(|l| c.open_time <= l) {
            return;
        }
        if let Some(tr) = self.true_range(c) {
            let n = self.rules.atr_period.max(1) as f64;
            self.atr = match self.atr {
                Some(a) => Some((a * (n - 1.0) + tr) / n),
                None => {
                    self.warm.push(tr);
                    (self.warm.len() >= self.rules.atr_period.max(1))
                        .then(|| self.warm.iter().sum::<f64>() / n)
                }
            };
        }
        self.zero_run = if c.volume == 0.0 {
            self.zero_run + 1
        } else {
            0
        };
        self.prev_close = Some(c.close);
        self.last_open = Some(c.open_time);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M15: i64 = 900_000;

    fn bar(i: i64, close: f64, range: f64, volume: f64) -> Candle {
        Candle {
            open_time: i * M15,
            open: close,
            high: close + range / 2.0,
            low: close - range / 2.0,
            close,
            volume,
        }
    }

    #[test]
    fn live_until_the_next_bar_is_overdue_then_stale_or_catching_up() {
        let tf = Timeframe::M15;
        let open = 100 * M15;
        let grace = 30_000;
        // The newest bar closed at 101·M15; the next closes at 102·M15.
        let at = |now| Freshness::of(Some(open), tf, &Link::Streaming, now, grace);
        assert_eq!(at(101 * M15 + 1), Freshness::Live);
        assert_eq!(at(102 * M15 + grace - 1), Freshness::Live);
        assert_eq!(
            at(102 * M15 + grace),
            Freshness::Stale {
                since: 102 * M15 + grace,
                reason: StaleReason::NoData
            }
        );
        let down = Link::Down {
            since: 50,
            reason: StaleReason::Disconnected("reset".into()),
        };
        match Freshness::of(Some(open), tf, &down, 200 * M15, grace) {
            Freshness::Stale { since, reason } => {
                assert_eq!(since, 102 * M15 + grace);
                assert_eq!(reason.kind(), "disconnected");
            }
            f => panic!("{f:?}"),
        }
        assert_eq!(
            Freshness::of(Some(open), tf, &Link::Repairing, 200 * M15, grace),
            Freshness::CatchingUp
        );
        // A short outage does not make fresh data stale.
        assert_eq!(
            Freshness::of(Some(open), tf, &down, 101 * M15 + 5, grace),
            Freshness::Live
        );
        assert_eq!(
            Freshness::of(None, tf, &Link::Repairing, 0, grace),
            Freshness::CatchingUp
        );
        assert_eq!(
            Freshness::of(None, tf, &Link::Streaming, 7, grace).as_str(),
            "stale"
        );
    }

    #[test]
    fn a_stock_series_is_live_over_the_weekend_and_stale_when_a_session_bar_is_late() {
        let ms = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .timestamp_millis()
        };
        let grace = 30_000;
        let cal = Calendar::Xnys;
        // Friday 2024-07-05's last quarter hour (15:45 EDT).
        let last = ms("2024-07-05T19:45:00Z");
        let at = |now| {
            Freshness::of_in(
                cal,
                Some(last),
                Timeframe::M15,
                &Link::Streaming,
                now,
                grace,
            )
        };
        assert_eq!(at(ms("2024-07-06T12:00:00Z")), Freshness::Live, "Saturday");
        assert_eq!(
            at(ms("2024-07-08T13:45:29Z")),
            Freshness::Live,
            "Monday's first bar not yet late"
        );
        assert_eq!(
            at(ms("2024-07-08T13:45:30Z")).as_str(),
            "stale",
            "Monday 09:30 bar closed 09:45 plus grace"
        );
        // Around the clock, the same bar would be stale by Friday evening.
        assert_eq!(
            Freshness::of(
                Some(last),
                Timeframe::M15,
                &Link::Streaming,
                ms("2024-07-05T20:30:31Z"),
                grace
            )
            .as_str(),
            "stale"
        );
        // Daily: Wednesday before Independence Day → live until Friday's bar closes.
        let wed = ms("2024-07-03T00:00:00Z");
        let d = |now| Freshness::of_in(cal, Some(wed), Timeframe::D1, &Link::Streaming, now, grace);
        assert_eq!(d(ms("2024-07-05T23:59:00Z")), Freshness::Live);
        assert_eq!(d(ms("2024-07-06T00:00:31Z")).as_str(), "stale");
    }

    #[test]
    fn spikes_zero_volume_runs_and_late_bars_are_flagged() {
        let mut g = BarGate::new(QualityRules::default());
        let history: Vec<Candle> = (0..50).map(|i| bar(i, 100.0, 1.0, 10.0)).collect();
        g.seed(&history);
        assert_eq!(g.check(&bar(50, 100.5, 1.0, 10.0)), None, "normal bar");
        // True range ≈ 20 against an ATR of ≈ 1.
        match g.check(&bar(51, 120.0, 1.0, 10.0)) {
            Some(Flag::Spike { true_range, atr }) => {
                assert!(
                    true_range > 19.0 && (0.9..1.2).contains(&atr),
                    "{true_range} {atr}"
                )
            }
            f => panic!("{f:?}"),
        }
        assert_eq!(
            g.check(&bar(52, 120.2, 1.0, 10.0)),
            None,
            "a normal bar follows"
        );
        assert_eq!(g.check(&bar(53, 120.2, 1.0, 0.0)), None);
        assert_eq!(g.check(&bar(54, 120.2, 1.0, 0.0)), None);
        assert_eq!(
            g.check(&bar(55, 120.2, 1.0, 0.0)),
            Some(Flag::ZeroVolume { run: 3 })
        );
        assert_eq!(
            g.check(&bar(56, 120.2, 1.0, 0.0)),
            Some(Flag::ZeroVolume { run: 4 })
        );
        assert_eq!(g.check(&bar(57, 120.2, 1.0, 5.0)), None);
        assert_eq!(
            g.check(&bar(40, 100.0, 1.0, 5.0)),
            Some(Flag::OutOfOrder { after: 57 * M15 })
        );
        assert_eq!(
            g.check(&bar(58, 120.3, 1.0, 5.0)),
            None,
            "state unmoved by it"
        );
    }
}
