//! A strategy's backtest with its baselines, config, data range and a hash
//! of every input, so a number can always be traced to what produced it.

use super::metrics::{self, Metrics};
use super::strategy::{self, Strategy};
use super::{BacktestConfig, BacktestResult, SeriesInput, run};
use crate::features::{self, FeatureSet};
use crate::quality::Session;
use crate::signals::calibration::{self, RuleCalibration, RuleConfidence};
use crate::signals::{Prediction, TechnicalRule};
use crate::{Candle, TimeMs, Timeframe};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One symbol's data for a report.
#[derive(Debug, Clone)]
pub struct SeriesData {
    pub symbol: String,
    pub candles: Vec<Candle>,
    /// Model predictions per bar (for the model and hybrid strategies).
    pub predictions: Option<Vec<Option<Prediction>>>,
    pub lower: Option<Vec<Candle>>,
    /// Stored funding settlements; `None`: the cost model's constant rate.
    pub funding: Option<Vec<crate::costs::FundingRate>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataRange {
    pub symbol: String,
    pub timeframe: String,
    pub bars: usize,
    pub from: Option<TimeMs>,
    pub to: Option<TimeMs>,
    /// Of `bars`, those before `config.trade_from`: indicators and the
    /// rule's calibration warmed up on them; nothing traded.
    #[serde(default)]
    pub warm_up_bars: usize,
    /// How funding was charged: `stored rates (N settlements)` or `constant …`.
    #[serde(default)]
    pub funding: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baselines {
    pub buy_and_hold: Metrics,
    pub technical: Metrics,
    pub random: Metrics,
    pub random_seed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub strategy: Strategy,
    pub config: BacktestConfig,
    pub data: Vec<DataRange>,
    /// SHA-256 over config, strategy, candles (lower-timeframe ones too),
    /// predictions and funding.
    pub input_hash: String,
    /// The code that produced it (version and git commit), as the caller
    /// built it: see [`ReportSpec::code_version`].
    pub code_version: String,
    pub periods_per_year: f64,
    pub metrics: Metrics,
    /// How the technical rule's confidence was calibrated on these bars
    /// (the rule, hybrid and the technical baseline trade on it).
    #[serde(default)]
    pub rule_calibration: Option<calibration::CalibrationSummary>,
    pub rejections: std::collections::BTreeMap<String, usize>,
    pub cancelled_entries: usize,
    pub baselines: Baselines,
}

/// Everything a report run needs besides the data.
#[derive(Debug, Clone)]
pub struct ReportSpec {
    pub timeframe: Timeframe,
    pub config: BacktestConfig,
    pub strategy: Strategy,
    /// Configurations tried before this one (for the deflated Sharpe).
    pub trials: usize,
    pub random_seed: u64,
    /// What produced the report: the binary's version and git commit (the
    /// engine is a library; only the binary's build knows the commit).
    pub code_version: String,
}

/// Bars per year: continuous markets trade 365.25 days of 24 hours,
/// exchanges 252 sessions (US equities' 6.5 hours each, so 26 quarter hours).
pub fn periods_per_year(timeframe: Timeframe, session: Session) -> f64 {
    session.days_per_year() * session.bars_per_day(timeframe)
}

/// Runs the strategy and its baselines; also returns the strategy's full result.
pub fn run_report(data: &[SeriesData], spec: &ReportSpec) -> (Report, BacktestResult) {
    let feats: Vec<FeatureSet> = data
        .iter()
        .map(|d| features::compute(&d.symbol, spec.timeframe, &d.candles))
        .collect();
    let atr: Vec<Vec<Option<f64>>> = feats
        .iter()
        .map(|f| f.bars.iter().map(|b| b.technicals.map(|t| t.atr)).collect())
        .collect();
    let rule = match &spec.strategy {
        Strategy::Technical(r) | Strategy::Hybrid { rule: r, .. } => *r,
        _ => TechnicalRule::default(),
    };
    // The rule's fires with the confidence each had earned by its bar (the
    // live scanner's numbers); an uncalibrated fire trades nothing.
    let calib = RuleCalibration::for_timeframe(spec.timeframe);
    let fires: Vec<Vec<Option<RuleConfidence>>> = feats
        .iter()
        .zip(data)
        .map(|(f, d)| strategy::technical_fires(&d.candles, f, &rule, spec.timeframe))
        .collect();
    let technical: Vec<Vec<Option<Prediction>>> =
        fires.iter().map(|f| strategy::calibrated_only(f)).collect();
    // Each series' first bar closing at or after `trade_from` (earlier bars
    // only warm up indicators and the calibration).
    let bar_ms = spec.timeframe.duration_ms();
    let start: Vec<usize> = data
        .iter()
        .map(|d| match spec.config.trade_from {
            Some(t) => d.candles.partition_point(|c| c.open_time + bar_ms < t),
            None => 0,
        })
        .collect();
    let rule_calibration = calibration::summarize(
        data.iter()
            .zip(&fires)
            .zip(&start)
            .map(|((d, f), &k)| (&d.candles[k..], &f[k..])),
        &calib,
        spec.config.plan.min_confidence,
    );
    let empty = Vec::new();
    let preds: Vec<Vec<Option<Prediction>>> = data
        .iter()
        .enumerate()
        .map(|(k, d)| match &spec.strategy {
            Strategy::Technical(_) => technical[k].clone(),
            Strategy::Model => d.predictions.clone().unwrap_or_default(),
            Strategy::Hybrid { weight, .. } => strategy::hybrid_of(
                &technical[k],
                d.predictions.as_ref().unwrap_or(&empty),
                *weight,
            ),
            Strategy::SmaCross {
                fast,
                slow,
                move_pct,
            } => strategy::sma_cross(&d.candles, *fast, *slow, *move_pct),
        })
        .collect();
    let session = data
        .first()
        .map_or(Session::Continuous, |d| Session::detect(&d.candles));
    let ppy = periods_per_year(spec.timeframe, session);
    let cfg = &spec.config;
    let result = run(&series_inputs(data, &preds, &atr), spec.timeframe, cfg);
    let metrics = metrics::compute(&result, cfg.initial_capital, ppy, spec.trials);

    let tech_result = if matches!(spec.strategy, Strategy::Technical(_)) {
        result.clone()
    } else {
        run(&series_inputs(data, &technical, &atr), spec.timeframe, cfg)
    };
    // Random entries at the strategy's entry rate, promising its average
    // move, with the same exits; the gates are off (entry choice is the point).
    let bars: usize = data
        .iter()
        .zip(&start)
        .map(|(d, k)| d.candles.len() - k)
        .sum();
    let entries = result.trades.len() + result.cancelled_entries;
    let rate = if bars == 0 {
        0.0
    } else {
        entries as f64 / bars as f64
    };
    let avg_move = if result.trades.is_empty() {
        None
    } else {
        Some(
            result
                .trades
                .iter()
                .map(|t| t.expected_move_pct.abs())
                .sum::<f64>()
                / result.trades.len() as f64,
        )
    };
    let random: Vec<Vec<Option<Prediction>>> = data
        .iter()
        .enumerate()
        .map(|(k, d)| {
            strategy::random(
                &vec![avg_move; d.candles.len()],
                rate,
                spec.random_seed.wrapping_add(k as u64),
            )
        })
        .collect();
    let mut random_cfg = cfg.clone();
    random_cfg.plan.min_confidence = 0.0;
    random_cfg.plan.min_net_profit_pct = f64::NEG_INFINITY;
    let random_result = run(
        &series_inputs(data, &random, &atr),
        spec.timeframe,
        &random_cfg,
    );

    let bh: Vec<f64> = std::iter::once(cfg.initial_capital)
        .chain(result.equity.iter().map(|p| p.buy_and_hold))
        .collect();
    // Buy-and-hold is in the market on every bar.
    let buy_and_hold = Metrics {
        exposure_pct: 100.0,
        ..metrics::from_equity(&bh, None, &result.equity, ppy, 1)
    };
    let report = Report {
        strategy: spec.strategy.clone(),
        config: cfg.clone(),
        data: data
            .iter()
            .zip(&start)
            .map(|(d, &warm_up_bars)| DataRange {
                symbol: d.symbol.clone(),
                timeframe: spec.timeframe.to_string(),
                bars: d.candles.len(),
                from: d.candles.first().map(|c| c.open_time),
                to: d.candles.last().map(|c| c.open_time),
                warm_up_bars,
                funding: match &d.funding {
                    Some(r) => format!("stored rates ({} settlements)", r.len()),
                    None => format!(
                        "constant {} bp/h (no stored rates)",
                        spec.config.costs.funding_bps_per_hour
                    ),
                },
            })
            .collect(),
        input_hash: input_hash(data, spec),
        code_version: spec.code_version.clone(),
        periods_per_year: ppy,
        metrics,
        rule_calibration: Some(rule_calibration),
        rejections: result.rejections.clone(),
        cancelled_entries: result.cancelled_entries,
        baselines: Baselines {
            buy_and_hold,
            technical: metrics::compute(&tech_result, cfg.initial_capital, ppy, 1),
            random: metrics::compute(&random_result, cfg.initial_capital, ppy, 1),
            random_seed: spec.random_seed,
        },
    };
    (report, result)
}

fn series_inputs<'a>(
    data: &'a [SeriesData],
    preds: &'a [Vec<Option<Prediction>>],
    atr: &'a [Vec<Option<f64>>],
) -> Vec<SeriesInput<'a>> {
    data.iter()
        .enumerate()
        .map(|(k, d)| SeriesInput {
            symbol: &d.symbol,
            candles: &d.candles,
            predictions: &preds[k],
            atr: &atr[k],
            lower: d.lower.as_deref(),
            funding: d.funding.as_deref(),
        })
        .collect()
}

/// Feeds one series' symbol and candles (count, times, OHLCV) to `h`.
fn hash_candles(h: &mut Sha256, symbol: &str, candles: &[Candle]) {
    h.update(symbol.as_bytes());
    h.update((candles.len() as u64).to_le_bytes());
    for c in candles {
        h.update(c.open_time.to_le_bytes());
        for v in [c.open, c.high, c.low, c.close, c.volume] {
            h.update(v.to_le_bytes());
        }
    }
}

/// SHA-256 of several series' symbols and candles (what a model trained on).
pub fn candles_sha256<'a>(series: impl IntoIterator<Item = (&'a str, &'a [Candle])>) -> String {
    let mut h = Sha256::new();
    for (symbol, candles) in series {
        hash_candles(&mut h, symbol, candles);
    }
    format!("{:x}", h.finalize())
}

/// SHA-256 (hex) of the configuration, strategy and every input value.
pub fn input_hash(data: &[SeriesData], spec: &ReportSpec) -> String {
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(&spec.config).unwrap_or_default());
    h.update(serde_json::to_vec(&spec.strategy).unwrap_or_default());
    h.update(spec.timeframe.to_string().as_bytes());
    h.update(spec.trials.to_le_bytes());
    h.update(spec.random_seed.to_le_bytes());
    for d in data {
        hash_candles(&mut h, &d.symbol, &d.candles);
        for p in d.predictions.iter().flatten() {
            match p {
                Some(p) => {
                    for v in [
                        p.p_up,
                        p.p_neutral,
                        p.p_down,
                        p.expected_move_pct,
                        p.confidence,
                    ] {
                        h.update(v.to_le_bytes());
                    }
                }
                None => h.update([0u8]),
            }
        }
        for r in d.funding.iter().flatten() {
            h.update(r.time.to_le_bytes());
            h.update(r.rate.to_le_bytes());
        }
        // Intrabar replay decides which of stop and target came first.
        match &d.lower {
            Some(lower) => hash_candles(&mut h, "lower", lower),
            None => h.update([0u8]),
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bars(n: i64, step: i64) -> Vec<Candle> {
        (0..n)
            .map(|k| Candle {
                open_time: k * step,
                open: 100.0 + k as f64,
                high: 102.0 + k as f64,
                low: 99.0 + k as f64,
                close: 101.0 + k as f64,
                volume: 10.0,
            })
            .collect()
    }

    #[test]
    fn the_input_hash_covers_the_intrabar_bars_but_not_the_code_version() {
        let spec = ReportSpec {
            timeframe: Timeframe::parse("1h").unwrap(),
            config: BacktestConfig::default(),
            strategy: Strategy::Technical(TechnicalRule::default()),
            trials: 1,
            random_seed: 7,
            code_version: "0.1.0 (abc)".into(),
        };
        let data = |lower: Option<Vec<Candle>>| {
            vec![SeriesData {
                symbol: "BTC/USDT".into(),
                candles: bars(4, 3_600_000),
                predictions: None,
                lower,
                funding: None,
            }]
        };
        let fine = bars(16, 900_000);
        let mut moved = fine.clone();
        moved[5].low -= 1.0;
        let base = input_hash(&data(Some(fine.clone())), &spec);
        assert_ne!(base, input_hash(&data(None), &spec));
        assert_ne!(
            base,
            input_hash(&data(Some(moved)), &spec),
            "one lower-timeframe low changes what intrabar replay decides"
        );
        let rebuilt = ReportSpec {
            code_version: "0.1.0 (def)".into(),
            ..spec.clone()
        };
        assert_eq!(base, input_hash(&data(Some(fine)), &rebuilt));
    }
}
