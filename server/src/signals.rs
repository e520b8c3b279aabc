//! Live signals: at every bar close the scanner asks, for each stored
//! series, the model serving its timeframe (or, when none does, the
//! technical rule) what it expects, and stores that as a candidate. A
//! candidate becomes a plan — levels, leverage, size, net profit after
//! costs — for each reader's own risk profile and capital when it is read.

use std::collections::HashMap;

use futures::StreamExt;

use anyhow::Context;
use engine::costs::CostModel;
use engine::risk::RiskProfile;
use engine::signals::{self, PlanContext, Rejection, RuleConfidence, SignalPlan, TechnicalRule};
use engine::{Candle, TimeMs};
use models::artifact::LoadedModel;
use models::backend::Backend;
use serde::Serialize;
use sqlx::PgPool;

use crate::db::candles::SeriesRow;
use crate::db::models::ModelRow;
use crate::db::signals::{self as db, Candidate, Driver, NewCandidate, Source};

/// Bars read per series for a scan: enough for every indicator and the
/// daily trend joined onto 15-minute bars to warm up, and a model window.
const HISTORY_BARS: i64 = 20_000;

/// What one scan did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScanSummary {
    pub series: usize,
    /// Candidates stored by this scan.
    pub new: usize,
    /// Series whose newest closed bar was scanned before.
    pub up_to_date: usize,
    /// Series that produced nothing, and why.
    pub skipped: Vec<Skipped>,
    /// Newest bar time among the new candidates.
    pub newest_bar: Option<TimeMs>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub series: String,
    pub reason: String,
}

/// Scans stored series; keeps loaded models between scans.
#[derive(Debug)]
pub struct Scanner {
    pool: PgPool,
    backend: Backend,
    rule: TechnicalRule,
    /// `[signals] strategy = "hybrid"`: the model's weight.
    hybrid: Option<f64>,
    models: HashMap<i64, LoadedModel>,
}

/// The model serving `symbol` at `timeframe`: its own scope's, else the universal one.
pub fn serving_model<'a>(
    active: &'a [ModelRow],
    symbol: &str,
    timeframe: engine::Timeframe,
) -> Option<&'a ModelRow> {
    let tf = timeframe.to_string();
    let find = |scope: &str| {
        active
            .iter()
            .find(|m| m.scope == scope && m.timeframe == tf)
    };
    find(symbol).or_else(|| find("universal"))
}

/// "universal 1d v3 (#7)".
pub fn model_label(m: &ModelRow) -> String {
    format!("{} {} v{} (#{})", m.scope, m.timeframe, m.version, m.id)
}

/// What a source says about bar `i` of `candles`, whose features are `fs`
/// and the rule's calibrated fires `fires` (computed once for every bar a
/// scan judges; CPU work: run it off the async workers).
fn assess(
    series: &SeriesRow,
    candles: &[Candle],
    i: usize,
    fs: &engine::features::FeatureSet,
    model: Option<(&ModelRow, &LoadedModel, &models::data::AltInputs)>,
    hybrid: Option<f64>,
    fires: &[Option<RuleConfidence>],
) -> anyhow::Result<NewCandidate> {
    let last = candles.get(i).context("no candles")?;
    let candles = &candles[..=i];
    let bar = fs.bars.get(i).context("no features for the bar")?;
    let technicals = bar.technicals;
    let mut c = NewCandidate {
        series_id: series.id,
        bar_time: last.open_time,
        price: last.close,
        atr: technicals
            .map(|t| t.atr)
            .filter(|a| a.is_finite() && *a > 0.0),
        source: Source::Technical,
        model_id: None,
        model_label: format!("technical rule (no model serves {})", series.key.timeframe),
        prediction: None,
        move_interval: None,
        coverage_level: None,
        prediction_set: None,
        uncalibrated: None,
        drivers: Vec::new(),
        blocked: None,
        regime: bar.regime.map(|r| regime_name(r).to_owned()),
        htf: fs
            .htfs
            .iter()
            .zip(bar.htf.iter())
            .map(|(tf, v)| (tf.to_string(), v.map(|v| v.trend_pct)))
            .collect(),
    };
    match model {
        Some((row, m, alt)) => {
            c.source = Source::Model;
            c.model_id = Some(row.id);
            c.model_label = model_label(row);
            let said = m.predict_last(series.key.symbol.as_str(), candles, alt)?;
            match hybrid {
                None => {
                    if let Some(p) = said {
                        c.prediction = Some(p.prediction);
                        c.move_interval = Some(p.move_interval);
                        c.coverage_level = Some(p.level);
                        c.prediction_set = Some(p.set.join("|"));
                        c.drivers = p
                            .drivers
                            .into_iter()
                            .map(|d| Driver {
                                feature: d.feature,
                                value: d.value,
                            })
                            .collect();
                    }
                }
                // The rule's side, move and interval; the model only moves
                // the calibrated confidence (an uncalibrated rule stays so).
                Some(w) => {
                    c.source = Source::Hybrid;
                    c.model_label = format!(
                        "hybrid: the technical rule's side, {} at weight {w}",
                        model_label(row)
                    );
                    if let Some(t) = technicals {
                        rule_says(&mut c, fires.get(i).copied().flatten(), &t);
                    }
                    if let (Some(rule), Some(model), None) = (c.prediction, said, &c.uncalibrated) {
                        c.prediction = Some(signals::hybrid(&rule, &model.prediction, w));
                    }
                }
            }
        }
        None => {
            if let Some(t) = technicals {
                rule_says(&mut c, fires.get(i).copied().flatten(), &t);
            }
        }
    }
    Ok(c)
}

/// The technical rule's calibrated fire (if any) and its votes on `c`.
fn rule_says(c: &mut NewCandidate, fire: Option<RuleConfidence>, t: &engine::features::Technicals) {
    match fire {
        Some(RuleConfidence::Calibrated {
            prediction,
            move_interval,
            level,
            ..
        }) => {
            c.prediction = Some(prediction);
            c.move_interval = Some(move_interval);
            c.coverage_level = Some(level);
        }
        Some(u @ RuleConfidence::Uncalibrated { prediction, .. }) => {
            c.prediction = Some(prediction);
            c.uncalibrated = u.uncalibrated_reason();
        }
        None => {}
    }
    c.drivers = TechnicalRule::inputs(t)
        .into_iter()
        .map(|(f, v)| Driver {
            feature: f.to_string(),
            value: v,
        })
        .collect();
}

impl Scanner {
    pub fn new(pool: PgPool, backend: Backend) -> Scanner {
        Scanner {
            pool,
            backend,
            rule: TechnicalRule::default(),
            hybrid: None,
            models: HashMap::new(),
        }
    }

    /// Judges as `[signals]` says: models' own signals or the hybrid.
    pub fn with_gates(mut self, gates: &crate::config::SignalGates) -> Scanner {
        self.hybrid =
            (gates.strategy == crate::config::SignalStrategy::Hybrid).then_some(gates.model_weight);
        self
    }

    /// Scans every series whose newest closed bar has no candidate yet from
    /// the source that would judge it now, stores what it finds and
    /// announces new candidates. Idempotent: scanning twice stores nothing
    /// new. One scanner at a time across processes: `None` when another
    /// one (a worker, "Scan now", the CLI) is scanning.
    pub async fn scan(&mut self) -> anyhow::Result<Option<ScanSummary>> {
        let Some(lock) = db::scan_lock(&self.pool).await? else {
            return Ok(None);
        };
        let sum = self.scan_all().await?;
        lock.commit().await?;
        Ok(Some(sum))
    }

    async fn scan_all(&mut self) -> anyhow::Result<ScanSummary> {
        let series = crate::db::candles::list_series(&self.pool).await?;
        let active = crate::db::models::all_active(&self.pool).await?;
        let followed = crate::db::follow::states(&self.pool).await?;
        let mut scanned = HashMap::new();
        for source in [Source::Model, Source::Technical, Source::Hybrid] {
            scanned.insert(source, db::last_scanned(&self.pool, source).await?);
        }
        // Models no longer serving are dropped from the cache.
        self.models
            .retain(|id, _| active.iter().any(|m| m.id == *id));
        let wall = chrono::Utc::now();
        let mut sum = ScanSummary::default();
        let mut pending = Vec::new();
        for s in series.iter().filter(|s| s.bars > 0) {
            let follow = followed.get(&s.id);
            // Confirmation timeframes of a followed universe are not scanned.
            if follow.is_some_and(|f| f.role != "base") {
                continue;
            }
            sum.series += 1;
            let Some(last_open) = s.last_open else {
                continue;
            };
            let tf_ms = s.key.timeframe.duration_ms();
            // "Now" is the follower's clock for a followed series (a replay in the demo).
            let now = follow.map_or_else(crate::time::now_ms, |f| f.clock_at(wall));
            // A bar still forming (a live backfill stores it) is not closed
            // yet; the follower stores closed bars only (and its clock, read
            // from a row, may lag a replay by seconds: trust the bar).
            let last_closed = if follow.is_some() || last_open + tf_ms <= now {
                last_open
            } else {
                last_open - tf_ms
            };
            let mut model = serving_model(&active, s.key.symbol.as_str(), s.key.timeframe).cloned();
            let source = match (&model, self.hybrid) {
                (Some(_), None) => Source::Model,
                (Some(_), Some(_)) => Source::Hybrid,
                (None, _) => Source::Technical,
            };
            let seen = scanned[&source].get(&s.id).copied();
            if seen.is_some_and(|t| t >= last_closed) {
                sum.up_to_date += 1;
                continue;
            }
            let candles = crate::db::candles::read_range(
                &self.pool,
                s.id,
                last_closed - HISTORY_BARS * tf_ms,
                last_closed + 1,
            )
            .await?;
            if candles.is_empty() {
                continue;
            }
            // Every close since the last decision gets one (a few bars can
            // close between two scans); older misses are history, not signals.
            let first_new = seen.map_or(last_closed, |t| {
                (t + tf_ms).max(last_closed - (MAX_CATCH_UP - 1) * tf_ms)
            });
            let judged: Vec<usize> = (0..candles.len())
                .filter(|&i| candles[i].open_time >= first_new)
                .collect();
            let flags = match follow {
                Some(_) => {
                    crate::db::follow::flags_between(&self.pool, s.id, first_new, last_closed)
                        .await?
                }
                None => HashMap::new(),
            };
            // Load the model once (verifying its files); a broken one is
            // reported and the rule speaks for the series instead.
            let mut loaded = model.as_ref().and_then(|m| self.models.remove(&m.id));
            if let (Some(m), None) = (&model, &loaded) {
                let (dir, backend) = (std::path::PathBuf::from(&m.dir), self.backend);
                match tokio::task::spawn_blocking(move || LoadedModel::load(&dir, backend)).await? {
                    Ok(l) => loaded = Some(l),
                    Err(e) => {
                        sum.skipped.push(Skipped {
                            series: s.label(),
                            reason: format!("model {} cannot be loaded: {e}", model_label(m)),
                        });
                        model = None;
                    }
                }
            }
            let Some(model) = model else {
                // The rule's work needs no shared state: judged on every core below.
                pending.push(Pending {
                    series: s.clone(),
                    candles,
                    judged,
                    follow: follow.cloned(),
                    now,
                    flags,
                });
                continue;
            };
            // A model reading feature groups reads the stored alternative data too.
            let groups = loaded
                .as_ref()
                .map(|l| l.config.pipeline.groups.clone())
                .unwrap_or_default();
            let alt =
                crate::altdata::inputs_for(&self.pool, s.key.symbol.as_str(), &candles, &groups)
                    .await?;
            let (row, rule, hybrid) = (s.clone(), self.rule, self.hybrid);
            let (results, loaded, model) = tokio::task::spawn_blocking(move || {
                let r = judge_bars(
                    &row,
                    &candles,
                    &judged,
                    loaded.as_ref().map(|l| (&model, l, &alt)),
                    &rule,
                    hybrid,
                );
                (r, loaded, model)
            })
            .await?;
            if let Some(l) = loaded {
                self.models.insert(model.id, l);
            }
            self.store(s, follow, now, &flags, results, &mut sum)
                .await?;
        }
        let rule = self.rule;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let mut judged = futures::stream::iter(pending.into_iter().map(|p| {
            tokio::task::spawn_blocking(move || {
                let r = judge_bars(&p.series, &p.candles, &p.judged, None, &rule, None);
                (p, r)
            })
        }))
        .buffer_unordered(cores);
        while let Some(done) = judged.next().await {
            let (p, results) = done?;
            self.store(
                &p.series,
                p.follow.as_ref(),
                p.now,
                &p.flags,
                results,
                &mut sum,
            )
            .await?;
        }
        if let Some(t) = sum.newest_bar {
            db::announce(&self.pool, sum.new, t).await?;
        }
        Ok(sum)
    }
}

/// A series the technical rule judges, with what judging it needs.
struct Pending {
    series: SeriesRow,
    candles: Vec<Candle>,
    judged: Vec<usize>,
    follow: Option<crate::db::follow::FollowRow>,
    now: TimeMs,
    flags: HashMap<TimeMs, (String, String)>,
}

/// Every judged bar of one series, its features computed once (CPU work).
fn judge_bars(
    row: &SeriesRow,
    candles: &[Candle],
    judged: &[usize],
    model: Option<(&ModelRow, &LoadedModel, &models::data::AltInputs)>,
    rule: &TechnicalRule,
    hybrid: Option<f64>,
) -> Vec<anyhow::Result<NewCandidate>> {
    let Some(&last) = judged.last() else {
        return Vec::new();
    };
    let candles = &candles[..=last.min(candles.len() - 1)];
    let fs = engine::features::compute(row.key.symbol.as_str(), row.key.timeframe, candles);
    // The rule's confidence at each bar from its own fires resolved by then.
    let fires = match (model, hybrid) {
        (Some(_), None) => Vec::new(),
        _ => engine::backtest::strategy::technical_fires(candles, &fs, rule, row.key.timeframe),
    };
    judged
        .iter()
        .map(|&i| assess(row, candles, i, &fs, model, hybrid, &fires))
        .collect()
}

impl Scanner {
    /// Stores one series' decisions, each blocked when its series is not fit to trade on.
    async fn store(
        &self,
        s: &SeriesRow,
        follow: Option<&crate::db::follow::FollowRow>,
        now: TimeMs,
        flags: &HashMap<TimeMs, (String, String)>,
        results: Vec<anyhow::Result<NewCandidate>>,
        sum: &mut ScanSummary,
    ) -> anyhow::Result<()> {
        let tf_ms = s.key.timeframe.duration_ms();
        for result in results {
            let mut candidate = match result {
                Ok(c) => c,
                Err(e) => {
                    sum.skipped.push(Skipped {
                        series: s.label(),
                        reason: format!("{e:#}"),
                    });
                    continue;
                }
            };
            if let Some(f) = follow {
                candidate.blocked =
                    blocked(f, &candidate, tf_ms, now, flags.get(&candidate.bar_time)).or_else(
                        || {
                            market_closed(
                                crate::universes::calendar_of(&s.key),
                                candidate.bar_time,
                                tf_ms,
                            )
                        },
                    );
                if let Some((kind, why)) = &candidate.blocked {
                    sum.skipped.push(Skipped {
                        series: s.label(),
                        reason: format!("{kind}: {why}"),
                    });
                }
            }
            // The signal's notification is written with it (fanned out to
            // readers whose gates it passes; a blocked close tells no one).
            let mut tx = self.pool.begin().await?;
            let id = db::insert(&mut tx, &candidate).await?;
            if let Some(id) = id
                && candidate.blocked.is_none()
                && candidate.prediction.is_some()
            {
                crate::notify::emit(&mut tx, &crate::notify::compose::signal_event(id)).await?;
            }
            tx.commit().await?;
            let outcome = match (&candidate.blocked, &candidate.prediction) {
                (Some((kind, _)), _) => kind.clone(),
                (None, None) => "no_setup".into(),
                (None, Some(_)) => "candidate".into(),
            };
            metrics::counter!("traderai_candidates_total", "source" => candidate.source.as_str(), "outcome" => outcome)
                .increment(u64::from(id.is_some()));
            if id.is_some() {
                // Bar close → candidate stored, on the series' own clock.
                let late_ms = now - (candidate.bar_time + tf_ms);
                if (0..86_400_000).contains(&late_ms) {
                    metrics::histogram!("traderai_scan_latency_seconds")
                        .record(late_ms as f64 / 1000.0);
                }
                sum.new += 1;
                sum.newest_bar = sum.newest_bar.max(Some(candidate.bar_time));
            } else {
                sum.up_to_date += 1;
            }
        }
        Ok(())
    }
}

fn regime_name(r: engine::features::Regime) -> &'static str {
    match r {
        engine::features::Regime::Uptrend => "uptrend",
        engine::features::Regime::Downtrend => "downtrend",
        engine::features::Regime::Range => "range",
    }
}

/// Closes judged in one scan per series at most (the rest were missed while
/// nothing scanned: history, not signals).
const MAX_CATCH_UP: i64 = 16;

/// Why a followed series' close may not become a signal: the follower says
/// the series is stale or catching up, the bar is already old on the
/// follower's clock, or the bar itself is flagged.
fn blocked(
    f: &crate::db::follow::FollowRow,
    c: &NewCandidate,
    tf_ms: TimeMs,
    now: TimeMs,
    flag: Option<&(String, String)>,
) -> Option<(String, String)> {
    if let Some((kind, detail)) = flag {
        return Some(("flagged_bar".into(), format!("{kind}: {detail}")));
    }
    match f.state.as_str() {
        "stale" => {
            return Some((
                "stale".into(),
                f.detail.clone().unwrap_or_else(|| "stale".into()),
            ));
        }
        "catching_up" => {
            return Some(("catching_up".into(), "fetching the bars it missed".into()));
        }
        _ => {}
    }
    let age = now - (c.bar_time + tf_ms);
    (age > tf_ms).then(|| {
        (
            "stale".into(),
            format!("the bar closed {} ago", app::types::human_span(age)),
        )
    })
}

/// An intraday bar of a market with sessions makes no signal when the market
/// is not open at its close (the session's last bar, or an extended-hours
/// bar): nobody can enter at that price until the next open, after an
/// overnight gap. Daily bars close with the session by nature and plan for
/// the next open.
fn market_closed(
    cal: engine::calendar::Calendar,
    bar_time: TimeMs,
    tf_ms: TimeMs,
) -> Option<(String, String)> {
    let close = bar_time + tf_ms;
    if cal.is_always_open() || tf_ms >= 86_400_000 || cal.is_open(close) {
        return None;
    }
    let opens = cal
        .next_open(close)
        .map(|t| {
            format!(
                "; it opens {} (in {})",
                crate::time::iso(t),
                app::types::human_span(t - close)
            )
        })
        .unwrap_or_default();
    Some((
        "market_closed".into(),
        format!("{} is closed at the bar's close{opens}", cal.as_str()),
    ))
}

/// Scans at every bar close, in a task of its own so no job (backfill,
/// training, a backtest) delays it: each stored bar's tick (LISTEN on the
/// tick channel, which the follower's and every importer's writes send)
/// starts a scan; ticks that arrive while one runs are folded into the next.
/// A slow timer covers series nothing announces. One scanner at a time
/// across processes (the scan lock): a busy lock skips, the next tick retries.
pub async fn scan_on_closes(mut scanner: Scanner, mut stop: tokio::sync::watch::Receiver<bool>) {
    use sqlx::postgres::PgListener;
    const FALLBACK: std::time::Duration = std::time::Duration::from_secs(60);
    let pool = scanner.pool.clone();
    let mut backoff = std::time::Duration::from_millis(250);
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "scanner: LISTEN connection failed; retrying");
                tokio::select! { _ = tokio::time::sleep(backoff) => {}, _ = stop.changed() => return }
                backoff = (backoff * 2).min(std::time::Duration::from_secs(10));
                continue;
            }
        };
        if let Err(e) = listener.listen(crate::db::candles::TICK_CHANNEL).await {
            tracing::warn!(error = %e, "scanner: LISTEN failed; retrying");
            tokio::select! { _ = tokio::time::sleep(backoff) => {}, _ = stop.changed() => return }
            continue;
        }
        backoff = std::time::Duration::from_millis(250);
        // A scan first: bars may have closed while nobody listened.
        loop {
            {
                match scanner.scan().await {
                    Ok(Some(sum)) if sum.new > 0 || !sum.skipped.is_empty() => {
                        tracing::info!(new = sum.new, up_to_date = sum.up_to_date, skipped = ?sum.skipped, "signal scan");
                    }
                    Ok(Some(_)) => {}
                    // Another process scans; its scan covers these bars or the next tick comes here.
                    Ok(None) => {}
                    Err(e) => tracing::error!(error = %format!("{e:#}"), "signal scan failed"),
                }
            }
            tokio::select! {
                n = listener.recv() => match n {
                    Ok(_) => {
                        // Fold a burst of ticks (a universe's bars close together) into one scan.
                        while let Ok(Ok(_)) = tokio::time::timeout(std::time::Duration::from_millis(5), listener.recv()).await {}
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "scanner: LISTEN connection lost; reconnecting");
                        break;
                    }
                },
                _ = tokio::time::sleep(FALLBACK) => {}
                _ = stop.changed() => return,
            }
        }
    }
}

/// `c` judged now for one reader, as the board shows it: the exchange's
/// costs, a perpetual's funding for the holding time estimated from the
/// current predicted rate (either sign costs: a plan must not count on
/// being paid), and no plan from a series that went stale after it.
pub fn judge_for(
    settings: &crate::config::Settings,
    c: &Candidate,
    profile: RiskProfile,
    capital: f64,
    predicted: &HashMap<(String, String), crate::db::funding::Predicted>,
    follow: Option<&crate::db::follow::FollowRow>,
) -> Outcome {
    let mut costs = settings.costs_for(&c.exchange);
    if let Some(p) = predicted.get(&(c.exchange.clone(), c.symbol.clone()))
        && p.interval_hours > 0.0
    {
        costs.funding_bps_per_hour = p.rate.abs() * 1e4 / p.interval_hours;
    }
    let outcome = judge(c, profile, capital, &costs, &settings.signals);
    match (follow, outcome) {
        (Some(f), Outcome::Plan(_)) if f.state == "stale" => Outcome::Rejected {
            kind: "stale".into(),
            message: format!(
                "The series is stale ({}); no signal until it is live again",
                f.detail.clone().unwrap_or_default()
            ),
        },
        (_, o) => o,
    }
}

/// A candidate judged for one reader.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Plan(Box<SignalPlan>),
    Rejected { kind: String, message: String },
}

/// The plan `c` makes for someone with `profile` and `capital` (all of it
/// free: the dashboard shows each signal on its own), or why there is none.
pub fn judge(
    c: &Candidate,
    profile: RiskProfile,
    capital: f64,
    costs: &CostModel,
    gates: &crate::config::SignalGates,
) -> Outcome {
    if let Some((kind, why)) = &c.new.blocked {
        let what = match kind.as_str() {
            "flagged_bar" => "The bar looks wrong",
            "catching_up" => "The series is catching up",
            "market_closed" => "The market is closed",
            _ => "The series is stale",
        };
        return Outcome::Rejected {
            kind: kind.clone(),
            message: format!("{what} ({why}); no signal until a normal, current bar closes"),
        };
    }
    if let (Some(why), Some(p)) = (&c.new.uncalibrated, &c.new.prediction) {
        return Outcome::Rejected {
            kind: "uncalibrated".into(),
            message: format!(
                "The technical rule sees a {} setup but its confidence is uncalibrated ({why} on this series); no signal until it has the history",
                p.side().map_or("neutral", |s| s.as_str())
            ),
        };
    }
    let Some(pred) = &c.new.prediction else {
        let message = match c.new.source {
            Source::Technical => {
                "The technical rule sees no setup (fewer than 3 of its 4 votes agree, or RSI is stretched)"
            }
            Source::Model => "The model had no full window of features at this bar",
            Source::Hybrid => {
                "The technical rule sees no setup, and the hybrid trades only the rule's setups"
            }
        };
        return Outcome::Rejected {
            kind: "no_setup".into(),
            message: message.into(),
        };
    };
    let ctx = PlanContext {
        time: c.new.bar_time,
        price: c.new.price,
        atr: c.new.atr.unwrap_or(f64::NAN),
        equity: capital,
        free_margin: capital,
        risk_scale: 1.0,
    };
    match signals::plan(
        &c.symbol,
        pred,
        &ctx,
        &gates.plan_config(),
        &profile.limits(),
        costs,
    ) {
        Ok(p) => match confirmation(c, p.side, gates) {
            Some(rejected) => rejected,
            None => Outcome::Plan(Box::new(p)),
        },
        Err(r) => Outcome::Rejected {
            kind: r.kind().to_string(),
            message: rejection_text(&r),
        },
    }
}

/// The higher-timeframe and regime gates on a plan's side.
pub(crate) fn confirmation(
    c: &Candidate,
    side: engine::signals::Side,
    gates: &crate::config::SignalGates,
) -> Option<Outcome> {
    use crate::config::HtfGate;
    if gates.require_trend_regime && c.new.regime.as_deref() == Some("range") {
        return Some(Outcome::Rejected {
            kind: "regime_range".into(),
            message: "The market is ranging (ADX below 25) and a trend regime is required".into(),
        });
    }
    if gates.htf == HtfGate::Off {
        return None;
    }
    let sign = side.sign();
    let mut agree = Vec::new();
    let mut against = Vec::new();
    // Only timeframes above the signal's own can confirm it (a 1d signal has none).
    let base = engine::Timeframe::parse(&c.timeframe).ok();
    let above = |tf: &String| {
        engine::Timeframe::parse(tf)
            .ok()
            .zip(base)
            .is_some_and(|(t, b)| t > b && t.is_multiple_of(b))
    };
    for tf in gates.htf_timeframes.iter().filter(|t| above(t)) {
        match c
            .new
            .htf
            .iter()
            .find(|(t, _)| t == tf)
            .and_then(|(_, v)| *v)
        {
            Some(v) if v * sign > 0.0 => agree.push(format!("{tf} {v:+.2} %")),
            Some(v) => against.push(format!("{tf} {v:+.2} %")),
            None => against.push(format!("{tf} unknown (too little history)")),
        }
    }
    if agree.is_empty() && against.is_empty() {
        return None;
    }
    let ok = match gates.htf {
        HtfGate::Off => true,
        HtfGate::Any => !agree.is_empty(),
        HtfGate::All => against.is_empty(),
    };
    (!ok).then(|| Outcome::Rejected {
        kind: "htf_disagrees".into(),
        message: format!(
            "The {side:?} side is not confirmed by the higher-timeframe trend ({}; close vs SMA20, {} required)",
            against.join(", "),
            match gates.htf {
                HtfGate::All => "all",
                _ => "one",
            }
        ),
    })
}

fn rejection_text(r: &Rejection) -> String {
    let mut s = r.to_string();
    if let Some(first) = s.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    s
}

#[cfg(test)]
mod tests {

    #[test]
    fn intraday_stock_bars_make_no_signal_when_the_market_is_shut_at_their_close() {
        use engine::calendar::Calendar;
        let ms = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .timestamp_millis()
        };
        let m15 = 900_000;
        // 15:30 EDT bar closes 15:45: open.
        assert_eq!(
            market_closed(Calendar::Xnys, ms("2024-07-10T19:30:00Z"), m15),
            None
        );
        // 15:45 EDT bar closes at 16:00: shut until Thursday 09:30.
        let (kind, why) = market_closed(Calendar::Xnys, ms("2024-07-10T19:45:00Z"), m15).unwrap();
        assert_eq!(kind, "market_closed");
        assert!(
            why.contains("2024-07-11T13:30:00") && why.contains("XNYS"),
            "{why}"
        );
        // The early close of 3 July: the 12:45 bar is the last one.
        assert!(market_closed(Calendar::Xnys, ms("2024-07-03T16:45:00Z"), m15).is_some());
        // Daily bars and crypto are never blocked by a calendar.
        assert_eq!(
            market_closed(Calendar::Xnys, ms("2024-07-10T00:00:00Z"), 86_400_000),
            None
        );
        assert_eq!(
            market_closed(Calendar::AlwaysOpen, ms("2024-07-13T19:45:00Z"), m15),
            None
        );
    }

    use super::*;
    use engine::signals::Prediction;

    fn candidate(prediction: Option<Prediction>, source: Source) -> Candidate {
        Candidate {
            id: 1,
            exchange: "binance".into(),
            market: "spot".into(),
            symbol: "BTC/USDT".into(),
            timeframe: "15m".into(),
            created_at: chrono::Utc::now(),
            new: NewCandidate {
                series_id: 1,
                bar_time: 0,
                price: 100.0,
                atr: Some(2.0),
                source,
                model_id: None,
                model_label: "test".into(),
                prediction,
                move_interval: None,
                coverage_level: None,
                prediction_set: None,
                uncalibrated: None,
                drivers: Vec::new(),
                blocked: None,
                regime: Some("uptrend".into()),
                htf: vec![("1h".into(), Some(0.5)), ("4h".into(), Some(-0.3))],
            },
        }
    }

    fn up(confidence: f64, expected_move_pct: f64) -> Option<Prediction> {
        Some(Prediction {
            p_up: 0.7,
            p_neutral: 0.2,
            p_down: 0.1,
            expected_move_pct,
            confidence,
        })
    }

    fn off() -> crate::config::SignalGates {
        crate::config::SignalGates {
            htf: crate::config::HtfGate::Off,
            ..Default::default()
        }
    }

    fn plan(o: Outcome) -> SignalPlan {
        match o {
            Outcome::Plan(p) => *p,
            Outcome::Rejected { kind, message } => panic!("{kind}: {message}"),
        }
    }

    #[test]
    fn one_candidate_is_sized_for_each_reader() {
        let c = candidate(up(0.7, 6.0), Source::Model);
        let costs = CostModel::default();
        let small = plan(judge(&c, RiskProfile::Low, 100.0, &costs, &off()));
        let big = plan(judge(&c, RiskProfile::High, 10_000.0, &costs, &off()));
        // Same levels: they come from the prediction and the bar, not the reader.
        assert_eq!(
            (small.entry, small.stop_loss, small.take_profit),
            (big.entry, big.stop_loss, big.take_profit)
        );
        assert!(small.risk_amount <= 1.0 + 1e-9, "1 % of $100");
        assert!(big.risk_amount <= 300.0 + 1e-9, "3 % of $10,000");
        assert!(big.qty > 100.0 * small.qty, "{} vs {}", big.qty, small.qty);
        assert!(small.leverage <= 5.0 && big.leverage <= 20.0);
    }

    #[test]
    fn rejections_say_which_gate_and_why() {
        let costs = CostModel::default();
        let kind = |o: Outcome| match o {
            Outcome::Rejected { kind, message } => {
                assert!(message.chars().next().unwrap().is_uppercase(), "{message}");
                kind
            }
            Outcome::Plan(p) => panic!("planned {p:?}"),
        };
        let rule = candidate(None, Source::Technical);
        assert_eq!(
            kind(judge(&rule, RiskProfile::Medium, 100.0, &costs, &off())),
            "no_setup"
        );
        let weak = candidate(up(0.5, 6.0), Source::Model);
        assert_eq!(
            kind(judge(&weak, RiskProfile::Medium, 100.0, &costs, &off())),
            "low_confidence"
        );
        let small_move = candidate(up(0.9, 1.0), Source::Model);
        assert_eq!(
            kind(judge(
                &small_move,
                RiskProfile::Medium,
                100.0,
                &costs,
                &off()
            )),
            "low_profit"
        );
        let mut no_atr = candidate(up(0.9, 6.0), Source::Model);
        no_atr.new.atr = None;
        assert_eq!(
            kind(judge(&no_atr, RiskProfile::Medium, 100.0, &costs, &off())),
            "no_volatility"
        );
    }

    #[test]
    fn higher_timeframes_and_regime_gate_the_side() {
        use crate::config::{HtfGate, SignalGates};
        let costs = CostModel::default();
        // 1h agrees with a long (+0.5 %), 4h does not (−0.3 %).
        let c = candidate(up(0.7, 6.0), Source::Model);
        let gate = |htf, tfs: &[&str]| SignalGates {
            htf,
            htf_timeframes: tfs.iter().map(|s| s.to_string()).collect(),
            require_trend_regime: false,
            ..SignalGates::default()
        };
        match judge(
            &c,
            RiskProfile::Medium,
            100.0,
            &costs,
            &gate(HtfGate::All, &["1h", "4h"]),
        ) {
            Outcome::Rejected { kind, message } => {
                assert_eq!(kind, "htf_disagrees");
                assert!(message.contains("4h -0.30 %"), "{message}");
            }
            o => panic!("{o:?}"),
        }
        plan(judge(
            &c,
            RiskProfile::Medium,
            100.0,
            &costs,
            &gate(HtfGate::Any, &["1h", "4h"]),
        ));
        plan(judge(
            &c,
            RiskProfile::Medium,
            100.0,
            &costs,
            &gate(HtfGate::All, &["1h"]),
        ));
        // A timeframe with no value yet cannot confirm.
        match judge(
            &c,
            RiskProfile::Medium,
            100.0,
            &costs,
            &gate(HtfGate::All, &["1d"]),
        ) {
            Outcome::Rejected { kind, message } => {
                assert_eq!(kind, "htf_disagrees");
                assert!(message.contains("1d unknown"), "{message}");
            }
            o => panic!("{o:?}"),
        }
        let mut ranging = c.clone();
        ranging.new.regime = Some("range".into());
        let need_trend = SignalGates {
            require_trend_regime: true,
            ..off()
        };
        match judge(&ranging, RiskProfile::Medium, 100.0, &costs, &need_trend) {
            Outcome::Rejected { kind, .. } => assert_eq!(kind, "regime_range"),
            o => panic!("{o:?}"),
        }
        plan(judge(&c, RiskProfile::Medium, 100.0, &costs, &need_trend));
    }
}
