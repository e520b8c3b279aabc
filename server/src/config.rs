//! Settings: built-in defaults (the venues' published limits), overridden by
//! an optional TOML file, overridden by command-line flags and environment.

use serde::Deserialize;
use std::path::Path;

/// Limits and endpoints of one venue market.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VenueConfig {
    pub base_url: String,
    /// Request weight allowed per minute per IP; 0 = no limit (mock benchmarks).
    pub weight_limit_per_min: u32,
    /// Request weight of one klines call by page size: `[max_limit, weight]`
    /// tiers, ascending. The backfill picks the page size with the most
    /// candles per unit of weight.
    pub kline_weight_tiers: Vec<(u32, u32)>,
    pub max_retries: u32,
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    pub request_timeout_ms: u64,
}

impl VenueConfig {
    /// Binance spot `/api/v3/klines`: weight 2 for any limit up to 1000; 6000 weight/min.
    pub fn binance_spot() -> Self {
        VenueConfig {
            base_url: "https://api.binance.com".into(),
            weight_limit_per_min: 6000,
            kline_weight_tiers: vec![(1000, 2)],
            max_retries: 8,
            backoff_base_ms: 250,
            backoff_max_ms: 30_000,
            request_timeout_ms: 10_000,
        }
    }

    /// Binance USDⓈ-M `/fapi/v1/klines`: weight 1 below 100, 2 below 500,
    /// 5 up to 1000, 10 up to 1500; 2400 weight/min.
    pub fn binance_futures() -> Self {
        VenueConfig {
            base_url: "https://fapi.binance.com".into(),
            weight_limit_per_min: 2400,
            kline_weight_tiers: vec![(99, 1), (499, 2), (1000, 5), (1500, 10)],
            ..Self::binance_spot()
        }
    }

    /// `(limit, weight)` with the most candles per unit of weight; ties go
    /// to the larger page (fewer round trips).
    pub fn best_page(&self) -> (u32, u32) {
        self.kline_weight_tiers
            .iter()
            .copied()
            .filter(|(l, w)| *l > 0 && *w > 0)
            .max_by(|a, b| {
                (u64::from(a.0) * u64::from(b.1))
                    .cmp(&(u64::from(b.0) * u64::from(a.1)))
                    .then(a.0.cmp(&b.0))
            })
            .unwrap_or((500, 1))
    }
}

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
}

impl Default for WebSettings {
    fn default() -> Self {
        WebSettings {
            secure_cookies: false,
            session_idle_days: 7,
            login_attempts_per_minute: 10,
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
}

impl Settings {
    /// The cost model of `exchange`, else the `default` entry, else the built-in one.
    pub fn costs_for(&self, exchange: &str) -> engine::costs::CostModel {
        self.costs
            .get(exchange)
            .or_else(|| self.costs.get("default"))
            .copied()
            .unwrap_or_default()
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
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.display().to_string(),
            source: Box::new(source),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_maximises_candles_per_weight() {
        assert_eq!(VenueConfig::binance_spot().best_page(), (1000, 2));
        // 499/2 = 249.5 candles per weight beats 1000/5 = 200 and 1500/10 = 150.
        assert_eq!(VenueConfig::binance_futures().best_page(), (499, 2));
    }

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
        let c: Settings = toml::from_str("[costs.binance]\ntaker_bps = 4.0\n").unwrap();
        assert_eq!(c.costs_for("binance").taker_bps, 4.0);
        assert_eq!(
            c.costs_for("binance").maker_bps,
            2.0,
            "missing keys keep defaults"
        );
        assert_eq!(c.costs_for("yahoo"), engine::costs::CostModel::default());
        assert!(toml::from_str::<Settings>("[costs.binance]\ntaker = 4.0\n").is_err());
        assert!(
            toml::from_str::<Settings>("nonsense_key = 1").is_err(),
            "unknown keys are errors, not silently ignored"
        );
    }
}
