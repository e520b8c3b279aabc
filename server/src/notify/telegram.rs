//! Telegram: the Bot API client, linking a chat to a user with a one-time
//! code, and the commands a linked user can send.

use super::channels::{SendError, Target, answer};
use super::{NotifySettings, TelegramSettings};
use crate::db::DbError;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use sqlx::PgPool;
use std::time::Duration;

#[derive(Clone)]
#[allow(missing_debug_implementations)] // the base URL holds the token
pub struct Bot {
    http: reqwest::Client,
    base: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Update {
    pub update_id: i64,
    pub message: Option<IncomingMessage>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IncomingMessage {
    pub chat: Chat,
    pub text: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Chat {
    pub id: i64,
}

#[derive(Debug, Deserialize)]
struct Reply<T> {
    ok: bool,
    result: Option<T>,
    description: Option<String>,
}

impl Bot {
    pub fn new(http: reqwest::Client, s: &TelegramSettings) -> Bot {
        Bot {
            http,
            base: format!("{}/bot{}", s.api_base.trim_end_matches('/'), s.bot_token),
        }
    }

    /// `sendMessage`; `markdown` sends MarkdownV2 (the text must be escaped).
    pub async fn send_message(
        &self,
        chat_id: i64,
        text: &str,
        markdown: bool,
    ) -> Result<(), SendError> {
        let mut body = serde_json::json!({
            "chat_id": chat_id,
            "text": super::message::truncate(text, 4096),
            "link_preview_options": { "is_disabled": true },
        });
        if markdown {
            body["parse_mode"] = "MarkdownV2".into();
        }
        let r = self
            .http
            .post(format!("{}/sendMessage", self.base))
            .json(&body)
            .send()
            .await;
        answer(r, "telegram").await
    }

    /// `getUpdates` long poll from `offset`.
    pub async fn updates(&self, offset: i64, timeout_s: u64) -> Result<Vec<Update>, SendError> {
        let r = self
            .http
            .post(format!("{}/getUpdates", self.base))
            .timeout(Duration::from_secs(timeout_s + 10))
            .json(&serde_json::json!({ "offset": offset, "timeout": timeout_s, "allowed_updates": ["message"] }))
            .send()
            .await
            .map_err(|e| SendError::Retry {
                reason: format!("telegram: {}", e.without_url()),
                after: None,
            })?;
        let status = r.status();
        let reply: Reply<Vec<Update>> = r.json().await.map_err(|e| SendError::Retry {
            reason: format!("telegram: HTTP {status}: {}", e.without_url()),
            after: None,
        })?;
        match (reply.ok, reply.result) {
            (true, Some(v)) => Ok(v),
            _ => Err(SendError::Retry {
                reason: format!(
                    "telegram getUpdates: HTTP {status} {}",
                    reply.description.unwrap_or_default()
                ),
                after: None,
            }),
        }
    }
}

/// How long a link code lives.
const CODE_MINUTES: i64 = 15;

/// A fresh one-time code for `user_id` to send to the bot (`/link CODE`).
pub async fn new_code(pool: &PgPool, user_id: i64) -> Result<(String, DateTime<Utc>), DbError> {
    use rand::Rng;
    // No 0/O or 1/I: it is read off a screen and typed.
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let code: String = {
        let mut rng = rand::rng();
        (0..8)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
            .collect()
    };
    let expires: DateTime<Utc> = sqlx::query_scalar(
        "INSERT INTO telegram_links (user_id, code, code_expires) VALUES ($1, $2, now() + make_interval(mins => $3))
         ON CONFLICT (user_id) DO UPDATE SET code = EXCLUDED.code, code_expires = EXCLUDED.code_expires
         RETURNING code_expires",
    )
    .bind(user_id)
    .bind(&code)
    .bind(CODE_MINUTES as i32)
    .fetch_one(pool)
    .await?;
    Ok((code, expires))
}

/// Whether `user_id` has a linked chat, and an unexpired code if one is out.
/// A code handed out and when it expires.
pub type LinkCode = (String, DateTime<Utc>);

pub async fn link_state(pool: &PgPool, user_id: i64) -> Result<(bool, Option<LinkCode>), DbError> {
    type Row = (Option<i64>, Option<String>, Option<DateTime<Utc>>);
    let row: Option<Row> =
        sqlx::query_as("SELECT chat_id, code, code_expires FROM telegram_links WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(pool)
            .await?;
    Ok(match row {
        Some((chat, code, exp)) => (
            chat.is_some(),
            code.zip(exp).filter(|(_, e)| *e > Utc::now()),
        ),
        None => (false, None),
    })
}

/// Links `chat_id` to the user whose unexpired code this is; the chat
/// becomes their Telegram channel (replacing an earlier one, and taking the
/// chat from anyone it was linked to before).
pub async fn link(pool: &PgPool, chat_id: i64, code: &str) -> anyhow::Result<Option<String>> {
    let mut tx = pool.begin().await?;
    let user: Option<i64> = sqlx::query_scalar(
        "SELECT user_id FROM telegram_links WHERE code = $1 AND code_expires > now() FOR UPDATE",
    )
    .bind(code.trim().to_uppercase())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(user) = user else {
        return Ok(None);
    };
    let before: Vec<i64> =
        sqlx::query_scalar("SELECT user_id FROM telegram_links WHERE chat_id = $1 OR user_id = $2")
            .bind(chat_id)
            .bind(user)
            .fetch_all(&mut *tx)
            .await?;
    sqlx::query("DELETE FROM notify_channels WHERE kind = 'telegram' AND user_id = ANY($1)")
        .bind(&before)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE telegram_links SET chat_id = NULL, linked_at = NULL WHERE chat_id = $1")
        .bind(chat_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE telegram_links SET chat_id = $2, linked_at = now(), code = NULL, code_expires = NULL WHERE user_id = $1",
    )
    .bind(user)
    .bind(chat_id)
    .execute(&mut *tx)
    .await?;
    let t = Target::Telegram { chat_id };
    let sealed = crate::secrets::sealer()?.seal(&serde_json::to_string(&t)?, "notify-channel");
    sqlx::query(
        "INSERT INTO notify_channels (user_id, kind, hint, sealed) VALUES ($1, 'telegram', $2, $3)",
    )
    .bind(user)
    .bind(t.hint())
    .bind(sealed)
    .execute(&mut *tx)
    .await?;
    let name: String = sqlx::query_scalar("SELECT username FROM users WHERE id = $1")
        .bind(user)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(user = %name, "telegram chat linked");
    Ok(Some(name))
}

const HELP: &str = "Commands:
/status — system and your paper accounts
/signals — current signals for your profile and capital
/positions — open paper positions
/profit [days] — P&L per paper account (default 7 days)
/daily — today's summary now
/halt [reason] — halt your paper accounts (admins: engage the kill switch)
/resume — resume your halted accounts (admins: lift the kill switch too)
/help — this list";

const UNLINKED: &str = "This chat is not linked to a TraderAI user. In TraderAI open Settings → Notifications, press \"Link Telegram\", and send /link CODE here.";

/// The reply to one message from `chat_id`.
pub async fn respond(
    pool: &PgPool,
    settings: &crate::config::Settings,
    chat_id: i64,
    text: &str,
) -> anyhow::Result<String> {
    let mut words = text.split_whitespace();
    let Some(first) = words.next() else {
        return Ok(HELP.into());
    };
    // "/status@MyBot" in groups.
    let command = first.split('@').next().unwrap_or(first).to_lowercase();
    let arg: Vec<&str> = words.collect();
    if command == "/link" || (command == "/start" && !arg.is_empty()) {
        return Ok(match arg.first() {
            Some(code) => match link(pool, chat_id, code).await? {
                Some(name) => format!("Linked to {name}. Notifications will arrive here; /help lists the commands."),
                None => "That code is not valid or has expired; get a new one in Settings → Notifications.".into(),
            },
            None => "Send /link CODE with the code from Settings → Notifications.".into(),
        });
    }
    let user: Option<super::outbox::Recipient> = sqlx::query_as(
        "SELECT u.id, u.username, u.role, u.risk_profile, u.capital FROM telegram_links t
         JOIN users u ON u.id = t.user_id WHERE t.chat_id = $1 AND NOT u.disabled",
    )
    .bind(chat_id)
    .fetch_optional(pool)
    .await?;
    let Some(u) = user else {
        return Ok(UNLINKED.into());
    };
    Ok(match command.as_str() {
        "/start" | "/help" => HELP.into(),
        "/status" => status(pool, &u).await?,
        "/signals" => signals(pool, settings, &u).await?,
        "/positions" => positions(pool, &u).await?,
        "/profit" => {
            let days = match arg.first().map(|d| d.parse::<i64>()) {
                None => 7,
                Some(Ok(d)) if (1..=3650).contains(&d) => d,
                _ => return Ok("Usage: /profit [days], days from 1 to 3650".into()),
            };
            profit(pool, &u, days).await?
        }
        "/daily" => {
            let d = super::daily::summary(pool, &u, &serde_json::json!({})).await?;
            super::message::Message::from_draft(0, super::EventKind::Daily, d, "").plain()
        }
        "/halt" => halt(pool, &u, &arg.join(" ")).await?,
        "/resume" => resume(pool, &u).await?,
        _ => format!("Unknown command {command}. {HELP}"),
    })
}

async fn status(pool: &PgPool, u: &super::outbox::Recipient) -> anyhow::Result<String> {
    let mut out = format!("System: {}", super::daily::system_line(pool).await?);
    let accounts = crate::db::paper::list(pool, Some(u.id)).await?;
    if accounts.is_empty() {
        out.push_str("\nNo paper accounts.");
    }
    for a in accounts {
        let balance = crate::db::paper::balance(pool, a.id)
            .await?
            .unwrap_or_default();
        out.push_str(&format!(
            "\n{} (#{}): {}, balance {}",
            a.name,
            a.id,
            a.state,
            balance.round_dp(2)
        ));
    }
    Ok(out)
}

async fn signals(
    pool: &PgPool,
    settings: &crate::config::Settings,
    u: &super::outbox::Recipient,
) -> anyhow::Result<String> {
    let (profile, capital) = u.sizing();
    let predicted = crate::db::funding::predicted(pool).await?;
    let follow = crate::db::follow::states(pool).await?;
    let mut lines = Vec::new();
    for c in crate::db::signals::latest(pool).await? {
        let o = crate::signals::judge_for(
            settings,
            &c,
            profile,
            capital,
            &predicted,
            follow.get(&c.new.series_id),
        );
        if let Some(m) = super::compose::signal(0, &c, &o, "") {
            let f = |k: &str| {
                m.fields
                    .iter()
                    .find(|(n, _)| n == k)
                    .map_or("?", |(_, v)| v.as_str())
                    .to_owned()
            };
            lines.push(format!(
                "{}\n  entry {} TP1 {} SL {} · {} · conf {}",
                m.title,
                f("Entry"),
                f("TP1"),
                f("Stop"),
                f("Leverage"),
                f("Confidence")
            ));
        }
    }
    Ok(if lines.is_empty() {
        format!(
            "No signal passes the gates for a {} profile with {capital:.2} right now.",
            profile.as_str()
        )
    } else {
        lines.truncate(10);
        lines.join("\n")
    })
}

async fn positions(pool: &PgPool, u: &super::outbox::Recipient) -> anyhow::Result<String> {
    let mut out = Vec::new();
    for a in crate::db::paper::list(pool, Some(u.id)).await? {
        for p in crate::db::paper::positions(pool, a.id).await? {
            out.push(format!(
                "{}: {} {} {:.6} open of {:.6} @ {} stop {}",
                a.name,
                p.symbol,
                p.side,
                p.qty_open,
                p.qty,
                super::compose::price(p.entry_price),
                super::compose::price(p.stop)
            ));
        }
    }
    Ok(if out.is_empty() {
        "No open positions.".into()
    } else {
        out.join("\n")
    })
}

async fn profit(pool: &PgPool, u: &super::outbox::Recipient, days: i64) -> anyhow::Result<String> {
    let since = Utc::now().timestamp_millis() - days * 86_400_000;
    let mut out = vec![format!("P&L over the last {days} days:")];
    let accounts = crate::db::paper::list(pool, Some(u.id)).await?;
    for a in &accounts {
        let (pnl, trades): (f64, i64) = sqlx::query_as(
            "SELECT COALESCE((SELECT sum(amount) FROM paper_ledger WHERE account_id = $1 AND time >= $2), 0)::float8,
                    (SELECT count(*) FROM paper_trades WHERE account_id = $1 AND exit_time >= $2)",
        )
        .bind(a.id)
        .bind(since)
        .fetch_one(pool)
        .await?;
        out.push(format!("{}: {pnl:+.2} ({trades} closed trades)", a.name));
    }
    if accounts.is_empty() {
        out.push("No paper accounts.".into());
    }
    Ok(out.join("\n"))
}

async fn halt(pool: &PgPool, u: &super::outbox::Recipient, reason: &str) -> anyhow::Result<String> {
    let why = if reason.is_empty() {
        format!("halted from Telegram by {}", u.username)
    } else {
        format!("{reason} (from Telegram, {})", u.username)
    };
    if u.admin() {
        crate::paper::kill(pool, &why, false, Some(&u.username)).await?;
        return Ok(format!(
            "Kill switch engaged: every paper account is halted ({why}). /resume lifts it."
        ));
    }
    let mut n = 0;
    for a in crate::db::paper::list(pool, Some(u.id)).await? {
        if a.state != "halted" {
            crate::paper::halt_account(pool, a.id, Some(&why), false).await?;
            n += 1;
        }
    }
    Ok(format!(
        "{n} paper account(s) halted; open positions keep their exits. /resume to trade again."
    ))
}

async fn resume(pool: &PgPool, u: &super::outbox::Recipient) -> anyhow::Result<String> {
    let mut out = Vec::new();
    if u.admin() && crate::paper::resume(pool).await? {
        out.push("Kill switch lifted.".to_owned());
    }
    if !u.admin() && crate::db::paper::active_halt(pool).await?.is_some() {
        return Ok("The kill switch is engaged; only an admin can lift it.".into());
    }
    let mut n = 0;
    for a in crate::db::paper::list(pool, Some(u.id)).await? {
        let owner_halt = a
            .halt
            .as_ref()
            .and_then(|h| h.pointer("/cause/by"))
            .and_then(|c| c.as_str())
            .is_some_and(|c| c == "owner");
        if a.state == "halted" && owner_halt {
            crate::paper::halt_account(pool, a.id, None, false).await?;
            n += 1;
        }
    }
    out.push(format!("{n} paper account(s) resumed."));
    Ok(out.join(" "))
}

/// Only one process reads the bot's updates (Telegram answers 409 to a second).
const POLL_LOCK: i64 = 0x7472_6164_6572_0001;

/// Long-polls the bot's updates and answers each, until `stop`. The offset
/// is stored after each update, so a restart does not answer one twice.
pub async fn poll(
    pool: PgPool,
    settings: crate::config::Settings,
    n: NotifySettings,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let http = match reqwest::Client::builder().build() {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "telegram poller cannot start");
            return;
        }
    };
    let bot = Bot::new(http, &n.telegram);
    loop {
        // The lock lives as long as this connection.
        let mut conn = match pool.acquire().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "telegram poller: no connection; retrying");
                tokio::select! { _ = tokio::time::sleep(Duration::from_secs(10)) => continue, _ = stop.changed() => return }
            }
        };
        let held: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(POLL_LOCK)
            .fetch_one(&mut *conn)
            .await
            .unwrap_or(false);
        if !held {
            drop(conn);
            tokio::select! { _ = tokio::time::sleep(Duration::from_secs(30)) => continue, _ = stop.changed() => return }
        }
        tracing::info!("telegram commands: polling getUpdates");
        loop {
            let offset: i64 = sqlx::query_scalar(
                "SELECT (value->>'offset')::bigint FROM notify_state WHERE key = 'telegram'",
            )
            .fetch_optional(&pool)
            .await
            .ok()
            .flatten()
            .unwrap_or(0);
            let updates = tokio::select! {
                r = bot.updates(offset, n.telegram.poll_timeout_s) => r,
                _ = stop.changed() => return,
            };
            let updates = match updates {
                Ok(u) => u,
                Err(e) => {
                    tracing::warn!(error = %e, "telegram getUpdates failed; retrying in 5 s");
                    tokio::select! { _ = tokio::time::sleep(Duration::from_secs(5)) => continue, _ = stop.changed() => return }
                }
            };
            for up in updates {
                if let Some(m) = &up.message
                    && let Some(text) = &m.text
                {
                    let reply = match respond(&pool, &settings, m.chat.id, text).await {
                        Ok(r) => r,
                        Err(e) => {
                            tracing::error!(error = %format!("{e:#}"), "telegram command failed");
                            "Something went wrong answering that; the admins can see why in the logs.".into()
                        }
                    };
                    if let Err(e) = bot.send_message(m.chat.id, &reply, false).await {
                        tracing::warn!(error = %e, "telegram reply not sent");
                    }
                }
                if let Err(e) = sqlx::query(
                    "INSERT INTO notify_state (key, value) VALUES ('telegram', $1)
                     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                )
                .bind(serde_json::json!({ "offset": up.update_id + 1 }))
                .execute(&pool)
                .await
                {
                    tracing::warn!(error = %e, "telegram offset not stored");
                }
            }
            if *stop.borrow() {
                return;
            }
        }
    }
}
