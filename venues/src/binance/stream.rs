//! Binance kline streams: one combined-stream WebSocket per batch of series
//! (`/stream?streams=btcusdt@kline_15m/ethusdt@kline_1h/…`), yielding each
//! closed kline as a [`FeedEvent::Bar`].
//!
//! The venue's connection rules, as published for USDⓈ-M futures and spot:
//! a connection lives at most 24 h (we leave a few minutes early, on our
//! terms, instead of being cut mid-bar); the server pings every few minutes
//! and drops a client that does not pong (tungstenite answers pings while
//! we read); at most 1024 streams per connection (the follower splits
//! larger universes).

use super::parse;
use crate::ExchangeError;
use engine::{Symbol, Timeframe};
use futures::StreamExt;
use std::collections::HashMap;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use trading::feed::{ClosedBar, FeedEvent, MarketFeed};

/// Streams one connection may carry (Binance allows 1024).
pub const MAX_STREAMS_PER_CONNECTION: usize = 1024;

/// `btcusdt@kline_15m`, or `None` for a timeframe Binance does not stream.
pub fn stream_name(symbol: &Symbol, tf: Timeframe) -> Option<String> {
    let interval = super::interval(tf)?;
    Some(format!(
        "{}@kline_{interval}",
        symbol.concatenated().to_ascii_lowercase()
    ))
}

/// The combined-stream URL of `names` under `ws_base` (`wss://fstream.binance.com`).
pub fn combined_url(ws_base: &str, names: &[String]) -> String {
    format!(
        "{}/stream?streams={}",
        ws_base.trim_end_matches('/'),
        names.join("/")
    )
}

/// How long a connection may live and how long silence means it is dead.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamLimits {
    /// Reconnect after this long (below the venue's 24 h cut).
    pub lifetime: Duration,
    /// No frame at all (not even a ping) for this long: the link is dead.
    pub idle_timeout: Duration,
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits {
            lifetime: Duration::from_secs(23 * 3600 + 50 * 60),
            idle_timeout: Duration::from_secs(10 * 60),
        }
    }
}

/// One open combined-stream connection.
#[derive(Debug)]
pub struct KlineStream {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    subs: HashMap<String, (Symbol, Timeframe)>,
    until: tokio::time::Instant,
    idle: Duration,
}

impl KlineStream {
    /// Opens the stream of every `(symbol, timeframe)` in `subs`.
    pub async fn connect(
        ws_base: &str,
        subs: &[(Symbol, Timeframe)],
        limits: StreamLimits,
    ) -> Result<KlineStream, ExchangeError> {
        let mut names = Vec::with_capacity(subs.len());
        let mut by_name = HashMap::with_capacity(subs.len());
        for (s, tf) in subs {
            let name = stream_name(s, *tf).ok_or_else(|| ExchangeError::UnsupportedTimeframe {
                venue: super::http::VENUE.into(),
                timeframe: *tf,
            })?;
            names.push(name.clone());
            by_name.insert(name, (s.clone(), *tf));
        }
        if names.len() > MAX_STREAMS_PER_CONNECTION {
            return Err(ExchangeError::Rejected {
                venue: super::http::VENUE.into(),
                symbol: format!("{} streams", names.len()),
                status: 0,
                code: 0,
                message: format!("at most {MAX_STREAMS_PER_CONNECTION} streams per connection"),
            });
        }
        let url = combined_url(ws_base, &names);
        let connect = tokio_tungstenite::connect_async(url.as_str());
        let (ws, _) = tokio::time::timeout(Duration::from_secs(10), connect)
            .await
            .map_err(|_| stream_error(&url, "connect timed out after 10 s"))?
            .map_err(|e| stream_error(&url, &e.to_string()))?;
        Ok(KlineStream {
            ws,
            subs: by_name,
            until: tokio::time::Instant::now() + limits.lifetime,
            idle: limits.idle_timeout,
        })
    }
}

fn stream_error(url: &str, why: &str) -> ExchangeError {
    ExchangeError::Exhausted {
        venue: super::http::VENUE.into(),
        symbol: url
            .split("streams=")
            .nth(1)
            .unwrap_or(url)
            .chars()
            .take(80)
            .collect(),
        attempts: 1,
        last: format!("kline stream: {why}"),
    }
}

impl MarketFeed for KlineStream {
    async fn next_event(&mut self) -> FeedEvent {
        loop {
            let frame = tokio::select! {
                _ = tokio::time::sleep_until(self.until) => {
                    let _ = self.ws.close(None).await;
                    return FeedEvent::Down { reason: "stream lifetime reached; reconnecting before the venue's 24 h cut".into() };
                }
                f = tokio::time::timeout(self.idle, self.ws.next()) => f,
            };
            let msg = match frame {
                Err(_) => {
                    return FeedEvent::Down {
                        reason: format!("no frame for {} s", self.idle.as_secs()),
                    };
                }
                Ok(None) => {
                    return FeedEvent::Down {
                        reason: "connection closed".into(),
                    };
                }
                Ok(Some(Err(e))) => {
                    return FeedEvent::Down {
                        reason: e.to_string(),
                    };
                }
                Ok(Some(Ok(m))) => m,
            };
            let text = match msg {
                Message::Text(t) => t.to_string(),
                Message::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
                Message::Close(frame) => {
                    return FeedEvent::Down {
                        reason: frame.map_or_else(
                            || "venue closed the stream".to_owned(),
                            |f| format!("venue closed the stream: {} {}", f.code, f.reason),
                        ),
                    };
                }
                // Pings are answered by tungstenite as we keep reading.
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            };
            match parse::stream_kline(&text) {
                Ok(Some(k)) if k.closed => match self.subs.get(&k.stream) {
                    Some((symbol, tf)) => {
                        return FeedEvent::Bar(ClosedBar {
                            symbol: symbol.clone(),
                            timeframe: *tf,
                            candle: k.candle,
                        });
                    }
                    None => {
                        return FeedEvent::Malformed {
                            text,
                            error: format!("stream {:?} was not subscribed", k.stream),
                        };
                    }
                },
                Ok(_) => continue,
                Err(error) => return FeedEvent::Malformed { text, error },
            }
        }
    }
}
