//! The five channel kinds: where a user's messages go (sealed at rest) and
//! how each protocol is spoken.

use super::message::Message;
use super::{NotifySettings, SmtpTls};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Telegram,
    Discord,
    Webhook,
    Sms,
    Email,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Telegram => "telegram",
            ChannelKind::Discord => "discord",
            ChannelKind::Webhook => "webhook",
            ChannelKind::Sms => "sms",
            ChannelKind::Email => "email",
        }
    }

    pub fn parse(s: &str) -> Option<ChannelKind> {
        [
            ChannelKind::Telegram,
            ChannelKind::Discord,
            ChannelKind::Webhook,
            ChannelKind::Sms,
            ChannelKind::Email,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// Where one channel delivers: what is sealed in `notify_channels.sealed`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    /// A chat linked with a one-time code (never typed in by hand).
    Telegram {
        chat_id: i64,
    },
    Discord {
        webhook_url: String,
    },
    /// Signed with HMAC-SHA256 under `secret` so the receiver can verify it.
    Webhook {
        url: String,
        secret: String,
    },
    /// E.164, e.g. +14155550100.
    Sms {
        to: String,
    },
    Email {
        to: String,
    },
}

// Addresses and tokens never reach a log through Debug.
impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Target({}, {})", self.kind().as_str(), self.hint())
    }
}

/// The field a bad address is in, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct BadTarget {
    pub field: &'static str,
    pub message: String,
}

fn bad(field: &'static str, message: impl Into<String>) -> BadTarget {
    BadTarget {
        field,
        message: message.into(),
    }
}

fn check_url(field: &'static str, s: &str) -> Result<reqwest::Url, BadTarget> {
    let u = reqwest::Url::parse(s).map_err(|e| bad(field, format!("not a URL ({e})")))?;
    match u.scheme() {
        "https" | "http" => Ok(u),
        other => Err(bad(field, format!("must be http(s), not {other}"))),
    }
}

impl Target {
    pub fn kind(&self) -> ChannelKind {
        match self {
            Target::Telegram { .. } => ChannelKind::Telegram,
            Target::Discord { .. } => ChannelKind::Discord,
            Target::Webhook { .. } => ChannelKind::Webhook,
            Target::Sms { .. } => ChannelKind::Sms,
            Target::Email { .. } => ChannelKind::Email,
        }
    }

    /// A bad address is refused when the channel is added, naming its field.
    pub fn validate(&self) -> Result<(), BadTarget> {
        match self {
            Target::Telegram { .. } => Ok(()),
            Target::Discord { webhook_url } => {
                let u = check_url("webhook_url", webhook_url)?;
                if !u.path().contains("/webhooks/") {
                    return Err(bad(
                        "webhook_url",
                        "a Discord webhook URL has /api/webhooks/<id>/<token> in it",
                    ));
                }
                Ok(())
            }
            Target::Webhook { url, secret } => {
                check_url("url", url)?;
                if secret.chars().count() < 16 {
                    return Err(bad("secret", "at least 16 characters"));
                }
                Ok(())
            }
            Target::Sms { to } => {
                let digits = to.strip_prefix('+').unwrap_or("");
                if digits.len() < 8
                    || digits.len() > 15
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                {
                    return Err(bad("to", "a phone number in E.164 form, e.g. +14155550100"));
                }
                Ok(())
            }
            Target::Email { to } => to
                .parse::<lettre::Address>()
                .map(|_| ())
                .map_err(|e| bad("to", format!("not an e-mail address ({e})"))),
        }
    }

    /// Enough to tell channels apart, never enough to use one.
    pub fn hint(&self) -> String {
        let tail = |s: &str, n: usize| {
            let c: Vec<char> = s.chars().collect();
            c[c.len().saturating_sub(n)..].iter().collect::<String>()
        };
        match self {
            Target::Telegram { chat_id } => format!("chat …{}", tail(&chat_id.to_string(), 4)),
            Target::Discord { webhook_url }
            | Target::Webhook {
                url: webhook_url, ..
            } => reqwest::Url::parse(webhook_url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_else(|| "?".into()),
            Target::Sms { to } => format!("…{}", tail(to, 4)),
            Target::Email { to } => match to.split_once('@') {
                Some((user, domain)) => {
                    format!("{}…@{domain}", user.chars().next().unwrap_or('?'))
                }
                None => "?".into(),
            },
        }
    }
}

/// Why a send did not go through.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SendError {
    /// Try again later (429, 5xx, a network error); `after` is the channel's own ask.
    #[error("{reason}")]
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// Trying again cannot help (a deleted webhook, a refused address, bad credentials).
    #[error("{0}")]
    Permanent(String),
    /// The installation has no such channel configured.
    #[error("{0}")]
    Unavailable(String),
}

/// The webhook signature header: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
pub const SIGNATURE_HEADER: &str = "X-TraderAI-Signature";
/// The event id, for receivers that deduplicate.
pub const EVENT_HEADER: &str = "X-TraderAI-Event";

pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// Speaks each channel's protocol.
#[derive(Clone)]
#[allow(missing_debug_implementations)] // holds credentials
pub struct Sender {
    http: reqwest::Client,
    settings: NotifySettings,
    smtp: Option<lettre::AsyncSmtpTransport<lettre::Tokio1Executor>>,
}

impl Sender {
    pub fn new(settings: &NotifySettings) -> Result<Sender, SendError> {
        let timeout = Duration::from_secs_f64(settings.send_timeout_s.max(0.1));
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("traderai/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SendError::Unavailable(format!("HTTP client: {e}")))?;
        let smtp = if settings.smtp.host.is_empty() {
            None
        } else {
            Some(smtp_transport(settings, timeout)?)
        };
        Ok(Sender {
            http,
            settings: settings.clone(),
            smtp,
        })
    }

    pub fn telegram(&self) -> super::telegram::Bot {
        super::telegram::Bot::new(self.http.clone(), &self.settings.telegram)
    }

    pub async fn send(&self, target: &Target, m: &Message, delivery: i64) -> Result<(), SendError> {
        match target {
            Target::Telegram { chat_id } => {
                if self.settings.telegram.bot_token.is_empty() {
                    return Err(SendError::Unavailable(
                        "no Telegram bot is configured".into(),
                    ));
                }
                self.telegram()
                    .send_message(*chat_id, &m.telegram(), true)
                    .await
            }
            Target::Discord { webhook_url } => {
                let r = self
                    .http
                    .post(webhook_url)
                    .query(&[("wait", "true")])
                    .json(&m.discord())
                    .send()
                    .await;
                answer(r, "discord").await
            }
            Target::Webhook { url, secret } => {
                let body = serde_json::to_vec(&m.webhook())
                    .map_err(|e| SendError::Permanent(e.to_string()))?;
                let t = chrono::Utc::now().timestamp();
                let r = self
                    .http
                    .post(url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .header(SIGNATURE_HEADER, sign(secret, t, &body))
                    .header(EVENT_HEADER, m.event_id.to_string())
                    .body(body)
                    .send()
                    .await;
                answer(r, "webhook").await
            }
            Target::Sms { to } => {
                let tw = &self.settings.twilio;
                if tw.account_sid.is_empty() || tw.auth_token.is_empty() {
                    return Err(SendError::Unavailable(
                        "no Twilio account is configured".into(),
                    ));
                }
                let url = format!(
                    "{}/2010-04-01/Accounts/{}/Messages.json",
                    tw.api_base.trim_end_matches('/'),
                    tw.account_sid
                );
                let r = self
                    .http
                    .post(url)
                    .basic_auth(&tw.account_sid, Some(&tw.auth_token))
                    .form(&[
                        ("To", to.as_str()),
                        ("From", tw.from.as_str()),
                        ("Body", &m.sms()),
                    ])
                    .send()
                    .await;
                answer(r, "twilio").await
            }
            Target::Email { to } => {
                let Some(smtp) = &self.smtp else {
                    return Err(SendError::Unavailable("no SMTP relay is configured".into()));
                };
                use lettre::AsyncTransport;
                let mail =
                    lettre::Message::builder()
                        .from(self.settings.smtp.from.parse().map_err(|e| {
                            SendError::Permanent(format!("[notify.smtp] from: {e}"))
                        })?)
                        .to(to
                            .parse()
                            .map_err(|e| SendError::Permanent(format!("to: {e}")))?)
                        .subject(format!("[TraderAI] {}", m.title))
                        // One id per delivery: a receiver can tell a resend from a new message.
                        .message_id(Some(format!("<delivery-{delivery}@traderai>")))
                        .header(lettre::message::header::ContentType::TEXT_PLAIN)
                        .body(m.plain())
                        .map_err(|e| SendError::Permanent(format!("e-mail: {e}")))?;
                match smtp.send(mail).await {
                    Ok(_) => Ok(()),
                    Err(e) if e.is_permanent() => Err(SendError::Permanent(format!("smtp: {e}"))),
                    Err(e) => Err(SendError::Retry {
                        reason: format!("smtp: {e}"),
                        after: None,
                    }),
                }
            }
        }
    }
}

fn smtp_transport(
    s: &NotifySettings,
    timeout: Duration,
) -> Result<lettre::AsyncSmtpTransport<lettre::Tokio1Executor>, SendError> {
    use lettre::AsyncSmtpTransport as T;
    let c = &s.smtp;
    let unavailable = |e: lettre::transport::smtp::Error| {
        SendError::Unavailable(format!("[notify.smtp] host {:?}: {e}", c.host))
    };
    let builder = match c.tls {
        SmtpTls::Tls => T::<lettre::Tokio1Executor>::relay(&c.host).map_err(unavailable)?,
        SmtpTls::Starttls => {
            T::<lettre::Tokio1Executor>::starttls_relay(&c.host).map_err(unavailable)?
        }
        SmtpTls::None => T::<lettre::Tokio1Executor>::builder_dangerous(&c.host),
    };
    let mut builder = builder.port(c.port).timeout(Some(timeout));
    if !c.username.is_empty() {
        builder = builder.credentials(lettre::transport::smtp::authentication::Credentials::new(
            c.username.clone(),
            c.password.clone(),
        ));
    }
    Ok(builder.build())
}

/// A channel's HTTP answer as a send outcome. 429 and 5xx are retried (the
/// wait the channel asks for is kept); other 4xx are not.
pub(super) async fn answer(
    r: Result<reqwest::Response, reqwest::Error>,
    what: &str,
) -> Result<(), SendError> {
    let r = r.map_err(|e| SendError::Retry {
        // Without the URL: a webhook's token is in it.
        reason: format!("{what}: {}", e.without_url()),
        after: None,
    })?;
    let status = r.status();
    if status.is_success() {
        return Ok(());
    }
    let header_after = r
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok());
    let body = r.text().await.unwrap_or_default();
    let json: Option<serde_json::Value> = serde_json::from_str(&body).ok();
    // Discord: {"retry_after": 1.5}; Telegram: {"parameters": {"retry_after": 3}}.
    let body_after = json.as_ref().and_then(|j| {
        j.get("retry_after")
            .or_else(|| j.pointer("/parameters/retry_after"))
            .and_then(serde_json::Value::as_f64)
    });
    let detail = json
        .as_ref()
        .and_then(|j| {
            j.get("description")
                .or_else(|| j.get("message"))
                .and_then(|v| v.as_str().map(str::to_owned))
        })
        .unwrap_or_else(|| super::message::truncate(&body, 200));
    let reason = format!("{what}: HTTP {} {detail}", status.as_u16());
    if status.as_u16() == 429 || status.is_server_error() {
        let after = header_after
            .or(body_after)
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| Duration::from_secs_f64(s.min(3600.0)));
        Err(SendError::Retry { reason, after })
    } else {
        Err(SendError::Permanent(reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_checked_field_by_field() {
        let d = Target::Discord {
            webhook_url: "https://discord.com/api/webhooks/1/abc".into(),
        };
        assert!(d.validate().is_ok());
        assert_eq!(d.hint(), "discord.com");
        assert_eq!(
            Target::Discord {
                webhook_url: "https://example.com/x".into()
            }
            .validate()
            .unwrap_err()
            .field,
            "webhook_url"
        );
        let w = Target::Webhook {
            url: "ftp://x".into(),
            secret: "0123456789abcdef".into(),
        };
        assert_eq!(w.validate().unwrap_err().field, "url");
        let w = Target::Webhook {
            url: "https://hooks.example.com/in".into(),
            secret: "short".into(),
        };
        assert_eq!(w.validate().unwrap_err().field, "secret");
        assert!(
            Target::Sms {
                to: "+14155550100".into()
            }
            .validate()
            .is_ok()
        );
        assert_eq!(
            Target::Sms {
                to: "4155550100".into()
            }
            .hint(),
            "…0100"
        );
        assert!(
            Target::Sms {
                to: "4155550100".into()
            }
            .validate()
            .is_err()
        );
        assert!(
            Target::Email {
                to: "ann@example.com".into()
            }
            .validate()
            .is_ok()
        );
        assert_eq!(
            Target::Email {
                to: "ann@example.com".into()
            }
            .hint(),
            "a…@example.com"
        );
        assert!(Target::Email { to: "ann".into() }.validate().is_err());
    }

    #[test]
    fn debug_never_shows_the_address() {
        let w = Target::Webhook {
            url: "https://hooks.example.com/secret-path".into(),
            secret: "s3cr3t-s3cr3t-s3cr3t".into(),
        };
        let d = format!("{w:?}");
        assert!(!d.contains("secret-path") && !d.contains("s3cr3t"), "{d}");
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_time_and_body() {
        // Python's hmac.new(b"Jefe", b"0.what do ya want for nothing?", sha256).
        assert_eq!(
            sign("Jefe", 0, b"what do ya want for nothing?"),
            "t=0,v1=37f471929915ccd2cbbe79feb84ffcff4f2bb25e15fc41c2506687331ae179cc"
        );
        assert_ne!(sign("Jefe", 1, b"x"), sign("Jefe", 2, b"x"));
    }
}
