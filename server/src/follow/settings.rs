//! `[follow]`: the followed universe and how it is kept current.

use engine::{Market, SeriesKey, Symbol, Timeframe};
use serde::Deserialize;
use trading::feed::QualityRules;

/// How closed bars reach us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// The venue's kline WebSocket, REST polling while it cannot be opened.
    Stream,
    /// REST polling only (a proxy that passes no WebSocket).
    Poll,
}

/// Whether to follow the mock's replay of the bundled data instead of the venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DemoMode {
    /// When the venue cannot be reached at first start (nothing stored yet).
    Auto,
    On,
    Off,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FollowSettings {
    /// Run the follower in `serve` and `worker` (`traderai follow` always does).
    pub enabled: bool,
    pub venue: String,
    pub market: Market,
    /// As written (`BTC/USDT`); each is checked, and a bad one named.
    pub symbols: Vec<String>,
    /// The timeframe signals are made on.
    pub timeframe: String,
    /// Higher timeframes followed for confirmation.
    pub confirm: Vec<String>,
    /// History the first follow backfills as a job.
    pub history_days: u32,
    /// Bars the follower fetches itself for an empty series, so signals can
    /// start before the history job is done.
    pub warmup_bars: u32,
    pub transport: Transport,
    /// REST polling: how soon after a bar's close to ask for it, and how
    /// often to ask again while it has not appeared.
    pub poll_delay_s: f64,
    pub poll_retry_s: f64,
    /// A venue's publishing delay: a bar this late still counts as on time.
    pub grace_s: f64,
    /// Reconnect backoff (full jitter) between these bounds.
    pub reconnect_min_ms: u64,
    pub reconnect_max_ms: u64,
    pub demo: DemoMode,
    /// Replay speed of the demo (the mock's clock).
    pub demo_speed: f64,
    /// The configured venue is a mock exchange replaying stored bars
    /// (`traderai mock-exchange --replay`): take its clock (`GET /mock/clock`)
    /// instead of the system's, and label the data as a replay.
    pub replay_clock: bool,
    pub quality: QualitySettings,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QualitySettings {
    /// Flag a bar whose true range exceeds this many ATR(14).
    pub spike_atr_multiple: f64,
    /// Flag this many zero-volume bars in a row, and each one after.
    pub zero_volume_run: usize,
}

impl Default for QualitySettings {
    fn default() -> Self {
        let r = QualityRules::default();
        QualitySettings {
            spike_atr_multiple: r.spike_atr_multiple,
            zero_volume_run: r.zero_volume_run,
        }
    }
}

impl Default for FollowSettings {
    fn default() -> Self {
        FollowSettings {
            enabled: true,
            venue: "binance".into(),
            market: Market::Futures,
            symbols: [
                "BTC", "ETH", "SOL", "BNB", "XRP", "DOGE", "ADA", "AVAX", "LINK", "LTC",
            ]
            .iter()
            .map(|b| format!("{b}/USDT"))
            .collect(),
            timeframe: "15m".into(),
            confirm: vec!["1h".into(), "4h".into(), "1d".into()],
            history_days: 1461,
            warmup_bars: 1000,
            transport: Transport::Stream,
            poll_delay_s: 2.0,
            poll_retry_s: 5.0,
            grace_s: 30.0,
            reconnect_min_ms: 500,
            reconnect_max_ms: 60_000,
            demo: DemoMode::Auto,
            demo_speed: 60.0,
            replay_clock: false,
            quality: QualitySettings::default(),
        }
    }
}

/// A bad entry of `[follow]`, named.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FollowError {
    #[error("[follow] venue {0:?}: supported are binance and stocks (the US stock provider chain)")]
    Venue(String),
    #[error("[follow] symbols[{index}] = {entry:?}: {why}")]
    Symbol {
        index: usize,
        entry: String,
        why: String,
    },
    #[error("[follow] {field} = {entry:?}: {why}")]
    Timeframe {
        field: String,
        entry: String,
        why: String,
    },
    #[error("[follow] {0}")]
    Invalid(String),
}

/// Role of a followed series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Base,
    Confirm,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Base => "base",
            Role::Confirm => "confirm",
        }
    }
}

/// A checked universe: every series to follow.
#[derive(Debug, Clone, PartialEq)]
pub struct Universe {
    /// `binance futures` (one follower per name across processes).
    pub name: String,
    pub venue: String,
    pub market: Market,
    pub base: Timeframe,
    pub series: Vec<(SeriesKey, Role)>,
    /// When bars are expected: around the clock, or the exchange's sessions.
    pub calendar: engine::calendar::Calendar,
}

impl Universe {
    /// Whether this universe is read through the stock provider chain.
    pub fn is_stocks(&self) -> bool {
        self.venue == venues::stocks::EXCHANGE
    }
}

impl FollowSettings {
    /// The universe, or every bad entry's error (all of them, not the first).
    pub fn universe(&self) -> Result<Universe, Vec<FollowError>> {
        let mut errors = Vec::new();
        let stocks = self.venue == venues::stocks::EXCHANGE;
        if self.venue != venues::binance::http::VENUE && !stocks {
            errors.push(FollowError::Venue(self.venue.clone()));
        }
        if stocks && self.market != Market::Spot {
            errors.push(FollowError::Invalid(format!(
                "market = {}: stocks have one market, spot",
                self.market
            )));
        }
        let offered = |t: Timeframe| {
            if stocks {
                venues::stocks::supports(t)
            } else {
                venues::binance::interval(t).is_some()
            }
        };
        let tf = |field: String, entry: &str, errors: &mut Vec<FollowError>| match Timeframe::parse(
            entry,
        ) {
            Ok(t) if offered(t) => Some(t),
            Ok(_) => {
                errors.push(FollowError::Timeframe {
                    field,
                    entry: entry.into(),
                    why: format!("{} does not offer this interval", self.venue),
                });
                None
            }
            Err(e) => {
                errors.push(FollowError::Timeframe {
                    field,
                    entry: entry.into(),
                    why: e.to_string(),
                });
                None
            }
        };
        let base = tf("timeframe".into(), &self.timeframe, &mut errors);
        let mut tfs: Vec<(Timeframe, Role)> = base.map(|b| (b, Role::Base)).into_iter().collect();
        for (i, c) in self.confirm.iter().enumerate() {
            if let Some(t) = tf(format!("confirm[{i}]"), c, &mut errors) {
                if base.is_some_and(|b| t <= b || !t.is_multiple_of(b)) {
                    errors.push(FollowError::Timeframe {
                        field: format!("confirm[{i}]"),
                        entry: c.clone(),
                        why: format!(
                            "a confirmation timeframe must be a multiple of {} above it",
                            self.timeframe
                        ),
                    });
                } else if !tfs.iter().any(|(x, _)| *x == t) {
                    tfs.push((t, Role::Confirm));
                }
            }
        }
        if self.symbols.is_empty() {
            errors.push(FollowError::Invalid("symbols is empty".into()));
        }
        let mut symbols = Vec::new();
        for (index, entry) in self.symbols.iter().enumerate() {
            match Symbol::parse(entry) {
                Ok(s) if symbols.contains(&s) => errors.push(FollowError::Symbol {
                    index,
                    entry: entry.clone(),
                    why: "listed twice".into(),
                }),
                Ok(s) if stocks && s.quote() != "USD" => errors.push(FollowError::Symbol {
                    index,
                    entry: entry.clone(),
                    why: "a US stock is TICKER/USD".into(),
                }),
                Ok(s) => symbols.push(s),
                Err(e) => errors.push(FollowError::Symbol {
                    index,
                    entry: entry.clone(),
                    why: e.to_string(),
                }),
            }
        }
        for (name, v) in [
            ("poll_delay_s", self.poll_delay_s),
            ("poll_retry_s", self.poll_retry_s),
            ("grace_s", self.grace_s),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                errors.push(FollowError::Invalid(format!("{name} = {v}: must be ≥ 0")));
            }
        }
        if !(self.demo_speed.is_finite() && self.demo_speed > 0.0) {
            errors.push(FollowError::Invalid(format!(
                "demo_speed = {}: must be > 0",
                self.demo_speed
            )));
        }
        if self.quality.spike_atr_multiple.is_nan()
            || self.quality.spike_atr_multiple <= 0.0
            || self.quality.zero_volume_run == 0
        {
            errors.push(FollowError::Invalid(
                "quality.spike_atr_multiple and quality.zero_volume_run must be > 0".into(),
            ));
        }
        if self.reconnect_min_ms == 0 || self.reconnect_max_ms < self.reconnect_min_ms {
            errors.push(FollowError::Invalid(
                "reconnect_min_ms must be > 0 and ≤ reconnect_max_ms".into(),
            ));
        }
        let Some(base) = base.filter(|_| errors.is_empty()) else {
            return Err(errors);
        };
        let mut series = Vec::new();
        for s in &symbols {
            for (t, role) in &tfs {
                let key = SeriesKey::new(&self.venue, self.market, s.clone(), *t)
                    .map_err(|e| vec![FollowError::Invalid(e.to_string())])?;
                series.push((key, *role));
            }
        }
        Ok(Universe {
            name: format!("{} {}", self.venue, self.market),
            venue: self.venue.clone(),
            market: self.market,
            base,
            series,
            calendar: if stocks {
                engine::calendar::Calendar::Xnys
            } else {
                engine::calendar::Calendar::AlwaysOpen
            },
        })
    }

    /// These settings with an admin's edit of the universe applied.
    pub fn with_edit(
        &self,
        e: &app::types::FollowEdit,
    ) -> Result<FollowSettings, Vec<FollowError>> {
        let market = Market::parse(&e.market).map_err(|_| {
            vec![FollowError::Invalid(format!(
                "market = {:?}: expected spot or futures",
                e.market
            ))]
        })?;
        let s = FollowSettings {
            enabled: e.enabled,
            market,
            symbols: e
                .symbols
                .iter()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
            timeframe: e.timeframe.trim().to_owned(),
            confirm: e
                .confirm
                .iter()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
            ..self.clone()
        };
        s.universe()?;
        Ok(s)
    }

    /// The part an admin may edit.
    pub fn edit(&self) -> app::types::FollowEdit {
        app::types::FollowEdit {
            enabled: self.enabled,
            market: self.market.to_string(),
            symbols: self.symbols.clone(),
            timeframe: self.timeframe.clone(),
            confirm: self.confirm.clone(),
        }
    }

    pub fn quality_rules(&self) -> QualityRules {
        QualityRules {
            spike_atr_multiple: self.quality.spike_atr_multiple,
            zero_volume_run: self.quality.zero_volume_run,
            ..QualityRules::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_universe_is_ten_perpetuals_on_four_timeframes() {
        let u = FollowSettings::default().universe().unwrap();
        assert_eq!(u.name, "binance futures");
        assert_eq!(u.series.len(), 40);
        assert_eq!(u.series.iter().filter(|s| s.1 == Role::Base).count(), 10);
        assert!(
            u.series
                .iter()
                .any(|(k, _)| k.symbol.as_str() == "LTC/USDT" && k.timeframe == Timeframe::D1)
        );
    }

    #[test]
    fn an_admin_edit_replaces_the_universe_and_keeps_the_knobs() {
        let base = FollowSettings {
            grace_s: 7.0,
            ..Default::default()
        };
        let mut e = base.edit();
        e.symbols = vec!["ETH/USDT".into(), " ".into()];
        e.confirm = vec!["4h".into()];
        e.market = "spot".into();
        let s = base.with_edit(&e).unwrap();
        assert_eq!(
            (s.symbols.len(), s.market, s.grace_s),
            (1, Market::Spot, 7.0)
        );
        assert_eq!(s.universe().unwrap().series.len(), 2);
        e.symbols.push("BTCUSDT".into());
        let err = base.with_edit(&e).unwrap_err();
        assert!(
            err[0].to_string().contains("symbols[1] = \"BTCUSDT\""),
            "{err:?}"
        );
        e.market = "margin".into();
        assert!(
            base.with_edit(&e).unwrap_err()[0]
                .to_string()
                .contains("market")
        );
    }

    #[test]
    fn every_bad_entry_is_named() {
        let s = FollowSettings {
            symbols: vec!["BTC/USDT".into(), "nonsense".into(), "BTC/USDT".into()],
            confirm: vec!["7m".into(), "5m".into(), "2d".into()],
            ..Default::default()
        };
        let errs: Vec<String> = s
            .universe()
            .unwrap_err()
            .iter()
            .map(|e| e.to_string())
            .collect();
        let all = errs.join("\n");
        assert!(all.contains("confirm[0] = \"7m\""), "{all}");
        assert!(
            all.contains("confirm[1] = \"5m\": a confirmation timeframe"),
            "{all}"
        );
        assert!(
            all.contains("confirm[2] = \"2d\": binance does not offer"),
            "{all}"
        );
        assert!(all.contains("symbols[1] = \"nonsense\""), "{all}");
        assert!(
            all.contains("symbols[2] = \"BTC/USDT\": listed twice"),
            "{all}"
        );
        assert_eq!(errs.len(), 5, "{all}");
        let unknown = toml::from_str::<FollowSettings>("symbol = [\"BTC/USDT\"]").unwrap_err();
        assert!(
            unknown.to_string().contains("unknown field `symbol`"),
            "{unknown}"
        );
    }
}
