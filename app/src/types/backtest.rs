//! The simulator: a backtest request and what its job leaves behind.

use serde::{Deserialize, Serialize};

/// Run a backtest of stored series as a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct BacktestRequest {
    /// Stored symbols, e.g. ["BTC/USD", "NVDA/USD"].
    pub symbols: Vec<String>,
    /// 1m 5m 15m 1h 4h 1d
    pub timeframe: String,
    /// Start and end (exclusive), ISO 8601 dates or times (UTC); empty = all.
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    #[cfg_attr(feature = "ssr", schema(value_type = super::RiskProfileName, example = "medium"))]
    pub risk_profile: engine::risk::RiskProfile,
    #[cfg_attr(feature = "ssr", schema(exclusive_minimum = 0.0, maximum = 1e12))]
    pub capital: f64,
    /// technical (the plain rule), model (the serving model's predictions)
    /// or hybrid (the rule's side, its confidence moved by the model's).
    #[serde(default = "technical")]
    pub strategy: String,
    /// Override the 2 % expected-net-profit gate (research on short timeframes).
    #[serde(default)]
    pub min_net_profit: Option<f64>,
    /// Position sizing: fixed-risk (default), atr (one ATR against loses the
    /// risk budget) or kelly:F (fraction F of the Kelly stake, F in (0, 1]).
    #[serde(default)]
    pub sizing: Option<String>,
    /// Hybrid: the model's weight in the confidence, 0 to 1 (default 0.5).
    #[serde(default)]
    pub model_weight: Option<f64>,
}

fn technical() -> String {
    "technical".into()
}

/// One point of the equity curve (bar open time, UTC ms).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    pub t: i64,
    pub equity: f64,
    pub drawdown_pct: f64,
    pub buy_and_hold: f64,
}

/// A finished backtest job's detail: the engine's report (metrics,
/// baselines, config, input hash), the equity curve (thinned to at most
/// 1,500 points) and every trade.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BacktestOutcome {
    pub report: engine::backtest::report::Report,
    pub equity: Vec<CurvePoint>,
    pub trades: Vec<engine::backtest::Trade>,
    /// The model used per symbol, when the strategy is the model.
    #[serde(default)]
    pub models: Vec<String>,
    /// Probability of backtest overfitting over every configuration tried
    /// on these series that has a curve in the trial ledger (the
    /// simulator's runs and `traderai backtest`'s), from the second one on.
    #[serde(default)]
    pub pbo: Option<engine::backtest::pbo::Pbo>,
    /// Why there is no PBO.
    #[serde(default)]
    pub pbo_error: Option<String>,
}
