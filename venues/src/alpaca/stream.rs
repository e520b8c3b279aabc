//! The trading stream (`wss://paper-api.alpaca.markets/stream`):
//! `authenticate` with the key pair, `listen` to `trade_updates`, and each
//! update as a [`VenueEvent`]. Alpaca sends its frames as binary on paper
//! and text on live: both are read. When the stream ends, the last event
//! is `Disconnected`: the owner reconnects and reconciles.

use super::client::{AlpacaError, AlpacaTrading, parse_time};
use super::wire::{StreamMessage, TradeUpdate};
use futures::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use trading::execution::{EventStream, VenueEvent, order_event};
use trading::live::STOP_LEG;
use trading::order::{OrderEvent, OrderFilled};

#[derive(Debug)]
pub struct AlpacaEvents {
    rx: mpsc::Receiver<VenueEvent>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for AlpacaEvents {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl EventStream for AlpacaEvents {
    async fn next(&mut self) -> Option<VenueEvent> {
        self.rx.recv().await
    }

    fn try_next(&mut self) -> Option<VenueEvent> {
        self.rx.try_recv().ok()
    }
}

fn text(m: Message) -> Option<String> {
    match m {
        Message::Text(t) => Some(t.to_string()),
        Message::Binary(b) => String::from_utf8(b.to_vec()).ok(),
        _ => None,
    }
}

/// Connects, authenticates and listens; fails with Alpaca's reason.
pub async fn open(client: Arc<AlpacaTrading>) -> Result<AlpacaEvents, AlpacaError> {
    let url = client.stream_url().to_string();
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async(url.as_str()),
    )
    .await
    .map_err(|_| AlpacaError::Transport("trading stream: connect timed out after 10 s".into()))?
    .map_err(|e| AlpacaError::Transport(format!("trading stream: {e}")))?;
    let (key, secret) = client.keys();
    let auth = serde_json::json!({"action": "authenticate", "data": {"key_id": key, "secret_key": secret}});
    let listen = serde_json::json!({"action": "listen", "data": {"streams": ["trade_updates"]}});
    for (msg, want) in [(auth, "authorization"), (listen, "listening")] {
        ws.send(Message::Text(msg.to_string().into()))
            .await
            .map_err(|e| AlpacaError::Transport(format!("trading stream: {e}")))?;
        let reply = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .map_err(|_| AlpacaError::Transport(format!("trading stream: no {want} answer")))?;
        let Some(Ok(m)) = reply else {
            return Err(AlpacaError::Transport(format!(
                "trading stream: closed before the {want} answer"
            )));
        };
        let t = text(m).unwrap_or_default();
        let m: StreamMessage = serde_json::from_str(&t).map_err(|_| AlpacaError::Unreadable {
            status: 101,
            body: t.chars().take(300).collect(),
        })?;
        if m.stream != want || (want == "authorization" && m.data["status"] != "authorized") {
            return Err(AlpacaError::Api {
                status: 401,
                code: 40110000,
                message: format!("trading stream: {}", m.data),
            });
        }
    }
    let (tx, rx) = mpsc::channel(4096);
    let task = tokio::spawn(async move {
        let reason = loop {
            match ws.next().await {
                Some(Ok(Message::Ping(p))) => {
                    let _ = ws.send(Message::Pong(p)).await;
                }
                Some(Ok(Message::Close(_))) | None => {
                    break "Alpaca closed the trading stream".to_string();
                }
                Some(Err(e)) => break format!("trading stream: {e}"),
                Some(Ok(m)) => {
                    let Some(t) = text(m) else { continue };
                    let update = serde_json::from_str::<StreamMessage>(&t)
                        .ok()
                        .filter(|m| m.stream == "trade_updates")
                        .and_then(|m| serde_json::from_value::<TradeUpdate>(m.data).ok());
                    let Some(u) = update else {
                        // Unreadable: skipped and said; its fill comes back
                        // through the activities on the next catch-up.
                        tracing::warn!(text = %t.chars().take(200).collect::<String>(), "unreadable trading-stream message");
                        continue;
                    };
                    if let Some(e) = to_event(&client, &u).await
                        && tx.send(e).await.is_err()
                    {
                        return;
                    }
                }
            }
        };
        let _ = tx.send(VenueEvent::Disconnected { reason }).await;
    });
    Ok(AlpacaEvents { rx, task })
}

/// A trade update as the trading core's event (`None`: nothing it tracks).
async fn to_event(client: &AlpacaTrading, u: &TradeUpdate) -> Option<VenueEvent> {
    let o = &u.order;
    let name = {
        let own = super::our_id(&o.client_order_id);
        // A leg Alpaca named: its pair tells ours.
        if o.order_class == "oco" && o.kind.starts_with("stop") && !own.ends_with(STOP_LEG) {
            client.find_leg_name(&o.id, &o.symbol).await.unwrap_or(own)
        } else {
            own
        }
    };
    let time = parse_time(&u.timestamp);
    let event = match u.event.as_str() {
        "new" | "accepted" => OrderEvent::Accepted {
            venue_id: Some(o.id.clone()),
        },
        "fill" | "partial_fill" => OrderEvent::Filled(OrderFilled {
            trade_id: u.execution_id.clone()?,
            qty: u.qty?,
            price: u.price?,
            fee: rust_decimal::Decimal::ZERO,
            liquidity: if o.kind == "limit" {
                engine::costs::Liquidity::Maker
            } else {
                engine::costs::Liquidity::Taker
            },
        }),
        "canceled" => OrderEvent::Canceled {
            reason: "canceled at Alpaca".into(),
        },
        "expired" => OrderEvent::Expired,
        "rejected" => OrderEvent::Rejected {
            reason: "rejected by Alpaca".into(),
        },
        // `replaced` is answered by the replace call itself; `done_for_day`,
        // `pending_*` change nothing we track.
        _ => return None,
    };
    Some(order_event(
        time,
        &name,
        &super::our_symbol(&o.symbol),
        event,
        None,
    ))
}
