//! A notification as each channel shows it. Rendered once per user at
//! fan-out (a signal carries *their* size) and stored with the delivery, so
//! a retry sends exactly what the first try would have.

use super::EventKind;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub event_id: i64,
    pub kind: EventKind,
    pub title: String,
    /// Label and value, in order (entry, TP1, …).
    pub fields: Vec<(String, String)>,
    /// Free text after the fields (why, what to do).
    pub lines: Vec<String>,
    /// When the event was recorded (RFC 3339).
    pub at: String,
}

/// Telegram's MarkdownV2 reserves these; each must be escaped outside
/// entities or the Bot API refuses the whole message (400 "can't parse entities").
const MARKDOWN_V2_RESERVED: &[char] = &[
    '_', '*', '[', ']', '(', ')', '~', '`', '>', '#', '+', '-', '=', '|', '{', '}', '.', '!', '\\',
];

pub fn escape_markdown_v2(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if MARKDOWN_V2_RESERVED.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Longest SMS body Twilio accepts.
const SMS_MAX: usize = 1600;

impl Message {
    /// Plain text: e-mail bodies, SMS, logs of tests.
    pub fn plain(&self) -> String {
        let mut out = self.title.clone();
        for (k, v) in &self.fields {
            out.push_str(&format!("\n{k}: {v}"));
        }
        for l in &self.lines {
            out.push('\n');
            out.push_str(l);
        }
        out
    }

    /// Telegram `sendMessage` text with `parse_mode = MarkdownV2`.
    pub fn telegram(&self) -> String {
        let mut out = format!("*{}*", escape_markdown_v2(&self.title));
        for (k, v) in &self.fields {
            out.push_str(&format!(
                "\n{}: `{}`",
                escape_markdown_v2(k),
                // Inside code spans only ` and \ are special.
                v.replace('\\', "\\\\").replace('`', "\\`")
            ));
        }
        for l in &self.lines {
            out.push('\n');
            out.push_str(&escape_markdown_v2(l));
        }
        out
    }

    /// A Discord webhook body with one embed (fields inline, 25 at most).
    pub fn discord(&self) -> serde_json::Value {
        let colour = match self.kind {
            EventKind::StopLoss
            | EventKind::JobFailed
            | EventKind::KillSwitch
            | EventKind::Halt => 0xd9_3f_3f,
            EventKind::TakeProfit | EventKind::Signal => 0x2e_a0_43,
            _ => 0x3b_82_f6,
        };
        let fields: Vec<_> = self
            .fields
            .iter()
            .take(25)
            .map(|(k, v)| serde_json::json!({ "name": truncate(k, 256), "value": truncate(v, 1024), "inline": true }))
            .collect();
        serde_json::json!({
            "username": "TraderAI",
            "embeds": [{
                "title": truncate(&self.title, 256),
                "description": truncate(&self.lines.join("\n"), 4096),
                "color": colour,
                "fields": fields,
                "timestamp": self.at,
                "footer": { "text": format!("event {}", self.event_id) },
            }],
            "allowed_mentions": { "parse": [] },
        })
    }

    /// The generic webhook's body: the message as data.
    pub fn webhook(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.event_id,
            "kind": self.kind,
            "title": self.title,
            "fields": self.fields.iter().map(|(k, v)| serde_json::json!({ "name": k, "value": v })).collect::<Vec<_>>(),
            "lines": self.lines,
            "at": self.at,
        })
    }

    pub fn sms(&self) -> String {
        truncate(&self.plain(), SMS_MAX)
    }
}

/// At most `max` characters, an ellipsis marking a cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Message {
        Message {
            event_id: 7,
            kind: EventKind::Signal,
            title: "BTCUSDT 15m LONG (+2.4% net)".into(),
            fields: vec![
                ("Entry".into(), "97,000.5".into()),
                ("Why".into(), "a `tick` \\ here".into()),
            ],
            lines: vec!["RSI 61.2 > 50; close above SMA-20.".into()],
            at: "2026-12-02T10:00:00Z".into(),
        }
    }

    #[test]
    fn markdown_v2_escapes_every_reserved_character() {
        assert_eq!(
            escape_markdown_v2("a_b*c[d](e)~f`g>h#i+j-k=l|m{n}o.p!q\\r"),
            "a\\_b\\*c\\[d\\]\\(e\\)\\~f\\`g\\>h\\#i\\+j\\-k\\=l\\|m\\{n\\}o\\.p\\!q\\\\r"
        );
        let t = sample().telegram();
        assert!(
            t.starts_with("*BTCUSDT 15m LONG \\(\\+2\\.4% net\\)*"),
            "{t}"
        );
        assert!(t.contains("Entry: `97,000.5`"), "{t}");
        assert!(t.contains("Why: `a \\`tick\\` \\\\ here`"), "{t}");
        assert!(
            t.ends_with("RSI 61\\.2 \\> 50; close above SMA\\-20\\."),
            "{t}"
        );
    }

    #[test]
    fn discord_embeds_hold_fields_and_limits() {
        let d = sample().discord();
        assert_eq!(d["embeds"][0]["fields"][0]["name"], "Entry");
        assert_eq!(d["embeds"][0]["footer"]["text"], "event 7");
        let mut long = sample();
        long.title = "x".repeat(300);
        assert_eq!(
            long.discord()["embeds"][0]["title"]
                .as_str()
                .unwrap()
                .chars()
                .count(),
            256
        );
    }

    #[test]
    fn sms_is_cut_to_twilios_limit() {
        let mut m = sample();
        m.lines = vec!["y".repeat(5000)];
        assert_eq!(m.sms().chars().count(), 1600);
        assert!(m.sms().ends_with('…'));
    }
}
