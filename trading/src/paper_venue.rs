//! The paper venue as an [`ExecutionClient`]: the [`SimVenue`] in process,
//! with the clock and the bars its owner feeds it. A live account runs
//! against it exactly as against Binance (the same calls, the same events),
//! which is what the Binance-vs-paper test compares.

use crate::clock::Clock;
use crate::execution::{
    AccountSnapshot, Ack, EventStream, ExecError, ExecutionClient, FundingPayment, VenueEvent,
    VenueOrder, VenueTrade,
};
use crate::order::OrderRequest;
use crate::sim::SimVenue;
use engine::{Candle, TimeMs};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};

#[derive(Debug, Default)]
struct Subscriber {
    queue: VecDeque<VenueEvent>,
    waker: Option<Waker>,
    closed: bool,
}

#[derive(Debug)]
struct Shared {
    sim: SimVenue,
    subscribers: Vec<Arc<Mutex<Subscriber>>>,
}

#[derive(Debug, Clone)]
pub struct PaperVenue {
    shared: Arc<Mutex<Shared>>,
    clock: Arc<dyn Clock>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl PaperVenue {
    pub fn new(sim: SimVenue, clock: Arc<dyn Clock>) -> PaperVenue {
        PaperVenue {
            shared: Arc::new(Mutex::new(Shared {
                sim,
                subscribers: Vec::new(),
            })),
            clock,
        }
    }

    /// Runs `f` on the venue, then hands what it did to the streams.
    fn with<R>(&self, f: impl FnOnce(&mut SimVenue) -> R) -> R {
        let mut s = lock(&self.shared);
        let r = f(&mut s.sim);
        let events = s.sim.take_events();
        s.subscribers.retain(|sub| !lock(sub).closed);
        for sub in &s.subscribers {
            let mut sub = lock(sub);
            sub.queue.extend(events.iter().cloned());
            if let Some(w) = sub.waker.take() {
                w.wake();
            }
        }
        r
    }

    /// `symbol`'s bar closed: its path meets the open orders.
    pub fn bar(&self, symbol: &str, bar: &Candle, bar_ms: TimeMs) {
        self.with(|v| v.bar(symbol, bar, bar_ms));
    }

    /// The price of `symbol` now (the open of the bar forming).
    pub fn set_price(&self, symbol: &str, price: f64) {
        self.with(|v| v.set_price(symbol, price));
    }

    pub fn funding(&self, time: TimeMs, symbol: &str, rate: f64, mark: f64) {
        self.with(|v| v.funding(time, symbol, rate, mark));
    }

    /// Ends every open stream (a disconnect, for tests).
    pub fn disconnect(&self) {
        let s = lock(&self.shared);
        for sub in &s.subscribers {
            let mut sub = lock(sub);
            sub.queue.push_back(VenueEvent::Disconnected {
                reason: "the paper venue closed the stream".into(),
            });
            sub.closed = true;
            if let Some(w) = sub.waker.take() {
                w.wake();
            }
        }
    }
}

/// Events of one subscription.
#[derive(Debug)]
pub struct PaperEvents(Arc<Mutex<Subscriber>>);

impl EventStream for PaperEvents {
    async fn next(&mut self) -> Option<VenueEvent> {
        std::future::poll_fn(|cx| {
            let mut sub = lock(&self.0);
            if let Some(e) = sub.queue.pop_front() {
                return Poll::Ready(Some(e));
            }
            if sub.closed {
                return Poll::Ready(None);
            }
            sub.waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    fn try_next(&mut self) -> Option<VenueEvent> {
        lock(&self.0).queue.pop_front()
    }
}

impl ExecutionClient for PaperVenue {
    type Events = PaperEvents;

    fn venue(&self) -> &'static str {
        "paper"
    }

    async fn open(&self, order: &OrderRequest) -> Result<Ack, ExecError> {
        let now = self.clock.now_ms();
        self.with(|v| v.submit(now, order))
    }

    async fn cancel(&self, _symbol: &str, client_id: &str) -> Result<VenueOrder, ExecError> {
        let now = self.clock.now_ms();
        self.with(|v| v.cancel(now, client_id))
    }

    async fn open_oco(
        &self,
        take_profit: &OrderRequest,
        stop: &OrderRequest,
    ) -> Result<(Ack, Ack), ExecError> {
        let now = self.clock.now_ms();
        self.with(|v| v.submit_oco(now, take_profit, stop))
    }

    async fn replace_stop(
        &self,
        _symbol: &str,
        client_id: &str,
        trigger: rust_decimal::Decimal,
    ) -> Result<Ack, ExecError> {
        let now = self.clock.now_ms();
        self.with(|v| v.replace_stop(now, client_id, trigger))
    }

    async fn order(&self, _symbol: &str, client_id: &str) -> Result<VenueOrder, ExecError> {
        self.with(|v| v.order(client_id).cloned())
            .ok_or_else(|| ExecError::UnknownOrder {
                venue: "paper",
                client_id: client_id.to_string(),
            })
    }

    async fn open_orders(&self) -> Result<Vec<VenueOrder>, ExecError> {
        Ok(self.with(|v| v.open_orders()))
    }

    async fn trades_since(
        &self,
        symbol: &str,
        since: TimeMs,
    ) -> Result<Vec<VenueTrade>, ExecError> {
        Ok(self.with(|v| v.trades_since(symbol, since)))
    }

    async fn funding_since(&self, since: TimeMs) -> Result<Vec<FundingPayment>, ExecError> {
        Ok(self.with(|v| v.funding_since(since)))
    }

    async fn snapshot(&self) -> Result<AccountSnapshot, ExecError> {
        let now = self.clock.now_ms();
        Ok(self.with(|v| v.snapshot(now)))
    }

    async fn events(&self) -> Result<PaperEvents, ExecError> {
        let sub = Arc::new(Mutex::new(Subscriber::default()));
        lock(&self.shared).subscribers.push(sub.clone());
        Ok(PaperEvents(sub))
    }
}
