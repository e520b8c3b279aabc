//! Signals as the dashboard and scripts see them: each candidate of the
//! newest scan, judged for one reader's risk profile and capital.

use serde::{Deserialize, Serialize};

/// What the model (or the technical rule) said about the bar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PredictionView {
    pub p_up: f64,
    pub p_neutral: f64,
    pub p_down: f64,
    /// Expected move over the model's horizon, percent (signed).
    pub expected_move_pct: f64,
    /// Calibrated probability that the chosen direction is right (models:
    /// on their calibration fold; the technical rule: from its own last
    /// resolved fires). When `uncalibrated` is set it is the rule's raw
    /// score, not a probability, and no signal passes on it.
    pub confidence: f64,
    /// Why the rule's confidence is uncalibrated, e.g. "42 resolved fires; 50 needed".
    pub uncalibrated: Option<String>,
    /// Conformal interval of the move at `coverage_level`.
    pub move_low: Option<f64>,
    pub move_high: Option<f64>,
    pub coverage_level: Option<f64>,
    /// Conformal prediction set, e.g. "UP|NEUTRAL" (models only).
    pub prediction_set: Option<String>,
}

/// A feature's push on the prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DriverView {
    pub feature: String,
    /// Models: SHAP value on the expected move (percentage points).
    /// Technical rule: the vote's input relative to its threshold.
    pub value: f64,
}

/// A trade plan sized for the reader.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PlanView {
    /// long or short
    pub side: String,
    pub entry: f64,
    pub take_profit: [f64; 3],
    pub stop_loss: f64,
    pub leverage: f64,
    /// Quantity in the base asset.
    pub qty: f64,
    /// Position value at entry (quote currency).
    pub notional: f64,
    pub margin: f64,
    /// Loss at the stop before costs.
    pub risk_amount: f64,
    pub liquidation: f64,
    /// After fees, slippage and 12 h of funding, percent of notional.
    pub expected_net_pct: f64,
    /// The same in money.
    pub expected_net: f64,
    pub costs_pct: f64,
    pub risk_reward: f64,
}

/// One series' candidate at its newest scanned bar close.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SignalView {
    pub id: i64,
    pub exchange: String,
    pub market: String,
    pub symbol: String,
    pub timeframe: String,
    /// Open time of the bar whose close made it, UTC ms.
    pub bar_time: i64,
    /// Close of that bar.
    pub price: f64,
    /// model or technical
    pub source: String,
    /// Which model (scope, timeframe, version, id) or the rule.
    pub model: String,
    pub model_id: Option<i64>,
    pub prediction: Option<PredictionView>,
    /// Why, strongest first.
    pub drivers: Vec<DriverView>,
    /// The plan when the candidate passes every gate for this reader.
    pub plan: Option<PlanView>,
    /// Otherwise the gate that stopped it: neutral, low_confidence,
    /// low_profit, move_against_side, no_setup, sizing, …
    pub rejection: Option<String>,
    pub rejection_reason: Option<String>,
    /// The follower's state of the series: live, catching_up, stale; `None`
    /// when the series is not followed (stored or imported data only).
    pub data_state: Option<String>,
    /// Why it is stale (disconnected, venue error, no data), in words.
    pub data_reason: Option<String>,
    /// How long ago the bar closed, on the follower's clock (the demo's
    /// replay clock) or, for a series nobody follows, the wall clock.
    pub bar_age_ms: i64,
    /// The bars are the demo replay of the bundled data, not a market.
    pub demo: bool,
    /// Market regime at the bar: uptrend, downtrend, range.
    pub regime: Option<String>,
    /// Higher-timeframe trends (close vs SMA20, percent) the HTF gate read.
    pub htf: Vec<HtfView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct HtfView {
    pub timeframe: String,
    pub trend_pct: Option<f64>,
}

/// The dashboard: every series' newest candidate, judged for one reader.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SignalBoard {
    #[cfg_attr(feature = "ssr", schema(value_type = String, example = "medium"))]
    pub risk_profile: engine::risk::RiskProfile,
    pub capital: f64,
    /// Passed every gate: side, levels and size for this profile and capital.
    pub signals: Vec<SignalView>,
    /// Did not, each with its reason.
    pub rejected: Vec<SignalView>,
    /// The gates: minimum expected net profit (percent) and confidence.
    pub min_net_profit_pct: f64,
    pub min_confidence: f64,
    /// Followed base series by state, and whether they are the demo replay.
    pub data: DataSummary,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DataSummary {
    pub live: usize,
    pub catching_up: usize,
    pub stale: usize,
    pub demo: bool,
}

impl DataSummary {
    /// `live` when every followed series is, `stale` when any is, else
    /// `catching_up`; `none` when nothing is followed.
    pub fn state(&self) -> &'static str {
        if self.live + self.catching_up + self.stale == 0 {
            "none"
        } else if self.stale > 0 {
            "stale"
        } else if self.catching_up > 0 {
            "catching_up"
        } else {
            "live"
        }
    }
}

/// One candle of a chart.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Bar {
    /// Open time, UTC ms.
    pub t: i64,
    pub o: f64,
    pub h: f64,
    pub l: f64,
    pub c: f64,
    pub v: f64,
}

/// A past candidate that passed the gates for the reader, as a chart marker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Marker {
    pub t: i64,
    pub side: String,
    pub entry: f64,
}

/// Candles of one series with the reader's signals on them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ChartData {
    pub exchange: String,
    pub market: String,
    pub symbol: String,
    pub timeframe: String,
    pub bars: Vec<Bar>,
    pub markers: Vec<Marker>,
    /// The exchange's sessions, for markets that have them (none for crypto).
    pub hours: Option<MarketHours>,
}

/// Whether a market with sessions is open now, and when that changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MarketHours {
    /// `XNYS` …
    pub calendar: String,
    pub now: i64,
    pub open: bool,
    /// When the session in progress ends (open) …
    pub closes_at: Option<i64>,
    /// … or the next one starts (closed).
    pub opens_at: Option<i64>,
}

impl MarketHours {
    /// "Market closed, opens in 2 d 17 h (XNYS)".
    pub fn describe(&self) -> String {
        match (self.open, self.opens_at, self.closes_at) {
            (true, _, Some(c)) => format!(
                "Market open, closes in {} ({})",
                super::human_span(c - self.now),
                self.calendar
            ),
            (false, Some(o), _) => format!(
                "Market closed, opens in {} ({})",
                super::human_span(o - self.now),
                self.calendar
            ),
            _ => format!("Market closed ({})", self.calendar),
        }
    }
}

/// The timeframes the schema lists (the server parses any `<n>m|h|d` that
/// tiles a UTC day; these are the ones the product uses).
#[cfg(feature = "ssr")]
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub enum TimeframeName {
    #[serde(rename = "1m")]
    M1,
    #[serde(rename = "3m")]
    M3,
    #[serde(rename = "5m")]
    M5,
    #[serde(rename = "15m")]
    M15,
    #[serde(rename = "30m")]
    M30,
    #[serde(rename = "1h")]
    H1,
    #[serde(rename = "2h")]
    H2,
    #[serde(rename = "4h")]
    H4,
    #[serde(rename = "6h")]
    H6,
    #[serde(rename = "8h")]
    H8,
    #[serde(rename = "12h")]
    H12,
    #[serde(rename = "1d")]
    D1,
}

/// Which series, and how many bars back from its newest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema, utoipa::IntoParams))]
#[cfg_attr(feature = "ssr", into_params(parameter_in = Query))]
pub struct ChartQuery {
    #[cfg_attr(
        feature = "ssr",
        param(pattern = "^[A-Za-z0-9_-]{1,32}$"),
        schema(pattern = "^[A-Za-z0-9_-]{1,32}$")
    )]
    pub exchange: String,
    #[serde(default = "spot")]
    #[cfg_attr(
        feature = "ssr",
        param(pattern = "^(spot|futures)$"),
        schema(pattern = "^(spot|futures)$")
    )]
    pub market: String,
    #[cfg_attr(
        feature = "ssr",
        param(pattern = "^[A-Za-z0-9]{1,20}/[A-Za-z0-9]{1,20}$"),
        schema(pattern = "^[A-Za-z0-9]{1,20}/[A-Za-z0-9]{1,20}$")
    )]
    pub symbol: String,
    #[cfg_attr(
        feature = "ssr",
        param(value_type = TimeframeName),
        schema(value_type = TimeframeName)
    )]
    pub timeframe: String,
    /// At most 2000 (default 150).
    #[serde(default)]
    #[cfg_attr(
        feature = "ssr",
        param(minimum = 1, maximum = 2000),
        schema(minimum = 1, maximum = 2000)
    )]
    pub bars: Option<i64>,
}

fn spot() -> String {
    "spot".into()
}

/// The outcome of "scan now".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ScanView {
    pub series: usize,
    pub new: usize,
    pub up_to_date: usize,
    /// "series: reason" for each series that produced nothing.
    pub skipped: Vec<String>,
}

/// A hole in a stored series: bars expected in `[from, to)` but absent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct GapView {
    pub from: i64,
    pub to: i64,
    pub missing: i64,
}

/// What a stored series lacks or contradicts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct QualityView {
    pub bars: usize,
    /// continuous; weekdays (weekends are not gaps); or xnys (US equity
    /// sessions: weekends, NYSE holidays and hours outside 09:30–16:00 ET are not gaps)
    pub session: String,
    pub gap_count: usize,
    pub missing_bars: i64,
    /// The largest gaps first, at most 50.
    pub gaps: Vec<GapView>,
    pub zero_volume: usize,
    /// Bars whose OHLC contradict each other, as published.
    pub inconsistencies: usize,
    /// Who supplied which range and how its prices are adjusted (stock
    /// series from the provider chain; empty for imported files).
    pub sources: Vec<SourceView>,
    /// Unadjusted closes kept beside adjusted bars, for display.
    pub raw_closes: i64,
}

/// One provider's stretch of a series: `[from, to)` as asked of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SourceView {
    pub from: i64,
    pub to: i64,
    pub provider: String,
    /// raw (as traded), split (split-adjusted) or all (splits and dividends).
    pub adjustment: String,
}

/// Latest prices of stocks, as the provider chain gave them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PricesView {
    /// In the order asked.
    pub prices: Vec<PriceView>,
    /// How long collecting them took (cached ones cost nothing).
    pub elapsed_ms: u64,
}

/// One symbol's latest price, or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PriceView {
    pub symbol: String,
    pub price: Option<f64>,
    /// When the provider says the price was made (ms).
    pub time: Option<i64>,
    pub provider: Option<String>,
    /// Served from the cache.
    pub cached: bool,
    pub error: Option<String>,
}
