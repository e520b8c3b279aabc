//! Notifications: events written beside their causes (an outbox), fanned
//! out to each user's channels, delivered with retries; Telegram commands;
//! the daily summary. A channel that fails never holds up what emitted the
//! event: emitting is one insert in the cause's own transaction.

pub mod channels;
pub mod compose;
pub mod daily;
pub mod events;
pub mod message;
pub mod outbox;
pub mod prefs;
pub mod telegram;

pub use events::{Event, EventKind, emit};

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifySettings {
    /// Run the notifier in `serve` and `worker` (events are recorded either way).
    pub enabled: bool,
    /// Tries per delivery before it is marked failed (shown to admins).
    pub max_attempts: i32,
    /// Backoff after the n-th failure: base × 2^(n−1), at most max (a
    /// channel's Retry-After wins when it asks for longer).
    pub backoff_base_s: f64,
    pub backoff_max_s: f64,
    /// One send's time limit.
    pub send_timeout_s: f64,
    pub telegram: TelegramSettings,
    pub twilio: TwilioSettings,
    pub smtp: SmtpSettings,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            enabled: true,
            max_attempts: 8,
            backoff_base_s: 2.0,
            backoff_max_s: 600.0,
            send_timeout_s: 10.0,
            telegram: TelegramSettings::default(),
            twilio: TwilioSettings::default(),
            smtp: SmtpSettings::default(),
        }
    }
}

/// The installation's bot: users link their chats to it with a code.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelegramSettings {
    /// From @BotFather; TRADERAI_TELEGRAM_BOT_TOKEN overrides it. Empty: no Telegram.
    pub bot_token: String,
    pub api_base: String,
    /// getUpdates long-poll timeout.
    pub poll_timeout_s: u64,
}

impl Default for TelegramSettings {
    fn default() -> Self {
        TelegramSettings {
            bot_token: String::new(),
            api_base: "https://api.telegram.org".into(),
            poll_timeout_s: 30,
        }
    }
}

/// Twilio's Messages API for SMS; users give only their number.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TwilioSettings {
    pub account_sid: String,
    /// TRADERAI_TWILIO_AUTH_TOKEN overrides it.
    pub auth_token: String,
    /// The sending number (E.164) or messaging service.
    pub from: String,
    pub api_base: String,
}

impl Default for TwilioSettings {
    fn default() -> Self {
        TwilioSettings {
            account_sid: String::new(),
            auth_token: String::new(),
            from: String::new(),
            api_base: "https://api.twilio.com".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// TLS from the first byte (port 465).
    Tls,
    /// STARTTLS after connecting (port 587), required.
    Starttls,
    /// Plain text: a relay on localhost only.
    None,
}

/// The SMTP relay e-mail goes through; users give only their address.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpSettings {
    /// Empty: no e-mail.
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: String,
    /// TRADERAI_SMTP_PASSWORD overrides it.
    pub password: String,
    pub from: String,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        SmtpSettings {
            host: String::new(),
            port: 587,
            tls: SmtpTls::Starttls,
            username: String::new(),
            password: String::new(),
            from: "TraderAI <traderai@localhost>".into(),
        }
    }
}

impl NotifySettings {
    /// Secrets from the environment win over the file (so the file can be shared).
    pub fn with_env(mut self) -> NotifySettings {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if let Some(v) = var("TRADERAI_TELEGRAM_BOT_TOKEN") {
            self.telegram.bot_token = v;
        }
        if let Some(v) = var("TRADERAI_TWILIO_AUTH_TOKEN") {
            self.twilio.auth_token = v;
        }
        if let Some(v) = var("TRADERAI_SMTP_PASSWORD") {
            self.smtp.password = v;
        }
        self
    }

    /// Which kinds of channel this installation can deliver to.
    pub fn available(&self) -> Vec<channels::ChannelKind> {
        use channels::ChannelKind::*;
        let mut v = vec![Discord, Webhook];
        if !self.telegram.bot_token.is_empty() {
            v.insert(0, Telegram);
        }
        if !self.twilio.account_sid.is_empty() && !self.twilio.auth_token.is_empty() {
            v.push(Sms);
        }
        if !self.smtp.host.is_empty() {
            v.push(Email);
        }
        v
    }

    pub fn backoff(&self, attempts: i32) -> std::time::Duration {
        let n = attempts.clamp(1, 30) - 1;
        let s = (self.backoff_base_s * 2f64.powi(n)).min(self.backoff_max_s);
        std::time::Duration::from_secs_f64(s.max(0.0))
    }
}

/// The notifier's tasks until `stop`: fan-out and delivery, the daily
/// summaries, and (with a bot token) the Telegram command poller. Several
/// processes may run them: rows are claimed with SKIP LOCKED, one poller
/// holds Telegram's updates through an advisory lock.
pub fn start(
    pool: &sqlx::PgPool,
    settings: &crate::config::Settings,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let n = settings.notify.clone().with_env();
    if !n.enabled {
        tracing::info!("[notify] enabled = false: events are recorded, nothing is sent");
        return Vec::new();
    }
    let mut tasks = vec![
        tokio::spawn(outbox::run(
            pool.clone(),
            settings.clone(),
            n.clone(),
            stop.clone(),
        )),
        tokio::spawn(daily::run(pool.clone(), stop.clone())),
    ];
    if !n.telegram.bot_token.is_empty() {
        tasks.push(tokio::spawn(telegram::poll(
            pool.clone(),
            settings.clone(),
            n,
            stop.clone(),
        )));
    }
    tasks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let s = NotifySettings::default();
        assert_eq!(s.backoff(1).as_secs_f64(), 2.0);
        assert_eq!(s.backoff(3).as_secs_f64(), 8.0);
        assert_eq!(s.backoff(20).as_secs_f64(), 600.0);
    }
}
