//! What each event says. Most events say the same to everyone and carry
//! their text (a `Draft`) from where they happened; a signal is judged for
//! each reader's profile and capital, a daily summary is each reader's own.

use super::message::Message;
use super::{Event, EventKind};
use crate::signals::Outcome;
use serde::{Deserialize, Serialize};

/// An event's text, written by its cause.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Draft {
    pub title: String,
    pub fields: Vec<(String, String)>,
    pub lines: Vec<String>,
}

impl Draft {
    pub fn new(title: impl Into<String>) -> Draft {
        Draft {
            title: title.into(),
            ..Draft::default()
        }
    }

    pub fn field(mut self, k: &str, v: impl std::fmt::Display) -> Draft {
        self.fields.push((k.to_owned(), v.to_string()));
        self
    }

    pub fn line(mut self, l: impl Into<String>) -> Draft {
        self.lines.push(l.into());
        self
    }

    pub fn event(self, kind: EventKind, dedupe: impl Into<String>) -> Event {
        Event::new(
            kind,
            dedupe,
            serde_json::to_value(&self).unwrap_or(serde_json::Value::Null),
        )
    }
}

/// A price with as many decimals as its size needs.
pub fn price(p: f64) -> String {
    let a = p.abs();
    let dp = if a >= 1000.0 {
        2
    } else if a >= 1.0 {
        4
    } else {
        6
    };
    format!("{p:.dp$}")
}

/// The signal event of a stored candidate.
pub fn signal_event(candidate_id: i64) -> Event {
    Event::new(
        EventKind::Signal,
        format!("signal:{candidate_id}"),
        serde_json::json!({ "candidate_id": candidate_id }),
    )
}

/// A signal as one reader would act on it: their plan, or nothing when the
/// gates refuse it for their profile and capital.
pub fn signal(
    event_id: i64,
    c: &crate::db::signals::Candidate,
    outcome: &Outcome,
    at: &str,
) -> Option<Message> {
    let Outcome::Plan(p) = outcome else {
        return None;
    };
    let side = match p.side {
        engine::signals::Side::Long => "LONG",
        engine::signals::Side::Short => "SHORT",
    };
    let n = &c.new;
    let mut fields = vec![
        ("Entry".to_owned(), price(p.entry)),
        ("TP1".to_owned(), price(p.take_profit[0])),
        ("TP2".to_owned(), price(p.take_profit[1])),
        ("TP3".to_owned(), price(p.take_profit[2])),
        ("Stop".to_owned(), price(p.stop_loss)),
        ("Leverage".to_owned(), format!("{:.1}x", p.leverage)),
        (
            "Size".to_owned(),
            format!(
                "{:.6} ({:.2} notional, {:.2} margin)",
                p.qty, p.notional, p.margin
            ),
        ),
        (
            "Risk".to_owned(),
            format!("{:.2} at the stop", p.risk_amount),
        ),
        (
            "Confidence".to_owned(),
            format!("{:.0}%", p.confidence * 100.0),
        ),
        (
            "Expected".to_owned(),
            format!(
                "{:+.2}% net after {:.2}% costs",
                p.expected_net_pct, p.costs_pct
            ),
        ),
    ];
    fields.push(("Source".to_owned(), n.model_label.clone()));
    let mut lines = Vec::new();
    if !n.drivers.is_empty() {
        let why: Vec<String> = n
            .drivers
            .iter()
            .take(4)
            .map(|d| format!("{} {:+.3}", d.feature, d.value))
            .collect();
        lines.push(format!("Why: {}", why.join(", ")));
    }
    if let Some(r) = &n.regime {
        lines.push(format!("Regime: {r}"));
    }
    Some(Message {
        event_id,
        kind: EventKind::Signal,
        title: format!(
            "{} {} {side} — {:+.2}% expected net",
            c.symbol, c.timeframe, p.expected_net_pct
        ),
        fields,
        lines,
        at: at.to_owned(),
    })
}

impl Message {
    pub fn from_draft(event_id: i64, kind: EventKind, d: Draft, at: &str) -> Message {
        Message {
            event_id,
            kind,
            title: d.title,
            fields: d.fields,
            lines: d.lines,
            at: at.to_owned(),
        }
    }
}

/// The events of one paper step, each written in the step's transaction.
pub fn paper_events(
    account_id: i64,
    account: &str,
    user_id: i64,
    events: &[trading::matcher::AccountEvent],
) -> Vec<Event> {
    use trading::matcher::AccountEvent as A;
    use trading::order::{OrderEvent, Purpose};
    let mut out = Vec::new();
    for e in events {
        match e {
            A::Order {
                time,
                event: OrderEvent::Filled(f),
                order,
            } => {
                let r = &order.request;
                let (kind, what) = match r.purpose {
                    Purpose::Entry => (EventKind::PaperFill, "entry filled".to_owned()),
                    Purpose::TakeProfit(n) => (EventKind::TakeProfit, format!("TP{n} hit")),
                    Purpose::StopLoss => (EventKind::StopLoss, "stop hit".to_owned()),
                    // A market exit is told by the close that follows it.
                    Purpose::Exit => continue,
                };
                let d = Draft::new(format!(
                    "{} {} {what} — {account}",
                    r.symbol,
                    r.side.as_str()
                ))
                .field("Qty", f.qty.normalize())
                .field("Price", f.price.normalize())
                .field("Fee", f.fee.round_dp(6).normalize())
                .field("Bar", crate::time::iso(*time));
                out.push(
                    d.event(kind, format!("paper:{account_id}:fill:{}", f.trade_id))
                        .for_user(user_id),
                );
            }
            A::Closed(t) => {
                let d = Draft::new(format!(
                    "{} {} closed ({}) — {account}",
                    t.symbol,
                    t.side.as_str(),
                    t.exit_reason.as_str()
                ))
                .field("P&L", format!("{:+.2}", t.pnl))
                .field("Return", format!("{:+.2}%", t.return_pct))
                .field("Entry", price(t.entry_price))
                .field("TP1 hit", if t.tp1_hit { "yes" } else { "no" })
                .field("Fees", format!("{:.4}", t.fees))
                .field("Funding", format!("{:+.4}", -t.funding));
                out.push(
                    d.event(
                        EventKind::PaperClose,
                        format!(
                            "paper:{account_id}:close:{}:{}:{}",
                            t.symbol, t.entry_time, t.exit_time
                        ),
                    )
                    .for_user(user_id),
                );
            }
            A::State {
                time,
                state,
                reason,
            } => {
                // The kill switch speaks for itself once, not per account.
                if reason
                    .as_ref()
                    .is_some_and(|r| matches!(r.cause, trading::risk::HaltCause::KillSwitch))
                {
                    continue;
                }
                let mut d = Draft::new(format!("{account}: trading {}", state.as_str()))
                    .field("Bar", crate::time::iso(*time));
                if let Some(r) = reason {
                    d = d.line(r.detail.clone());
                }
                out.push(
                    d.event(
                        EventKind::Halt,
                        format!("paper:{account_id}:state:{}:{time}", state.as_str()),
                    )
                    .for_user(user_id),
                );
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_keep_the_digits_their_size_needs() {
        assert_eq!(price(97_123.456), "97123.46");
        assert_eq!(price(2.5), "2.5000");
        assert_eq!(price(0.000123456), "0.000123");
    }

    #[test]
    fn a_draft_is_the_event_payload() {
        let e = Draft::new("t")
            .field("a", 1)
            .line("x")
            .event(EventKind::Stale, "k");
        let d: Draft = serde_json::from_value(e.payload).unwrap();
        assert_eq!(d.fields, vec![("a".to_owned(), "1".to_owned())]);
        assert_eq!(d.lines, vec!["x".to_owned()]);
    }
}
