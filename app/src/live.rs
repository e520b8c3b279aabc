//! The browser's live connection to `/ws`: job progress, new signals and
//! price ticks as they happen.
//!
//! It reconnects with backoff after any drop and subscribes again on every
//! open; `resync` then ticks so pages refetch what they may have missed.

use crate::types::{DataSummary, JobEvent, Tick};
use leptos::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveState {
    /// Not connected yet (server render, or signed out).
    Idle,
    Connecting,
    Open,
    /// Dropped; a reconnect is scheduled.
    Closed,
}

impl LiveState {
    pub fn as_str(self) -> &'static str {
        match self {
            LiveState::Idle => "idle",
            LiveState::Connecting => "connecting",
            LiveState::Open => "open",
            LiveState::Closed => "closed",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            LiveState::Idle => "",
            LiveState::Connecting => "connecting…",
            LiveState::Open => "● live",
            LiveState::Closed => "reconnecting…",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Live {
    pub state: RwSignal<LiveState>,
    /// The newest job change.
    pub job: RwSignal<Option<JobEvent>>,
    /// Bumped when a scan stored new signal candidates.
    pub signals: RwSignal<u64>,
    /// The newest price tick.
    pub tick: RwSignal<Option<Tick>>,
    /// The paper account that changed last, and a count of such changes
    /// (the same account stepping twice is two changes).
    pub paper: RwSignal<Option<(i64, u64)>>,
    /// Bumped on every (re)connect and when events were dropped: refetch.
    pub resync: RwSignal<u64>,
    /// How current the followed data is, as the signals board last said.
    pub data: RwSignal<Option<DataSummary>>,
}

impl Live {
    /// The header's word: "● live" only when the socket is open *and* the
    /// followed data is live; otherwise what is true.
    pub fn label(&self) -> String {
        let state = self.state.get();
        if state != LiveState::Open {
            return state.label().to_owned();
        }
        match self.data.get() {
            Some(d) if d.demo => "● demo replay".into(),
            Some(d) => match d.state() {
                "live" => "● live".into(),
                "stale" => format!("● connected · {} series stale", d.stale),
                "catching_up" => "● connected · catching up".into(),
                _ => "● connected".into(),
            },
            None => "● connected".into(),
        }
    }

    /// `live`, `stale`, `catching_up`, `demo`, `none` (for styling and tests).
    pub fn data_state(&self) -> &'static str {
        match self.data.get() {
            Some(d) if d.demo => "demo",
            Some(d) => d.state(),
            None => "none",
        }
    }
}

pub fn use_live() -> Live {
    expect_context::<Live>()
}

/// Puts the connection in context; in the browser it opens once a viewer is signed in.
pub fn provide() {
    let live = Live {
        state: RwSignal::new(LiveState::Idle),
        job: RwSignal::new(None),
        signals: RwSignal::new(0),
        tick: RwSignal::new(None),
        paper: RwSignal::new(None),
        resync: RwSignal::new(0),
        data: RwSignal::new(None),
    };
    provide_context(live);
    #[cfg(feature = "hydrate")]
    {
        let viewer = crate::use_viewer();
        let started = std::cell::Cell::new(false);
        Effect::new(move |_| {
            let signed_in = matches!(viewer.get(), Some(Ok(Some(_))));
            if signed_in && !started.replace(true) {
                client::connect(live, 0);
            }
        });
    }
}

#[cfg(feature = "hydrate")]
mod client {
    use super::{Live, LiveState};
    use crate::types::{ClientMsg, ServerMsg, Topic};
    use leptos::prelude::*;
    use std::time::Duration;
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;
    use web_sys::{CloseEvent, MessageEvent, WebSocket};

    fn url() -> Option<String> {
        let loc = web_sys::window()?.location();
        let proto = if loc.protocol().ok()? == "https:" {
            "wss"
        } else {
            "ws"
        };
        Some(format!("{proto}://{}/ws", loc.host().ok()?))
    }

    fn retry(live: Live, attempt: u32) {
        live.state.set(LiveState::Closed);
        // 0.5 s, 1 s, 2 s … capped at 10 s.
        let wait = Duration::from_millis((500u64 << attempt.min(5)).min(10_000));
        set_timeout(move || connect(live, attempt + 1), wait);
    }

    pub fn connect(live: Live, attempt: u32) {
        let Some(ws) = url().and_then(|u| WebSocket::new(&u).ok()) else {
            retry(live, attempt);
            return;
        };
        live.state.set(LiveState::Connecting);
        let opened = std::rc::Rc::new(std::cell::Cell::new(false));

        let sock = ws.clone();
        let was_opened = opened.clone();
        let on_open = Closure::<dyn FnMut()>::new(move || {
            was_opened.set(true);
            live.state.set(LiveState::Open);
            let sub = ClientMsg::Subscribe {
                topics: vec![Topic::Jobs, Topic::Signals, Topic::Ticks, Topic::Paper],
            };
            if let Ok(text) = serde_json::to_string(&sub) {
                let _ = sock.send_with_str(&text);
            }
            live.resync.update(|n| *n += 1);
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        on_open.forget();

        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            let Some(text) = e.data().as_string() else {
                return;
            };
            match serde_json::from_str::<ServerMsg>(&text) {
                Ok(ServerMsg::Job(j)) => live.job.set(Some(j)),
                Ok(ServerMsg::Signals { .. }) => live.signals.update(|n| *n += 1),
                Ok(ServerMsg::Tick(t)) => live.tick.set(Some(t)),
                Ok(ServerMsg::Paper { account }) => live.paper.update(|p| {
                    *p = Some((account, p.map_or(1, |(_, n)| n + 1)));
                }),
                Ok(ServerMsg::Lagged { .. }) => live.resync.update(|n| *n += 1),
                Ok(_) => {}
                Err(e) => leptos::logging::warn!("ws: unreadable message: {e}"),
            }
        });
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        on_message.forget();

        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |_: CloseEvent| {
            // After a connection that worked, start the backoff over.
            retry(live, if opened.get() { 0 } else { attempt });
        });
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        on_close.forget();
    }
}
