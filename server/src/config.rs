//! Settings: built-in defaults (the venues' published limits), overridden by
//! an optional TOML file, overridden by command-line flags and environment.

use serde::Deserialize;
use std::path::Path;
pub use venues::VenueConfig;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BinanceConfig {
    pub spot: VenueConfig,
    pub futures: VenueConfig,
}

impl Default for BinanceConfig {
    fn default() -> Self {
        BinanceConfig {
            spot: VenueConfig::binance_spot(),
            futures: VenueConfig::binance_futures(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub binance: BinanceConfig,
    /// How many symbols one backfill job fetches at once.
    pub backfill_concurrency: usize,
    /// A running job whose heartbeat is older than this is taken over.
    pub job_stale_after_s: f64,
    /// Trading costs per exchange name (`binance`, `yahoo`, …); `default`
    /// applies to any exchange without its own entry.
    pub costs: std::collections::BTreeMap<String, engine::costs::CostModel>,
    /// The scheduled drift check of active models.
    pub drift: DriftSettings,
    /// Sessions, cookies and sign-in limits of `traderai serve`.
    pub web: WebSettings,
    /// The followed universe (`traderai follow`, and `serve`/`worker` in the background).
    pub follow: crate::follow::FollowSettings,
    /// Gates every signal passes besides profit and confidence.
    pub signals: SignalGates,
    /// Notification channels the installation offers, and delivery retries.
    pub notify: crate::notify::NotifySettings,
    /// `traderai backup` and the workers' scheduled backups.
    pub backup: crate::backup::BackupSettings,
    /// US stock data providers and the order they are asked in.
    pub stocks: venues::stocks::StocksConfig,
    /// News, Reddit and FRED: where they are and how hard they may be asked.
    pub altdata: venues::altdata::AltDataConfig,
}

/// Higher-timeframe confirmation: how many of the confirmation timeframes'
/// trends (close vs SMA20 of completed bars) must agree with a signal's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HtfGate {
    Off,
    /// At least one.
    Any,
    All,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignalGates {
    pub htf: HtfGate,
    /// Which higher timeframes confirm (each joined onto the base timeframe
    /// from its own bars; one with too little history cannot confirm).
    pub htf_timeframes: Vec<String>,
    /// Signal only in a trend regime (ADX ≥ 25), not in a range.
    pub require_trend_regime: bool,
    /// A plan needs at least this expected net profit after every cost, percent.
    pub min_net_profit_pct: f64,
    /// And at least this calibrated confidence (an uncalibrated one never passes).
    pub min_confidence: f64,
    /// Where a model serves the series' timeframe: its own signals
    /// (`model`), or the technical rule's side with the confidence moved
    /// toward the model's by `model_weight` (`hybrid`). Elsewhere the rule.
    pub strategy: SignalStrategy,
    /// The model's share of the hybrid's confidence, 0 to 1.
    pub model_weight: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignalStrategy {
    Model,
    Hybrid,
}

impl SignalGates {
    /// The plan rules with these gates (the engine's defaults otherwise).
    pub fn plan_config(&self) -> engine::signals::PlanConfig {
        engine::signals::PlanConfig {
            min_net_profit_pct: self.min_net_profit_pct,
            min_confidence: self.min_confidence,
            ..Default::default()
        }
    }
}

impl Default for SignalGates {
    fn default() -> Self {
        SignalGates {
            htf: HtfGate::All,
            htf_timeframes: vec!["1h".into(), "4h".into()],
            require_trend_regime: false,
            min_net_profit_pct: engine::signals::PlanConfig::default().min_net_profit_pct,
            min_confidence: engine::signals::PlanConfig::default().min_confidence,
            strategy: SignalStrategy::Model,
            model_weight: 0.5,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebSettings {
    /// Mark the session cookie `Secure`: set it when users reach the app over
    /// HTTPS (behind a TLS proxy), or browsers will not send it back over HTTP.
    pub secure_cookies: bool,
    /// A session ends after this many days without a request.
    pub session_idle_days: i64,
    /// Sign-in attempts allowed per minute for one client address and user name.
    pub login_attempts_per_minute: u32,
    /// `GET /metrics` requires `Authorization: Bearer <token>` when set
    /// (TRADERAI_METRICS_TOKEN overrides it); empty: open, for a private network.
    pub metrics_token: String,
    /// Record HTTP metrics and serve `GET /metrics`.
    pub metrics: bool,
}

impl Default for WebSettings {
    fn default() -> Self {
        WebSettings {
            secure_cookies: false,
            session_idle_days: 7,
            login_attempts_per_minute: 10,
            metrics_token: String::new(),
            metrics: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DriftSettings {
    /// A column drifts when its PSI or KS statistic exceeds these.
    pub psi: f64,
    pub ks: f64,
    /// Bars per series compared with the training window.
    pub recent_bars: usize,
    /// How often each active model is checked (workers schedule it).
    pub check_every_hours: f64,
    /// Queue a retraining job on drift.
    pub retrain: bool,
}

impl Default for DriftSettings {
    fn default() -> Self {
        DriftSettings {
            psi: 0.15,
            ks: 0.1,
            recent_bars: 90,
            check_every_hours: 24.0,
            retrain: true,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            binance: BinanceConfig::default(),
            backfill_concurrency: 4,
            job_stale_after_s: 30.0,
            costs: [("default".to_string(), engine::costs::CostModel::default())].into(),
            drift: DriftSettings::default(),
            web: WebSettings::default(),
            follow: crate::follow::FollowSettings::default(),
            signals: SignalGates::default(),
            notify: crate::notify::NotifySettings::default(),
            backup: crate::backup::BackupSettings::default(),
            stocks: venues::stocks::StocksConfig::default(),
            altdata: venues::altdata::AltDataConfig::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: String,
        source: Box<toml::de::Error>,
    },
    #[error("{path}: {field} = {value}: {why}")]
    Invalid {
        path: String,
        field: &'static str,
        value: f64,
        why: &'static str,
    },
}

impl Settings {
    /// The cost model of `exchange`, else the `default` entry, else the built-in one.
    pub fn costs_for(&self, exchange: &str) -> engine::costs::CostModel {
        if let Some(c) = self.costs.get(exchange) {
            return *c;
        }
        // Stocks have costs of their own unless a [costs.stocks] says otherwise:
        // the crypto default would charge them perpetual funding.
        if exchange == venues::stocks::EXCHANGE {
            return engine::costs::CostModel::us_stocks();
        }
        self.costs.get("default").copied().unwrap_or_default()
    }

    /// The engine configuration of a backtest for `trader` over series of
    /// `exchange`: the installation's `[signals]` gates (the trader may
    /// override the profit one), the trader's capital and profile, and the
    /// one cost lookup every backtest path uses (`traderai backtest`,
    /// training's walk-forward, the simulator, paper accounts).
    pub fn backtest_config(
        &self,
        trader: &Trader,
        exchange: &str,
    ) -> engine::backtest::BacktestConfig {
        let mut config = trader.engine_config();
        config.plan.min_confidence = self.signals.min_confidence;
        config.plan.min_net_profit_pct = trader
            .min_net_profit
            .unwrap_or(self.signals.min_net_profit_pct);
        config.costs = self.costs_for(exchange);
        config
    }

    /// The exchange whose costs a backtest of series from `exchanges`
    /// charges. Series whose exchanges cost differently are refused rather
    /// than all charged one of them; none at all (files) is `default`.
    pub fn cost_exchange<'a>(
        &self,
        exchanges: impl IntoIterator<Item = &'a str>,
    ) -> Result<&'a str, MixedCosts> {
        let mut chosen: Option<&str> = None;
        for e in exchanges {
            match chosen {
                None => chosen = Some(e),
                Some(c) if c != e && self.costs_for(c) != self.costs_for(e) => {
                    return Err(MixedCosts {
                        first: c.to_string(),
                        second: e.to_string(),
                    });
                }
                Some(_) => {}
            }
        }
        Ok(chosen.unwrap_or("default"))
    }

    /// Defaults, then the TOML file if given. Missing keys keep their defaults.
    pub fn load(path: Option<&Path>) -> Result<Settings, ConfigError> {
        let Some(path) = path else {
            return Ok(Settings::default());
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let settings: Settings = toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.display().to_string(),
            source: Box::new(source),
        })?;
        let invalid = |field, value, why| ConfigError::Invalid {
            path: path.display().to_string(),
            field,
            value,
            why,
        };
        let g = &settings.signals;
        if !(0.0..=1.0).contains(&g.min_confidence) {
            return Err(invalid(
                "signals.min_confidence",
                g.min_confidence,
                "a probability, 0 to 1",
            ));
        }
        if !(0.0..=1.0).contains(&g.model_weight) {
            return Err(invalid(
                "signals.model_weight",
                g.model_weight,
                "a share, 0 to 1",
            ));
        }
        if !g.min_net_profit_pct.is_finite() {
            return Err(invalid(
                "signals.min_net_profit_pct",
                g.min_net_profit_pct,
                "a finite percentage",
            ));
        }
        Ok(settings)
    }
}

/// The reader a backtest or a training run's walk-forward backtest is for:
/// risk profile, capital and the expected-net-profit gate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trader {
    pub profile: engine::risk::RiskProfile,
    pub capital: f64,
    /// Overrides the 2 % expected-net-profit gate.
    pub min_net_profit: Option<f64>,
}

/// One backtest charges one cost model; these series' exchanges differ.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "series from {first} and {second} are charged different costs ([costs.{first}] vs [costs.{second}]); backtest them separately"
)]
pub struct MixedCosts {
    pub first: String,
    pub second: String,
}

impl Trader {
    /// This trader's part of a backtest configuration (costs are the
    /// exchange's: see [`Settings::backtest_config`]).
    fn engine_config(&self) -> engine::backtest::BacktestConfig {
        let mut config = engine::backtest::BacktestConfig {
            initial_capital: self.capital,
            profile: self.profile,
            ..Default::default()
        };
        if let Some(v) = self.min_net_profit {
            config.plan.min_net_profit_pct = v;
        }
        config
    }
}

/// The profile of a reader who has chosen none.
pub fn default_profile() -> engine::risk::RiskProfile {
    engine::risk::RiskProfile::Medium
}

/// The capital of a reader who has given none: the simulator's $100.
pub fn default_capital() -> f64 {
    100.0
}

/// Capital must be a positive, finite amount (CLI flags and job parameters).
pub fn check_capital(v: f64) -> Result<f64, String> {
    if v > 0.0 && v.is_finite() && v <= 1e12 {
        Ok(v)
    } else {
        Err(format!(
            "capital must be a positive amount up to 1e12, got {v}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_documents_the_defaults() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../config/traderai.example.toml");
        assert_eq!(Settings::load(Some(&path)).unwrap(), Settings::default());
    }

    #[test]
    fn toml_overrides_keep_other_defaults() {
        let s: Settings = toml::from_str("backfill_concurrency = 2\n[binance.spot]\nbase_url = \"http://127.0.0.1:9\"\nweight_limit_per_min = 1200\nkline_weight_tiers = [[1000, 2]]\nmax_retries = 3\nbackoff_base_ms = 10\nbackoff_max_ms = 100\nrequest_timeout_ms = 500\n").unwrap();
        assert_eq!(s.backfill_concurrency, 2);
        assert_eq!(s.binance.spot.weight_limit_per_min, 1200);
        assert_eq!(s.binance.futures, VenueConfig::binance_futures());
        assert_eq!(
            Settings::default().costs_for("stocks").funding_bps_per_hour,
            0.0,
            "stocks pay no funding"
        );
        let c: Settings = toml::from_str("[costs.binance]\ntaker_bps = 4.0\n").unwrap();
        assert_eq!(c.costs_for("binance").taker_bps, 4.0);
        assert_eq!(
            c.costs_for("binance").maker_bps,
            2.0,
            "missing keys keep defaults"
        );
        assert_eq!(c.costs_for("yahoo"), engine::costs::CostModel::default());
        assert!(toml::from_str::<Settings>("[costs.binance]\ntaker = 4.0\n").is_err());
        let trader = Trader {
            profile: default_profile(),
            capital: 250.0,
            min_net_profit: Some(3.0),
        };
        let b = c.backtest_config(&trader, c.cost_exchange(["binance", "binance"]).unwrap());
        assert_eq!(b.costs.taker_bps, 4.0, "the series' exchange is charged");
        assert_eq!((b.initial_capital, b.plan.min_net_profit_pct), (250.0, 3.0));
        assert_eq!(c.cost_exchange([]), Ok("default"));
        // yahoo and kaggle both fall back to the default: one model, allowed.
        assert_eq!(c.cost_exchange(["yahoo", "kaggle"]), Ok("yahoo"));
        let mixed = c.cost_exchange(["binance", "yahoo"]).unwrap_err();
        assert!(
            mixed
                .to_string()
                .contains("[costs.binance] vs [costs.yahoo]"),
            "{mixed}"
        );
        assert!(
            toml::from_str::<Settings>("nonsense_key = 1").is_err(),
            "unknown keys are errors, not silently ignored"
        );
    }

    #[test]
    fn signal_gates_are_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(
            &path,
            "[signals]\nmin_confidence = 0.4\nmin_net_profit_pct = 1.5\n",
        )
        .unwrap();
        let s = Settings::load(Some(&path)).unwrap();
        let plan = s.signals.plan_config();
        assert_eq!((plan.min_confidence, plan.min_net_profit_pct), (0.4, 1.5));
        assert_eq!(
            plan.tp_fractions,
            engine::signals::PlanConfig::default().tp_fractions
        );
        std::fs::write(&path, "[signals]\nmin_confidence = 55\n").unwrap();
        let err = Settings::load(Some(&path)).unwrap_err().to_string();
        assert!(
            err.ends_with("signals.min_confidence = 55: a probability, 0 to 1"),
            "{err}"
        );
    }
}
