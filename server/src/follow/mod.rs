//! The follower: keeps a universe of series current from its venue.
//!
//! On every (re)connect it first repairs the gap since each series' newest
//! stored bar through the klines endpoint (the backfill's client), then
//! stores each closed bar the kline stream publishes; a bar that arrives
//! after a hole triggers the same repair first, so a disconnect of any
//! length loses no bar and stores none twice. When the stream cannot be
//! opened it polls the klines endpoint after each close instead, and tries
//! the stream again with backoff and jitter. Each series' freshness (live,
//! catching up, stale and why) is written to `follow_state` for the
//! scanner, the board and `/health/ready`; a bar that looks wrong is stored
//! as published and flagged in `bar_flags`. Every stored bar is announced
//! on the tick channel, which drives the scan.

pub mod settings;

pub use settings::{DemoMode, FollowError, FollowSettings, Role, Transport, Universe};

use crate::backfill::{self, BackfillParams};
use crate::config::Settings;
use crate::db::{self, follow::StateUpdate};
use anyhow::Context;
use engine::{Candle, SeriesKey, Symbol, TimeMs, Timeframe};
use rand::Rng;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use trading::clock::Clock;
use trading::feed::{BarGate, FeedEvent, Freshness, Link, MarketFeed, StaleReason};
use venues::Exchange;
use venues::binance::BinanceClient;
use venues::binance::stream::{KlineStream, StreamLimits};

/// Streams per connection we open (Binance allows 1024; shorter URLs and
/// smaller blast radius per reconnect).
const STREAMS_PER_CONNECTION: usize = 200;
/// Stream bars stored in one transaction at most.
const MAX_BATCH: usize = 1000;
/// The predicted funding rate is refreshed this often (clock ms).
const PREMIUM_EVERY_MS: i64 = 3_600_000;
/// A series' state row is rewritten at least this often (its clock reading).
const REWRITE_EVERY: Duration = Duration::from_secs(5);

/// Where a follower gets its bars and time from.
#[derive(Debug, Clone)]
pub struct Source {
    /// REST base (the configured venue's, or a mock's).
    pub base_url: Option<String>,
    /// Stream base; unset: the venue config's (or the REST host with a ws scheme).
    pub ws_url: Option<String>,
    pub clock: Arc<dyn Clock>,
    /// Following the mock's replay of bundled data, not a market.
    pub demo: bool,
    /// Stored under this exchange name instead of the venue's (the demo's `demo`).
    pub exchange: Option<String>,
}

#[derive(Debug)]
struct Tracked {
    key: SeriesKey,
    role: Role,
    id: i32,
    newest: Option<TimeMs>,
    link: Link,
    gate: BarGate,
    written: Option<(Freshness, Instant)>,
    /// A failing series is retried no sooner than this.
    retry_at: Option<Instant>,
    failures: u32,
    /// Perpetuals: the next settlement (clock ms); history is fetched after it.
    funding_due: Option<TimeMs>,
    /// When the predicted rate was last fetched (clock ms).
    premium_at: Option<TimeMs>,
}

/// Where REST bars come from: the crypto venue, or the stock provider chain.
#[derive(Debug)]
enum Rest {
    Binance(BinanceClient),
    Stocks(venues::stocks::Chain),
}

impl Rest {
    async fn fetch_klines(
        &self,
        symbol: &Symbol,
        tf: Timeframe,
        from: TimeMs,
        to: TimeMs,
    ) -> Result<venues::Page, venues::ExchangeError> {
        match self {
            Rest::Binance(c) => c.fetch_klines(symbol, tf, from, to).await,
            Rest::Stocks(c) => c.fetch_klines(symbol, tf, from, to).await,
        }
    }

    /// The venue's client for what only Binance has (funding, streams).
    fn binance(&self) -> Option<&BinanceClient> {
        match self {
            Rest::Binance(c) => Some(c),
            Rest::Stocks(_) => None,
        }
    }
}

/// Keeps one universe current.
#[derive(Debug)]
pub struct Follower {
    pool: PgPool,
    settings: FollowSettings,
    universe: Universe,
    client: Rest,
    ws_base: String,
    source: Source,
    tracked: Vec<Tracked>,
    index: HashMap<(Symbol, Timeframe), usize>,
}

/// The universe `follow` makes, every bad entry in one error; stored under
/// `exchange` instead of the venue's name when given (the demo's `demo`).
pub fn universe_for(follow: &FollowSettings, exchange: Option<&str>) -> anyhow::Result<Universe> {
    let mut universe = follow.universe().map_err(|errs| {
        anyhow::anyhow!(
            "{}",
            errs.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    })?;
    if let Some(ex) = exchange {
        for (k, _) in &mut universe.series {
            k.exchange = ex.to_owned();
        }
        universe.name = format!("{ex} {}", universe.market);
    }
    Ok(universe)
}

impl Follower {
    /// Checks the universe, creates its series and queues the history
    /// backfill of series that hold nothing yet.
    pub async fn new(
        pool: PgPool,
        settings: &Settings,
        follow: FollowSettings,
        source: Source,
    ) -> anyhow::Result<Follower> {
        let universe = universe_for(&follow, source.exchange.as_deref())?;
        let mut venue = match universe.market {
            engine::Market::Spot => settings.binance.spot.clone(),
            engine::Market::Futures => settings.binance.futures.clone(),
        };
        if let Some(url) = &source.base_url {
            venue.base_url = url.clone();
            if source.ws_url.is_none() {
                venue.ws_url = None;
            }
        }
        if let Some(ws) = &source.ws_url {
            venue.ws_url = Some(ws.clone());
        }
        let params = BackfillParams {
            exchange: universe.venue.clone(),
            market: universe.market,
            symbols: Vec::new(),
            timeframe: universe.base,
            from: 0,
            to: None,
            base_url: Some(venue.base_url.clone()),
            weight_limit: None,
        };
        let ws_base = venue.stream_base();
        let client = if universe.is_stocks() {
            let params = BackfillParams {
                exchange: universe.venue.clone(),
                base_url: source.base_url.clone(),
                ..params
            };
            Rest::Stocks(backfill::stock_chain(&params, settings)?)
        } else {
            let budget = backfill::budget_for(&params, settings);
            Rest::Binance(
                BinanceClient::new(universe.market, venue, budget)
                    .context("building the venue's HTTP client")?,
            )
        };

        let mut tracked = Vec::with_capacity(universe.series.len());
        let mut index = HashMap::new();
        let mut empty: HashMap<Timeframe, Vec<Symbol>> = HashMap::new();
        for (key, role) in &universe.series {
            let id = {
                let mut conn = pool.acquire().await?;
                db::candles::ensure_series(&mut conn, key).await?
            };
            let row = db::candles::find_series(&pool, key)
                .await?
                .context("series vanished after creation")?;
            let mut gate = BarGate::new(follow.quality_rules());
            gate.seed(&db::candles::read_last(&pool, id, 200).await?);
            if row.bars == 0 {
                empty
                    .entry(key.timeframe)
                    .or_default()
                    .push(key.symbol.clone());
            }
            index.insert((key.symbol.clone(), key.timeframe), tracked.len());
            tracked.push(Tracked {
                key: key.clone(),
                role: *role,
                id,
                newest: row.last_open,
                link: Link::Connecting,
                gate,
                written: None,
                retry_at: None,
                failures: 0,
                funding_due: None,
                premium_at: None,
            });
        }
        let keep: Vec<i32> = tracked.iter().map(|t| t.id).collect();
        db::follow::forget_others(&pool, &universe.name, &keep).await?;
        let follower = Follower {
            pool,
            settings: follow,
            universe,
            client,
            ws_base,
            source,
            tracked,
            index,
        };
        // The history of a newly followed series is a job (progress in the
        // admin panel); the follower only fetches a warm-up window itself.
        if follower.source.exchange.is_none() {
            for (tf, symbols) in empty {
                follower.queue_history(tf, symbols).await?;
            }
        }
        Ok(follower)
    }

    async fn queue_history(&self, tf: Timeframe, symbols: Vec<Symbol>) -> anyhow::Result<()> {
        let now = self.source.clock.now_ms();
        let params = BackfillParams {
            exchange: self.universe.venue.clone(),
            market: self.universe.market,
            symbols,
            timeframe: tf,
            from: now - i64::from(self.settings.history_days) * 86_400_000,
            to: Some(tf.floor(now)),
            base_url: self.source.base_url.clone(),
            weight_limit: None,
        };
        params.validate()?;
        let job =
            db::jobs::enqueue(&self.pool, backfill::KIND, &serde_json::to_value(&params)?).await?;
        tracing::info!(job = job.id, timeframe = %tf, symbols = params.symbols.len(), days = self.settings.history_days, "history backfill queued for the newly followed series");
        Ok(())
    }

    fn backoff(&self, failures: u32) -> Duration {
        let cap = self
            .settings
            .reconnect_min_ms
            .saturating_mul(1 << failures.min(16))
            .min(self.settings.reconnect_max_ms);
        // Full jitter, never below the minimum.
        let ms = rand::rng()
            .random_range(self.settings.reconnect_min_ms..=cap.max(self.settings.reconnect_min_ms));
        Duration::from_millis(ms)
    }

    /// Follows until `stop` turns true.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) -> anyhow::Result<()> {
        tracing::info!(universe = %self.universe.name, series = self.tracked.len(), demo = self.source.demo, "following");
        let mut failures = 0u32;
        loop {
            if *stop.borrow() {
                return Ok(());
            }
            // The stock providers are read through REST only.
            let transport = if self.universe.is_stocks() {
                Transport::Poll
            } else {
                self.settings.transport
            };
            let streams = match transport {
                Transport::Stream => match self.open_streams().await {
                    Ok(s) => Some(s),
                    Err(e) => {
                        tracing::warn!(error = %e, "kline stream cannot be opened; polling the klines endpoint meanwhile");
                        self.set_down(StaleReason::Disconnected(e.to_string()), false);
                        None
                    }
                },
                Transport::Poll => None,
            };
            self.repair_all().await;
            self.publish(true).await;
            match streams {
                Some(s) => {
                    failures = 0;
                    let reason = self.stream(s, &mut stop).await;
                    if *stop.borrow() {
                        return Ok(());
                    }
                    tracing::warn!(reason = %reason, "kline stream ended; repairing and reconnecting");
                    self.set_down(StaleReason::Disconnected(reason), false);
                    self.publish(true).await;
                    let wait = self.backoff(0);
                    tokio::select! { _ = tokio::time::sleep(wait) => {}, _ = stop.changed() => {} }
                }
                None => {
                    failures += 1;
                    let until = match transport {
                        Transport::Poll => None,
                        Transport::Stream => Some(Instant::now() + self.backoff(failures)),
                    };
                    self.poll(until, &mut stop).await;
                }
            }
        }
    }

    fn set_down(&mut self, reason: StaleReason, venue_errors_too: bool) {
        let since = self.source.clock.now_ms();
        for t in &mut self.tracked {
            let keep = matches!(
                &t.link,
                Link::Down {
                    reason: StaleReason::VenueError(_),
                    ..
                }
            );
            if venue_errors_too || !keep {
                t.link = Link::Down {
                    since,
                    reason: reason.clone(),
                };
            }
        }
    }

    async fn open_streams(&self) -> anyhow::Result<Streams> {
        let subs: Vec<(Symbol, Timeframe)> = self
            .tracked
            .iter()
            .map(|t| (t.key.symbol.clone(), t.key.timeframe))
            .collect();
        let (tx, rx) = mpsc::channel(4096);
        let mut tasks = Vec::new();
        for chunk in subs.chunks(STREAMS_PER_CONNECTION) {
            let mut s = KlineStream::connect(&self.ws_base, chunk, StreamLimits::default()).await?;
            let tx = tx.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    let ev = s.next_event().await;
                    let down = matches!(ev, FeedEvent::Down { .. });
                    if tx.send(ev).await.is_err() || down {
                        return;
                    }
                }
            }));
        }
        Ok(Streams { rx, tasks })
    }

    /// Stores stream bars until the stream ends; returns why it ended.
    async fn stream(&mut self, mut s: Streams, stop: &mut watch::Receiver<bool>) -> String {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                ev = s.rx.recv() => match ev {
                    Some(FeedEvent::Bar(b)) => {
                        // A universe's bars close together: store what has
                        // arrived in one transaction (one commit, not one per series).
                        let mut batch = vec![b];
                        let mut after = None;
                        while batch.len() < MAX_BATCH {
                            match s.rx.try_recv() {
                                Ok(FeedEvent::Bar(b)) => batch.push(b),
                                Ok(other) => {
                                    after = Some(other);
                                    break;
                                }
                                Err(_) => break,
                            }
                        }
                        self.on_bars(batch).await;
                        match after {
                            Some(FeedEvent::Malformed { text, error }) => {
                                tracing::warn!(%error, text = %text.chars().take(500).collect::<String>(), "malformed stream message skipped; the gap repair fetches what it carried");
                            }
                            Some(FeedEvent::Down { reason }) => return reason,
                            _ => {}
                        }
                    }
                    Some(FeedEvent::Malformed { text, error }) => {
                        tracing::warn!(%error, text = %text.chars().take(500).collect::<String>(), "malformed stream message skipped; the gap repair fetches what it carried");
                    }
                    Some(FeedEvent::Down { reason }) => return reason,
                    None => return "stream readers ended".into(),
                },
                _ = tick.tick() => {
                    self.retry_failing().await;
                    self.publish(false).await;
                }
                _ = stop.changed() => return "stopping".into(),
            }
        }
    }

    /// REST polling: asks for each series' next bar shortly after it is due.
    async fn poll(&mut self, until: Option<Instant>, stop: &mut watch::Receiver<bool>) {
        let delay = (self.settings.poll_delay_s * 1000.0) as i64;
        let retry = Duration::from_secs_f64(self.settings.poll_retry_s.max(0.05));
        loop {
            if until.is_some_and(|u| Instant::now() >= u) || *stop.borrow() {
                return;
            }
            let now = self.source.clock.now_ms();
            let mut next_due = None::<TimeMs>;
            for i in 0..self.tracked.len() {
                let t = &self.tracked[i];
                let tf = t.key.timeframe;
                // The next bar the calendar expects, once it has closed.
                let due = t.newest.map_or(now, |n| {
                    self.universe.calendar.next_bar_after(tf, n) + tf.duration_ms() + delay
                });
                if due <= now && t.retry_at.is_none_or(|r| Instant::now() >= r) {
                    self.repair(i).await;
                } else {
                    next_due = Some(next_due.map_or(due, |d: TimeMs| d.min(due)));
                }
            }
            self.publish(false).await;
            let mut wait = next_due.map_or(retry, |d| self.source.clock.wall_until(d).min(retry));
            if let Some(u) = until {
                wait = wait.min(u.saturating_duration_since(Instant::now()));
            }
            tokio::select! { _ = tokio::time::sleep(wait.max(Duration::from_millis(10))) => {}, _ = stop.changed() => return }
        }
    }

    /// A stale series with no bar coming (halted, or a venue error) is asked
    /// again through REST, with its own backoff.
    async fn retry_failing(&mut self) {
        let now = self.source.clock.now_ms();
        let grace = (self.settings.grace_s * 1000.0) as i64;
        for i in 0..self.tracked.len() {
            let t = &self.tracked[i];
            let stale = matches!(
                Freshness::of_in(
                    self.universe.calendar,
                    t.newest,
                    t.key.timeframe,
                    &t.link,
                    now,
                    grace
                ),
                Freshness::Stale { .. }
            );
            if stale && t.retry_at.is_none_or(|r| Instant::now() >= r) {
                self.repair(i).await;
                let t = &mut self.tracked[i];
                if t.retry_at.is_none() {
                    t.retry_at = Some(
                        Instant::now()
                            + Duration::from_secs_f64(self.settings.poll_retry_s.max(0.05)),
                    );
                }
            }
        }
    }

    async fn repair_all(&mut self) {
        for i in 0..self.tracked.len() {
            self.repair(i).await;
        }
    }

    /// Fetches and stores every closed bar after the newest stored one.
    async fn repair(&mut self, i: usize) {
        let now = self.source.clock.now_ms();
        let (tf, symbol) = (
            self.tracked[i].key.timeframe,
            self.tracked[i].key.symbol.clone(),
        );
        let dur = tf.duration_ms();
        let to = tf.floor(now);
        let warmup = i64::from(self.settings.warmup_bars).max(1) * dur;
        let mut from = self.tracked[i].newest.map_or(to - warmup, |n| n + dur);
        let was_down = matches!(self.tracked[i].link, Link::Down { .. });
        self.tracked[i].link = Link::Repairing;
        while from < to {
            match self.client.fetch_klines(&symbol, tf, from, to).await {
                Ok(venues::Page {
                    candles: page,
                    next,
                    provider,
                    adjustment,
                    raw_close,
                }) => {
                    if page.is_empty() {
                        break;
                    }
                    if self.universe.is_stocks()
                        && let Err(e) = self
                            .record_source(
                                i,
                                &provider,
                                adjustment,
                                (from, next.unwrap_or(to)),
                                &page,
                                &raw_close,
                            )
                            .await
                    {
                        tracing::warn!(error = %format!("{e:#}"), %symbol, "recording the bars' provider failed");
                    }
                    if let Err(e) = self.store(&[(i, &page)]).await {
                        tracing::error!(error = %format!("{e:#}"), %symbol, timeframe = %tf, "storing repaired bars failed");
                        self.fail(i, StaleReason::VenueError(format!("store: {e:#}")));
                        return;
                    }
                    match next {
                        Some(n) if n > from => from = n,
                        _ => break,
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, %symbol, timeframe = %tf, "gap repair failed");
                    let reason = match &e {
                        venues::ExchangeError::Exhausted { .. } if was_down => {
                            StaleReason::Disconnected(e.to_string())
                        }
                        _ => StaleReason::VenueError(e.to_string()),
                    };
                    self.fail(i, reason);
                    return;
                }
            }
        }
        let t = &mut self.tracked[i];
        t.link = Link::Streaming;
        t.failures = 0;
        t.retry_at = None;
        self.sync_funding(i).await;
    }

    /// Which stock provider supplied a repaired range, and its raw closes.
    async fn record_source(
        &self,
        i: usize,
        provider: &str,
        adjustment: venues::Adjustment,
        range: (TimeMs, TimeMs),
        page: &[Candle],
        raw_close: &[f64],
    ) -> anyhow::Result<()> {
        let id = self.tracked[i].id;
        let mut tx = self.pool.begin().await?;
        db::candles::record_source(&mut tx, id, provider, adjustment.as_str(), range).await?;
        if raw_close.len() == page.len() && !raw_close.is_empty() {
            let rows: Vec<(TimeMs, f64)> = page
                .iter()
                .zip(raw_close)
                .map(|(c, r)| (c.open_time, *r))
                .collect();
            db::candles::insert_raw_closes(&mut tx, id, &rows).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A perpetual's funding: the settled history since the newest stored
    /// settlement (once one is due) and the current predicted rate. Failures
    /// are logged; bars go on regardless.
    async fn sync_funding(&mut self, i: usize) {
        let t = &self.tracked[i];
        let Some(client) = self.client.binance().cloned() else {
            return;
        };
        if t.role != Role::Base || self.universe.market != engine::Market::Futures {
            return;
        }
        let now = self.source.clock.now_ms();
        let (exchange, symbol) = (t.key.exchange.clone(), t.key.symbol.clone());
        if t.funding_due.is_none_or(|d| now >= d) {
            let history = async {
                let mut from =
                    match db::funding::newest(&self.pool, &exchange, symbol.as_str()).await? {
                        Some(t) => t + 1,
                        None => now - i64::from(self.settings.history_days) * 86_400_000,
                    };
                loop {
                    let page = client.funding_rates(&symbol, from, now + 1).await?;
                    let rows: Vec<(TimeMs, f64, Option<f64>)> = page
                        .iter()
                        .map(|r| (r.time, r.rate, r.mark_price))
                        .collect();
                    db::funding::insert_settlements(&self.pool, &exchange, symbol.as_str(), &rows)
                        .await?;
                    match page.last() {
                        Some(l) if page.len() >= 1000 => from = l.time + 1,
                        _ => break,
                    }
                }
                anyhow::Ok(())
            };
            if let Err(e) = history.await {
                tracing::warn!(error = %format!("{e:#}"), %symbol, "funding history not fetched");
            }
        }
        // The predicted rate drifts slowly: once a clock hour is enough for
        // plans, and keeps three round trips off every stored bar.
        let fresh = self.tracked[i]
            .premium_at
            .is_some_and(|t| now - t < PREMIUM_EVERY_MS);
        if fresh && self.tracked[i].funding_due.is_some_and(|d| now < d) {
            return;
        }
        self.tracked[i].premium_at = Some(now);
        match client.premium_index(&symbol).await {
            Ok(p) => {
                let interval_hours =
                    db::funding::interval_hours(&self.pool, &exchange, symbol.as_str())
                        .await
                        .unwrap_or(8.0);
                let row = db::funding::Predicted {
                    rate: p.rate,
                    mark_price: (p.mark_price > 0.0).then_some(p.mark_price),
                    next_funding_time: p.next_funding_time,
                    interval_hours,
                    venue_time: p.time,
                };
                if let Err(e) =
                    db::funding::set_predicted(&self.pool, &exchange, symbol.as_str(), &row).await
                {
                    tracing::warn!(error = %e, %symbol, "storing the predicted funding rate failed");
                }
                self.tracked[i].funding_due = Some(p.next_funding_time);
            }
            Err(e) => tracing::warn!(error = %e, %symbol, "premium index not fetched"),
        }
    }

    fn fail(&mut self, i: usize, reason: StaleReason) {
        let backoff = self.backoff(self.tracked[i].failures + 1);
        let since = self.source.clock.now_ms();
        let t = &mut self.tracked[i];
        t.failures += 1;
        t.retry_at = Some(Instant::now() + backoff);
        t.link = Link::Down { since, reason };
    }

    /// Stream bars in arrival order: each series' next bar joins one
    /// transaction for all; anything else (a hole before it, a bar seen
    /// before, a series not followed) goes the careful way, one by one.
    async fn on_bars(&mut self, bars: Vec<trading::feed::ClosedBar>) {
        let mut group: Vec<(usize, Candle)> = Vec::new();
        let mut expected: HashMap<usize, TimeMs> = HashMap::new();
        for b in bars {
            let next = self
                .index
                .get(&(b.symbol.clone(), b.timeframe))
                .copied()
                .filter(|&i| {
                    let dur = b.timeframe.duration_ms();
                    let want = expected
                        .get(&i)
                        .copied()
                        .or_else(|| self.tracked[i].newest.map(|n| n + dur));
                    want == Some(b.candle.open_time)
                });
            match next {
                Some(i) => {
                    expected.insert(i, b.candle.open_time + b.timeframe.duration_ms());
                    group.push((i, b.candle));
                }
                None => {
                    self.store_group(&mut group).await;
                    expected.clear();
                    if let Err(e) = self.on_bar(&b.symbol, b.timeframe, b.candle).await {
                        tracing::error!(error = %format!("{e:#}"), symbol = %b.symbol, timeframe = %b.timeframe, "storing a stream bar failed; the next repair fetches it");
                    }
                }
            }
        }
        self.store_group(&mut group).await;
    }

    /// Stores several series' next bars in one transaction (flags included).
    async fn store_group(&mut self, group: &mut Vec<(usize, Candle)>) {
        if group.is_empty() {
            return;
        }
        // Each series once, its bars in arrival order.
        let mut by_series: Vec<(usize, Vec<Candle>)> = Vec::new();
        for (i, c) in group.drain(..) {
            match by_series.iter_mut().find(|(j, _)| *j == i) {
                Some((_, v)) => v.push(c),
                None => by_series.push((i, vec![c])),
            }
        }
        let batches: Vec<(usize, &[Candle])> =
            by_series.iter().map(|(i, v)| (*i, v.as_slice())).collect();
        if let Err(e) = self.store(&batches).await {
            tracing::error!(error = %format!("{e:#}"), series = batches.len(), "storing stream bars failed; the next repair fetches them");
            return;
        }
        for (i, _) in by_series {
            let t = &mut self.tracked[i];
            if !matches!(t.link, Link::Repairing) {
                t.link = Link::Streaming;
            }
            self.sync_funding(i).await;
        }
    }

    async fn on_bar(&mut self, symbol: &Symbol, tf: Timeframe, c: Candle) -> anyhow::Result<()> {
        let Some(&i) = self.index.get(&(symbol.clone(), tf)) else {
            tracing::warn!(%symbol, timeframe = %tf, "stream bar for a series not followed; skipped");
            return Ok(());
        };
        let dur = tf.duration_ms();
        if !tf.is_aligned(c.open_time) {
            tracing::warn!(%symbol, timeframe = %tf, open_time = c.open_time, "stream bar off the timeframe grid; skipped");
            return Ok(());
        }
        match self.tracked[i].newest {
            Some(n)
                if c.open_time <= n
                    && db::follow::bar_exists(&self.pool, self.tracked[i].id, c.open_time)
                        .await? =>
            {
                tracing::debug!(%symbol, timeframe = %tf, open_time = c.open_time, "bar already stored");
                return Ok(());
            }
            Some(n) if c.open_time > n + dur => {
                // A hole before this bar: fetch it first so bars stay in order.
                self.repair(i).await;
                if self.tracked[i].newest.is_some_and(|n| n >= c.open_time) {
                    return Ok(());
                }
            }
            _ => {}
        }
        self.store(&[(i, std::slice::from_ref(&c))]).await?;
        let t = &mut self.tracked[i];
        if !matches!(t.link, Link::Repairing) {
            t.link = Link::Streaming;
        }
        self.sync_funding(i).await;
        Ok(())
    }

    /// Stores bars of one or more series (each series once, its bars oldest
    /// first) in one transaction, flagging the ones that look wrong; the ticks
    /// announcing them go out on commit. On error nothing is stored and the
    /// series' state is unchanged, so the next repair fetches the bars.
    async fn store(&mut self, batches: &[(usize, &[Candle])]) -> anyhow::Result<()> {
        let mut checked = Vec::with_capacity(batches.len());
        let mut tx = self.pool.begin().await?;
        for &(i, candles) in batches {
            let t = &self.tracked[i];
            let mut gate = t.gate.clone();
            db::candles::insert_candles(&mut tx, t.id, candles).await?;
            for c in candles {
                if let Some(f) = gate.check(c) {
                    db::follow::flag_bar(&mut tx, t.id, c.open_time, f.kind(), &f.to_string())
                        .await?;
                    tracing::warn!(series = %format!("{} {}", t.key.symbol, t.key.timeframe), open_time = c.open_time, flag = %f, "bar flagged");
                }
            }
            checked.push((i, gate, candles.iter().map(|c| c.open_time).max()));
        }
        tx.commit().await?;
        for (i, gate, newest) in checked {
            let t = &mut self.tracked[i];
            t.gate = gate;
            t.newest = t.newest.max(newest);
        }
        Ok(())
    }

    /// Writes each series' freshness when it changed (or its row is old).
    async fn publish(&mut self, force: bool) {
        let (now, wall) = (self.source.clock.now_ms(), chrono::Utc::now());
        let grace = (self.settings.grace_s * 1000.0) as i64;
        for t in &mut self.tracked {
            let f = Freshness::of_in(
                self.universe.calendar,
                t.newest,
                t.key.timeframe,
                &t.link,
                now,
                grace,
            );
            let changed = t
                .written
                .as_ref()
                .is_none_or(|(w, at)| *w != f || at.elapsed() >= REWRITE_EVERY);
            if !force && !changed {
                continue;
            }
            let stale = match &f {
                Freshness::Stale { since, reason } => {
                    Some((reason.kind(), reason.to_string(), *since))
                }
                _ => None,
            };
            let u = StateUpdate {
                series_id: t.id,
                universe: &self.universe.name,
                role: t.role.as_str(),
                state: f.as_str(),
                stale,
                clock_now: now,
                clock_speed: self.source.clock.speed(),
                demo: self.source.demo,
                wall,
            };
            match db::follow::upsert_state(&self.pool, &u).await {
                Ok(()) => {
                    if t.written
                        .as_ref()
                        .is_some_and(|(w, _)| w.as_str() != f.as_str())
                    {
                        tracing::info!(series = %format!("{} {}", t.key.symbol, t.key.timeframe), state = f.as_str(), "freshness changed");
                    }
                    t.written = Some((f, Instant::now()));
                }
                Err(e) => tracing::warn!(error = %e, "writing follow state failed"),
            }
        }
    }
}

/// The reader tasks of the open stream connections.
#[derive(Debug)]
struct Streams {
    rx: mpsc::Receiver<FeedEvent>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Streams {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The settings in force: the admin's edit of the universe over the file's
/// `[follow]` (when `editable`), and the edit's time (its version).
pub async fn effective(
    pool: &PgPool,
    follow: &FollowSettings,
    editable: bool,
) -> (FollowSettings, Option<chrono::DateTime<chrono::Utc>>) {
    if !editable {
        return (follow.clone(), None);
    }
    match db::follow::config_edit(pool).await {
        Ok(Some((e, at))) => match follow.with_edit(&e) {
            Ok(f) => (f, Some(at)),
            Err(errs) => {
                let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
                tracing::error!(errors = ?text, "the stored universe edit is invalid; following the config file's");
                (follow.clone(), Some(at))
            }
        },
        Ok(None) => (follow.clone(), None),
        Err(e) => {
            tracing::warn!(error = %e, "reading the universe edit failed; following the config file's");
            (follow.clone(), None)
        }
    }
}

async fn edit_version(pool: &PgPool) -> Option<chrono::DateTime<chrono::Utc>> {
    db::follow::config_edit(pool)
        .await
        .ok()
        .flatten()
        .map(|(_, at)| at)
}

/// Runs the follower of `follow` whenever this process holds its
/// universe's lock (one follower per universe across processes), until
/// `stop` turns true. With `editable`, an admin's edit of the universe (Admin
/// → System) replaces the file's, and the follower restarts when it changes.
/// Errors that stop a follower are logged and it starts again a little later.
pub async fn supervise(
    pool: PgPool,
    settings: Settings,
    follow: FollowSettings,
    source: Source,
    stop: watch::Receiver<bool>,
    editable: bool,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        let (current, version) = effective(&pool, &follow, editable).await;
        // Stops the follower when the process stops or the edit changes.
        let (child_tx, child_rx) = watch::channel(false);
        let watcher = tokio::spawn({
            let (pool, mut stop) = (pool.clone(), stop.clone());
            async move {
                loop {
                    tokio::select! {
                        _ = stop.changed() => break,
                        _ = tokio::time::sleep(Duration::from_secs(2)) => {
                            if editable && edit_version(&pool).await != version {
                                tracing::info!("the followed universe was edited; restarting the follower");
                                break;
                            }
                        }
                    }
                }
                let _ = child_tx.send(true);
            }
        });
        let name = match universe_for(&current, source.exchange.as_deref()) {
            Ok(u) => u.name,
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "[follow] is invalid; nothing is followed");
                String::new()
            }
        };
        if current.enabled && !name.is_empty() {
            match db::follow::try_follow_lock(&pool, &name).await {
                Ok(Some(lock)) => {
                    let r = match Follower::new(
                        pool.clone(),
                        &settings,
                        current.clone(),
                        source.clone(),
                    )
                    .await
                    {
                        Ok(f) => f.run(child_rx.clone()).await,
                        Err(e) => Err(e),
                    };
                    drop(lock);
                    if let Err(e) = r {
                        tracing::error!(error = %format!("{e:#}"), universe = %name, "follower stopped; restarting in 10 s");
                    }
                }
                Ok(None) => {
                    tracing::debug!(universe = %name, "another process follows this universe")
                }
                Err(e) => tracing::warn!(error = %e, "follower lock unavailable"),
            }
        }
        // Wait for the edit to change, the process to stop, or the retry time.
        let mut child = child_rx.clone();
        if !*child.borrow() {
            tokio::select! { _ = tokio::time::sleep(Duration::from_secs(10)) => {}, _ = child.changed() => {} }
        }
        watcher.abort();
    }
}
