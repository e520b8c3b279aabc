//! `/ws`: job progress, new signals and price ticks pushed to
//! browsers. One LISTEN connection per server process fans PostgreSQL
//! notifications out to every socket, so any replica serves any client.

use super::AppState;
use super::api::ApiError;
use crate::db;
use app::types::{AppError, ClientMsg, ErrorCode, JobEvent, ServerMsg, Tick, Topic, Viewer};
use axum::Extension;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::broadcast;

/// What the listener hears, before per-client filtering.
#[derive(Debug, Clone)]
pub enum Event {
    Job(JobEvent),
    /// A scan stored new signal candidates.
    Signals {
        new: u64,
        bar_time: i64,
    },
    /// A series' newest stored bar.
    Tick(Tick),
    /// A paper account stepped.
    Paper {
        account: i64,
        user: i64,
    },
}

#[derive(Debug, serde::Deserialize)]
struct PaperNote {
    account: i64,
    user: i64,
}

#[derive(serde::Deserialize)]
struct SignalNote {
    new: u64,
    bar_time: i64,
}

#[derive(Debug, Clone)]
pub struct Hub {
    tx: broadcast::Sender<Event>,
    clients: Arc<AtomicU64>,
}

impl Hub {
    /// Starts the LISTEN task; it reconnects by itself when the database drops.
    pub fn start(pool: PgPool, clients: Arc<AtomicU64>) -> Hub {
        let (tx, _) = broadcast::channel(1024);
        let hub = Hub { tx, clients };
        let sender = hub.tx.clone();
        tokio::spawn(async move { listen(pool, sender).await });
        hub
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }
}

async fn listen(pool: PgPool, tx: broadcast::Sender<Event>) {
    let mut backoff = Duration::from_millis(250);
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "ws: LISTEN connection failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        if let Err(e) = listener
            .listen_all([
                db::jobs::NOTIFY_CHANNEL,
                db::signals::NOTIFY_CHANNEL,
                db::candles::TICK_CHANNEL,
                db::paper::NOTIFY_CHANNEL,
            ])
            .await
        {
            tracing::warn!(error = %e, "ws: LISTEN failed; retrying");
            tokio::time::sleep(backoff).await;
            continue;
        }
        backoff = Duration::from_millis(250);
        loop {
            match listener.recv().await {
                Ok(n) if n.channel() == db::signals::NOTIFY_CHANNEL => {
                    match serde_json::from_str::<SignalNote>(n.payload()) {
                        Ok(s) => drop(tx.send(Event::Signals {
                            new: s.new,
                            bar_time: s.bar_time,
                        })),
                        Err(e) => {
                            tracing::warn!(error = %e, payload = n.payload(), "ws: bad signal notification")
                        }
                    }
                }
                Ok(n) if n.channel() == db::paper::NOTIFY_CHANNEL => {
                    match serde_json::from_str::<PaperNote>(n.payload()) {
                        Ok(p) => drop(tx.send(Event::Paper {
                            account: p.account,
                            user: p.user,
                        })),
                        Err(e) => {
                            tracing::warn!(error = %e, payload = n.payload(), "ws: bad paper notification")
                        }
                    }
                }
                Ok(n) if n.channel() == db::candles::TICK_CHANNEL => {
                    match serde_json::from_str::<Tick>(n.payload()) {
                        Ok(t) => drop(tx.send(Event::Tick(t))),
                        Err(e) => {
                            tracing::warn!(error = %e, payload = n.payload(), "ws: bad tick notification")
                        }
                    }
                }
                Ok(n) => match serde_json::from_str::<JobEvent>(n.payload()) {
                    // No receivers is fine: nobody is watching.
                    Ok(ev) => drop(tx.send(Event::Job(ev))),
                    Err(e) => {
                        tracing::warn!(error = %e, payload = n.payload(), "ws: bad job notification")
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "ws: LISTEN connection lost; reconnecting");
                    break;
                }
            }
        }
    }
}

/// Upgrades to a WebSocket for a signed-in viewer from our own pages.
pub async fn handler(
    State(st): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    // Browsers send Origin on WebSocket handshakes; a foreign page must not
    // ride the session cookie (cross-site WebSocket hijacking).
    if !super::session::same_origin(&headers) {
        return ApiError(AppError::new(
            ErrorCode::Csrf,
            "cross-site WebSocket refused",
        ))
        .into_response();
    }
    let hub = st.hub.clone();
    ws.on_upgrade(move |socket| client(socket, hub, viewer))
}

struct Counted(Arc<AtomicU64>);
impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn send(socket: &mut WebSocket, msg: &ServerMsg) -> bool {
    match serde_json::to_string(msg) {
        Ok(text) => socket.send(Message::Text(text.into())).await.is_ok(),
        Err(_) => true,
    }
}

/// Shutdown of this process: every socket is closed with a reason.
static CLOSING: std::sync::LazyLock<tokio::sync::watch::Sender<bool>> =
    std::sync::LazyLock::new(|| tokio::sync::watch::Sender::new(false));

/// Closes every WebSocket with 1001 "going away" (the server is stopping;
/// browsers reconnect to another replica or after the restart).
pub fn close_all() {
    CLOSING.send_replace(true);
}

async fn client(mut socket: WebSocket, hub: Hub, viewer: Viewer) {
    let mut closing = CLOSING.subscribe();
    hub.clients.fetch_add(1, Ordering::Relaxed);
    let _count = Counted(hub.clients.clone());
    let mut events = hub.subscribe();
    let mut topics: HashSet<Topic> = HashSet::new();
    let mut ping = tokio::time::interval(Duration::from_secs(25));
    ping.tick().await;
    loop {
        tokio::select! {
            incoming = socket.recv() => {
                let Some(Ok(msg)) = incoming else { break };
                let text = match msg {
                    Message::Text(t) => t,
                    Message::Close(_) => break,
                    _ => continue,
                };
                let reply = match serde_json::from_str::<ClientMsg>(&text) {
                    Ok(ClientMsg::Subscribe { topics: t }) => {
                        topics.extend(t);
                        subscribed(&topics)
                    }
                    Ok(ClientMsg::Unsubscribe { topics: t }) => {
                        for x in t { topics.remove(&x); }
                        subscribed(&topics)
                    }
                    Err(e) => ServerMsg::Error { message: format!("unreadable message: {e}") },
                };
                if !send(&mut socket, &reply).await { break; }
            }
            ev = events.recv() => {
                let out = match ev {
                    Ok(Event::Job(j)) if topics.contains(&Topic::Jobs)
                        && (viewer.is_admin() || j.created_by == Some(viewer.id)) => ServerMsg::Job(j),
                    Ok(Event::Signals { new, bar_time }) if topics.contains(&Topic::Signals) => {
                        ServerMsg::Signals { new, bar_time }
                    }
                    Ok(Event::Tick(t)) if topics.contains(&Topic::Ticks) => ServerMsg::Tick(t),
                    Ok(Event::Paper { account, user }) if topics.contains(&Topic::Paper)
                        && (viewer.is_admin() || user == viewer.id) => ServerMsg::Paper { account },
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(missed)) => ServerMsg::Lagged { missed },
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                if !send(&mut socket, &out).await { break; }
            }
            _ = ping.tick() => {
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() { break; }
            }
            _ = closing.changed() => {
                let frame = axum::extract::ws::CloseFrame {
                    code: axum::extract::ws::close_code::AWAY,
                    reason: "server shutting down".into(),
                };
                let _ = socket.send(Message::Close(Some(frame))).await;
                break;
            }
        }
    }
}

fn subscribed(topics: &HashSet<Topic>) -> ServerMsg {
    let mut t: Vec<Topic> = topics.iter().copied().collect();
    t.sort_by_key(|x| *x as u8);
    ServerMsg::Subscribed { topics: t }
}
