//! The simulator: a backtest of stored series as a job, for the dashboard
//! and the API. Same engine path as `traderai backtest` (costs, risk
//! profile, baselines); the equity curve, trades and report land on the
//! job row.

use anyhow::{Context, bail};
use engine::backtest::EquityPoint;
use engine::backtest::report::{self, ReportSpec, SeriesData};
use engine::backtest::strategy::Strategy;
use engine::risk::RiskProfile;
use engine::signals::TechnicalRule;
use engine::{Market, Symbol, TimeMs, Timeframe};
use models::artifact::LoadedModel;
use models::backend::Backend;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use app::types::{BacktestOutcome, CurvePoint};

use crate::config::Settings;
use crate::db::jobs::{Job, JobStatus};

/// The job kind.
pub const KIND: &str = "backtest";

/// Curves keep at most this many points on the job row (a chart needs no more).
const MAX_POINTS: usize = 1500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SimStrategy {
    /// The plain technical rule.
    #[default]
    Technical,
    /// The model serving the timeframe (the symbol's own, else the universal one).
    Model,
    /// The technical rule's side, its confidence moved by the serving model's.
    Hybrid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BacktestJobParams {
    pub symbols: Vec<Symbol>,
    pub timeframe: Timeframe,
    #[serde(default)]
    pub exchange: Option<String>,
    #[serde(default)]
    pub market: Option<Market>,
    /// Trade and measure bars with `from <= open_time < to` (UTC ms); the
    /// stored bars before `from` warm up the indicators and the rule's calibration.
    #[serde(default)]
    pub from: Option<TimeMs>,
    #[serde(default)]
    pub to: Option<TimeMs>,
    #[serde(default = "crate::config::default_profile")]
    pub profile: RiskProfile,
    #[serde(default = "crate::config::default_capital")]
    pub capital: f64,
    #[serde(default)]
    pub strategy: SimStrategy,
    #[serde(default)]
    pub min_net_profit: Option<f64>,
    #[serde(default)]
    pub sizing: engine::risk::sizing::SizingMode,
    /// Hybrid: the model's weight in the confidence (default 0.5).
    #[serde(default)]
    pub model_weight: Option<f64>,
}

/// Every `k`-th point so at most `MAX_POINTS` remain, always with the last.
pub fn thin(points: &[EquityPoint], bar_ms: i64) -> Vec<CurvePoint> {
    let k = points.len().div_ceil(MAX_POINTS).max(1);
    let last = points.len().saturating_sub(1);
    points
        .iter()
        .enumerate()
        .filter(|(i, _)| i % k == 0 || *i == last)
        .map(|(_, p)| CurvePoint {
            // The bar's open time, like the CLI's equity.csv.
            t: p.time - bar_ms,
            equity: p.equity,
            drawdown_pct: p.drawdown_pct,
            buy_and_hold: p.buy_and_hold,
        })
        .collect()
}

/// Checks what a request can check before queueing, naming the field.
pub fn validate(p: &BacktestJobParams) -> Result<(), (&'static str, String)> {
    if p.symbols.is_empty() {
        return Err(("symbols", "name at least one symbol".into()));
    }
    if p.symbols.len() > 20 {
        return Err(("symbols", "at most 20 symbols per run".into()));
    }
    crate::config::check_capital(p.capital).map_err(|e| ("capital", e))?;
    if let (Some(f), Some(t)) = (p.from, p.to)
        && f >= t
    {
        return Err(("to", "the end must come after the start".into()));
    }
    if let Some(m) = p.min_net_profit
        && !(m.is_finite() && (0.0..=100.0).contains(&m))
    {
        return Err(("min_net_profit", "a percentage from 0 to 100".into()));
    }
    if let Some(w) = p.model_weight
        && !(0.0..=1.0).contains(&w)
    {
        return Err(("model_weight", "a weight from 0 to 1".into()));
    }
    if let engine::risk::sizing::SizingMode::Kelly { fraction } = p.sizing
        && !(fraction > 0.0 && fraction <= 1.0)
    {
        return Err(("sizing", "the Kelly fraction must be in (0, 1]".into()));
    }
    Ok(())
}

pub async fn run_job(
    pool: &PgPool,
    settings: &Settings,
    job: &Job,
) -> anyhow::Result<(JobStatus, serde_json::Value)> {
    let p: BacktestJobParams =
        serde_json::from_value(job.params.clone()).context("reading backtest parameters")?;
    validate(&p).map_err(|(field, msg)| anyhow::anyhow!("{field}: {msg}"))?;
    let active = crate::db::models::all_active(pool).await?;
    let mut data = Vec::new();
    let mut used = Vec::new();
    let mut exchanges = Vec::new();
    let mut first_close = TimeMs::MAX;
    for symbol in &p.symbols {
        let (key, mut candles) = crate::db::candles::stored_series_of(
            pool,
            symbol.as_str(),
            p.timeframe,
            p.exchange.as_deref(),
            p.market,
        )
        .await?;
        exchanges.push(key.exchange);
        // Bars before `from` stay as warm-up (indicators, the rule's
        // calibration); the engine trades and measures from `from` on.
        candles.retain(|c| p.to.is_none_or(|t| c.open_time < t));
        let first = p
            .from
            .map_or(0, |f| candles.partition_point(|c| c.open_time < f));
        if let Some(c) = candles.get(first) {
            first_close = first_close.min(c.open_time + p.timeframe.duration_ms());
        }
        if candles.len() - first < 2 {
            bail!(
                "{symbol} {}: fewer than 2 stored bars in the chosen range",
                p.timeframe
            );
        }
        let predictions = match p.strategy {
            SimStrategy::Technical => None,
            SimStrategy::Model | SimStrategy::Hybrid => {
                let Some(m) = crate::signals::serving_model(&active, symbol.as_str(), p.timeframe)
                else {
                    bail!(
                        "no model serves {symbol} {}: train and promote one, or use the technical strategy",
                        p.timeframe
                    );
                };
                used.push(format!("{symbol}: {}", crate::signals::model_label(m)));
                let (dir, sym, c) = (m.dir.clone(), symbol.to_string(), candles.clone());
                let model = tokio::task::spawn_blocking(move || {
                    LoadedModel::load(std::path::Path::new(&dir), Backend::preferred())
                })
                .await??;
                let alt = crate::altdata::inputs_for(pool, &sym, &c, &model.config.pipeline.groups)
                    .await?;
                let preds = tokio::task::spawn_blocking(move || {
                    anyhow::Ok(model.predict_series(&sym, &c, &alt)?)
                })
                .await??;
                Some(preds)
            }
        };
        let funding = match p.market {
            Some(Market::Spot) => None,
            _ => {
                crate::db::funding::for_candles(
                    pool,
                    p.exchange.as_deref(),
                    symbol.as_str(),
                    &candles,
                )
                .await?
            }
        };
        data.push(SeriesData {
            symbol: symbol.to_string(),
            candles,
            predictions,
            lower: None,
            funding,
        });
    }
    let trader = crate::config::Trader {
        profile: p.profile,
        capital: p.capital,
        min_net_profit: p.min_net_profit,
    };
    let exchange = settings.cost_exchange(exchanges.iter().map(String::as_str))?;
    let mut config = settings.backtest_config(&trader, exchange);
    config.plan.sizing = p.sizing;
    config.calendar = data
        .first()
        .map_or(engine::calendar::Calendar::AlwaysOpen, |d| {
            engine::quality::Session::calendar_of(&d.candles)
        });
    config.trade_from = p.from.map(|_| first_close);
    let strategy = match p.strategy {
        SimStrategy::Technical => Strategy::Technical(TechnicalRule::default()),
        SimStrategy::Model => Strategy::Model,
        SimStrategy::Hybrid => Strategy::Hybrid {
            rule: TechnicalRule::default(),
            weight: p.model_weight.unwrap_or(0.5),
        },
    };
    // The trial ledger `traderai backtest` writes too: every configuration
    // tried on these stored series, from either, deflates the Sharpe and is
    // ranked with this one by PBO.
    let subject = crate::research::subject_of(
        "backtest",
        p.timeframe,
        exchanges
            .iter()
            .map(String::as_str)
            .zip(data.iter().map(|d| d.symbol.as_str())),
    );
    let ledger = crate::research::Ledger::open(pool, subject, &strategy, &config).await?;
    let spec = ReportSpec {
        timeframe: p.timeframe,
        config,
        strategy,
        trials: ledger.trials,
        random_seed: 42,
        code_version: crate::code_version(),
    };
    let bar_ms = p.timeframe.duration_ms();
    let (rep, result) =
        tokio::task::spawn_blocking(move || report::run_report(&data, &spec)).await?;
    let curve = crate::research::ledger_curve(&result.equity, bar_ms);
    let compared = ledger.compare(&curve);
    ledger.keep(pool, &curve).await?;
    let outcome = BacktestOutcome {
        report: rep,
        equity: thin(&result.equity, bar_ms),
        trades: result.trades,
        models: used,
        pbo: compared.pbo,
        pbo_error: compared.pbo_error,
    };
    Ok((JobStatus::Succeeded, serde_json::to_value(&outcome)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinning_keeps_the_ends_and_the_cap() {
        let pts: Vec<EquityPoint> = (0..4000)
            .map(|i| EquityPoint {
                time: (i + 1) * 10,
                equity: i as f64,
                drawdown_pct: 0.0,
                buy_and_hold: 0.0,
                open_positions: 0,
            })
            .collect();
        let t = thin(&pts, 10);
        assert!(t.len() <= MAX_POINTS + 1, "{}", t.len());
        assert_eq!(t[0].t, 0, "open time of the first bar");
        assert_eq!(t.last().unwrap().equity, 3999.0, "the final equity is kept");
        assert_eq!(thin(&pts[..10], 10).len(), 10, "short curves stay whole");
    }

    #[test]
    fn requests_are_checked_by_field() {
        let ok = BacktestJobParams {
            symbols: vec![Symbol::parse("BTC/USD").unwrap()],
            timeframe: Timeframe::parse("1d").unwrap(),
            exchange: None,
            market: None,
            from: Some(10),
            to: Some(20),
            profile: RiskProfile::Low,
            capital: 100.0,
            strategy: SimStrategy::Technical,
            min_net_profit: None,
            sizing: Default::default(),
            model_weight: None,
        };
        assert!(validate(&ok).is_ok());
        let field = |p: BacktestJobParams| validate(&p).unwrap_err().0;
        assert_eq!(
            field(BacktestJobParams {
                symbols: vec![],
                ..ok.clone()
            }),
            "symbols"
        );
        assert_eq!(
            field(BacktestJobParams {
                capital: 0.0,
                ..ok.clone()
            }),
            "capital"
        );
        assert_eq!(
            field(BacktestJobParams {
                to: Some(5),
                ..ok.clone()
            }),
            "to"
        );
        assert_eq!(
            field(BacktestJobParams {
                min_net_profit: Some(-1.0),
                ..ok.clone()
            }),
            "min_net_profit"
        );
        assert_eq!(
            field(BacktestJobParams {
                model_weight: Some(1.5),
                ..ok.clone()
            }),
            "model_weight"
        );
        assert_eq!(
            field(BacktestJobParams {
                sizing: engine::risk::sizing::SizingMode::Kelly { fraction: 0.0 },
                ..ok
            }),
            "sizing"
        );
    }
}
