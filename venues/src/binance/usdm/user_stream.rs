//! The user-data stream: a listen key (`POST /fapi/v1/listenKey`), kept
//! alive (`PUT`, every 30 min; it lapses after 60), and the WebSocket at
//! `/ws/<listenKey>` whose `ORDER_TRADE_UPDATE` and `ACCOUNT_UPDATE`
//! messages become [`VenueEvent`]s. When it ends — the venue closed it,
//! the key expired, a keep-alive failed — the last event is
//! `Disconnected`: the owner reconnects and reconciles.

use super::client::{UsdmClient, UsdmError};
use super::wire::UserEvent;
use futures::{SinkExt, StreamExt};
use reqwest::Method;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use trading::execution::{EventStream, VenueEvent};

/// One open user-data stream.
#[derive(Debug)]
pub struct UsdmEvents {
    rx: mpsc::Receiver<VenueEvent>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for UsdmEvents {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl EventStream for UsdmEvents {
    async fn next(&mut self) -> Option<VenueEvent> {
        self.rx.recv().await
    }

    fn try_next(&mut self) -> Option<VenueEvent> {
        self.rx.try_recv().ok()
    }
}

/// Creates a listen key and connects its stream.
pub async fn open(client: Arc<UsdmClient>) -> Result<UsdmEvents, UsdmError> {
    let v: serde_json::Value = client.keyed(Method::POST, "/fapi/v1/listenKey").await?;
    let key = v["listenKey"]
        .as_str()
        .ok_or_else(|| UsdmError::Unreadable {
            status: 200,
            body: v.to_string(),
        })?
        .to_string();
    let url = format!("{}/ws/{key}", client.ws_base());
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async(url.as_str()),
    )
    .await
    .map_err(|_| UsdmError::Transport("user-data stream: connect timed out after 10 s".into()))?
    .map_err(|e| UsdmError::Transport(format!("user-data stream: {e}")))?;
    let (tx, rx) = mpsc::channel(4096);
    let task = tokio::spawn(async move {
        let mut keepalive = tokio::time::interval(client.keepalive());
        keepalive.tick().await;
        let reason = loop {
            tokio::select! {
                m = ws.next() => match m {
                    Some(Ok(Message::Text(t))) => match serde_json::from_str::<UserEvent>(&t) {
                        Ok(e) => {
                            for v in e.to_venue(|s| client.our_symbol(s)) {
                                let end = matches!(v, VenueEvent::Disconnected { .. });
                                if tx.send(v).await.is_err() {
                                    return;
                                }
                                if end {
                                    let _ = ws.close(None).await;
                                    return;
                                }
                            }
                        }
                        // An unreadable message is skipped, and said: the
                        // trades it may have carried come back through
                        // `trades_since` on the next catch-up.
                        Err(e) => tracing::warn!(error = %e, text = %t.chars().take(200).collect::<String>(), "unreadable user-data message"),
                    },
                    Some(Ok(Message::Ping(p))) => {
                        let _ = ws.send(Message::Pong(p)).await;
                    }
                    Some(Ok(Message::Close(_))) | None => break "the venue closed the user-data stream".to_string(),
                    Some(Err(e)) => break format!("user-data stream: {e}"),
                    Some(Ok(_)) => {}
                },
                _ = keepalive.tick() => {
                    if let Err(e) = client.keyed::<serde_json::Value>(Method::PUT, "/fapi/v1/listenKey").await {
                        break format!("listen key keep-alive failed: {e}");
                    }
                }
            }
        };
        let _ = tx.send(VenueEvent::Disconnected { reason }).await;
    });
    Ok(UsdmEvents { rx, task })
}
