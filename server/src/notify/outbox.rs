//! The outbox: fanning events out to deliveries, delivering them with
//! retries, and the channels' rows.

use super::channels::{ChannelKind, SendError, Sender, Target};
use super::message::Message;
use super::prefs::{self, Prefs};
use super::{EventKind, NotifySettings, compose};
use crate::db::DbError;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::collections::HashMap;
use std::time::Duration;

/// Sealing context: a sealed target opens only as a channel's target.
const SEAL_CONTEXT: &str = "notify-channel";

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ChannelRow {
    pub id: i64,
    pub user_id: i64,
    pub kind: String,
    pub hint: String,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
}

pub async fn add_channel(pool: &PgPool, user_id: i64, t: &Target) -> anyhow::Result<ChannelRow> {
    let sealer = crate::secrets::sealer()?;
    let plain = serde_json::to_string(t)?;
    let row = sqlx::query_as(
        "INSERT INTO notify_channels (user_id, kind, hint, sealed) VALUES ($1, $2, $3, $4)
         RETURNING id, user_id, kind, hint, enabled, created_at",
    )
    .bind(user_id)
    .bind(t.kind().as_str())
    .bind(t.hint())
    .bind(sealer.seal(&plain, SEAL_CONTEXT))
    .fetch_one(pool)
    .await?;
    Ok(row)
}

pub async fn channels_of(pool: &PgPool, user_id: i64) -> Result<Vec<ChannelRow>, DbError> {
    Ok(sqlx::query_as(
        "SELECT id, user_id, kind, hint, enabled, created_at FROM notify_channels WHERE user_id = $1 ORDER BY id",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await?)
}

pub async fn channel(pool: &PgPool, id: i64) -> Result<Option<ChannelRow>, DbError> {
    Ok(sqlx::query_as(
        "SELECT id, user_id, kind, hint, enabled, created_at FROM notify_channels WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?)
}

/// Removes one of the user's channels; false when they have no such channel.
pub async fn remove_channel(pool: &PgPool, user_id: i64, id: i64) -> Result<bool, DbError> {
    let mut tx = pool.begin().await?;
    // Lock order as the fan-out's: its events first, then the channel. The
    // fan-out holds event rows and then touches the channel (the new
    // deliveries' foreign key); deleting the channel first and cascading to
    // those events deadlocked (found by the schemathesis run).
    sqlx::query("SELECT 1 FROM notify_events WHERE channel_id = $1 ORDER BY id FOR UPDATE")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let kind: Option<String> = sqlx::query_scalar(
        "DELETE FROM notify_channels WHERE id = $1 AND user_id = $2 RETURNING kind",
    )
    .bind(id)
    .bind(user_id)
    .fetch_optional(&mut *tx)
    .await?;
    if kind.as_deref() == Some("telegram") {
        // The chat is unlinked with it: /status from it is refused again.
        sqlx::query("DELETE FROM telegram_links WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(kind.is_some())
}

/// Queues a test message to one channel (always delivered, quiet hours or not).
pub async fn test_channel(pool: &PgPool, c: &ChannelRow) -> Result<i64, DbError> {
    let mut tx = pool.begin().await?;
    let d = compose::Draft::new("Test message from TraderAI")
        .field("Channel", format!("{} {}", c.kind, c.hint))
        .line("If you can read this, notifications reach you here.");
    let mut e = d.event(
        EventKind::Test,
        format!("test:{}:{}", c.id, Utc::now().timestamp_micros()),
    );
    e.user_id = Some(c.user_id);
    e.channel_id = Some(c.id);
    super::emit(&mut tx, &e).await?;
    let id: i64 = sqlx::query_scalar("SELECT id FROM notify_events WHERE dedupe = $1")
        .bind(&e.dedupe)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(id)
}

#[derive(Debug, sqlx::FromRow)]
struct EventRow {
    id: i64,
    kind: String,
    user_id: Option<i64>,
    channel_id: Option<i64>,
    payload: serde_json::Value,
    created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Recipient {
    pub id: i64,
    pub username: String,
    pub role: String,
    pub risk_profile: Option<String>,
    pub capital: Option<f64>,
}

impl Recipient {
    pub fn admin(&self) -> bool {
        self.role == "admin"
    }

    /// The profile and capital their signals are sized for.
    pub fn sizing(&self) -> (engine::risk::RiskProfile, f64) {
        let profile = self
            .risk_profile
            .as_deref()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(crate::config::default_profile);
        (
            profile,
            self.capital.unwrap_or_else(crate::config::default_capital),
        )
    }
}

pub async fn recipients(pool: &PgPool) -> Result<Vec<Recipient>, DbError> {
    Ok(sqlx::query_as(
        "SELECT id, username, role, risk_profile, capital FROM users WHERE NOT disabled ORDER BY id",
    )
    .fetch_all(pool)
    .await?)
}

/// Turns pending events into deliveries: one per recipient channel, the
/// message rendered for that recipient. Returns how many events it took.
/// A fan-out repeated after a crash adds nothing (unique event × channel).
pub async fn fan_out(pool: &PgPool, settings: &crate::config::Settings) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    let events: Vec<EventRow> = sqlx::query_as(
        "SELECT id, kind, user_id, channel_id, payload, created_at FROM notify_events
         WHERE fanned_out_at IS NULL ORDER BY id LIMIT 200 FOR UPDATE SKIP LOCKED",
    )
    .fetch_all(&mut *tx)
    .await?;
    if events.is_empty() {
        return Ok(0);
    }
    let users = recipients(pool).await?;
    let channels: Vec<ChannelRow> = sqlx::query_as(
        "SELECT id, user_id, kind, hint, enabled, created_at FROM notify_channels WHERE enabled",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut prefs_of: HashMap<i64, Prefs> = HashMap::new();
    let mut signal_ctx = None;
    let now = Utc::now();
    for e in &events {
        let Some(kind) = EventKind::parse(&e.kind) else {
            tracing::warn!(event = e.id, kind = %e.kind, "unknown notification kind; dropped");
            continue;
        };
        let at = e
            .created_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        for u in users.iter().filter(|u| match (e.user_id, kind) {
            (Some(id), _) => u.id == id,
            (None, k) if k.admin_only() => u.admin(),
            (None, _) => true,
        }) {
            if kind.admin_only() && !u.admin() {
                continue;
            }
            let p = match prefs_of.get(&u.id) {
                Some(p) => p.clone(),
                None => {
                    let p = prefs::load(pool, u.id, u.admin()).await?;
                    prefs_of.insert(u.id, p.clone());
                    p
                }
            };
            if !p.wants(kind) {
                continue;
            }
            let mine: Vec<&ChannelRow> = channels
                .iter()
                .filter(|c| c.user_id == u.id && e.channel_id.is_none_or(|id| id == c.id))
                .collect();
            if mine.is_empty() {
                continue;
            }
            let message = match render(pool, settings, e, kind, u, &at, &mut signal_ctx).await {
                Ok(Some(m)) => m,
                Ok(None) => continue,
                Err(err) => {
                    tracing::warn!(event = e.id, kind = %e.kind, error = %format!("{err:#}"), "notification cannot be rendered; skipped");
                    continue;
                }
            };
            let release = p.release_at(kind, now);
            for c in mine {
                sqlx::query(
                    "INSERT INTO notify_deliveries (event_id, channel_id, message, next_at)
                     VALUES ($1, $2, $3, $4) ON CONFLICT (event_id, channel_id) DO NOTHING",
                )
                .bind(e.id)
                .bind(c.id)
                .bind(serde_json::to_value(&message)?)
                .bind(release)
                .execute(&mut *tx)
                .await?;
            }
        }
        sqlx::query("UPDATE notify_events SET fanned_out_at = now() WHERE id = $1")
            .bind(e.id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(events.len())
}

/// What judging a signal for each reader needs, loaded once per fan-out.
pub(super) struct SignalContext {
    predicted: HashMap<(String, String), crate::db::funding::Predicted>,
    follow: HashMap<i32, crate::db::follow::FollowRow>,
    candidates: HashMap<i64, Option<crate::db::signals::Candidate>>,
}

async fn render(
    pool: &PgPool,
    settings: &crate::config::Settings,
    e: &EventRow,
    kind: EventKind,
    u: &Recipient,
    at: &str,
    ctx: &mut Option<SignalContext>,
) -> anyhow::Result<Option<Message>> {
    match kind {
        EventKind::Signal => {
            let id = e
                .payload
                .get("candidate_id")
                .and_then(serde_json::Value::as_i64)
                .ok_or_else(|| anyhow::anyhow!("signal event without candidate_id"))?;
            if ctx.is_none() {
                *ctx = Some(SignalContext {
                    predicted: crate::db::funding::predicted(pool).await?,
                    follow: crate::db::follow::states(pool).await?,
                    candidates: HashMap::new(),
                });
            }
            let ctx = ctx.as_mut().expect("set above");
            if let std::collections::hash_map::Entry::Vacant(v) = ctx.candidates.entry(id) {
                v.insert(crate::db::signals::by_id(pool, id).await?);
            }
            let Some(c) = ctx.candidates.get(&id).and_then(Option::as_ref) else {
                return Ok(None);
            };
            let (profile, capital) = u.sizing();
            let outcome = crate::signals::judge_for(
                settings,
                c,
                profile,
                capital,
                &ctx.predicted,
                ctx.follow.get(&c.new.series_id),
            );
            let verdict = match &outcome {
                crate::signals::Outcome::Plan(_) => "plan".to_owned(),
                crate::signals::Outcome::Rejected { kind, .. } => kind.clone(),
            };
            metrics::counter!("traderai_signal_judgements_total", "outcome" => verdict)
                .increment(1);
            Ok(compose::signal(e.id, c, &outcome, at))
        }
        EventKind::Daily => {
            let draft = super::daily::summary(pool, u, &e.payload).await?;
            Ok(Some(Message::from_draft(e.id, kind, draft, at)))
        }
        _ => {
            let d: compose::Draft = serde_json::from_value(e.payload.clone())?;
            Ok(Some(Message::from_draft(e.id, kind, d, at)))
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
struct DueRow {
    id: i64,
    channel_id: i64,
    message: serde_json::Value,
    attempts: i32,
    sealed: Vec<u8>,
    enabled: bool,
    rate_per_hour: Option<i32>,
}

/// What one delivery attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Sent,
    /// Held back (rate limit) until then; not an attempt.
    Deferred(DateTime<Utc>),
    Retry(DateTime<Utc>),
    Failed(String),
}

/// Delivers the next due delivery, if any. The row stays locked while it is
/// sent, so a second notifier skips it; the mark is committed right after
/// the channel's answer. The only window for a duplicate is a crash between
/// that answer and the commit (the webhook carries the event id, e-mail a
/// Message-ID, for receivers that care).
pub async fn deliver_next(
    pool: &PgPool,
    sender: &Sender,
    n: &NotifySettings,
) -> anyhow::Result<Option<(i64, Outcome)>> {
    let mut tx = pool.begin().await?;
    let row: Option<DueRow> = sqlx::query_as(
        "SELECT d.id, d.channel_id, d.message, d.attempts, c.sealed, c.enabled, p.rate_per_hour
         FROM notify_deliveries d
         JOIN notify_channels c ON c.id = d.channel_id
         LEFT JOIN notify_prefs p ON p.user_id = c.user_id
         WHERE d.status = 'pending' AND d.next_at <= now()
         ORDER BY d.next_at, d.id LIMIT 1
         FOR UPDATE OF d SKIP LOCKED",
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(d) = row else {
        return Ok(None);
    };
    let outcome = attempt(&mut tx, sender, n, &d).await?;
    let attempts = d.attempts + i32::from(!matches!(outcome, Outcome::Deferred(_)));
    match &outcome {
        Outcome::Sent => {
            sqlx::query(
                "UPDATE notify_deliveries SET status = 'sent', sent_at = now(), attempts = $2, last_error = NULL WHERE id = $1",
            )
            .bind(d.id)
            .bind(attempts)
            .execute(&mut *tx)
            .await?;
        }
        Outcome::Deferred(at) | Outcome::Retry(at) => {
            sqlx::query("UPDATE notify_deliveries SET next_at = $2, attempts = $3 WHERE id = $1")
                .bind(d.id)
                .bind(at)
                .bind(attempts)
                .execute(&mut *tx)
                .await?;
        }
        Outcome::Failed(why) => {
            sqlx::query(
                "UPDATE notify_deliveries SET status = 'failed', attempts = $2, last_error = $3 WHERE id = $1",
            )
            .bind(d.id)
            .bind(attempts)
            .bind(why)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    let kind = d
        .message
        .get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or("?")
        .to_owned();
    match &outcome {
        Outcome::Sent => {
            metrics::counter!("traderai_notifications_total", "kind" => kind, "result" => "sent")
                .increment(1)
        }
        Outcome::Retry(_) => {
            metrics::counter!("traderai_notifications_total", "kind" => kind, "result" => "retry")
                .increment(1)
        }
        Outcome::Failed(_) => {
            metrics::counter!("traderai_notifications_total", "kind" => kind, "result" => "failed")
                .increment(1)
        }
        Outcome::Deferred(_) => {}
    }
    Ok(Some((d.id, outcome)))
}

async fn attempt(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    sender: &Sender,
    n: &NotifySettings,
    d: &DueRow,
) -> anyhow::Result<Outcome> {
    if !d.enabled {
        return Ok(Outcome::Failed("the channel is switched off".into()));
    }
    let rate = d.rate_per_hour.unwrap_or(30).max(1);
    let window: Vec<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT sent_at FROM notify_deliveries WHERE channel_id = $1 AND status = 'sent'
             AND sent_at > now() - interval '1 hour' ORDER BY sent_at",
    )
    .bind(d.channel_id)
    .fetch_all(&mut **tx)
    .await?;
    if window.len() >= rate as usize {
        let free = window[window.len() - rate as usize] + chrono::Duration::hours(1);
        return Ok(Outcome::Deferred(free));
    }
    let message: Message = match serde_json::from_value(d.message.clone()) {
        Ok(m) => m,
        Err(e) => return Ok(Outcome::Failed(format!("stored message unreadable: {e}"))),
    };
    let target: Target = match crate::secrets::sealer()
        .map_err(|e| e.to_string())
        .and_then(|s| s.open(&d.sealed, SEAL_CONTEXT).map_err(|e| e.to_string()))
        .and_then(|p| serde_json::from_str(&p).map_err(|e| e.to_string()))
    {
        Ok(t) => t,
        Err(e) => {
            return Ok(Outcome::Failed(format!(
                "the channel's address cannot be opened ({e}); was TRADERAI_SECRET_KEY changed?"
            )));
        }
    };
    let started = std::time::Instant::now();
    let result = sender.send(&target, &message, d.id).await;
    metrics::histogram!("traderai_notification_send_seconds", "channel" => target.kind().as_str())
        .record(started.elapsed().as_secs_f64());
    Ok(match result {
        Ok(()) => Outcome::Sent,
        Err(SendError::Retry { reason, after }) if d.attempts + 1 < n.max_attempts => {
            let wait = n.backoff(d.attempts + 1).max(after.unwrap_or_default());
            tracing::warn!(delivery = d.id, channel = d.channel_id, attempt = d.attempts + 1, error = %reason, retry_in_s = wait.as_secs_f64(), "notification not delivered; retrying");
            Outcome::Retry(Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default())
        }
        Err(e) => {
            tracing::warn!(delivery = d.id, channel = d.channel_id, error = %e, "notification failed");
            Outcome::Failed(e.to_string())
        }
    })
}

/// Fans out and delivers until `stop` (finishing the send in hand): woken
/// by each emitted event, and by the next retry coming due.
pub async fn run(
    pool: PgPool,
    settings: crate::config::Settings,
    n: NotifySettings,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let sender = match Sender::new(&n) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "the notifier cannot start");
            return;
        }
    };
    let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await.ok();
    if let Some(l) = listener.as_mut()
        && let Err(e) = l.listen(super::events::CHANNEL).await
    {
        tracing::warn!(error = %e, "notifier cannot LISTEN; polling instead");
        listener = None;
    }
    tracing::info!(channels = ?n.available().iter().map(|k| k.as_str()).collect::<Vec<_>>(), "notifier started");
    loop {
        if *stop.borrow() {
            return;
        }
        if let Err(e) = pass(&pool, &settings, &sender, &n, &stop).await {
            tracing::error!(error = %format!("{e:#}"), "notifier pass failed; retrying in 5 s");
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                _ = stop.changed() => return,
            }
            continue;
        }
        let wait = next_due(&pool).await.unwrap_or(Duration::from_secs(5));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            n = async {
                match listener.as_mut() {
                    Some(l) => l.try_recv().await.map(|_| ()),
                    None => std::future::pending().await,
                }
            } => {
                if n.is_err() {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            _ = stop.changed() => return,
        }
    }
}

/// Deliveries run four at a time: a slow channel holds one lane, not all.
const LANES: usize = 4;

async fn pass(
    pool: &PgPool,
    settings: &crate::config::Settings,
    sender: &Sender,
    n: &NotifySettings,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    while fan_out(pool, settings).await? > 0 {}
    let lane = || async {
        while !*stop.borrow() {
            if deliver_next(pool, sender, n).await?.is_none() {
                break;
            }
        }
        anyhow::Ok(())
    };
    let lanes: Vec<_> = (0..LANES).map(|_| lane()).collect();
    for r in futures::future::join_all(lanes).await {
        r?;
    }
    Ok(())
}

/// How long until the next pending delivery is due (at most 30 s).
async fn next_due(pool: &PgPool) -> Result<Duration, DbError> {
    let next: Option<DateTime<Utc>> =
        sqlx::query_scalar("SELECT min(next_at) FROM notify_deliveries WHERE status = 'pending'")
            .fetch_one(pool)
            .await?;
    let cap = Duration::from_secs(30);
    Ok(next.map_or(cap, |t| {
        (t - Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(cap)
            .max(Duration::from_millis(50))
    }))
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: i64,
    pub event_id: i64,
    pub kind: String,
    pub channel_kind: String,
    pub channel_hint: String,
    pub username: String,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub next_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// Failed deliveries and those still retrying after a failure, newest first (admins).
pub async fn troubles(pool: &PgPool, limit: i64) -> Result<Vec<DeliveryRow>, DbError> {
    Ok(sqlx::query_as(
        "SELECT d.id, d.event_id, e.kind, c.kind AS channel_kind, c.hint AS channel_hint, u.username,
                d.status, d.attempts, d.last_error, d.next_at, d.created_at
         FROM notify_deliveries d
         JOIN notify_events e ON e.id = d.event_id
         JOIN notify_channels c ON c.id = d.channel_id
         JOIN users u ON u.id = c.user_id
         WHERE d.status = 'failed' OR (d.status = 'pending' AND d.attempts > 0)
         ORDER BY d.id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// Counts by status, for health and metrics.
pub async fn counts(pool: &PgPool) -> Result<HashMap<String, i64>, DbError> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM notify_deliveries GROUP BY status")
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().collect())
}

impl ChannelRow {
    pub fn kind(&self) -> Option<ChannelKind> {
        ChannelKind::parse(&self.kind)
    }
}
