//! The daily summary: due at each user's chosen local time, once per local
//! day, emitted as an event (so it is delivered like any other).

use super::compose::Draft;
use super::outbox::Recipient;
use super::{Event, EventKind};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use sqlx::PgPool;
use std::time::Duration;

/// Emits the summaries that are due; returns how many.
pub async fn emit_due(pool: &PgPool, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let rows: Vec<(i64, String, i16, Option<NaiveDate>)> = sqlx::query_as(
        "SELECT p.user_id, p.timezone, p.daily_at, p.daily_last FROM notify_prefs p
         JOIN users u ON u.id = p.user_id WHERE p.daily_at IS NOT NULL AND NOT u.disabled",
    )
    .fetch_all(pool)
    .await?;
    let mut emitted = 0;
    for (user, tz, at, last) in rows {
        let tz: Tz = tz.parse().unwrap_or(Tz::UTC);
        let local = now.with_timezone(&tz);
        let minute = local
            .time()
            .signed_duration_since(chrono::NaiveTime::MIN)
            .num_minutes();
        let today = local.date_naive();
        if minute < i64::from(at) || last.is_some_and(|d| d >= today) {
            continue;
        }
        let mut tx = pool.begin().await?;
        // The day is taken in the same transaction as its event: two
        // processes, or a restart, emit it once.
        let took = sqlx::query(
            "UPDATE notify_prefs SET daily_last = $2 WHERE user_id = $1
                 AND (daily_last IS NULL OR daily_last < $2)",
        )
        .bind(user)
        .bind(today)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if took {
            let e = Event::new(
                EventKind::Daily,
                format!("daily:{user}:{today}"),
                serde_json::json!({ "date": today.to_string(), "timezone": tz.name() }),
            )
            .for_user(user);
            super::emit(&mut tx, &e).await?;
            emitted += 1;
        }
        tx.commit().await?;
    }
    Ok(emitted)
}

pub async fn run(pool: PgPool, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        if let Err(e) = emit_due(&pool, Utc::now()).await {
            tracing::warn!(error = %format!("{e:#}"), "daily summaries not emitted; retrying in a minute");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
            _ = stop.changed() => return,
        }
    }
}

/// One user's summary: P&L today, this week and in total for each paper
/// account, open positions, signals sent to them today, system status.
/// "Today" and "this week" are the user's local day and ISO week to now.
pub async fn summary(
    pool: &PgPool,
    u: &Recipient,
    payload: &serde_json::Value,
) -> anyhow::Result<Draft> {
    let tz: Tz = payload
        .get("timezone")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse().ok())
        .unwrap_or(Tz::UTC);
    let date = payload
        .get("date")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse::<NaiveDate>().ok())
        .unwrap_or_else(|| Utc::now().with_timezone(&tz).date_naive());
    let midnight = |d: NaiveDate| {
        tz.from_local_datetime(&d.and_time(chrono::NaiveTime::MIN))
            .earliest()
            .map_or(0, |t| t.timestamp_millis())
    };
    let day_start = midnight(date);
    let week_start = midnight(
        date - chrono::Duration::days(i64::from(
            chrono::Datelike::weekday(&date).num_days_from_monday(),
        )),
    );
    let mut d = Draft::new(format!("Daily summary {date} — {}", u.username));
    let accounts = crate::db::paper::list(pool, Some(u.id)).await?;
    for a in &accounts {
        let (today, week, total, open): (f64, f64, f64, i64) = sqlx::query_as(
            "SELECT COALESCE(sum(amount) FILTER (WHERE time >= $2), 0)::float8,
                    COALESCE(sum(amount) FILTER (WHERE time >= $3), 0)::float8,
                    COALESCE(sum(amount), 0)::float8,
                    (SELECT count(*) FROM paper_positions WHERE account_id = $1)
             FROM paper_ledger WHERE account_id = $1",
        )
        .bind(a.id)
        .bind(day_start)
        .bind(week_start)
        .fetch_one(pool)
        .await?;
        d = d.field(
            &a.name,
            format!(
                "today {today:+.2}, week {week:+.2}, total {total:+.2}; {open} open; {}",
                a.state
            ),
        );
    }
    if accounts.is_empty() {
        d = d.line("No paper accounts.");
    }
    let signals: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT d.event_id) FROM notify_deliveries d
         JOIN notify_events e ON e.id = d.event_id JOIN notify_channels c ON c.id = d.channel_id
         WHERE e.kind = 'signal' AND c.user_id = $1 AND d.status = 'sent' AND d.sent_at >= $2",
    )
    .bind(u.id)
    .bind(DateTime::<Utc>::from_timestamp_millis(day_start).unwrap_or_default())
    .fetch_one(pool)
    .await?;
    d = d.field("Signals sent today", signals);
    d = d.field("System", system_line(pool).await?);
    Ok(d)
}

/// Followed series by state, and the kill switch.
pub async fn system_line(pool: &PgPool) -> anyhow::Result<String> {
    let follow = crate::db::follow::states(pool).await?;
    let base: Vec<_> = follow.values().filter(|f| f.role == "base").collect();
    let count = |s: &str| base.iter().filter(|f| f.state == s).count();
    let halt = crate::db::paper::active_halt(pool).await?;
    Ok(format!(
        "{} series live, {} catching up, {} stale; kill switch {}",
        count("live"),
        count("catching_up"),
        count("stale"),
        match halt {
            Some(h) => format!("ENGAGED ({})", h.reason),
            None => "off".into(),
        }
    ))
}
