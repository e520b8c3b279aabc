//! The server's implementation of the pages' `Backend`: every rule about who
//! may do what sits here, so server functions and the REST API share it.

use crate::config::Settings;
use crate::db::signals::Candidate;
use crate::signals::{Outcome, Scanner, judge};
use crate::{auth, backfill, db, registry, simulate, training};
use app::backend::{Answer, Backend as Pages};
use app::types::*;
use engine::costs::CostModel;
use engine::{Market, SeriesKey, Symbol, Timeframe};
use models::backend::Backend;
use sqlx::PgPool;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

#[derive(Debug)]
pub struct PgBackend {
    pool: PgPool,
    pub started: Instant,
    /// WebSocket clients connected now (the hub counts them).
    pub ws_clients: Arc<AtomicU64>,
    sys: Arc<std::sync::Mutex<Option<sysinfo::System>>>,
    /// For the trading costs per exchange (plans are net of them).
    settings: Settings,
    /// "Scan now" from the admin panel; one at a time, models kept loaded.
    scanner: tokio::sync::Mutex<Scanner>,
    /// Latest stock prices through the provider chain, made at first use.
    quotes: std::sync::OnceLock<Result<venues::stocks::quote::QuoteCache, String>>,
}

impl PgBackend {
    /// Latest prices of `symbols` (TICKER/USD) through the stock provider
    /// chain, from the cache within `[stocks] quote_ttl_s`.
    pub async fn prices(
        &self,
        symbols: &[engine::Symbol],
    ) -> Result<app::types::PricesView, AppError> {
        let cache = self
            .quotes
            .get_or_init(|| {
                let cfg = self.settings.stocks.clone().with_env();
                cfg.build().map(|(chain, _)| {
                    venues::stocks::quote::QuoteCache::new(
                        chain,
                        std::time::Duration::from_secs(cfg.quote_ttl_s),
                        cfg.concurrency,
                    )
                })
            })
            .as_ref()
            .map_err(|e| AppError::new(ErrorCode::Unavailable, e.clone()))?;
        let (rows, took) = cache.prices(symbols).await;
        Ok(app::types::PricesView {
            prices: rows
                .into_iter()
                .map(|p| app::types::PriceView {
                    symbol: p.symbol,
                    price: p.quote.as_ref().map(|q| q.price),
                    time: p.quote.as_ref().map(|q| q.time),
                    provider: p.quote.map(|q| q.provider),
                    cached: p.cached,
                    error: p.error,
                })
                .collect(),
            elapsed_ms: took.as_millis() as u64,
        })
    }

    pub fn new(pool: PgPool, settings: &Settings) -> Self {
        PgBackend {
            scanner: tokio::sync::Mutex::new(
                Scanner::new(pool.clone(), Backend::preferred()).with_gates(&settings.signals),
            ),
            pool,
            started: Instant::now(),
            ws_clients: Arc::new(AtomicU64::new(0)),
            sys: Arc::new(std::sync::Mutex::new(None)),
            quotes: std::sync::OnceLock::new(),
            settings: settings.clone(),
        }
    }

    pub(super) fn config(&self) -> &Settings {
        &self.settings
    }

    pub(super) fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub(super) fn app_settings(&self) -> &Settings {
        &self.settings
    }

    fn costs_for(&self, exchange: &str) -> CostModel {
        self.settings.costs_for(exchange)
    }
}

fn plan_view(p: &engine::signals::SignalPlan) -> PlanView {
    PlanView {
        side: match p.side {
            engine::signals::Side::Long => "long",
            engine::signals::Side::Short => "short",
        }
        .to_owned(),
        entry: p.entry,
        take_profit: p.take_profit,
        stop_loss: p.stop_loss,
        leverage: p.leverage,
        qty: p.qty,
        notional: p.notional,
        margin: p.margin,
        risk_amount: p.risk_amount,
        liquidation: p.liquidation,
        expected_net_pct: p.expected_net_pct,
        expected_net: p.expected_net,
        costs_pct: p.costs_pct,
        risk_reward: p.risk_reward,
    }
}

/// A candidate as the reader sees it, judged for their profile and capital.
fn signal_view(
    c: &Candidate,
    outcome: &Outcome,
    follow: Option<&db::follow::FollowRow>,
    wall: chrono::DateTime<chrono::Utc>,
) -> SignalView {
    let n = &c.new;
    let tf_ms = engine::Timeframe::parse(&c.timeframe).map_or(0, |t| t.duration_ms());
    let now = follow.map_or(wall.timestamp_millis(), |f| f.clock_at(wall));
    let (plan, rejection, rejection_reason) = match outcome {
        Outcome::Plan(p) => (Some(plan_view(p)), None, None),
        Outcome::Rejected { kind, message } => (None, Some(kind.clone()), Some(message.clone())),
    };
    SignalView {
        id: c.id,
        exchange: c.exchange.clone(),
        market: c.market.clone(),
        symbol: c.symbol.clone(),
        timeframe: c.timeframe.clone(),
        bar_time: n.bar_time,
        price: n.price,
        source: n.source.as_str().to_owned(),
        model: n.model_label.clone(),
        model_id: n.model_id,
        prediction: n.prediction.map(|p| PredictionView {
            p_up: p.p_up,
            p_neutral: p.p_neutral,
            p_down: p.p_down,
            expected_move_pct: p.expected_move_pct,
            confidence: p.confidence,
            uncalibrated: n.uncalibrated.clone(),
            move_low: n.move_interval.map(|m| m.0),
            move_high: n.move_interval.map(|m| m.1),
            coverage_level: n.coverage_level,
            prediction_set: n.prediction_set.clone(),
        }),
        drivers: n
            .drivers
            .iter()
            .map(|d| DriverView {
                feature: d.feature.clone(),
                value: d.value,
            })
            .collect(),
        plan,
        rejection,
        rejection_reason,
        data_state: follow.map(|f| f.state.clone()),
        data_reason: follow.and_then(|f| f.detail.clone()),
        bar_age_ms: (now - (n.bar_time + tf_ms)).max(0),
        demo: follow.is_some_and(|f| f.demo),
        regime: n.regime.clone(),
        htf: n
            .htf
            .iter()
            .map(|(timeframe, trend_pct)| app::types::HtfView {
                timeframe: timeframe.clone(),
                trend_pct: *trend_pct,
            })
            .collect(),
    }
}

/// Every followed series as the follower last reported it, by name (the
/// system page and `/health/ready`).
pub(crate) async fn follow_views(
    pool: &sqlx::PgPool,
) -> Result<Vec<app::types::FollowView>, db::DbError> {
    let states = db::follow::states(pool).await?;
    let mut out: Vec<app::types::FollowView> = db::candles::list_series(pool)
        .await?
        .into_iter()
        .filter_map(|s| {
            let f = states.get(&s.id)?;
            Some(app::types::FollowView {
                series: s.label(),
                role: f.role.clone(),
                state: f.state.clone(),
                reason: f.reason.clone(),
                detail: f.detail.clone(),
                since: f.since,
                newest: s.last_open,
                demo: f.demo,
            })
        })
        .collect();
    out.sort_by(|a, b| a.series.cmp(&b.series));
    Ok(out)
}

fn db_err(e: impl std::fmt::Display) -> AppError {
    tracing::error!(error = %e, "database call failed");
    AppError::unavailable()
}

fn admin(v: &Viewer) -> Result<(), AppError> {
    if v.is_admin() {
        Ok(())
    } else {
        Err(AppError::forbidden())
    }
}

fn ms(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}

pub fn job_view(j: db::jobs::Job) -> JobView {
    JobView {
        id: j.id,
        kind: j.kind,
        status: j.status.as_str().to_owned(),
        progress: j.progress,
        params: j.params,
        detail: j.detail,
        error: j.error,
        attempts: j.attempts,
        cancel_requested: j.cancel_requested,
        created_by: j.created_by,
        created_at: ms(j.created_at),
        started_at: j.started_at.map(ms),
        finished_at: j.finished_at.map(ms),
    }
}

/// A job as a list shows it: a finished backtest carries its metrics, not
/// its equity curve and every trade (those come with the job itself).
fn list_entry(mut j: JobView) -> JobView {
    if j.kind == simulate::KIND
        && let Some(m) = j.detail.pointer("/report/metrics")
    {
        j.detail = serde_json::json!({ "report": { "metrics": m } });
    }
    j
}

/// Pairs from a form or request ("BTC/USDT", " ETH/USDT "), blanks skipped.
/// Every entry must be a symbol: a blank one is refused by its index, not
/// skipped (the forms drop blanks themselves).
fn parse_symbols(raw: &[String]) -> Result<Vec<Symbol>, AppError> {
    raw.iter()
        .enumerate()
        .map(|(i, s)| match s.trim() {
            "" => Err(AppError::invalid("symbols", format!("entry {i} is empty"))),
            s => Symbol::parse(s).map_err(|e| AppError::invalid("symbols", e.to_string())),
        })
        .collect()
}

fn parse_timeframe(raw: &str) -> Result<Timeframe, AppError> {
    Timeframe::parse(raw.trim()).map_err(|e| AppError::invalid("timeframe", e.to_string()))
}

/// The shipped universe a request names (blank: none), its tickers added
/// to `symbols` once each.
fn with_universe(
    name: Option<&str>,
    symbols: &mut Vec<Symbol>,
) -> Result<Option<crate::universes::Universe>, AppError> {
    let Some(name) = name.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let u = crate::universes::get(name).map_err(|e| AppError::invalid("universe", e))?;
    for s in u.symbols() {
        if !symbols.contains(&s) {
            symbols.push(s);
        }
    }
    Ok(Some(u))
}

/// Parses a backfill request into job parameters, naming the field at fault.
pub fn backfill_params(r: &BackfillRequest) -> Result<backfill::BackfillParams, AppError> {
    let mut exchange = engine::market::parse_exchange(&r.exchange)
        .map_err(|e| AppError::invalid("exchange", e.to_string()))?;
    let mut market =
        Market::parse(r.market.trim()).map_err(|e| AppError::invalid("market", e.to_string()))?;
    let mut symbols = parse_symbols(&r.symbols)?;
    if let Some(u) = with_universe(r.universe.as_deref(), &mut symbols)? {
        if exchange != u.exchange {
            return Err(AppError::invalid(
                "exchange",
                format!("the universe {} is stored under {}", u.name, u.exchange),
            ));
        }
        // Stocks have no futures.
        market = Market::Spot;
        exchange = u.exchange;
    }
    let timeframe = parse_timeframe(&r.timeframe)?;
    let from = crate::time::parse_instant(&r.from).map_err(|e| AppError::invalid("from", e))?;
    let to = match r.to.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(t) => Some(crate::time::parse_instant(t).map_err(|e| AppError::invalid("to", e))?),
        None => None,
    };
    let base_url = match r
        .base_url
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(u) if u.starts_with("http://") || u.starts_with("https://") => Some(u.to_owned()),
        Some(_) => {
            return Err(AppError::invalid(
                "base_url",
                "must start with http:// or https://",
            ));
        }
        None => None,
    };
    let params = backfill::BackfillParams {
        exchange,
        market,
        symbols,
        timeframe,
        from,
        to,
        base_url,
        weight_limit: None,
    };
    params.validate().map_err(|e| {
        let field = match &e {
            backfill::BackfillError::UnknownExchange(_) => "exchange",
            backfill::BackfillError::NoSymbols => "symbols",
            backfill::BackfillError::EmptyRange { .. } => "to",
            _ => "timeframe",
        };
        AppError::invalid(field, e.to_string())
    })?;
    Ok(params)
}

pub fn model_view(m: db::models::ModelRow) -> ModelView {
    ModelView {
        id: m.id,
        scope: m.scope,
        timeframe: m.timeframe,
        version: m.version,
        sha256: m.sha256,
        zip_sha256: m.zip_sha256,
        zip_bytes: m.zip_bytes,
        wf_log_loss: m.wf_log_loss,
        wf_balanced_accuracy: m.wf_balanced_accuracy,
        status: m.status.as_str().to_owned(),
        created_at: ms(m.created_at),
        promoted_at: m.promoted_at.map(ms),
    }
}

fn decision_view(d: registry::Decision) -> RegistryDecision {
    RegistryDecision {
        model: model_view(d.model),
        promoted: d.promoted,
        reason: d.reason,
    }
}

/// Registry refusals (no backup to roll back to, …) are the caller's to fix.
fn registry_err(e: anyhow::Error) -> AppError {
    if e.downcast_ref::<db::DbError>().is_some() {
        return db_err(e);
    }
    AppError::new(ErrorCode::Conflict, format!("{e:#}"))
}

/// Parses a training request into job parameters, naming the field at fault.
pub fn train_params(r: &TrainRequest) -> Result<training::TrainJobParams, AppError> {
    let mut symbols = parse_symbols(&r.symbols)?;
    let exchange = with_universe(r.universe.as_deref(), &mut symbols)?.map(|u| u.exchange);
    if symbols.is_empty() {
        return Err(AppError::invalid(
            "symbols",
            "name at least one stored symbol",
        ));
    }
    let timeframe = parse_timeframe(&r.timeframe)?;
    let mut pipeline = models::pipeline::PipelineConfig::default();
    if let Some(e) = r.max_epochs {
        if !(1..=500).contains(&e) {
            return Err(AppError::invalid("max_epochs", "1 to 500 epochs"));
        }
        pipeline.train.max_epochs = e;
    }
    if let Some(f) = r.folds {
        if f > 10 {
            return Err(AppError::invalid("folds", "0 to 10 folds"));
        }
        pipeline.folds = f;
    }
    for (k, g) in r.groups.iter().enumerate() {
        let g = models::data::FeatureGroup::parse(g)
            .map_err(|e| AppError::invalid(&format!("groups[{k}]"), e))?;
        if pipeline.groups.contains(&g) {
            return Err(AppError::invalid(
                &format!("groups[{k}]"),
                format!("{} is named twice", g.name()),
            ));
        }
        pipeline.groups.push(g);
    }
    if r.transformer {
        pipeline.transformer = Some(Default::default());
    }
    let barrier = parse_barrier(r.barrier.as_deref().unwrap_or(""))?;
    let backend = match r
        .backend
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(b) => Some(
            b.parse::<Backend>()
                .map_err(|e| AppError::invalid("backend", e.to_string()))?,
        ),
        None => None,
    };
    let promote = match r.promote.as_deref().map(str::trim) {
        None | Some("") | Some("if_better") | Some("if-better") => registry::Promote::IfBetter,
        Some("always") => registry::Promote::Always,
        Some("never") => registry::Promote::Never,
        Some(other) => {
            return Err(AppError::invalid(
                "promote",
                format!("{other:?}: expected if_better, always or never"),
            ));
        }
    };
    Ok(training::TrainJobParams {
        symbols,
        timeframe,
        exchange,
        market: None,
        pipeline,
        backend,
        horizon: None,
        barrier,
        per_symbol: false,
        profile: crate::config::default_profile(),
        capital: crate::config::default_capital(),
        min_net_profit: None,
        out: None,
        promote,
        universe: r.universe.clone().filter(|s| !s.trim().is_empty()),
    })
}

/// The schema's pattern for barrier widths: `upper,lower`, each up to six
/// digits with up to six decimals, no spaces; or empty.
pub const BARRIER_PATTERN: &str = "^([0-9]{1,6}(\\.[0-9]{1,6})?,[0-9]{1,6}(\\.[0-9]{1,6})?)?$";

/// Barrier widths as [`BARRIER_PATTERN`] admits them (the schema's own
/// check, so the two cannot drift), each above zero; empty: none.
fn parse_barrier(s: &str) -> Result<Option<models::data::BarrierTarget>, AppError> {
    static PATTERN: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(BARRIER_PATTERN).expect("BARRIER_PATTERN is a valid regex")
    });
    if s.is_empty() {
        return Ok(None);
    }
    if !PATTERN.is_match(s) {
        return Err(AppError::invalid(
            "barrier",
            format!("upper,lower barrier widths in ATRs like 2,1 (got {s:?})"),
        ));
    }
    models::data::BarrierTarget::parse(s)
        .map(Some)
        .map_err(|e| AppError::invalid("barrier", e))
}

/// Parses an evaluation request into job parameters, naming the field at
/// fault: the training form's rules, and at least one fold (an evaluation
/// reports on held-out windows only).
pub fn evaluate_params(
    r: &EvaluateRequest,
) -> Result<crate::evaluate::EvaluateJobParams, AppError> {
    if r.folds == Some(0) {
        return Err(AppError::invalid(
            "folds",
            "1 to 10 folds: an evaluation reports on held-out windows only",
        ));
    }
    let t = train_params(&TrainRequest {
        symbols: r.symbols.clone(),
        timeframe: r.timeframe.clone(),
        max_epochs: r.max_epochs,
        folds: r.folds,
        backend: r.backend.clone(),
        promote: None,
        universe: r.universe.clone(),
        groups: Vec::new(),
        transformer: r.transformer,
        barrier: r.barrier.clone(),
    })?;
    let pipeline = t.pipeline;
    Ok(crate::evaluate::EvaluateJobParams {
        symbols: t.symbols,
        timeframe: t.timeframe,
        exchange: t.exchange,
        market: None,
        universe: t.universe,
        pipeline,
        backend: t.backend,
        horizon: None,
        barrier: t.barrier,
        profile: crate::config::default_profile(),
        capital: crate::config::default_capital(),
        min_net_profit: None,
        hybrid_weight: None,
    })
}

/// Parses a simulator request into job parameters, naming the field at fault.
pub fn backtest_params(r: &BacktestRequest) -> Result<simulate::BacktestJobParams, AppError> {
    let symbols = parse_symbols(&r.symbols)?;
    let timeframe = parse_timeframe(&r.timeframe)?;
    let instant = |field: &str, v: &Option<String>| -> Result<Option<i64>, AppError> {
        match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(t) => crate::time::parse_instant(t)
                .map(Some)
                .map_err(|e| AppError::invalid(field, e)),
            None => Ok(None),
        }
    };
    let strategy = match r.strategy.trim() {
        "technical" | "" => simulate::SimStrategy::Technical,
        "model" => simulate::SimStrategy::Model,
        "hybrid" => simulate::SimStrategy::Hybrid,
        other => {
            return Err(AppError::invalid(
                "strategy",
                format!("{other:?}: expected technical, model or hybrid"),
            ));
        }
    };
    let sizing = match r.sizing.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => engine::risk::sizing::SizingMode::parse(s)
            .map_err(|e| AppError::invalid("sizing", e))?,
        None => Default::default(),
    };
    let p = simulate::BacktestJobParams {
        symbols,
        timeframe,
        exchange: None,
        market: None,
        from: instant("from", &r.from)?,
        to: instant("to", &r.to)?,
        profile: r.risk_profile,
        capital: r.capital,
        strategy,
        min_net_profit: r.min_net_profit,
        sizing,
        model_weight: r.model_weight,
    };
    simulate::validate(&p).map_err(|(field, msg)| AppError::invalid(field, msg))?;
    Ok(p)
}

impl PgBackend {
    /// Queues a job of `kind` for the viewer.
    async fn queue(
        &self,
        kind: &str,
        params: &impl serde::Serialize,
        v: &Viewer,
    ) -> Result<JobView, AppError> {
        let json = serde_json::to_value(params)
            .map_err(|e| AppError::new(ErrorCode::Internal, e.to_string()))?;
        let job = db::jobs::enqueue_for(&self.pool, kind, &json, Some(v.id))
            .await
            .map_err(db_err)?;
        tracing::info!(job = job.id, kind, by = %v.username, "job queued");
        Ok(job_view(job))
    }

    /// The stored series a query names, or which field is wrong.
    async fn series_of(
        &self,
        q: &ChartQuery,
    ) -> Result<(SeriesKey, db::candles::SeriesRow), AppError> {
        let market = Market::parse(q.market.trim())
            .map_err(|e| AppError::invalid("market", e.to_string()))?;
        let symbol = Symbol::parse(q.symbol.trim())
            .map_err(|e| AppError::invalid("symbol", e.to_string()))?;
        let timeframe = parse_timeframe(&q.timeframe)?;
        let key = SeriesKey::new(q.exchange.trim(), market, symbol, timeframe)
            .map_err(|e| AppError::invalid("exchange", e.to_string()))?;
        let series = db::candles::find_series(&self.pool, &key)
            .await
            .map_err(db_err)?
            .ok_or_else(|| AppError::not_found(format!("series {key}")))?;
        Ok((key, series))
    }

    /// The job if the viewer may see it (their own, or any for an admin).
    async fn visible_job(&self, v: &Viewer, id: i64) -> Result<db::jobs::Job, AppError> {
        match db::jobs::get(&self.pool, id).await.map_err(db_err)? {
            Some(j) if v.is_admin() || j.created_by == Some(v.id) => Ok(j),
            _ => Err(AppError::not_found(format!("job {id}"))),
        }
    }
}

/// CPU %, cores, used and total memory, this process's RSS. Blocking (the
/// first call waits for a second CPU sample), so run it off the async workers.
fn sample_system(sys: &std::sync::Mutex<Option<sysinfo::System>>) -> (f32, usize, u64, u64, u64) {
    use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, System};
    let mut guard = sys.lock().unwrap_or_else(|p| p.into_inner());
    let first = guard.is_none();
    let sys = guard.get_or_insert_with(System::new);
    sys.refresh_cpu_usage();
    if first {
        // CPU use is a difference between two samples.
        std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL);
        sys.refresh_cpu_usage();
    }
    sys.refresh_memory();
    let pid = sysinfo::get_current_pid().ok();
    let mut rss = 0;
    if let Some(pid) = pid {
        sys.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[pid]),
            true,
            ProcessRefreshKind::nothing().with_memory(),
        );
        rss = sys.process(pid).map(|p| p.memory()).unwrap_or(0);
    }
    (
        sys.global_cpu_usage(),
        sys.cpus().len(),
        sys.used_memory(),
        sys.total_memory(),
        rss,
    )
}

impl Pages for PgBackend {
    fn coverage(&self) -> Answer<'_, Vec<SeriesCoverage>> {
        Box::pin(async move {
            let rows = db::candles::list_series(&self.pool).await.map_err(db_err)?;
            Ok(rows
                .into_iter()
                .filter(|r| r.bars > 0)
                .map(|r| SeriesCoverage {
                    exchange: r.key.exchange,
                    market: r.key.market.to_string(),
                    symbol: r.key.symbol.to_string(),
                    timeframe: r.key.timeframe.to_string(),
                    bars: r.bars,
                    first: r.first_open.unwrap_or_default(),
                    last: r.last_open.unwrap_or_default(),
                })
                .collect())
        })
    }

    fn settings(&self, v: &Viewer) -> Answer<'_, UserSettings> {
        let id = v.id;
        Box::pin(async move {
            db::users::by_id(&self.pool, id)
                .await
                .map_err(db_err)?
                .map(|u| u.view.settings)
                .ok_or_else(|| AppError::not_found("user"))
        })
    }

    fn save_settings(&self, v: &Viewer, s: UserSettings) -> Answer<'_, UserSettings> {
        let id = v.id;
        Box::pin(async move {
            s.validate()?;
            db::users::save_settings(&self.pool, id, &s)
                .await
                .map_err(db_err)?
                .map(|u| u.settings)
                .ok_or_else(|| AppError::not_found("user"))
        })
    }

    fn jobs(&self, v: &Viewer, limit: i64) -> Answer<'_, Vec<JobView>> {
        let v = v.clone();
        Box::pin(async move {
            let limit = limit.clamp(1, 500);
            let jobs = if v.is_admin() {
                db::jobs::list(&self.pool, limit).await
            } else {
                db::jobs::list_by(&self.pool, v.id, limit).await
            }
            .map_err(db_err)?;
            Ok(jobs.into_iter().map(job_view).map(list_entry).collect())
        })
    }

    fn job(&self, v: &Viewer, id: i64) -> Answer<'_, JobView> {
        let v = v.clone();
        Box::pin(async move { self.visible_job(&v, id).await.map(job_view) })
    }

    fn cancel_job(&self, v: &Viewer, id: i64) -> Answer<'_, JobView> {
        let v = v.clone();
        Box::pin(async move {
            let job = self.visible_job(&v, id).await?;
            if job.status.is_finished() {
                return Err(AppError::new(
                    ErrorCode::Conflict,
                    format!("job {id} has already {}", job.status.as_str()),
                ));
            }
            db::jobs::request_cancel(&self.pool, id)
                .await
                .map_err(db_err)?
                .map(job_view)
                .ok_or_else(|| AppError::not_found(format!("job {id}")))
        })
    }

    fn resume_job(&self, v: &Viewer, id: i64) -> Answer<'_, JobView> {
        let v = v.clone();
        Box::pin(async move {
            let job = self.visible_job(&v, id).await?;
            db::jobs::requeue(&self.pool, id)
                .await
                .map_err(db_err)?
                .map(job_view)
                .ok_or_else(|| {
                    AppError::new(
                        ErrorCode::Conflict,
                        format!(
                            "job {id} is {}; only failed or cancelled jobs resume",
                            job.status.as_str()
                        ),
                    )
                })
        })
    }

    fn start_backfill(&self, v: &Viewer, r: BackfillRequest) -> Answer<'_, JobView> {
        let v = v.clone();
        Box::pin(async move {
            admin(&v)?;
            let params = backfill_params(&r)?;
            self.queue(backfill::KIND, &params, &v).await
        })
    }

    fn users(&self, v: &Viewer) -> Answer<'_, Vec<UserView>> {
        let v = v.clone();
        Box::pin(async move {
            admin(&v)?;
            db::users::list(&self.pool).await.map_err(db_err)
        })
    }

    fn create_user(&self, v: &Viewer, u: NewUser) -> Answer<'_, UserView> {
        let v = v.clone();
        Box::pin(async move {
            admin(&v)?;
            let name = u.username.trim().to_owned();
            validate_username(&name)?;
            validate_password(&u.password)?;
            let hash = auth::hash_password_blocking(u.password)
                .await
                .map_err(|e| AppError::new(ErrorCode::Internal, e.to_string()))?;
            match db::users::create(&self.pool, &name, &hash, u.role).await {
                Ok(rec) => {
                    tracing::info!(user = %name, role = u.role.as_str(), by = %v.username, "user created");
                    Ok(rec.view)
                }
                Err(e) if db::users::is_unique_violation(&e, "users_username_key") => {
                    Err(AppError {
                        code: ErrorCode::Conflict,
                        message: format!("user name {name:?} is taken"),
                        field: Some("username".into()),
                    })
                }
                Err(e) => Err(db_err(e)),
            }
        })
    }

    fn update_user(&self, v: &Viewer, id: i64, p: UserPatch) -> Answer<'_, UserView> {
        let v = v.clone();
        Box::pin(async move {
            admin(&v)?;
            // An admin cannot lock themselves out; another admin can.
            if id == v.id
                && (p.disabled == Some(true)
                    || p.role.is_some_and(|r| r != app::types::Role::Admin))
            {
                return Err(AppError::new(
                    ErrorCode::Conflict,
                    "you cannot disable or demote your own account; another admin can",
                ));
            }
            let hash = match &p.password {
                Some(pw) => {
                    validate_password(pw)?;
                    Some(
                        auth::hash_password_blocking(pw.clone())
                            .await
                            .map_err(|e| AppError::new(ErrorCode::Internal, e.to_string()))?,
                    )
                }
                None => None,
            };
            match db::users::update(&self.pool, id, p.role, p.disabled, hash.as_deref())
                .await
                .map_err(db_err)?
            {
                Ok(Some(u)) => {
                    tracing::info!(user = %u.username, role = u.role.as_str(), disabled = u.disabled, by = %v.username, "user changed");
                    Ok(u)
                }
                Ok(None) => Err(AppError::not_found(format!("user {id}"))),
                Err(db::users::LastAdmin) => Err(AppError::new(
                    ErrorCode::Conflict,
                    "that would leave no enabled admin",
                )),
            }
        })
    }

    fn tokens(&self, v: &Viewer) -> Answer<'_, Vec<TokenView>> {
        let id = v.id;
        Box::pin(async move { db::users::tokens_of(&self.pool, id).await.map_err(db_err) })
    }

    fn create_token(&self, v: &Viewer, name: String) -> Answer<'_, NewToken> {
        let id = v.id;
        Box::pin(async move {
            let name = name.trim().to_owned();
            if name.is_empty() || name.chars().count() > 100 {
                return Err(AppError::invalid("name", "1 to 100 characters"));
            }
            let secret = auth::new_token_secret();
            let token = db::users::create_token(
                &self.pool,
                id,
                &name,
                &auth::token_sha256(&secret),
                &secret[..8],
            )
            .await
            .map_err(db_err)?;
            Ok(NewToken { token, secret })
        })
    }

    fn revoke_token(&self, v: &Viewer, token: i64) -> Answer<'_, TokenView> {
        let id = v.id;
        Box::pin(async move {
            db::users::revoke_token(&self.pool, id, token)
                .await
                .map_err(db_err)?
                .ok_or_else(|| AppError::not_found(format!("token {token}")))
        })
    }

    fn system(&self, v: &Viewer) -> Answer<'_, SystemStatus> {
        let v = v.clone();
        Box::pin(async move {
            admin(&v)?;
            let (database_bytes, candles, series) =
                db::candles::store_stats(&self.pool).await.map_err(db_err)?;
            let queued_jobs = db::jobs::queue_depth(&self.pool).await.map_err(db_err)?;
            let running_jobs = db::jobs::running_count(&self.pool).await.map_err(db_err)?;
            let users = db::users::count(&self.pool).await.map_err(db_err)?;
            let sys = self.sys.clone();
            let (cpu_pct, cpus, memory_used_bytes, memory_total_bytes, process_rss_bytes) =
                tokio::task::spawn_blocking(move || sample_system(&sys))
                    .await
                    .map_err(|e| AppError::new(ErrorCode::Internal, e.to_string()))?;
            Ok(SystemStatus {
                version: env!("CARGO_PKG_VERSION").to_owned(),
                uptime_s: self.started.elapsed().as_secs(),
                cpu_pct,
                cpus,
                memory_used_bytes,
                memory_total_bytes,
                process_rss_bytes,
                database_bytes,
                candles,
                series,
                queued_jobs,
                running_jobs,
                users,
                ws_clients: self.ws_clients.load(Ordering::Relaxed),
                follow: follow_views(&self.pool).await.map_err(db_err)?,
            })
        })
    }

    fn follow_config(&self, v: &Viewer) -> Answer<'_, FollowConfigView> {
        let v = v.clone();
        Box::pin(async move {
            admin(&v)?;
            let file = &self.settings.follow;
            let stored = db::follow::config_edit(&self.pool).await.map_err(db_err)?;
            let (edit, source, at) = match stored {
                Some((e, at)) => (e, "admin", Some(at.to_rfc3339())),
                None => (file.edit(), "file", None),
            };
            let series = file
                .with_edit(&edit)
                .ok()
                .and_then(|f| f.universe().ok())
                .map_or(0, |u| u.series.len());
            Ok(FollowConfigView {
                edit,
                venue: file.venue.clone(),
                source: source.into(),
                updated_at: at,
                series,
            })
        })
    }

    fn save_follow_config(&self, v: &Viewer, e: FollowEdit) -> Answer<'_, FollowConfigView> {
        let v = v.clone();
        Box::pin(async move {
            admin(&v)?;
            // Every bad entry named; the first is the field the form marks.
            let checked = self.settings.follow.with_edit(&e).map_err(|errs| {
                let field = match errs.first() {
                    Some(crate::follow::FollowError::Symbol { .. }) => "symbols",
                    Some(crate::follow::FollowError::Timeframe { field, .. })
                        if field.starts_with("confirm") =>
                    {
                        "confirm"
                    }
                    Some(crate::follow::FollowError::Timeframe { .. }) => "timeframe",
                    _ => "follow",
                };
                AppError::invalid(
                    field,
                    errs.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            })?;
            db::follow::save_config_edit(&self.pool, &checked.edit(), Some(v.id))
                .await
                .map_err(db_err)?;
            tracing::info!(by = %v.username, symbols = checked.symbols.len(), timeframe = %checked.timeframe, "followed universe edited");
            self.follow_config(&v).await
        })
    }

    fn signals(&self, v: &Viewer, settings: Option<UserSettings>) -> Answer<'_, SignalBoard> {
        let v = v.clone();
        Box::pin(async move {
            let s = match settings {
                Some(s) => {
                    s.validate()?;
                    s
                }
                None => self.settings(&v).await?,
            };
            let candidates = db::signals::latest(&self.pool).await.map_err(db_err)?;
            let follow = db::follow::states(&self.pool).await.map_err(db_err)?;
            let predicted = db::funding::predicted(&self.pool).await.map_err(db_err)?;
            let wall = chrono::Utc::now();
            let (mut signals, mut rejected) = (Vec::new(), Vec::new());
            for c in &candidates {
                let f = follow.get(&c.new.series_id);
                let outcome = crate::signals::judge_for(
                    &self.settings,
                    c,
                    s.risk_profile,
                    s.capital,
                    &predicted,
                    f,
                );
                let view = signal_view(c, &outcome, f, wall);
                match outcome {
                    Outcome::Plan(_) => signals.push(view),
                    Outcome::Rejected { .. } => rejected.push(view),
                }
            }
            // The best expected net profit first.
            signals.sort_by(|a, b| {
                let net = |x: &SignalView| x.plan.as_ref().map_or(0.0, |p| p.expected_net_pct);
                net(b).total_cmp(&net(a))
            });
            let gates = &self.settings.signals;
            let base = follow.values().filter(|f| f.role == "base");
            let mut data = app::types::DataSummary::default();
            for f in base {
                match f.state.as_str() {
                    "live" => data.live += 1,
                    "catching_up" => data.catching_up += 1,
                    _ => data.stale += 1,
                }
                data.demo |= f.demo;
            }
            Ok(SignalBoard {
                data,
                risk_profile: s.risk_profile,
                capital: s.capital,
                signals,
                rejected,
                min_net_profit_pct: gates.min_net_profit_pct,
                min_confidence: gates.min_confidence,
            })
        })
    }

    fn quality(&self, _v: &Viewer, q: ChartQuery) -> Answer<'_, QualityView> {
        Box::pin(async move {
            let (key, series) = self.series_of(&q).await?;
            let candles = db::candles::read_range(&self.pool, series.id, i64::MIN, i64::MAX)
                .await
                .map_err(db_err)?;
            let tf = key.timeframe;
            let r = tokio::task::spawn_blocking(move || {
                let session = engine::quality::Session::detect(&candles);
                engine::quality::analyze(&candles, tf, session)
            })
            .await
            .map_err(|e| AppError::new(ErrorCode::Internal, e.to_string()))?;
            let mut gaps: Vec<GapView> = r
                .gaps
                .iter()
                .map(|g| GapView {
                    from: g.from,
                    to: g.to,
                    missing: g.missing,
                })
                .collect();
            gaps.sort_by_key(|g| std::cmp::Reverse(g.missing));
            gaps.truncate(50);
            Ok(QualityView {
                bars: r.bars,
                session: r.session.as_str().to_owned(),
                gap_count: r.gaps.len(),
                missing_bars: r.missing_bars,
                gaps,
                zero_volume: r.zero_volume,
                inconsistencies: r.inconsistencies.len(),
                sources: db::candles::sources(&self.pool, series.id)
                    .await
                    .map_err(db_err)?
                    .into_iter()
                    .map(|r| app::types::SourceView {
                        from: r.from_ms,
                        to: r.to_ms,
                        provider: r.provider,
                        adjustment: r.adjustment,
                    })
                    .collect(),
                raw_closes: db::candles::raw_close_count(&self.pool, series.id)
                    .await
                    .map_err(db_err)?,
            })
        })
    }

    fn chart(&self, v: &Viewer, q: ChartQuery) -> Answer<'_, ChartData> {
        let v = v.clone();
        Box::pin(async move {
            let bars = q.bars.unwrap_or(150);
            if !(1..=2000).contains(&bars) {
                return Err(AppError::invalid("bars", "1 to 2000 bars"));
            }
            let (key, series) = self.series_of(&q).await?;
            let candles = db::candles::read_last(&self.pool, series.id, bars)
                .await
                .map_err(db_err)?;
            let from = candles.first().map_or(i64::MAX, |c| c.open_time);
            let s = self.settings(&v).await?;
            let costs = self.costs_for(&key.exchange);
            let markers = db::signals::of_series(&self.pool, series.id, from)
                .await
                .map_err(db_err)?
                .iter()
                .filter_map(|c| {
                    match judge(c, s.risk_profile, s.capital, &costs, &self.settings.signals) {
                        Outcome::Plan(p) => Some(Marker {
                            t: c.new.bar_time,
                            side: plan_view(&p).side,
                            entry: p.entry,
                        }),
                        Outcome::Rejected { .. } => None,
                    }
                })
                .collect();
            Ok(ChartData {
                exchange: key.exchange.clone(),
                market: key.market.to_string(),
                symbol: key.symbol.to_string(),
                timeframe: key.timeframe.to_string(),
                bars: candles
                    .iter()
                    .map(|c| Bar {
                        t: c.open_time,
                        o: c.open,
                        h: c.high,
                        l: c.low,
                        c: c.close,
                        v: c.volume,
                    })
                    .collect(),
                markers,
                hours: market_hours(crate::universes::calendar_of(&key), crate::time::now_ms()),
            })
        })
    }

    fn start_backtest(&self, v: &Viewer, r: BacktestRequest) -> Answer<'_, JobView> {
        let v = v.clone();
        Box::pin(async move {
            let params = backtest_params(&r)?;
            self.queue(simulate::KIND, &params, &v).await
        })
    }

    fn models(&self, v: &Viewer) -> Answer<'_, Vec<ModelView>> {
        let v = v.clone();
        Box::pin(async move {
            admin(&v)?;
            let rows = db::models::list(&self.pool, None).await.map_err(db_err)?;
            Ok(rows.into_iter().map(model_view).collect())
        })
    }

    fn model_events(&self, v: &Viewer, limit: i64) -> Answer<'_, Vec<ModelEventView>> {
        let v = v.clone();
        Box::pin(async move {
            admin(&v)?;
            let rows = db::models::events(&self.pool, None, limit.clamp(1, 500))
                .await
                .map_err(db_err)?;
            Ok(rows
                .into_iter()
                .map(|e| ModelEventView {
                    id: e.id,
                    scope: e.scope,
                    timeframe: e.timeframe,
                    model_id: e.model_id,
                    action: e.action,
                    detail: e.detail,
                    at: ms(e.at),
                })
                .collect())
        })
    }

    fn promote_model(&self, v: &Viewer, id: i64) -> Answer<'_, RegistryDecision> {
        let v = v.clone();
        Box::pin(async move {
            admin(&v)?;
            let m = db::models::get(&self.pool, id)
                .await
                .map_err(db_err)?
                .ok_or_else(|| AppError::not_found(format!("model {id}")))?;
            if m.status == db::models::ModelStatus::Pruned {
                return Err(AppError::new(
                    ErrorCode::Conflict,
                    format!("model {id} was pruned; its files are gone"),
                ));
            }
            let d = registry::decide(&self.pool, id, registry::Promote::Always)
                .await
                .map_err(registry_err)?;
            tracing::info!(model = id, by = %v.username, "model promoted from the admin panel");
            Ok(decision_view(d))
        })
    }

    fn rollback_model(&self, v: &Viewer, r: RollbackRequest) -> Answer<'_, RegistryDecision> {
        let v = v.clone();
        Box::pin(async move {
            admin(&v)?;
            let d = registry::rollback(&self.pool, r.scope.trim(), r.timeframe.trim())
                .await
                .map_err(registry_err)?;
            tracing::info!(scope = %r.scope, timeframe = %r.timeframe, by = %v.username, "rollback from the admin panel");
            Ok(decision_view(d))
        })
    }

    fn start_training(&self, v: &Viewer, r: TrainRequest) -> Answer<'_, JobView> {
        let v = v.clone();
        Box::pin(async move {
            admin(&v)?;
            let params = train_params(&r)?;
            self.queue(training::KIND, &params, &v).await
        })
    }

    fn start_evaluation(&self, v: &Viewer, r: EvaluateRequest) -> Answer<'_, JobView> {
        let v = v.clone();
        Box::pin(async move {
            admin(&v)?;
            let params = evaluate_params(&r)?;
            self.queue(crate::evaluate::KIND, &params, &v).await
        })
    }

    fn scan_now(&self, v: &Viewer) -> Answer<'_, ScanView> {
        let v = v.clone();
        Box::pin(async move {
            admin(&v)?;
            let sum = self
                .scanner
                .lock()
                .await
                .scan()
                .await
                .map_err(|e| {
                    tracing::error!(error = %format!("{e:#}"), "scan failed");
                    AppError::new(ErrorCode::Internal, format!("scan failed: {e:#}"))
                })?
                .ok_or_else(|| {
                    AppError::new(
                        ErrorCode::Conflict,
                        "another scan is running (a worker's); try again in a moment",
                    )
                })?;
            tracing::info!(new = sum.new, by = %v.username, "scan run from the admin panel");
            Ok(ScanView {
                series: sum.series,
                new: sum.new,
                up_to_date: sum.up_to_date,
                skipped: sum
                    .skipped
                    .into_iter()
                    .map(|s| format!("{}: {}", s.series, s.reason))
                    .collect(),
            })
        })
    }

    fn paper_accounts(&self, v: &Viewer) -> Answer<'_, Vec<PaperAccountView>> {
        let v = v.clone();
        Box::pin(async move { self.list_paper(&v).await })
    }

    fn open_paper_account(&self, v: &Viewer, n: NewPaperAccount) -> Answer<'_, PaperAccountView> {
        let v = v.clone();
        Box::pin(async move { self.open_paper(&v, n).await })
    }

    fn paper_account(&self, v: &Viewer, id: i64) -> Answer<'_, PaperAccountDetail> {
        let v = v.clone();
        Box::pin(async move { self.paper_detail(&v, id).await })
    }

    fn halt_paper_account(
        &self,
        v: &Viewer,
        id: i64,
        h: Option<HaltRequest>,
    ) -> Answer<'_, PaperAccountView> {
        let v = v.clone();
        Box::pin(async move { self.halt_paper(&v, id, h).await })
    }

    fn take_signal(&self, v: &Viewer, r: TakeRequest) -> Answer<'_, Vec<TakeView>> {
        let v = v.clone();
        Box::pin(async move { self.take(&v, r).await })
    }

    fn trading_halt(&self) -> Answer<'_, TradingHaltView> {
        Box::pin(async move { self.kill_state().await })
    }

    fn set_trading_halt(&self, v: &Viewer, h: Option<HaltRequest>) -> Answer<'_, TradingHaltView> {
        let v = v.clone();
        Box::pin(async move { self.set_kill(&v, h).await })
    }

    fn venue_connection(&self, v: &Viewer, account: i64) -> Answer<'_, VenueConnectionView> {
        let v = v.clone();
        Box::pin(async move { self.venue_view(&v, account).await })
    }

    fn connect_venue(
        &self,
        v: &Viewer,
        account: i64,
        c: NewVenueConnection,
    ) -> Answer<'_, VenueConnectionView> {
        let v = v.clone();
        Box::pin(async move { self.connect(&v, account, c).await })
    }

    fn disconnect_venue(&self, v: &Viewer, account: i64) -> Answer<'_, ()> {
        let v = v.clone();
        Box::pin(async move { self.disconnect(&v, account).await })
    }

    fn set_venue_mode(
        &self,
        v: &Viewer,
        account: i64,
        m: VenueModeRequest,
    ) -> Answer<'_, VenueConnectionView> {
        let v = v.clone();
        Box::pin(async move { self.venue_mode(&v, account, m).await })
    }
    fn notify_settings(&self, v: &Viewer) -> Answer<'_, NotifySettingsView> {
        let v = v.clone();
        Box::pin(async move { self.notify_view(&v).await })
    }

    fn save_notify_prefs(&self, v: &Viewer, p: NotifyPrefsView) -> Answer<'_, NotifySettingsView> {
        let v = v.clone();
        Box::pin(async move { self.save_prefs(&v, p).await })
    }

    fn add_channel(&self, v: &Viewer, c: NewChannel) -> Answer<'_, ChannelView> {
        let v = v.clone();
        Box::pin(async move { self.new_channel(&v, c).await })
    }

    fn remove_channel(&self, v: &Viewer, id: i64) -> Answer<'_, ()> {
        let v = v.clone();
        Box::pin(async move { self.drop_channel(&v, id).await })
    }

    fn test_channel(&self, v: &Viewer, id: i64) -> Answer<'_, TestQueued> {
        let v = v.clone();
        Box::pin(async move { self.queue_test(&v, id).await })
    }

    fn telegram_code(&self, v: &Viewer) -> Answer<'_, TelegramCode> {
        let v = v.clone();
        Box::pin(async move { self.link_code(&v).await })
    }

    fn delivery_troubles(&self, v: &Viewer) -> Answer<'_, Vec<DeliveryView>> {
        let v = v.clone();
        Box::pin(async move { self.troubles(&v).await })
    }
}

/// The market's hours at `now`, for calendars with sessions.
fn market_hours(cal: engine::calendar::Calendar, now: i64) -> Option<app::types::MarketHours> {
    if cal.is_always_open() {
        return None;
    }
    let session = cal.current_or_next(now);
    let open = cal.is_open(now);
    Some(app::types::MarketHours {
        calendar: cal.as_str().to_owned(),
        now,
        open,
        closes_at: session.filter(|_| open).map(|s| s.close),
        opens_at: session.filter(|_| !open).map(|s| s.open),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_training_request_can_name_a_universe() {
        let r = |universe: Option<&str>, symbols: Vec<&str>| TrainRequest {
            symbols: symbols.into_iter().map(str::to_owned).collect(),
            timeframe: "1d".into(),
            max_epochs: None,
            folds: None,
            backend: None,
            promote: None,
            universe: universe.map(str::to_owned),
            groups: Vec::new(),
            transformer: false,
            barrier: None,
        };
        let p = train_params(&r(Some("us-stocks"), vec![])).unwrap();
        assert!(p.pipeline.groups.is_empty());
        assert_eq!(p.pipeline.transformer, None);
        let mut c = r(None, vec!["BTC/USD"]);
        c.groups = vec!["context".into()];
        c.transformer = true;
        let with = train_params(&c).unwrap();
        assert_eq!(with.pipeline.groups, [models::data::FeatureGroup::Context]);
        assert!(with.pipeline.transformer.is_some());
        let mut g = r(Some("us-stocks"), vec![]);
        g.groups = vec!["macro".into(), "sentiment".into()];
        assert_eq!(
            train_params(&g).unwrap().pipeline.groups,
            [
                models::data::FeatureGroup::Macro,
                models::data::FeatureGroup::Sentiment
            ]
        );
        g.groups = vec!["macro".into(), "news".into()];
        let e = train_params(&g).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("groups[1]"), "{e:?}");
        assert_eq!(p.symbols.len(), 62);
        assert_eq!(
            (p.exchange.as_deref(), p.universe.as_deref()),
            (Some("stocks"), Some("us-stocks"))
        );
        // Symbols besides the universe are kept once.
        let p = train_params(&r(Some("us-stocks"), vec!["AAPL/USD", "BTC/USD"])).unwrap();
        assert_eq!(p.symbols.len(), 63);
        let e = train_params(&r(Some("dow-30"), vec![])).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("universe"), "{e:?}");
        assert!(
            train_params(&r(None, vec![])).is_err(),
            "neither symbols nor a universe"
        );
        let mut b = req();
        b.symbols = vec!["BTC/USDT".into(), " ".into()];
        let e = backfill_params(&b).unwrap_err();
        assert_eq!(
            (e.field.as_deref(), e.message.contains("entry 1")),
            (Some("symbols"), true),
            "{e:?}"
        );
        let e = train_params(&r(Some("us-stocks"), vec![""])).unwrap_err();
        assert_eq!(
            e.field.as_deref(),
            Some("symbols"),
            "a blank entry is not a symbol"
        );
    }

    #[test]
    fn barrier_labels_are_read_as_the_schema_states_them() {
        let r = |barrier: Option<&str>| TrainRequest {
            symbols: vec!["BTC/USD".into()],
            timeframe: "1d".into(),
            max_epochs: None,
            folds: None,
            backend: None,
            promote: None,
            universe: None,
            groups: Vec::new(),
            transformer: false,
            barrier: barrier.map(str::to_owned),
        };
        assert_eq!(train_params(&r(None)).unwrap().barrier, None);
        assert_eq!(train_params(&r(Some(""))).unwrap().barrier, None);
        let b = train_params(&r(Some("2,1.5"))).unwrap().barrier.unwrap();
        assert_eq!((b.upper_atr, b.lower_atr), (2.0, 1.5));
        let pattern = regex::Regex::new(BARRIER_PATTERN).unwrap();
        for bad in [
            "2",
            "2,",
            " 2,1",
            "2,1 ",
            "2;1",
            "1.,1",
            "-1,1",
            "1e3,1",
            "1,1,1",
            "1234567,1",
            "0,1",
            "1,0.0",
        ] {
            let e = train_params(&r(Some(bad))).unwrap_err();
            assert_eq!(e.field.as_deref(), Some("barrier"), "{bad:?}: {e:?}");
            // What the schema admits is refused only for a zero width.
            assert_eq!(
                pattern.is_match(bad),
                bad.starts_with('0') || bad.ends_with("0.0"),
                "{bad:?}"
            );
        }
        for good in ["2,1", "0.5,3", "123456.123456,1"] {
            assert!(pattern.is_match(good), "{good}");
            assert!(
                train_params(&r(Some(good))).unwrap().barrier.is_some(),
                "{good}"
            );
        }
        // The evaluation form reads it the same way.
        let e = EvaluateRequest {
            symbols: vec!["BTC/USD".into()],
            timeframe: "1d".into(),
            max_epochs: None,
            folds: Some(2),
            backend: None,
            universe: None,
            transformer: false,
            barrier: Some("3,1".into()),
        };
        let p = evaluate_params(&e).unwrap();
        assert_eq!(p.barrier.map(|b| b.upper_atr), Some(3.0));
    }

    fn req() -> BackfillRequest {
        BackfillRequest {
            exchange: "binance".into(),
            market: "spot".into(),
            symbols: vec!["BTC/USDT".into(), " ETH/USDT ".into()],
            timeframe: "15m".into(),
            from: "2024-01-01".into(),
            to: Some("2024-02-01".into()),
            base_url: None,
            universe: None,
        }
    }

    #[test]
    fn a_backfill_request_can_name_a_universe() {
        let r = BackfillRequest {
            exchange: "stocks".into(),
            symbols: vec![],
            timeframe: "1d".into(),
            universe: Some("us-stocks".into()),
            ..req()
        };
        let p = backfill_params(&r).unwrap();
        assert_eq!(p.symbols.len(), 62);
        assert_eq!((p.exchange.as_str(), p.market), ("stocks", Market::Spot));
        // The universe's exchange, or a clear no.
        let e = backfill_params(&BackfillRequest {
            exchange: "binance".into(),
            ..r.clone()
        })
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("exchange"), "{e:?}");
        assert!(e.message.contains("stored under stocks"), "{e:?}");
        let e = backfill_params(&BackfillRequest {
            universe: Some("eu-stocks".into()),
            ..r
        })
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("universe"), "{e:?}");
    }

    #[test]
    fn backfill_requests_parse_or_name_the_field() {
        let p = backfill_params(&req()).unwrap();
        assert_eq!(p.symbols.len(), 2);
        assert_eq!(p.from, 1_704_067_200_000);
        let field = |r: BackfillRequest| backfill_params(&r).unwrap_err().field.unwrap();
        assert_eq!(
            field(BackfillRequest {
                symbols: vec!["BTCUSDT?".into()],
                ..req()
            }),
            "symbols"
        );
        assert_eq!(
            field(BackfillRequest {
                symbols: vec![],
                ..req()
            }),
            "symbols"
        );
        assert_eq!(
            field(BackfillRequest {
                timeframe: "7m".into(),
                ..req()
            }),
            "timeframe"
        );
        assert_eq!(
            field(BackfillRequest {
                from: "yesterday-ish".into(),
                ..req()
            }),
            "from"
        );
        assert_eq!(
            field(BackfillRequest {
                to: Some("2023-01-01".into()),
                ..req()
            }),
            "to"
        );
        assert_eq!(
            field(BackfillRequest {
                market: "options".into(),
                ..req()
            }),
            "market"
        );
        assert_eq!(
            field(BackfillRequest {
                exchange: "kraken".into(),
                ..req()
            }),
            "exchange"
        );
        assert_eq!(
            field(BackfillRequest {
                base_url: Some("ftp://x".into()),
                ..req()
            }),
            "base_url"
        );
    }
}
