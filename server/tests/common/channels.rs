//! Local servers that speak each notification protocol: the Telegram Bot
//! API (sendMessage, getUpdates long poll), a Discord webhook, Twilio's
//! Messages API, a webhook receiver that verifies our HMAC signature, and
//! an SMTP server. Each records what it accepted; a script of statuses
//! makes a channel fail (429 with its Retry-After, 5xx, 4xx) before it accepts.
#![allow(dead_code)]

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use hmac::Mac;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

pub const BOT_TOKEN: &str = "123456:AAbot-token-not-for-logs";
pub const TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const TWILIO_TOKEN: &str = "twilio-auth-token-not-for-logs";
pub const DISCORD_PATH: &str = "/api/webhooks/42/discord-token-not-for-logs";
pub const HOOK_SECRET: &str = "hook-secret-not-for-logs-0123";

/// What a channel accepted.
#[derive(Debug, Clone)]
pub struct Received {
    pub channel: &'static str,
    pub body: Value,
}

#[derive(Default)]
pub struct Inner {
    pub received: Vec<Received>,
    /// Requests refused by the script, per channel.
    pub refused: HashMap<&'static str, usize>,
    /// Statuses to answer before accepting, per channel.
    pub script: HashMap<&'static str, VecDeque<u16>>,
    /// Telegram updates not yet fetched.
    pub updates: Vec<Value>,
    pub next_update: i64,
}

#[derive(Clone, Default)]
pub struct Channels(pub Arc<Mutex<Inner>>);

impl Channels {
    pub fn received(&self, channel: &str) -> Vec<Value> {
        let g = self.0.lock().unwrap();
        g.received
            .iter()
            .filter(|r| r.channel == channel)
            .map(|r| r.body.clone())
            .collect()
    }

    pub fn refused(&self, channel: &'static str) -> usize {
        self.0
            .lock()
            .unwrap()
            .refused
            .get(channel)
            .copied()
            .unwrap_or(0)
    }

    pub fn fail_first(&self, channel: &'static str, statuses: &[u16]) {
        self.0
            .lock()
            .unwrap()
            .script
            .insert(channel, statuses.iter().copied().collect());
    }

    /// Queues a message from a Telegram chat, as getUpdates returns it.
    pub fn telegram_says(&self, chat_id: i64, text: &str) {
        let mut g = self.0.lock().unwrap();
        g.next_update += 1;
        let id = 1000 + g.next_update;
        g.updates.push(json!({
            "update_id": id,
            "message": {
                "message_id": id, "date": 1764669600, "text": text,
                "from": { "id": chat_id, "is_bot": false, "first_name": "Ann" },
                "chat": { "id": chat_id, "type": "private", "first_name": "Ann" },
            }
        }));
    }

    /// Telegram messages sent to `chat_id`, oldest first.
    pub fn telegram_to(&self, chat_id: i64) -> Vec<String> {
        self.received("telegram")
            .into_iter()
            .filter(|b| b["chat_id"] == chat_id)
            .map(|b| b["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    fn scripted(&self, channel: &'static str) -> Option<u16> {
        let mut g = self.0.lock().unwrap();
        let s = g.script.get_mut(channel).and_then(VecDeque::pop_front);
        if s.is_some() {
            *g.refused.entry(channel).or_default() += 1;
        }
        s
    }

    fn record(&self, channel: &'static str, body: Value) {
        self.0
            .lock()
            .unwrap()
            .received
            .push(Received { channel, body });
    }
}

/// The refusal each service sends for `status`.
fn refusal(channel: &str, status: u16) -> Response {
    let code = StatusCode::from_u16(status).unwrap();
    match (channel, status) {
        ("telegram", 429) => (
            code,
            Json(json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 1", "parameters": {"retry_after": 1}})),
        )
            .into_response(),
        ("telegram", _) => (
            code,
            Json(json!({"ok": false, "error_code": status, "description": "Bad Request: chat not found"})),
        )
            .into_response(),
        ("discord", 429) => (
            code,
            [("retry-after", "0.2")],
            Json(json!({"message": "You are being rate limited.", "retry_after": 0.2, "global": false})),
        )
            .into_response(),
        ("twilio", _) => (
            code,
            Json(json!({"code": 20500, "message": "Internal Server Error", "more_info": "https://www.twilio.com/docs/errors/20500", "status": status})),
        )
            .into_response(),
        _ => (code, Json(json!({"message": "refused"}))).into_response(),
    }
}

async fn telegram(
    State(c): State<Channels>,
    Path((bot, method)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Response {
    if bot != format!("bot{BOT_TOKEN}") {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"ok": false, "error_code": 401, "description": "Unauthorized"})),
        )
            .into_response();
    }
    match method.as_str() {
        "sendMessage" => {
            if let Some(s) = c.scripted("telegram") {
                return refusal("telegram", s);
            }
            if body["parse_mode"] == "MarkdownV2"
                && !markdown_v2_ok(body["text"].as_str().unwrap_or(""))
            {
                return refusal("telegram", 400);
            }
            c.record("telegram", body.clone());
            Json(json!({"ok": true, "result": {"message_id": 1, "date": 1764669600, "chat": {"id": body["chat_id"], "type": "private"}, "text": body["text"]}})).into_response()
        }
        "getUpdates" => {
            let offset = body["offset"].as_i64().unwrap_or(0);
            let timeout = body["timeout"].as_u64().unwrap_or(0).min(2);
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(timeout);
            loop {
                let ready: Vec<Value> = {
                    let g = c.0.lock().unwrap();
                    g.updates
                        .iter()
                        .filter(|u| u["update_id"].as_i64().unwrap_or(0) >= offset)
                        .cloned()
                        .collect()
                };
                if !ready.is_empty() || tokio::time::Instant::now() >= deadline {
                    return Json(json!({"ok": true, "result": ready})).into_response();
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
        _ => (
            StatusCode::NOT_FOUND,
            Json(json!({"ok": false, "error_code": 404, "description": "Not Found"})),
        )
            .into_response(),
    }
}

/// Telegram refuses MarkdownV2 text with an unescaped reserved character
/// outside code spans: check the way the Bot API does.
fn markdown_v2_ok(text: &str) -> bool {
    let mut chars = text.chars();
    let mut in_code = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '`' => in_code = !in_code,
            '*' if !in_code => {}
            '_' | '[' | ']' | '(' | ')' | '~' | '>' | '#' | '+' | '-' | '=' | '|' | '{' | '}'
            | '.' | '!'
                if !in_code =>
            {
                return false;
            }
            _ => {}
        }
    }
    !in_code
}

async fn discord(State(c): State<Channels>, Json(body): Json<Value>) -> Response {
    if let Some(s) = c.scripted("discord") {
        return refusal("discord", s);
    }
    c.record("discord", body.clone());
    Json(json!({"id": "1", "type": 0, "embeds": body["embeds"]})).into_response()
}

async fn twilio(
    State(c): State<Channels>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    use base64::Engine;
    let want = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{TWILIO_SID}:{TWILIO_TOKEN}"))
    );
    if sid != TWILIO_SID
        || headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&want)
    {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"code": 20003, "message": "Authenticate", "status": 401})),
        )
            .into_response();
    }
    if let Some(s) = c.scripted("twilio") {
        return refusal("twilio", s);
    }
    let form: HashMap<String, String> = serde_urlencoded::from_str(&body).unwrap_or_default();
    let v = json!({"To": form.get("To"), "From": form.get("From"), "Body": form.get("Body")});
    c.record("twilio", v);
    (
        StatusCode::CREATED,
        Json(json!({"sid": "SM0123", "status": "queued", "to": form.get("To")})),
    )
        .into_response()
}

async fn hook(State(c): State<Channels>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let sig = headers
        .get("x-traderai-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let parts: HashMap<&str, &str> = sig.split(',').filter_map(|p| p.split_once('=')).collect();
    let t = parts.get("t").copied().unwrap_or("");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(HOOK_SECRET.as_bytes()).unwrap();
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(&body);
    let ok = parts
        .get("v1")
        .and_then(|h| hex::decode(h).ok())
        .is_some_and(|h| mac.verify_slice(&h).is_ok());
    let fresh = t
        .parse::<i64>()
        .is_ok_and(|t| (chrono::Utc::now().timestamp() - t).abs() < 300);
    if !ok || !fresh {
        return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
    }
    if let Some(s) = c.scripted("webhook") {
        return refusal("webhook", s);
    }
    let mut v: Value = serde_json::from_slice(&body).unwrap();
    v["_event_header"] = headers
        .get("x-traderai-event")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .into();
    c.record("webhook", v);
    StatusCode::NO_CONTENT.into_response()
}

/// An SMTP server: EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT. Accepted mails
/// are recorded as {from, to, headers…, body}.
async fn smtp(c: Channels, listener: tokio::net::TcpListener) {
    loop {
        let Ok((sock, _)) = listener.accept().await else {
            return;
        };
        let c = c.clone();
        tokio::spawn(async move {
            let (r, mut w) = sock.into_split();
            let mut lines = BufReader::new(r).lines();
            let _ = w.write_all(b"220 mock.smtp ESMTP ready\r\n").await;
            let (mut from, mut to) = (String::new(), Vec::<String>::new());
            while let Ok(Some(line)) = lines.next_line().await {
                let upper = line.to_ascii_uppercase();
                let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                    b"250-mock.smtp\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
                } else if upper.starts_with("MAIL FROM:") {
                    from = line[10..].trim().to_owned();
                    b"250 2.1.0 OK\r\n"
                } else if upper.starts_with("RCPT TO:") {
                    to.push(line[8..].trim().to_owned());
                    b"250 2.1.5 OK\r\n"
                } else if upper == "DATA" {
                    let _ = w
                        .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                        .await;
                    let mut data = Vec::new();
                    while let Ok(Some(l)) = lines.next_line().await {
                        if l == "." {
                            break;
                        }
                        data.push(l.strip_prefix('.').map(str::to_owned).unwrap_or(l));
                    }
                    if let Some(s) = c.scripted("email") {
                        let msg = format!("{s} 4.3.0 try again later\r\n");
                        let _ = w.write_all(msg.as_bytes()).await;
                        continue;
                    }
                    let text = data.join("\n");
                    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
                    let mut v = json!({"from": from, "to": to, "body": body});
                    for h in head.lines() {
                        if let Some((k, val)) = h.split_once(':') {
                            v[k.trim().to_ascii_lowercase()] = val.trim().into();
                        }
                    }
                    c.record("email", v);
                    b"250 2.0.0 queued\r\n"
                } else if upper.starts_with("RSET") || upper.starts_with("NOOP") {
                    from.clear();
                    to.clear();
                    b"250 2.0.0 OK\r\n"
                } else if upper.starts_with("QUIT") {
                    let _ = w.write_all(b"221 2.0.0 bye\r\n").await;
                    return;
                } else {
                    b"502 5.5.2 command not recognised\r\n"
                };
                if w.write_all(reply).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// Starts the HTTP services and the SMTP server: (HTTP base URL, SMTP port).
pub async fn start() -> (Channels, String, u16) {
    let c = Channels::default();
    let app = Router::new()
        .route("/tg/{bot}/{method}", post(telegram))
        .route(DISCORD_PATH, post(discord))
        .route("/2010-04-01/Accounts/{sid}/Messages.json", post(twilio))
        .route("/hook", post(hook))
        .with_state(c.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    let s = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = s.local_addr().unwrap().port();
    tokio::spawn(smtp(c.clone(), s));
    (c, format!("http://{addr}"), port)
}

/// Notification settings pointing at these servers, with fast retries.
pub fn settings(base: &str, smtp_port: u16) -> server::config::Settings {
    use server::notify::*;
    let mut s = server::config::Settings::default();
    s.signals.htf = server::config::HtfGate::Off;
    s.follow.enabled = false;
    s.notify = NotifySettings {
        enabled: true,
        max_attempts: 4,
        backoff_base_s: 0.05,
        backoff_max_s: 0.3,
        send_timeout_s: 3.0,
        telegram: TelegramSettings {
            bot_token: BOT_TOKEN.into(),
            api_base: format!("{base}/tg"),
            poll_timeout_s: 1,
        },
        twilio: TwilioSettings {
            account_sid: TWILIO_SID.into(),
            auth_token: TWILIO_TOKEN.into(),
            from: "+15005550006".into(),
            api_base: base.into(),
        },
        smtp: SmtpSettings {
            host: "127.0.0.1".into(),
            port: smtp_port,
            tls: SmtpTls::None,
            username: String::new(),
            password: String::new(),
            from: "TraderAI <traderai@localhost>".into(),
        },
    };
    s
}

/// The same as a TOML file, for the `traderai` binary.
pub fn settings_toml(base: &str, smtp_port: u16) -> String {
    format!(
        r#"[follow]
enabled = false
[signals]
htf = "off"
[notify]
max_attempts = 4
backoff_base_s = 0.05
backoff_max_s = 0.3
send_timeout_s = 3.0
[notify.telegram]
bot_token = "{BOT_TOKEN}"
api_base = "{base}/tg"
poll_timeout_s = 1
[notify.twilio]
account_sid = "{TWILIO_SID}"
auth_token = "{TWILIO_TOKEN}"
from = "+15005550006"
api_base = "{base}"
[notify.smtp]
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
"#
    )
}
