//! Backfill: fetch missing candles from an exchange into the store, as a job.
//!
//! Resumable by construction: each page of candles and the symbol's cursor
//! commit in one transaction, so after a `kill -9` the job restarts from the
//! last committed page: no gap, no duplicate. Only ranges missing from the
//! store are fetched (gap repair). Symbols run concurrently under one shared
//! rate budget.

use crate::config::Settings;
use crate::db::{self, DbError};
use engine::{Market, SeriesKey, Symbol, TimeMs, Timeframe};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Instant;
use venues::binance::{BinanceClient, http::VENUE};
use venues::rate::RateBudget;
use venues::{Exchange, ExchangeError};

pub const KIND: &str = "backfill";

/// What to backfill. Stored as the job's parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackfillParams {
    pub exchange: String,
    pub market: Market,
    pub symbols: Vec<Symbol>,
    pub timeframe: Timeframe,
    pub from: TimeMs,
    /// End (exclusive); `None` = the time the job first starts, then fixed.
    pub to: Option<TimeMs>,
    /// Overrides the configured base URL (a mock, a testnet).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Overrides the configured weight limit per minute.
    #[serde(default)]
    pub weight_limit: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error(
        "unknown exchange {0:?}: supported are binance and stocks (the US stock provider chain)"
    )]
    UnknownExchange(String),
    #[error("backfill range is empty: from {from} is not before to {to}")]
    EmptyRange { from: String, to: String },
    #[error("no symbols given")]
    NoSymbols,
    #[error(transparent)]
    Exchange(#[from] ExchangeError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("job parameters or checkpoint are unreadable: {0}")]
    BadJob(String),
    #[error("building the HTTP client: {0}")]
    Http(String),
}

impl From<sqlx::Error> for BackfillError {
    fn from(e: sqlx::Error) -> Self {
        BackfillError::Db(e.into())
    }
}

impl BackfillParams {
    /// Whether this job reads the US stock provider chain.
    pub fn is_stocks(&self) -> bool {
        self.exchange == venues::stocks::EXCHANGE
    }

    pub fn validate(&self) -> Result<(), BackfillError> {
        if self.exchange != VENUE && !self.is_stocks() {
            return Err(BackfillError::UnknownExchange(self.exchange.clone()));
        }
        if self.is_stocks() && self.market != Market::Spot {
            return Err(BackfillError::BadJob("stocks have one market: spot".into()));
        }
        if self.symbols.is_empty() {
            return Err(BackfillError::NoSymbols);
        }
        if let Some(to) = self.to
            && to <= self.from
        {
            return Err(BackfillError::EmptyRange {
                from: crate::time::iso(self.from),
                to: crate::time::iso(to),
            });
        }
        let supported = if self.is_stocks() {
            venues::stocks::supports(self.timeframe)
        } else {
            venues::binance::interval(self.timeframe).is_some()
        };
        if !supported {
            return Err(ExchangeError::UnsupportedTimeframe {
                venue: self.exchange.clone(),
                timeframe: self.timeframe,
            }
            .into());
        }
        Ok(())
    }
}

/// Per-symbol state kept in the job's checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SymbolState {
    /// Missing ranges found when the job first ran; only these are fetched.
    pub ranges: Vec<(TimeMs, TimeMs)>,
    /// Everything before this time is done.
    pub cursor: TimeMs,
    /// Expected bars in `ranges` (the progress denominator).
    pub planned: i64,
    pub fetched: u64,
    pub stored: u64,
    pub pages: u64,
    pub done: bool,
    pub error: Option<String>,
}

/// The job's checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub to: TimeMs,
    pub symbols: BTreeMap<String, SymbolState>,
}

/// Final numbers, also written to the job's detail.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BackfillSummary {
    pub symbols: BTreeMap<String, SymbolState>,
    pub fetched: u64,
    pub stored: u64,
    pub pages: u64,
    pub elapsed_s: f64,
    pub candles_per_s: f64,
    pub cancelled: bool,
    pub failed: Vec<String>,
}

/// Progress shared by the symbol tasks of one run.
#[derive(Debug)]
struct Shared {
    job_id: i64,
    owner: String,
    started: Instant,
    planned: i64,
    /// Bars accounted for, this run and earlier ones (the progress numerator).
    done_bars: AtomicU64,
    fetched: AtomicU64,
    stored: AtomicU64,
    cancel: AtomicBool,
    states: Mutex<BTreeMap<String, SymbolState>>,
}

impl Shared {
    fn progress(&self) -> f64 {
        if self.planned <= 0 {
            1.0
        } else {
            (self.done_bars.load(Ordering::Relaxed) as f64 / self.planned as f64).min(1.0)
        }
    }

    fn detail(&self) -> serde_json::Value {
        let elapsed = self.started.elapsed().as_secs_f64().max(1e-3);
        let fetched = self.fetched.load(Ordering::Relaxed);
        let rate = fetched as f64 / elapsed;
        let left = (self.planned - self.done_bars.load(Ordering::Relaxed) as i64).max(0) as f64;
        serde_json::json!({
            "planned": self.planned,
            "done": self.done_bars.load(Ordering::Relaxed),
            "fetched": fetched,
            "stored": self.stored.load(Ordering::Relaxed),
            "candles_per_s": rate,
            "eta_s": if rate > 0.0 { Some(left / rate) } else { None },
        })
    }
}

/// Builds the client for the job's venue market.
pub fn client_for(
    params: &BackfillParams,
    settings: &Settings,
    budget: Arc<RateBudget>,
) -> Result<BinanceClient, BackfillError> {
    let mut cfg = match params.market {
        Market::Spot => settings.binance.spot.clone(),
        Market::Futures => settings.binance.futures.clone(),
    };
    if let Some(url) = &params.base_url {
        cfg.base_url = url.clone();
    }
    BinanceClient::new(params.market, cfg, budget).map_err(|e| BackfillError::Http(e.to_string()))
}

/// The stock provider chain of a job (its base URL override points every
/// provider at one host: the mock). Providers without keys are left out.
pub fn stock_chain(
    params: &BackfillParams,
    settings: &Settings,
) -> Result<venues::stocks::Chain, BackfillError> {
    let mut cfg = settings.stocks.clone().with_env();
    if let Some(url) = &params.base_url {
        cfg = venues::stocks::with_base(cfg, url);
    }
    let (chain, notes) = cfg.build().map_err(BackfillError::Http)?;
    for n in notes {
        tracing::info!(note = %n, "stock provider chain");
    }
    Ok(chain)
}

/// The weight budget a job uses: its override, else the venue's configured
/// limit. Jobs of one process talking to the same venue market share one
/// budget, since the venue counts weight per IP.
pub fn budget_for(params: &BackfillParams, settings: &Settings) -> Arc<RateBudget> {
    type Budgets = HashMap<(String, Market, u32), Arc<RateBudget>>;
    static BUDGETS: LazyLock<Mutex<Budgets>> = LazyLock::new(Mutex::default);
    let (configured, url) = match params.market {
        Market::Spot => (
            settings.binance.spot.weight_limit_per_min,
            &settings.binance.spot.base_url,
        ),
        Market::Futures => (
            settings.binance.futures.weight_limit_per_min,
            &settings.binance.futures.base_url,
        ),
    };
    let limit = params.weight_limit.unwrap_or(configured);
    let key = (
        params.base_url.clone().unwrap_or_else(|| url.clone()),
        params.market,
        limit,
    );
    BUDGETS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key)
        .or_insert_with(|| Arc::new(RateBudget::new(limit)))
        .clone()
}

/// Runs (or resumes) a claimed backfill job to the end, a cancel, or an error.
/// `on_progress` sees (done bars, planned bars) after every page.
pub async fn run<E: Exchange>(
    pool: &PgPool,
    job: &db::jobs::Job,
    owner: &str,
    exchange: &E,
    concurrency: usize,
    on_progress: &(dyn Fn(u64, i64) + Send + Sync),
) -> Result<BackfillSummary, BackfillError> {
    let params: BackfillParams = serde_json::from_value(job.params.clone())
        .map_err(|e| BackfillError::BadJob(e.to_string()))?;
    params.validate()?;
    let mut cp: Checkpoint = match &job.checkpoint {
        Some(v) => {
            serde_json::from_value(v.clone()).map_err(|e| BackfillError::BadJob(e.to_string()))?
        }
        None => Checkpoint::default(),
    };
    let tf = params.timeframe;
    if job.checkpoint.is_none() {
        // First run: fix the end and plan each symbol from what the store lacks.
        cp.to = tf.floor(params.to.unwrap_or_else(crate::time::now_ms));
        if cp.to <= params.from {
            return Err(BackfillError::EmptyRange {
                from: crate::time::iso(params.from),
                to: crate::time::iso(cp.to),
            });
        }
        let mut conn = pool.acquire().await?;
        for sym in &params.symbols {
            let key = SeriesKey::new(&params.exchange, params.market, sym.clone(), tf)
                .map_err(|e| BackfillError::BadJob(e.to_string()))?;
            let series_id = db::candles::ensure_series(&mut conn, &key).await?;
            let mut ranges =
                db::candles::missing_ranges(pool, series_id, tf, params.from, cp.to).await?;
            // A stock series' weekends and holidays are not holes to fetch.
            if params.is_stocks() {
                ranges.retain(|(a, b)| {
                    engine::calendar::Calendar::Xnys.expected_slots(tf, *a, *b) > 0
                });
            }
            let planned = ranges.iter().map(|(a, b)| tf.bars_between(*a, *b)).sum();
            let cursor = ranges.first().map_or(cp.to, |r| r.0);
            cp.symbols.insert(
                sym.to_string(),
                SymbolState {
                    ranges,
                    cursor,
                    planned,
                    done: planned == 0,
                    ..Default::default()
                },
            );
        }
        drop(conn);
        let mut tx = pool.begin().await?;
        let value = serde_json::to_value(&cp).map_err(|e| BackfillError::BadJob(e.to_string()))?;
        db::jobs::checkpoint(&mut tx, job.id, owner, 0.0, &serde_json::json!({}), &value).await?;
        tx.commit().await?;
    }

    let planned: i64 = cp.symbols.values().map(|s| s.planned).sum();
    let done_before: i64 = cp.symbols.values().map(|s| done_bars(s, tf)).sum();
    let shared = Arc::new(Shared {
        job_id: job.id,
        owner: owner.to_owned(),
        started: Instant::now(),
        planned,
        done_bars: AtomicU64::new(done_before.max(0) as u64),
        fetched: AtomicU64::new(0),
        stored: AtomicU64::new(0),
        cancel: AtomicBool::new(job.cancel_requested),
        states: Mutex::new(cp.symbols.clone()),
    });
    on_progress(shared.done_bars.load(Ordering::Relaxed), planned);

    // Heartbeat while pages are slow or the budget makes us wait.
    let hb = {
        let (pool, shared) = (pool.clone(), shared.clone());
        tokio::spawn(async move {
            loop {
                // A shutdown stops the job at its next page, as a cancel does
                // (the worker then releases it to the queue).
                if crate::jobs::sleep_unless_releasing(std::time::Duration::from_secs(5)).await {
                    shared.cancel.store(true, Ordering::Relaxed);
                }
                match db::jobs::heartbeat(&pool, shared.job_id, &shared.owner).await {
                    Ok(true) => shared.cancel.store(true, Ordering::Relaxed),
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
                }
            }
        })
    };

    let pending: Vec<(Symbol, SymbolState)> = params
        .symbols
        .iter()
        .filter_map(|s| {
            cp.symbols
                .get(s.as_str())
                .filter(|st| !st.done)
                .map(|st| (s.clone(), st.clone()))
        })
        .collect();
    let results: Vec<Result<(), BackfillError>> = futures::stream::iter(pending)
        .map(|(sym, st)| {
            let shared = shared.clone();
            let params = &params;
            async move {
                let r = run_symbol(pool, params, &sym, st, exchange, &shared, on_progress).await;
                if let Err(e) = &r {
                    if e.stops_everything() {
                        shared.cancel.store(true, Ordering::Relaxed);
                    }
                    // Record the failure in the checkpoint; other symbols go on.
                    let mut states = shared.states.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(s) = states.get_mut(sym.as_str()) {
                        s.error = Some(e.to_string());
                    }
                }
                r
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    hb.abort();

    let states = shared
        .states
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let elapsed = shared.started.elapsed().as_secs_f64();
    let fetched = shared.fetched.load(Ordering::Relaxed);
    let summary = BackfillSummary {
        failed: states
            .iter()
            .filter(|(_, s)| s.error.is_some())
            .map(|(k, _)| k.clone())
            .collect(),
        fetched,
        stored: shared.stored.load(Ordering::Relaxed),
        pages: states.values().map(|s| s.pages).sum(),
        elapsed_s: elapsed,
        candles_per_s: fetched as f64 / elapsed.max(1e-3),
        cancelled: shared.cancel.load(Ordering::Relaxed) && states.values().any(|s| !s.done),
        symbols: states,
    };
    // A venue ban is the job's error; a single bad symbol is in the summary.
    if let Some(e) = results
        .into_iter()
        .filter_map(Result::err)
        .find(|e| e.stops_everything() || matches!(e, BackfillError::Db(_)))
    {
        return Err(e);
    }
    Ok(summary)
}

impl BackfillError {
    fn stops_everything(&self) -> bool {
        match self {
            BackfillError::Exchange(e) => e.stops_everything(),
            BackfillError::Db(_) => true,
            _ => false,
        }
    }
}

/// Bars of `st.ranges` before the cursor (already handled).
fn done_bars(st: &SymbolState, tf: Timeframe) -> i64 {
    if st.done {
        return st.planned;
    }
    st.ranges
        .iter()
        .map(|(a, b)| tf.bars_between(*a, (*b).min(st.cursor).max(*a)))
        .sum()
}

async fn run_symbol<E: Exchange>(
    pool: &PgPool,
    params: &BackfillParams,
    sym: &Symbol,
    mut st: SymbolState,
    exchange: &E,
    shared: &Shared,
    on_progress: &(dyn Fn(u64, i64) + Send + Sync),
) -> Result<(), BackfillError> {
    let tf = params.timeframe;
    let key = SeriesKey::new(&params.exchange, params.market, sym.clone(), tf)
        .map_err(|e| BackfillError::BadJob(e.to_string()))?;
    let series_id = {
        let mut conn = pool.acquire().await?;
        db::candles::ensure_series(&mut conn, &key).await?
    };
    let path = vec!["symbols".to_owned(), sym.to_string()];
    let ranges = st.ranges.clone();
    for (a, b) in ranges {
        let mut start = a.max(st.cursor);
        while start < b {
            if shared.cancel.load(Ordering::Relaxed) {
                return Ok(());
            }
            let page = exchange.fetch_klines(sym, tf, start, b).await?;
            // A page that claims progress but makes none would loop forever.
            let next = page.next.filter(|n| *n > start).unwrap_or(b).min(b);
            let before = done_bars(&st, tf);

            let mut tx = pool.begin().await?;
            let stored = db::candles::insert_candles(&mut tx, series_id, &page.candles).await?;
            db::candles::record_source(
                &mut tx,
                series_id,
                &page.provider,
                page.adjustment.as_str(),
                (start, next),
            )
            .await?;
            if !page.raw_close.is_empty() {
                let raw: Vec<(TimeMs, f64)> = page
                    .candles
                    .iter()
                    .zip(&page.raw_close)
                    .map(|(c, r)| (c.open_time, *r))
                    .collect();
                db::candles::insert_raw_closes(&mut tx, series_id, &raw).await?;
            }
            let page = page.candles;
            st.cursor = next;
            st.fetched += page.len() as u64;
            st.stored += stored;
            st.pages += 1;
            st.done = next >= st.ranges.last().map_or(next, |r| r.1);
            shared.done_bars.fetch_add(
                (done_bars(&st, tf) - before).max(0) as u64,
                Ordering::Relaxed,
            );
            shared
                .fetched
                .fetch_add(page.len() as u64, Ordering::Relaxed);
            shared.stored.fetch_add(stored, Ordering::Relaxed);
            let value =
                serde_json::to_value(&st).map_err(|e| BackfillError::BadJob(e.to_string()))?;
            let cancel = db::jobs::checkpoint_entry(
                &mut tx,
                shared.job_id,
                &shared.owner,
                &path,
                &value,
                shared.progress(),
                &shared.detail(),
            )
            .await?;
            tx.commit().await?;

            shared
                .states
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(sym.to_string(), st.clone());
            if cancel {
                shared.cancel.store(true, Ordering::Relaxed);
            }
            on_progress(shared.done_bars.load(Ordering::Relaxed), shared.planned);
            start = next;
        }
    }
    Ok(())
}
