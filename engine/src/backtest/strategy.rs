//! Where predictions come from: the technical rule, an SMA cross (the
//! benchmark's strategy), a model's outputs, the hybrid, or seeded random
//! entries. Each yields one `Option<Prediction>` per bar, known at its close.

use crate::Candle;
use crate::features::FeatureSet;
use crate::indicators::{Indicator, Sma};
use crate::signals::calibration::{self, RuleConfidence};
use crate::signals::{Prediction, TechnicalRule, hybrid};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Strategy {
    /// The plain technical rule.
    Technical(TechnicalRule),
    /// A model's predictions, supplied per bar.
    Model,
    /// The technical rule with the model adjusting its confidence.
    Hybrid { rule: TechnicalRule, weight: f64 },
    /// Long when the fast SMA crosses above the slow one, short below;
    /// promises `move_pct` with full confidence.
    SmaCross {
        fast: usize,
        slow: usize,
        move_pct: f64,
    },
}

impl Strategy {
    pub fn name(&self) -> &'static str {
        match self {
            Strategy::Technical(_) => "technical",
            Strategy::Model => "model",
            Strategy::Hybrid { .. } => "hybrid",
            Strategy::SmaCross { .. } => "sma_cross",
        }
    }
}

/// The technical rule at every bar with technicals, as it fires: its
/// `confidence` is the rule's raw score, not a probability.
pub fn technical(features: &FeatureSet, rule: &TechnicalRule) -> Vec<Option<Prediction>> {
    features
        .bars
        .iter()
        .map(|b| b.technicals.and_then(|t| rule.evaluate(&t)))
        .collect()
}

/// The technical rule's fires with the confidence each had earned by its
/// bar ([`calibration::calibrate`] with the timeframe's settings): what the
/// live scanner stores and every backtest of the rule trades.
pub fn technical_fires(
    candles: &[Candle],
    features: &FeatureSet,
    rule: &TechnicalRule,
    timeframe: crate::Timeframe,
) -> Vec<Option<RuleConfidence>> {
    calibration::calibrate(
        candles,
        &technical(features, rule),
        &calibration::RuleCalibration::for_timeframe(timeframe),
    )
}

/// The calibrated fires' predictions; uncalibrated ones trade nothing.
pub fn calibrated_only(fires: &[Option<RuleConfidence>]) -> Vec<Option<Prediction>> {
    fires
        .iter()
        .map(|f| match f {
            Some(RuleConfidence::Calibrated { prediction, .. }) => Some(*prediction),
            _ => None,
        })
        .collect()
}

/// The hybrid of rule and model, bar by bar (no model output: the rule alone).
pub fn hybrid_of(
    rule: &[Option<Prediction>],
    model: &[Option<Prediction>],
    weight: f64,
) -> Vec<Option<Prediction>> {
    rule.iter()
        .enumerate()
        .map(|(i, r)| {
            let r = (*r)?;
            Some(match model.get(i).copied().flatten() {
                Some(m) => hybrid(&r, &m, weight),
                None => r,
            })
        })
        .collect()
}

/// SMA crossover signals.
pub fn sma_cross(
    candles: &[Candle],
    fast: usize,
    slow: usize,
    move_pct: f64,
) -> Vec<Option<Prediction>> {
    let (Ok(mut f), Ok(mut s)) = (Sma::new(fast), Sma::new(slow)) else {
        return vec![None; candles.len()];
    };
    let mut prev: Option<(f64, f64)> = None;
    candles
        .iter()
        .map(|c| {
            let now = f.update(c.close).zip(s.update(c.close));
            let out = match (prev, now) {
                (Some((pf, ps)), Some((nf, ns))) if pf <= ps && nf > ns => Some(1.0),
                (Some((pf, ps)), Some((nf, ns))) if pf >= ps && nf < ns => Some(-1.0),
                _ => None,
            };
            prev = now;
            out.map(|sign: f64| Prediction {
                p_up: if sign > 0.0 { 1.0 } else { 0.0 },
                p_neutral: 0.0,
                p_down: if sign > 0.0 { 0.0 } else { 1.0 },
                expected_move_pct: sign * move_pct,
                confidence: 1.0,
            })
        })
        .collect()
}

/// Random entries: at each bar, with probability `rate`, a long or a short
/// promising `move_pct[i]` (bars without one are skipped). Seeded: the same
/// seed gives the same entries.
pub fn random(move_pct: &[Option<f64>], rate: f64, seed: u64) -> Vec<Option<Prediction>> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    move_pct
        .iter()
        .map(|m| {
            let (fire, long) = (rng.random::<f64>() < rate, rng.random::<bool>());
            let m = (*m)?;
            fire.then(|| {
                let sign = if long { 1.0 } else { -1.0 };
                Prediction {
                    p_up: if long { 1.0 } else { 0.0 },
                    p_neutral: 0.0,
                    p_down: if long { 0.0 } else { 1.0 },
                    expected_move_pct: sign * m.abs(),
                    confidence: 1.0,
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sma_cross_fires_on_the_crossing_bar_only() {
        let closes = [5.0, 4.0, 3.0, 2.0, 3.0, 6.0, 7.0, 8.0, 4.0, 1.0];
        let c: Vec<Candle> = closes
            .iter()
            .enumerate()
            .map(|(i, &x)| Candle {
                open_time: i as i64,
                open: x,
                high: x,
                low: x,
                close: x,
                volume: 1.0,
            })
            .collect();
        let s = sma_cross(&c, 2, 3, 1.0);
        let fired: Vec<(usize, f64)> = s
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.map(|p| (i, p.expected_move_pct)))
            .collect();
        // fast(2)/slow(3): at 4 (2.5 vs 2.67) below, at 5 (4.5 vs 3.67) above; at 8 (6 vs 6.33) below.
        assert_eq!(fired, vec![(5, 1.0), (8, -1.0)]);
    }

    #[test]
    fn random_entries_are_seeded() {
        let m = vec![Some(2.0); 1000];
        let a = random(&m, 0.1, 7);
        assert_eq!(a, random(&m, 0.1, 7));
        assert_ne!(a, random(&m, 0.1, 8));
        let n = a.iter().flatten().count();
        assert!((60..140).contains(&n), "{n} entries at rate 0.1");
    }
}
