//! Live signals: at every bar close the scanner asks, for each stored
//! series, the model serving its timeframe (or, when none does, the
//! technical rule) what it expects, and stores that as a candidate. A
//! candidate becomes a plan — levels, leverage, size, net profit after
//! costs — for each reader's own risk profile and capital when it is read.

use std::collections::HashMap;

use anyhow::Context;
use engine::costs::CostModel;
use engine::risk::RiskProfile;
use engine::signals::{self, PlanConfig, PlanContext, Rejection, SignalPlan, TechnicalRule};
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

fn describe(s: &SeriesRow) -> String {
    format!(
        "{} {} {} {}",
        s.key.exchange, s.key.market, s.key.symbol, s.key.timeframe
    )
}

/// What a source says about the last of `candles` (CPU work: run it off the async workers).
fn assess(
    series: &SeriesRow,
    candles: &[Candle],
    model: Option<(&ModelRow, &LoadedModel)>,
    rule: &TechnicalRule,
) -> anyhow::Result<NewCandidate> {
    let last = candles.last().context("no candles")?;
    let fs = engine::features::compute(series.key.symbol.as_str(), series.key.timeframe, candles);
    let technicals = fs.bars.last().and_then(|b| b.technicals);
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
        drivers: Vec::new(),
    };
    match model {
        Some((row, m)) => {
            c.source = Source::Model;
            c.model_id = Some(row.id);
            c.model_label = model_label(row);
            if let Some(p) = m.predict_last(series.key.symbol.as_str(), candles)? {
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
        None => {
            if let Some(t) = technicals {
                c.prediction = rule.evaluate(&t);
                c.drivers = TechnicalRule::inputs(&t)
                    .into_iter()
                    .map(|(f, v)| Driver {
                        feature: f.to_string(),
                        value: v,
                    })
                    .collect();
            }
        }
    }
    Ok(c)
}

impl Scanner {
    pub fn new(pool: PgPool, backend: Backend) -> Scanner {
        Scanner {
            pool,
            backend,
            rule: TechnicalRule::default(),
            models: HashMap::new(),
        }
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
        let scanned = [
            db::last_scanned(&self.pool, Source::Model).await?,
            db::last_scanned(&self.pool, Source::Technical).await?,
        ];
        // Models no longer serving are dropped from the cache.
        self.models
            .retain(|id, _| active.iter().any(|m| m.id == *id));
        let now = crate::time::now_ms();
        let mut sum = ScanSummary::default();
        for s in series.iter().filter(|s| s.bars > 0) {
            sum.series += 1;
            let Some(last_open) = s.last_open else {
                continue;
            };
            let tf_ms = s.key.timeframe.duration_ms();
            // A bar still forming (a live backfill stores it) is not closed yet.
            let last_closed = if last_open + tf_ms <= now {
                last_open
            } else {
                last_open - tf_ms
            };
            let mut model = serving_model(&active, s.key.symbol.as_str(), s.key.timeframe).cloned();
            let source = if model.is_some() {
                Source::Model
            } else {
                Source::Technical
            };
            let seen = &scanned[usize::from(source == Source::Technical)];
            if seen.get(&s.id).is_some_and(|&t| t >= last_closed) {
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
            // Load the model once (verifying its files); a broken one is
            // reported and the rule speaks for the series instead.
            let mut loaded = model.as_ref().and_then(|m| self.models.remove(&m.id));
            if let (Some(m), None) = (&model, &loaded) {
                let (dir, backend) = (std::path::PathBuf::from(&m.dir), self.backend);
                match tokio::task::spawn_blocking(move || LoadedModel::load(&dir, backend)).await? {
                    Ok(l) => loaded = Some(l),
                    Err(e) => {
                        sum.skipped.push(Skipped {
                            series: describe(s),
                            reason: format!("model {} cannot be loaded: {e}", model_label(m)),
                        });
                        model = None;
                    }
                }
            }
            let (row, rule) = (s.clone(), self.rule);
            let (result, loaded) = tokio::task::spawn_blocking(move || {
                let r = assess(&row, &candles, model.as_ref().zip(loaded.as_ref()), &rule);
                (r.map(|c| (c, model)), loaded)
            })
            .await?;
            let candidate = match result {
                Ok((c, m)) => {
                    if let (Some(m), Some(l)) = (m, loaded) {
                        self.models.insert(m.id, l);
                    }
                    c
                }
                Err(e) => {
                    sum.skipped.push(Skipped {
                        series: describe(s),
                        reason: format!("{e:#}"),
                    });
                    continue;
                }
            };
            if db::insert(&self.pool, &candidate).await? {
                sum.new += 1;
                sum.newest_bar = sum.newest_bar.max(Some(candidate.bar_time));
            } else {
                sum.up_to_date += 1;
            }
        }
        if let Some(t) = sum.newest_bar {
            db::announce(&self.pool, sum.new, t).await?;
        }
        Ok(sum)
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
pub fn judge(c: &Candidate, profile: RiskProfile, capital: f64, costs: &CostModel) -> Outcome {
    let Some(pred) = &c.new.prediction else {
        let message = match c.new.source {
            Source::Technical => {
                "The technical rule sees no setup (fewer than 3 of its 4 votes agree, or RSI is stretched)"
            }
            Source::Model => "The model had no full window of features at this bar",
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
        &PlanConfig::default(),
        &profile.limits(),
        costs,
    ) {
        Ok(p) => Outcome::Plan(Box::new(p)),
        Err(r) => Outcome::Rejected {
            kind: r.kind().to_string(),
            message: rejection_text(&r),
        },
    }
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
    use super::*;
    use engine::signals::Prediction;

    fn candidate(prediction: Option<Prediction>, source: Source) -> Candidate {
        Candidate {
            id: 1,
            exchange: "binance".into(),
            market: "spot".into(),
            symbol: "BTC/USDT".into(),
            timeframe: "1d".into(),
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
                drivers: Vec::new(),
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
        let small = plan(judge(&c, RiskProfile::Low, 100.0, &costs));
        let big = plan(judge(&c, RiskProfile::High, 10_000.0, &costs));
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
            kind(judge(&rule, RiskProfile::Medium, 100.0, &costs)),
            "no_setup"
        );
        let weak = candidate(up(0.5, 6.0), Source::Model);
        assert_eq!(
            kind(judge(&weak, RiskProfile::Medium, 100.0, &costs)),
            "low_confidence"
        );
        let small_move = candidate(up(0.9, 1.0), Source::Model);
        assert_eq!(
            kind(judge(&small_move, RiskProfile::Medium, 100.0, &costs)),
            "low_profit"
        );
        let mut no_atr = candidate(up(0.9, 6.0), Source::Model);
        no_atr.new.atr = None;
        assert_eq!(
            kind(judge(&no_atr, RiskProfile::Medium, 100.0, &costs)),
            "no_volatility"
        );
    }
}
