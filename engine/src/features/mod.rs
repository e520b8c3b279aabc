//! Ticker-agnostic features: every value a percentage, ratio or oscillator,
//! so one model can learn from BTC and NVDA alike.
//!
//! [`FeatureEngine`] is streaming (one bar in, one [`BarFeatures`] out) and
//! [`compute`] runs the same engine over a slice, so research, backtests and
//! the live scanner share one code path and nothing can see the future.

mod htf;
mod scaler;

pub use htf::{HtfJoin, HtfValue};
pub use scaler::{Scaler, ScalerError};

use crate::indicators::{
    Adx, Atr, Bbands, Cci, Ema, Hlc, Indicator, Lag, Macd, Mom, Obv, Roc, Rsi, Sma, Stoch, Willr,
};
use crate::{Candle, TimeMs, Timeframe};
use serde::{Deserialize, Serialize};

/// The 18 model features, in column order.
pub const NAMES: [&str; 18] = [
    "Close_pct",
    "High_pct",
    "Low_pct",
    "Volume_pct",
    "RSI",
    "MACD_norm",
    "BB_position",
    "BB_width",
    "ATR_pct",
    "SMA20_dist",
    "SMA50_dist",
    "Stoch_K",
    "Stoch_D",
    "ROC_10",
    "Williams_R",
    "CCI",
    "OBV_pct",
    "Momentum",
];
pub const COUNT: usize = NAMES.len();
/// Higher timeframes one engine joins at most (1h, 4h, 1d).
pub const MAX_HTFS: usize = 3;

/// OBV's bar-to-bar change is unbounded near a zero OBV: clipped here.
pub const OBV_PCT_CLIP: f64 = 50.0;
/// ADX above this means a trend (Wilder's classic threshold).
pub const REGIME_ADX_TREND: f64 = 25.0;
/// Bars over which the SMA-50 slope is measured for the regime.
pub const REGIME_SLOPE_BARS: usize = 5;

/// Market regime from ADX strength and the SMA-50 slope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Regime {
    Uptrend,
    Downtrend,
    Range,
}

impl Regime {
    /// +1 up, −1 down, 0 range: how the regime appears in numeric tables.
    pub fn as_f64(self) -> f64 {
        match self {
            Regime::Uptrend => 1.0,
            Regime::Downtrend => -1.0,
            Regime::Range => 0.0,
        }
    }

    pub fn classify(adx: f64, sma50_slope_pct: f64) -> Regime {
        if adx < REGIME_ADX_TREND || sma50_slope_pct == 0.0 {
            Regime::Range
        } else if sma50_slope_pct > 0.0 {
            Regime::Uptrend
        } else {
            Regime::Downtrend
        }
    }
}

/// The raw indicator values the plain technical rule and the signal plans
/// read (prices, not features: they never reach a model).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Technicals {
    pub close: f64,
    pub sma20: f64,
    pub sma50: f64,
    pub ema12: f64,
    pub ema26: f64,
    pub macd_hist: f64,
    pub rsi: f64,
    pub atr: f64,
    pub adx: f64,
}

/// Why a bar has no feature vector.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Missing {
    /// An indicator is still inside its lookback.
    Warmup,
    /// A feature came out NaN or infinite (a zero volume average, a zero price).
    Bad { feature: &'static str, value: f64 },
}

/// Everything known about one bar at its close.
#[derive(Debug, Clone, PartialEq)]
pub struct BarFeatures {
    pub open_time: TimeMs,
    pub features: Result<[f64; COUNT], Missing>,
    pub technicals: Option<Technicals>,
    pub regime: Option<Regime>,
    /// One entry per higher timeframe of the engine, in its order (unused
    /// slots stay `None`); a fixed array so a bar costs no allocation.
    pub htf: [Option<HtfValue>; MAX_HTFS],
}

/// A feature that could not be computed, with where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BadValue {
    pub symbol: String,
    pub open_time: TimeMs,
    pub feature: String,
    pub value: f64,
}

impl std::fmt::Display for BadValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} at {} ms: {} = {}",
            self.symbol, self.open_time, self.feature, self.value
        )
    }
}

/// Streaming feature computation for one symbol.
#[derive(Debug, Clone)]
pub struct FeatureEngine {
    sma20: Sma,
    sma50: Sma,
    ema12: Ema,
    ema26: Ema,
    rsi: Rsi,
    macd: Macd,
    bb: Bbands,
    atr: Atr,
    stoch: Stoch,
    roc: Roc,
    willr: Willr,
    cci: Cci,
    obv: Obv,
    mom: Mom,
    adx: Adx,
    volume_sma: Sma,
    sma50_lag: Lag,
    prev: Option<Candle>,
    prev_obv: Option<f64>,
    htf: Vec<HtfJoin>,
}

/// The higher timeframes joined by default onto a base timeframe: those of
/// 1h/4h/1d that are strict multiples of it.
pub fn default_htfs(base: Timeframe) -> Vec<Timeframe> {
    [Timeframe::H1, Timeframe::H4, Timeframe::D1]
        .into_iter()
        .filter(|tf| tf.minutes() > base.minutes() && tf.is_multiple_of(base))
        .collect()
}

impl FeatureEngine {
    /// A fresh engine for bars of `base`, joining `htfs` (each a multiple of
    /// `base`; the first [`MAX_HTFS`] are used).
    pub fn new(base: Timeframe, htfs: &[Timeframe]) -> Self {
        FeatureEngine {
            sma20: v(Sma::new(20)),
            sma50: v(Sma::new(50)),
            ema12: v(Ema::new(12)),
            ema26: v(Ema::new(26)),
            rsi: v(Rsi::new(14)),
            macd: v(Macd::new(12, 26, 9)),
            bb: v(Bbands::new(20, 2.0, 2.0)),
            atr: v(Atr::new(14)),
            stoch: v(Stoch::new(14, 3, 3)),
            roc: v(Roc::new(10)),
            willr: v(Willr::new(14)),
            cci: v(Cci::new(20)),
            obv: Obv::new(),
            mom: v(Mom::new(10)),
            adx: v(Adx::new(14)),
            volume_sma: v(Sma::new(20)),
            sma50_lag: Lag::new(REGIME_SLOPE_BARS),
            prev: None,
            prev_obv: None,
            htf: htfs
                .iter()
                .take(MAX_HTFS)
                .map(|&tf| HtfJoin::new(base, tf))
                .collect(),
        }
    }

    pub fn htfs(&self) -> Vec<Timeframe> {
        self.htf.iter().map(HtfJoin::timeframe).collect()
    }

    /// Feeds the bar that just closed.
    pub fn update(&mut self, c: &Candle) -> BarFeatures {
        let (x, bar) = (c.close, Hlc::from(*c));
        let sma20 = self.sma20.update(x);
        let sma50 = self.sma50.update(x);
        let ema12 = self.ema12.update(x);
        let ema26 = self.ema26.update(x);
        let rsi = self.rsi.update(x);
        let macd = self.macd.update(x);
        let bb = self.bb.update(x);
        let atr = self.atr.update(bar);
        let st = self.stoch.update(bar);
        let roc = self.roc.update(x);
        let willr = self.willr.update(bar);
        let cci = self.cci.update(bar);
        let obv = self.obv.update((c.close, c.volume));
        let mom = self.mom.update(x);
        let adx = self.adx.update(bar);
        let vol_avg = self.volume_sma.update(c.volume);
        let sma50_then = sma50.and_then(|s| self.sma50_lag.push(s));
        let prev = self.prev.replace(*c);
        let prev_obv = std::mem::replace(&mut self.prev_obv, obv);
        let mut htf = [None; MAX_HTFS];
        for (slot, h) in htf.iter_mut().zip(&mut self.htf) {
            *slot = h.update(c);
        }

        let regime = match (adx, sma50, sma50_then) {
            (Some(a), Some(now), Some(then)) => Some(Regime::classify(a, pct(now, then))),
            _ => None,
        };
        let technicals = match (sma20, sma50, ema12, ema26, rsi, macd, atr, adx) {
            (
                Some(sma20),
                Some(sma50),
                Some(ema12),
                Some(ema26),
                Some(rsi),
                Some(m),
                Some(atr),
                Some(adx),
            ) => Some(Technicals {
                close: x,
                sma20,
                sma50,
                ema12,
                ema26,
                macd_hist: m.hist,
                rsi,
                atr,
                adx,
            }),
            _ => None,
        };
        let features = (|| {
            let p = prev?;
            let (m, b, s) = (macd?, bb?, st?);
            let (obv, prev_obv) = (obv?, prev_obv?);
            let obv_pct = if obv == prev_obv {
                0.0
            } else if prev_obv == 0.0 {
                OBV_PCT_CLIP.copysign(obv)
            } else {
                ((obv - prev_obv) / prev_obv.abs() * 100.0).clamp(-OBV_PCT_CLIP, OBV_PCT_CLIP)
            };
            let width = b.upper - b.lower;
            let bb_position = if width == 0.0 {
                50.0
            } else {
                (x - b.lower) / width * 100.0
            };
            Some([
                pct(x, p.close),
                pct(c.high, p.close),
                pct(c.low, p.close),
                volume_pct(c.volume, vol_avg?),
                rsi?,
                m.macd / x * 100.0,
                bb_position,
                width / b.middle * 100.0,
                atr? / x * 100.0,
                pct(x, sma20?),
                pct(x, sma50?),
                s.k,
                s.d,
                roc?,
                willr?,
                cci?,
                obv_pct,
                mom? / x * 100.0,
            ])
        })();
        let features = match features {
            None => Err(Missing::Warmup),
            Some(f) => match f.iter().position(|v| !v.is_finite()) {
                Some(i) => Err(Missing::Bad {
                    feature: NAMES[i],
                    value: f[i],
                }),
                None => Ok(f),
            },
        };
        BarFeatures {
            open_time: c.open_time,
            features,
            technicals,
            regime,
            htf,
        }
    }
}

/// Volume against its 20-bar average; undefined (NaN, reported) when the
/// average is zero, e.g. a run of zero-volume bars.
fn volume_pct(volume: f64, avg: f64) -> f64 {
    if crate::indicators::is_zero(avg) {
        f64::NAN
    } else {
        pct(volume, avg)
    }
}

/// The engine's periods are constants that always validate.
fn v<T>(r: Result<T, crate::indicators::ParamError>) -> T {
    r.expect("constant periods are valid")
}

/// `a` relative to `b`, in percent.
fn pct(a: f64, b: f64) -> f64 {
    (a / b - 1.0) * 100.0
}

/// Features of a whole series, with what was dropped and why.
#[derive(Debug, Clone)]
pub struct FeatureSet {
    pub symbol: String,
    pub htfs: Vec<Timeframe>,
    pub bars: Vec<BarFeatures>,
    /// Leading bars without features because an indicator was warming up.
    pub warmup: usize,
    /// Bars whose features were not finite, each reported.
    pub bad: Vec<BadValue>,
}

/// Runs a fresh [`FeatureEngine`] over `candles` (one series, in time order).
pub fn compute(symbol: &str, base: Timeframe, candles: &[Candle]) -> FeatureSet {
    let htfs = default_htfs(base);
    let mut engine = FeatureEngine::new(base, &htfs);
    let bars: Vec<BarFeatures> = candles.iter().map(|c| engine.update(c)).collect();
    let warmup = bars
        .iter()
        .filter(|b| b.features == Err(Missing::Warmup))
        .count();
    let bad = bars
        .iter()
        .filter_map(|b| match b.features {
            Err(Missing::Bad { feature, value }) => Some(BadValue {
                symbol: symbol.to_string(),
                open_time: b.open_time,
                feature: feature.to_string(),
                value,
            }),
            _ => None,
        })
        .collect();
    FeatureSet {
        symbol: symbol.to_string(),
        htfs,
        bars,
        warmup,
        bad,
    }
}

impl FeatureSet {
    /// Rows that may reach a model: (bar index, features).
    pub fn usable(&self) -> impl Iterator<Item = (usize, &[f64; COUNT])> {
        self.bars
            .iter()
            .enumerate()
            .filter_map(|(i, b)| b.features.as_ref().ok().map(|f| (i, f)))
    }

    /// Named columns, one value per bar: the 18 features, then per higher
    /// timeframe its trend and RSI, then the regime (+1/0/−1).
    pub fn columns(&self) -> Vec<(String, Vec<Option<f64>>)> {
        let mut cols: Vec<(String, Vec<Option<f64>>)> = NAMES
            .iter()
            .enumerate()
            .map(|(i, n)| {
                (
                    n.to_string(),
                    self.bars
                        .iter()
                        .map(|b| b.features.as_ref().ok().map(|f| f[i]))
                        .collect(),
                )
            })
            .collect();
        for (j, tf) in self.htfs.iter().enumerate() {
            let get = |f: fn(&HtfValue) -> f64| -> Vec<Option<f64>> {
                self.bars.iter().map(|b| b.htf[j].as_ref().map(f)).collect()
            };
            cols.push((format!("HTF_{tf}_trend"), get(|v| v.trend_pct)));
            cols.push((format!("HTF_{tf}_RSI"), get(|v| v.rsi)));
        }
        cols.push((
            "regime".into(),
            self.bars
                .iter()
                .map(|b| b.regime.map(Regime::as_f64))
                .collect(),
        ));
        cols
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn wave(n: usize, tf: Timeframe) -> Vec<Candle> {
        (0..n)
            .map(|i| {
                let p = 100.0 + (i as f64 / 7.0).sin() * 5.0 + i as f64 * 0.01;
                Candle {
                    open_time: i as i64 * tf.duration_ms(),
                    open: p - 0.2,
                    high: p + 1.0,
                    low: p - 1.0,
                    close: p,
                    volume: 100.0 + (i % 13) as f64,
                }
            })
            .collect()
    }

    #[test]
    fn features_are_finite_after_warmup_and_match_their_definitions() {
        let c = wave(300, Timeframe::M15);
        let set = compute("SYN/USDT", Timeframe::M15, &c);
        // MACD's signal line is the longest lookback (33 bars); SMA-50 needs 50.
        assert_eq!(set.warmup, 49);
        assert!(set.bad.is_empty());
        let (i, f) = set.usable().nth(10).unwrap();
        assert!((f[0] - (c[i].close / c[i - 1].close - 1.0) * 100.0).abs() < 1e-12);
        let sma50: f64 = c[i - 49..=i].iter().map(|c| c.close).sum::<f64>() / 50.0;
        assert!((f[10] - (c[i].close / sma50 - 1.0) * 100.0).abs() < 1e-9);
        assert!((0.0..=100.0).contains(&f[4]), "RSI {}", f[4]);
        assert!(f[16].abs() <= OBV_PCT_CLIP);
        let mom = (c[i].close - c[i - 10].close) / c[i].close * 100.0;
        assert!((f[17] - mom).abs() < 1e-9);
    }

    #[test]
    fn a_zero_volume_average_is_reported_with_symbol_and_time() {
        let mut c = wave(120, Timeframe::D1);
        for bar in &mut c[60..85] {
            bar.volume = 0.0;
        }
        let set = compute("NVDA/USD", Timeframe::D1, &c);
        assert!(!set.bad.is_empty());
        let first = &set.bad[0];
        assert_eq!(
            (
                first.symbol.as_str(),
                first.feature.as_str(),
                first.open_time
            ),
            ("NVDA/USD", "Volume_pct", c[79].open_time)
        );
        assert!(set.usable().all(|(_, f)| f.iter().all(|v| v.is_finite())));
    }

    #[test]
    fn regime_follows_adx_and_slope() {
        assert_eq!(Regime::classify(30.0, 0.5), Regime::Uptrend);
        assert_eq!(Regime::classify(30.0, -0.5), Regime::Downtrend);
        assert_eq!(Regime::classify(15.0, 2.0), Regime::Range);
        let rising: Vec<Candle> = (0..200)
            .map(|i| {
                let p = 100.0 * 1.003f64.powi(i);
                Candle {
                    open_time: i as i64 * 900_000,
                    open: p,
                    high: p * 1.002,
                    low: p * 0.999,
                    close: p * 1.001,
                    volume: 1.0,
                }
            })
            .collect();
        let set = compute("X/Y", Timeframe::M15, &rising);
        assert_eq!(set.bars.last().unwrap().regime, Some(Regime::Uptrend));
    }
}
