//! What can be notified, and writing an event beside its cause.

use crate::db::DbError;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

/// The channel the notifier LISTENs on; an emitted event wakes it.
pub const CHANNEL: &str = "notify_events";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A signal that passes the gates for the user's profile and capital.
    Signal,
    /// A paper entry filled.
    PaperFill,
    /// A take-profit level filled.
    TakeProfit,
    /// A stop-loss filled.
    StopLoss,
    /// A paper position closed completely.
    PaperClose,
    /// A paper account halted by its breakers or resumed.
    Halt,
    /// The global kill switch engaged or lifted.
    KillSwitch,
    /// A job failed (admins).
    JobFailed,
    /// A drift check found drift (admins).
    Drift,
    /// The model registry promoted, refused or rolled back a model (admins).
    Registry,
    /// A followed series went stale (admins).
    Stale,
    /// The daily summary at the user's chosen time.
    Daily,
    /// "Send a test" from Settings.
    Test,
}

impl EventKind {
    /// What a user can subscribe to (the daily summary has its own time;
    /// tests are always delivered).
    pub const SUBSCRIBABLE: [EventKind; 11] = [
        EventKind::Signal,
        EventKind::PaperFill,
        EventKind::TakeProfit,
        EventKind::StopLoss,
        EventKind::PaperClose,
        EventKind::Halt,
        EventKind::KillSwitch,
        EventKind::JobFailed,
        EventKind::Drift,
        EventKind::Registry,
        EventKind::Stale,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Signal => "signal",
            EventKind::PaperFill => "paper_fill",
            EventKind::TakeProfit => "take_profit",
            EventKind::StopLoss => "stop_loss",
            EventKind::PaperClose => "paper_close",
            EventKind::Halt => "halt",
            EventKind::KillSwitch => "kill_switch",
            EventKind::JobFailed => "job_failed",
            EventKind::Drift => "drift",
            EventKind::Registry => "registry",
            EventKind::Stale => "stale",
            EventKind::Daily => "daily",
            EventKind::Test => "test",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        Self::SUBSCRIBABLE
            .into_iter()
            .chain([EventKind::Daily, EventKind::Test])
            .find(|k| k.as_str() == s)
    }

    /// Only admins hear of these.
    pub fn admin_only(self) -> bool {
        matches!(
            self,
            EventKind::JobFailed | EventKind::Drift | EventKind::Registry | EventKind::Stale
        )
    }

    /// Delivered during quiet hours too.
    pub fn urgent(self) -> bool {
        matches!(
            self,
            EventKind::Halt | EventKind::KillSwitch | EventKind::Test
        )
    }
}

/// One event, as its cause writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: EventKind,
    /// The one user it is for; `None`: everyone it concerns.
    pub user_id: Option<i64>,
    /// A test goes to this channel only.
    pub channel_id: Option<i64>,
    /// The cause's identity (`signal:42`, `job_failed:7:3`): the same cause
    /// written twice — a step replayed after a crash — is one event.
    pub dedupe: String,
    pub payload: serde_json::Value,
}

impl Event {
    pub fn new(kind: EventKind, dedupe: impl Into<String>, payload: serde_json::Value) -> Event {
        Event {
            kind,
            user_id: None,
            channel_id: None,
            dedupe: dedupe.into(),
            payload,
        }
    }

    pub fn for_user(mut self, user_id: i64) -> Event {
        self.user_id = Some(user_id);
        self
    }
}

/// Writes `e` in the caller's transaction; false when its cause was already
/// recorded. Sending happens later, elsewhere: this never waits on a channel.
pub async fn emit(conn: &mut PgConnection, e: &Event) -> Result<bool, DbError> {
    let done = sqlx::query(
        "INSERT INTO notify_events (kind, user_id, channel_id, dedupe, payload)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (dedupe) DO NOTHING",
    )
    .bind(e.kind.as_str())
    .bind(e.user_id)
    .bind(e.channel_id)
    .bind(&e.dedupe)
    .bind(&e.payload)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 1 {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(CHANNEL)
            .execute(&mut *conn)
            .await?;
    }
    Ok(done.rows_affected() == 1)
}

/// `emit` in a transaction of its own, for causes that are not in one
/// (a job's end is recorded by `finish`, then this).
pub async fn emit_now(pool: &sqlx::PgPool, e: &Event) -> Result<bool, DbError> {
    let mut tx = pool.begin().await?;
    let new = emit(&mut tx, e).await?;
    tx.commit().await?;
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_names() {
        for k in EventKind::SUBSCRIBABLE
            .into_iter()
            .chain([EventKind::Daily, EventKind::Test])
        {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                serde_json::json!(k.as_str())
            );
        }
        assert_eq!(EventKind::parse("nonsense"), None);
    }
}
