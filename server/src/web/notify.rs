//! Notification settings for the API and the pages.

use super::backend::PgBackend;
use crate::notify::channels::{ChannelKind, Target};
use crate::notify::outbox::{self, ChannelRow};
use crate::notify::prefs::{self, Prefs, format_hhmm, parse_hhmm};
use crate::notify::{EventKind, NotifySettings};
use app::types::*;

fn db_err(e: impl std::fmt::Display) -> AppError {
    tracing::error!(error = %e, "notify: database call failed");
    AppError::unavailable()
}

fn channel_view(c: ChannelRow) -> ChannelView {
    ChannelView {
        id: c.id,
        kind: c.kind,
        hint: c.hint,
        enabled: c.enabled,
        created_at: c.created_at.to_rfc3339(),
    }
}

impl PgBackend {
    fn notify(&self) -> NotifySettings {
        self.config().notify.clone().with_env()
    }

    pub(super) async fn notify_view(&self, v: &Viewer) -> Result<NotifySettingsView, AppError> {
        let pool = self.pool();
        let channels = outbox::channels_of(pool, v.id).await.map_err(db_err)?;
        let p = prefs::load(pool, v.id, v.is_admin())
            .await
            .map_err(db_err)?;
        let (linked, code) = crate::notify::telegram::link_state(pool, v.id)
            .await
            .map_err(db_err)?;
        Ok(NotifySettingsView {
            channels: channels.into_iter().map(channel_view).collect(),
            prefs: NotifyPrefsView {
                events: p.events.iter().map(|k| k.as_str().to_owned()).collect(),
                quiet_from: p.quiet.map(|q| format_hhmm(q.0)),
                quiet_to: p.quiet.map(|q| format_hhmm(q.1)),
                timezone: p.timezone.name().to_owned(),
                daily_at: p.daily_at.map(format_hhmm),
                rate_per_hour: p.rate_per_hour,
            },
            event_kinds: EventKind::SUBSCRIBABLE
                .into_iter()
                .filter(|k| v.is_admin() || !k.admin_only())
                .map(|k| k.as_str().to_owned())
                .collect(),
            available: self
                .notify()
                .available()
                .iter()
                .map(|k| k.as_str().to_owned())
                .collect(),
            telegram_linked: linked,
            telegram_code: code.as_ref().map(|c| c.0.clone()),
            telegram_code_expires: code.map(|c| c.1.to_rfc3339()),
        })
    }

    pub(super) async fn save_prefs(
        &self,
        v: &Viewer,
        p: NotifyPrefsView,
    ) -> Result<NotifySettingsView, AppError> {
        let mut events = Vec::new();
        for e in &p.events {
            match EventKind::parse(e) {
                Some(k) if EventKind::SUBSCRIBABLE.contains(&k) => {
                    if k.admin_only() && !v.is_admin() {
                        return Err(AppError::invalid("events", format!("{e} is for admins")));
                    }
                    if !events.contains(&k) {
                        events.push(k);
                    }
                }
                _ => {
                    return Err(AppError::invalid(
                        "events",
                        format!("unknown event kind {e:?}"),
                    ));
                }
            }
        }
        let hhmm = |field: &str, s: &Option<String>| -> Result<Option<u16>, AppError> {
            match s.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                None => Ok(None),
                Some(t) => parse_hhmm(t)
                    .map(Some)
                    .ok_or_else(|| AppError::invalid(field, format!("{t:?} is not a time HH:MM"))),
            }
        };
        let quiet = match (
            hhmm("quiet_from", &p.quiet_from)?,
            hhmm("quiet_to", &p.quiet_to)?,
        ) {
            (Some(a), Some(b)) if a == b => {
                return Err(AppError::invalid(
                    "quiet_to",
                    "quiet hours must end at another time than they start",
                ));
            }
            (Some(a), Some(b)) => Some((a, b)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(AppError::invalid(
                    "quiet_to",
                    "give both ends of the quiet hours, or neither",
                ));
            }
            (None, Some(_)) => {
                return Err(AppError::invalid(
                    "quiet_from",
                    "give both ends of the quiet hours, or neither",
                ));
            }
        };
        let timezone = p.timezone.trim().parse::<chrono_tz::Tz>().map_err(|_| {
            AppError::invalid(
                "timezone",
                format!(
                    "{:?} is not an IANA time zone (e.g. Europe/Berlin)",
                    p.timezone
                ),
            )
        })?;
        if !(1..=1000).contains(&p.rate_per_hour) {
            return Err(AppError::invalid(
                "rate_per_hour",
                "from 1 to 1000 messages per hour",
            ));
        }
        let prefs = Prefs {
            events,
            quiet,
            timezone,
            daily_at: hhmm("daily_at", &p.daily_at)?,
            rate_per_hour: p.rate_per_hour,
        };
        prefs::save(self.pool(), v.id, &prefs)
            .await
            .map_err(db_err)?;
        self.notify_view(v).await
    }

    pub(super) async fn new_channel(
        &self,
        v: &Viewer,
        c: NewChannel,
    ) -> Result<ChannelView, AppError> {
        let t = match c {
            NewChannel::Discord { webhook_url } => Target::Discord {
                webhook_url: webhook_url.trim().to_owned(),
            },
            NewChannel::Webhook { url, secret } => Target::Webhook {
                url: url.trim().to_owned(),
                secret,
            },
            NewChannel::Sms { to } => Target::Sms {
                to: to
                    .chars()
                    .filter(|c| !c.is_whitespace() && *c != '-')
                    .collect(),
            },
            NewChannel::Email { to } => Target::Email {
                to: to.trim().to_owned(),
            },
        };
        t.validate()
            .map_err(|e| AppError::invalid(e.field, e.message))?;
        if !self.notify().available().contains(&t.kind()) {
            // A valid request this installation cannot serve: a conflict with its setup.
            return Err(AppError::new(
                ErrorCode::Conflict,
                match t.kind() {
                    ChannelKind::Sms => "this installation has no Twilio account ([notify.twilio])",
                    ChannelKind::Email => "this installation has no SMTP relay ([notify.smtp])",
                    _ => "this installation does not offer that channel",
                },
            ));
        }
        let row = outbox::add_channel(self.pool(), v.id, &t)
            .await
            .map_err(|e| match e.downcast_ref::<crate::secrets::SecretError>() {
                Some(s) => AppError::new(ErrorCode::Unavailable, s.to_string()),
                None => db_err(e),
            })?;
        tracing::info!(user = %v.username, kind = t.kind().as_str(), hint = %row.hint, "notification channel added");
        Ok(channel_view(row))
    }

    async fn own_channel(&self, v: &Viewer, id: i64) -> Result<ChannelRow, AppError> {
        outbox::channel(self.pool(), id)
            .await
            .map_err(db_err)?
            .filter(|c| c.user_id == v.id)
            .ok_or_else(|| AppError::not_found(format!("notification channel {id}")))
    }

    pub(super) async fn drop_channel(&self, v: &Viewer, id: i64) -> Result<(), AppError> {
        self.own_channel(v, id).await?;
        outbox::remove_channel(self.pool(), v.id, id)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    pub(super) async fn queue_test(&self, v: &Viewer, id: i64) -> Result<TestQueued, AppError> {
        let c = self.own_channel(v, id).await?;
        let event_id = outbox::test_channel(self.pool(), &c)
            .await
            .map_err(db_err)?;
        Ok(TestQueued { event_id })
    }

    pub(super) async fn link_code(&self, v: &Viewer) -> Result<TelegramCode, AppError> {
        if self.notify().telegram.bot_token.is_empty() {
            return Err(AppError::new(
                ErrorCode::Conflict,
                "this installation has no Telegram bot ([notify.telegram] bot_token)",
            ));
        }
        let (code, expires) = crate::notify::telegram::new_code(self.pool(), v.id)
            .await
            .map_err(db_err)?;
        Ok(TelegramCode {
            code,
            expires: expires.to_rfc3339(),
        })
    }

    pub(super) async fn troubles(&self, v: &Viewer) -> Result<Vec<DeliveryView>, AppError> {
        if !v.is_admin() {
            return Err(AppError::forbidden());
        }
        Ok(outbox::troubles(self.pool(), 100)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|d| DeliveryView {
                id: d.id,
                event_id: d.event_id,
                event: d.kind,
                channel: format!("{} {}", d.channel_kind, d.channel_hint),
                username: d.username,
                status: d.status,
                attempts: d.attempts,
                last_error: d.last_error,
                next_at: d.next_at.to_rfc3339(),
                created_at: d.created_at.to_rfc3339(),
            })
            .collect())
    }
}
