//! What a user wants to hear, and when: subscribed events, quiet hours in
//! their time zone, the daily summary's time, a per-channel rate.

use super::EventKind;
use crate::db::DbError;
use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use sqlx::PgPool;

#[derive(Debug, Clone, PartialEq)]
pub struct Prefs {
    pub events: Vec<EventKind>,
    /// Minutes after local midnight; `from > to` spans midnight.
    pub quiet: Option<(u16, u16)>,
    pub timezone: Tz,
    pub daily_at: Option<u16>,
    pub rate_per_hour: i32,
}

impl Prefs {
    /// A user who has set nothing hears what concerns their own money and
    /// the kill switch; an admin also hears what needs an admin.
    pub fn default_for(admin: bool) -> Prefs {
        Prefs {
            events: EventKind::SUBSCRIBABLE
                .into_iter()
                .filter(|k| admin || !k.admin_only())
                .collect(),
            quiet: None,
            timezone: Tz::UTC,
            daily_at: None,
            rate_per_hour: 30,
        }
    }

    pub fn wants(&self, kind: EventKind) -> bool {
        matches!(kind, EventKind::Test | EventKind::Daily) || self.events.contains(&kind)
    }

    /// When a message of `kind` may go out, from `now`: now, or the end of
    /// the quiet hours it falls in (urgent kinds are never held).
    pub fn release_at(&self, kind: EventKind, now: DateTime<Utc>) -> DateTime<Utc> {
        let Some((from, to)) = self.quiet.filter(|_| !kind.urgent()) else {
            return now;
        };
        let local = now.with_timezone(&self.timezone);
        let minute = local
            .time()
            .signed_duration_since(NaiveTime::MIN)
            .num_minutes() as u16;
        let quiet = if from <= to {
            (from..to).contains(&minute)
        } else {
            minute >= from || minute < to
        };
        if !quiet {
            return now;
        }
        let mut day = local.date_naive();
        if from > to && minute >= from {
            day = day.succ_opt().unwrap_or(day);
        }
        let end = day.and_time(NaiveTime::MIN) + chrono::Duration::minutes(i64::from(to));
        // A local time skipped by a DST change: the first instant after it.
        self.timezone
            .from_local_datetime(&end)
            .earliest()
            .or_else(|| {
                self.timezone
                    .from_local_datetime(&(end + chrono::Duration::hours(1)))
                    .earliest()
            })
            .map_or(now, |t| t.with_timezone(&Utc))
    }
}

/// "HH:MM" → minutes after midnight.
pub fn parse_hhmm(s: &str) -> Option<u16> {
    let t = NaiveTime::parse_from_str(s.trim(), "%H:%M").ok()?;
    Some(t.signed_duration_since(NaiveTime::MIN).num_minutes() as u16)
}

pub fn format_hhmm(m: u16) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

#[derive(sqlx::FromRow)]
struct Row {
    events: Vec<String>,
    quiet_from: Option<i16>,
    quiet_to: Option<i16>,
    timezone: String,
    daily_at: Option<i16>,
    rate_per_hour: i32,
}

pub async fn load(pool: &PgPool, user_id: i64, admin: bool) -> Result<Prefs, DbError> {
    let row: Option<Row> = sqlx::query_as(
        "SELECT events, quiet_from, quiet_to, timezone, daily_at, rate_per_hour FROM notify_prefs WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(pool)
    .await?;
    let Some(r) = row else {
        return Ok(Prefs::default_for(admin));
    };
    Ok(Prefs {
        events: r
            .events
            .iter()
            .filter_map(|e| EventKind::parse(e))
            .filter(|k| admin || !k.admin_only())
            .collect(),
        quiet: r
            .quiet_from
            .zip(r.quiet_to)
            .map(|(a, b)| (a as u16, b as u16)),
        timezone: r.timezone.parse().unwrap_or(Tz::UTC),
        daily_at: r.daily_at.map(|m| m as u16),
        rate_per_hour: r.rate_per_hour,
    })
}

pub async fn save(pool: &PgPool, user_id: i64, p: &Prefs) -> Result<(), DbError> {
    let events: Vec<&str> = p.events.iter().map(|k| k.as_str()).collect();
    sqlx::query(
        "INSERT INTO notify_prefs (user_id, events, quiet_from, quiet_to, timezone, daily_at, rate_per_hour)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (user_id) DO UPDATE SET events = EXCLUDED.events, quiet_from = EXCLUDED.quiet_from,
             quiet_to = EXCLUDED.quiet_to, timezone = EXCLUDED.timezone,
             -- a new time may be due today again
             daily_last = CASE WHEN notify_prefs.daily_at IS DISTINCT FROM EXCLUDED.daily_at
                               OR notify_prefs.timezone <> EXCLUDED.timezone THEN NULL ELSE notify_prefs.daily_last END,
             daily_at = EXCLUDED.daily_at, rate_per_hour = EXCLUDED.rate_per_hour",
    )
    .bind(user_id)
    .bind(&events)
    .bind(p.quiet.map(|q| q.0 as i16))
    .bind(p.quiet.map(|q| q.1 as i16))
    .bind(p.timezone.name())
    .bind(p.daily_at.map(|m| m as i16))
    .bind(p.rate_per_hour)
    .execute(pool)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn quiet_hours_hold_until_they_end_in_local_time() {
        let mut p = Prefs::default_for(false);
        p.quiet = Some((parse_hhmm("22:00").unwrap(), parse_hhmm("07:30").unwrap()));
        p.timezone = "Europe/Berlin".parse().unwrap();
        // 23:00 Berlin (UTC+1 in December) → 07:30 Berlin next day = 06:30 UTC.
        assert_eq!(
            p.release_at(EventKind::Signal, at("2026-12-02T22:00:00Z")),
            at("2026-12-03T06:30:00Z")
        );
        // 03:00 Berlin → 07:30 the same day.
        assert_eq!(
            p.release_at(EventKind::Signal, at("2026-12-03T02:00:00Z")),
            at("2026-12-03T06:30:00Z")
        );
        // Outside the window, and urgent kinds, go now.
        assert_eq!(
            p.release_at(EventKind::Signal, at("2026-12-03T12:00:00Z")),
            at("2026-12-03T12:00:00Z")
        );
        assert_eq!(
            p.release_at(EventKind::KillSwitch, at("2026-12-02T22:00:00Z")),
            at("2026-12-02T22:00:00Z")
        );
        // A window within one day.
        p.quiet = Some((parse_hhmm("12:00").unwrap(), parse_hhmm("13:00").unwrap()));
        assert_eq!(
            p.release_at(EventKind::PaperFill, at("2026-12-03T11:15:00Z")),
            at("2026-12-03T12:00:00Z")
        );
    }

    #[test]
    fn hhmm_round_trips_and_refuses_nonsense() {
        assert_eq!(parse_hhmm("07:05"), Some(425));
        assert_eq!(format_hhmm(425), "07:05");
        assert_eq!(parse_hhmm("25:00"), None);
        assert_eq!(parse_hhmm("7pm"), None);
    }

    #[test]
    fn users_do_not_hear_admin_events_by_default() {
        assert!(!Prefs::default_for(false).wants(EventKind::JobFailed));
        assert!(Prefs::default_for(true).wants(EventKind::JobFailed));
        assert!(Prefs::default_for(false).wants(EventKind::Signal));
        assert!(Prefs::default_for(false).wants(EventKind::Test));
    }
}
