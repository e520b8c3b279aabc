//! Notification settings as the Settings page and the API show them: a
//! user's channels (never their addresses), events, quiet hours, the daily
//! summary, and the Telegram link; delivery troubles for admins.

use serde::{Deserialize, Serialize};

/// One channel: its kind and a hint to tell it apart (never the address).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ChannelView {
    pub id: i64,
    /// telegram, discord, webhook, sms, email
    pub kind: String,
    pub hint: String,
    pub enabled: bool,
    pub created_at: String,
}

/// A new channel. Telegram is not added here: link a chat with a code.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NewChannel {
    /// A Discord webhook URL (…/api/webhooks/<id>/<token>).
    Discord {
        #[cfg_attr(
            feature = "ssr",
            schema(pattern = "^https?://[A-Za-z0-9.-]+(:[0-9]{1,4})?/([^ ]*/)?webhooks/[^ ]+$")
        )]
        webhook_url: String,
    },
    /// A JSON POST signed `X-TraderAI-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
    Webhook {
        #[cfg_attr(
            feature = "ssr",
            schema(pattern = "^https?://[A-Za-z0-9.-]+(:[0-9]{1,4})?(/[^ ]*)?$")
        )]
        url: String,
        #[cfg_attr(feature = "ssr", schema(min_length = 16, write_only))]
        secret: String,
    },
    /// A phone number in E.164 form.
    Sms {
        #[cfg_attr(feature = "ssr", schema(pattern = "^\\+[0-9]{8,15}$"))]
        to: String,
    },
    Email {
        #[cfg_attr(feature = "ssr", schema(format = Email))]
        to: String,
    },
}

impl std::fmt::Debug for NewChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            NewChannel::Discord { .. } => "discord",
            NewChannel::Webhook { .. } => "webhook",
            NewChannel::Sms { .. } => "sms",
            NewChannel::Email { .. } => "email",
        };
        write!(f, "NewChannel({kind})")
    }
}

/// The event kinds a user can choose (admins: all of them).
#[cfg(feature = "ssr")]
#[derive(Debug, utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum EventName {
    Signal,
    PaperFill,
    TakeProfit,
    StopLoss,
    PaperClose,
    Halt,
    KillSwitch,
    JobFailed,
    Drift,
    Registry,
    Stale,
}

/// What a user hears about and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NotifyPrefsView {
    /// Event kinds: signal, paper_fill, take_profit, stop_loss, paper_close,
    /// halt, kill_switch, and for admins job_failed, drift, registry, stale.
    #[cfg_attr(feature = "ssr", schema(value_type = Vec<EventName>))]
    pub events: Vec<String>,
    /// "HH:MM" local; both or neither. Held messages go out when they end
    /// (halts and the kill switch are never held).
    #[cfg_attr(
        feature = "ssr",
        schema(pattern = "^(([01][0-9]|2[0-3]):[0-5][0-9])?$")
    )]
    pub quiet_from: Option<String>,
    #[cfg_attr(
        feature = "ssr",
        schema(pattern = "^(([01][0-9]|2[0-3]):[0-5][0-9])?$")
    )]
    pub quiet_to: Option<String>,
    /// An IANA zone, e.g. Europe/Berlin.
    pub timezone: String,
    /// "HH:MM" local for the daily summary; none: no summary.
    #[cfg_attr(
        feature = "ssr",
        schema(pattern = "^(([01][0-9]|2[0-3]):[0-5][0-9])?$")
    )]
    pub daily_at: Option<String>,
    /// Messages per channel per hour (1–1000).
    #[cfg_attr(feature = "ssr", schema(minimum = 1, maximum = 1000))]
    pub rate_per_hour: i32,
}

/// A user's notification settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NotifySettingsView {
    pub channels: Vec<ChannelView>,
    pub prefs: NotifyPrefsView,
    /// The event kinds this user may choose from.
    pub event_kinds: Vec<String>,
    /// Channel kinds this installation can deliver to.
    pub available: Vec<String>,
    pub telegram_linked: bool,
    /// An unexpired link code, and when it expires.
    pub telegram_code: Option<String>,
    pub telegram_code_expires: Option<String>,
}

/// A code to send to the bot as `/link CODE`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TelegramCode {
    pub code: String,
    pub expires: String,
}

/// A queued test message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TestQueued {
    pub event_id: i64,
}

/// A delivery that failed, or is retrying after a failure (admins).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DeliveryView {
    pub id: i64,
    pub event_id: i64,
    pub event: String,
    pub channel: String,
    pub username: String,
    /// failed, or pending (retrying)
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub next_at: String,
    pub created_at: String,
}
