//! The technical rule's confidence, learned from its own past.
//!
//! At each bar the rule's fires whose outcome was known by that bar's close
//! (the `window` most recent) give an isotonic map from the rule's raw
//! score to its hit rate ("the close `horizon` bars later moved past the
//! threshold on the rule's side", the models' own definition of a right
//! top class) and a split-conformal interval of the move. As with the
//! models, the class scores stay the source's own (they carry the rule's
//! side, which a confidence under a third must not turn around) and only
//! `confidence` is the calibrated probability the gate reads. Walk-forward by
//! construction: a bar's calibration reads nothing after its close, so the
//! scanner and a backtest over the same bars compute the same numbers.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::{Prediction, Side};
use crate::Candle;
use crate::calibration::{Isotonic, conformal_need, conformal_quantile_sorted};
use crate::labels::{self, Direction};

/// How the rule's past fires are read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RuleCalibration {
    /// Bars after a fire whose close decides it (about a day, as the models' labels).
    pub horizon: usize,
    /// A move inside ±threshold % is NEUTRAL: a miss for either side.
    pub threshold_pct: f64,
    /// Most recent resolved fires kept (older regimes fall out).
    pub window: usize,
    /// Fewer resolved fires than this: uncalibrated, no confidence shown.
    pub min_fires: usize,
    /// Coverage promised by the move interval.
    pub level: f64,
}

impl RuleCalibration {
    pub fn for_timeframe(tf: crate::Timeframe) -> RuleCalibration {
        RuleCalibration {
            horizon: labels::day_horizon(tf),
            threshold_pct: labels::DIRECTION_THRESHOLD_PCT,
            window: 500,
            min_fires: 50,
            level: 0.9,
        }
    }

    /// Resolved fires a calibration needs.
    pub fn need(&self) -> usize {
        self.min_fires.max(conformal_need(self.level))
    }
}

/// The rule's fire at one bar, with or without a calibration behind it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RuleConfidence {
    /// Confidence and class split from the past fires; the move's conformal interval.
    Calibrated {
        prediction: Prediction,
        move_interval: (f64, f64),
        level: f64,
        /// Resolved fires it was learned from.
        fires: usize,
    },
    /// Too little history: the prediction carries the rule's raw score,
    /// which is not a probability and must not pass a confidence gate.
    Uncalibrated {
        prediction: Prediction,
        fires: usize,
        need: usize,
    },
}

impl RuleConfidence {
    pub fn prediction(&self) -> &Prediction {
        match self {
            RuleConfidence::Calibrated { prediction, .. }
            | RuleConfidence::Uncalibrated { prediction, .. } => prediction,
        }
    }

    /// "42 resolved fires; 50 needed" when uncalibrated.
    pub fn uncalibrated_reason(&self) -> Option<String> {
        match self {
            RuleConfidence::Uncalibrated { fires, need, .. } => {
                Some(format!("{fires} resolved fires; {need} needed"))
            }
            RuleConfidence::Calibrated { .. } => None,
        }
    }
}

/// A past fire once its horizon has closed.
#[derive(Debug, Clone, Copy)]
struct Resolved {
    raw: f64,
    hit: bool,
    /// |realised − expected| move, percentage points.
    error: f64,
}

/// The window of resolved fires: grouped hit counts by raw score and the
/// errors kept sorted, so each bar's calibration costs O(window) at most.
#[derive(Default)]
struct Window {
    fires: VecDeque<Resolved>,
    /// (raw score, hits, fires), by score.
    groups: Vec<(f64, f64, f64)>,
    errors: Vec<f64>,
}

impl Window {
    fn add(&mut self, r: Resolved, sign: f64) {
        let g = match self.groups.iter().position(|g| g.0 == r.raw) {
            Some(g) => g,
            None => {
                self.groups.push((r.raw, 0.0, 0.0));
                self.groups.len() - 1
            }
        };
        self.groups[g].1 += sign * f64::from(u8::from(r.hit));
        self.groups[g].2 += sign;
        let at = self.errors.partition_point(|e| *e < r.error);
        if sign > 0.0 {
            self.errors.insert(at, r.error);
        } else {
            self.errors.remove(at);
        }
    }

    fn push(&mut self, r: Resolved, cap: usize) {
        self.add(r, 1.0);
        self.fires.push_back(r);
        while self.fires.len() > cap {
            if let Some(old) = self.fires.pop_front() {
                self.add(old, -1.0);
            }
        }
    }
}

/// Each bar's calibrated fire (`None` where the rule did not fire).
/// `raw[i]` is the rule's uncalibrated prediction at bar i's close; its
/// `confidence` is the rule's raw score.
pub fn calibrate(
    candles: &[Candle],
    raw: &[Option<Prediction>],
    cfg: &RuleCalibration,
) -> Vec<Option<RuleConfidence>> {
    let mut pending: VecDeque<(usize, Prediction)> = VecDeque::new();
    let mut window = Window::default();
    let need = cfg.need();
    let mut out = Vec::with_capacity(raw.len());
    for (i, r) in raw.iter().enumerate().take(candles.len()) {
        // Fires whose horizon closed with this bar are known now.
        while let Some(&(j, p)) = pending.front() {
            if j + cfg.horizon > i {
                break;
            }
            pending.pop_front();
            let (Some(side), Some(end)) = (p.side(), candles.get(j + cfg.horizon)) else {
                continue;
            };
            let realised = (end.close / candles[j].close - 1.0) * 100.0;
            if !realised.is_finite() {
                continue;
            }
            let class = Direction::from_return(realised, cfg.threshold_pct);
            let wanted = match side {
                Side::Long => Direction::Up,
                Side::Short => Direction::Down,
            };
            window.push(
                Resolved {
                    raw: p.confidence,
                    hit: class == wanted,
                    error: (realised - p.expected_move_pct).abs(),
                },
                cfg.window.max(1),
            );
        }
        let Some(p) = r.filter(|p| p.side().is_some() && cfg.horizon > 0) else {
            out.push(None);
            continue;
        };
        pending.push_back((i, p));
        let fires = window.fires.len();
        let calibrated = (fires >= need)
            .then(|| conformal_quantile_sorted(&window.errors, cfg.level))
            .flatten()
            .map(|halfwidth| {
                let confidence =
                    Isotonic::fit_weighted(window.groups.clone()).predict(p.confidence);
                RuleConfidence::Calibrated {
                    prediction: Prediction { confidence, ..p },
                    move_interval: (
                        p.expected_move_pct - halfwidth,
                        p.expected_move_pct + halfwidth,
                    ),
                    level: cfg.level,
                    fires,
                }
            });
        out.push(Some(calibrated.unwrap_or(RuleConfidence::Uncalibrated {
            prediction: p,
            fires,
            need,
        })));
    }
    out
}

/// How the rule's calibration did over a run: what a report shows beside
/// the rule's trades, and what BENCHMARKS.md records per bundled series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationSummary {
    /// Bars where the rule fired.
    pub fires: usize,
    /// Of them, with too little history for a calibration.
    pub uncalibrated: usize,
    /// Mean calibrated confidence.
    pub mean_confidence: Option<f64>,
    /// Calibrated fires at or above `gate`.
    pub passing: usize,
    pub gate: f64,
    /// Calibrated fires whose horizon closed inside the data.
    pub resolved: usize,
    /// Their realised hit rate (what the mean confidence promised).
    pub hit_rate: Option<f64>,
    /// Share of them whose move fell inside the interval, against `level`.
    pub interval_coverage: Option<f64>,
    pub level: f64,
}

/// Sums `calibrate`'s output over series (`(candles, fires)` pairs).
pub fn summarize<'a>(
    series: impl IntoIterator<Item = (&'a [Candle], &'a [Option<RuleConfidence>])>,
    cfg: &RuleCalibration,
    gate: f64,
) -> CalibrationSummary {
    let (mut fires, mut uncal, mut passing, mut resolved, mut hits, mut inside) =
        (0, 0, 0, 0, 0, 0);
    let mut conf_sum = 0.0;
    for (candles, out) in series {
        for (i, f) in out.iter().enumerate() {
            let Some(f) = f else { continue };
            fires += 1;
            let RuleConfidence::Calibrated {
                prediction,
                move_interval,
                ..
            } = f
            else {
                uncal += 1;
                continue;
            };
            conf_sum += prediction.confidence;
            passing += usize::from(prediction.confidence >= gate);
            let Some(end) = candles.get(i + cfg.horizon) else {
                continue;
            };
            let realised = (end.close / candles[i].close - 1.0) * 100.0;
            // The rule's move is always on its side.
            let side = if prediction.expected_move_pct < 0.0 {
                Direction::Down
            } else {
                Direction::Up
            };
            resolved += 1;
            hits += usize::from(Direction::from_return(realised, cfg.threshold_pct) == side);
            inside += usize::from(move_interval.0 <= realised && realised <= move_interval.1);
        }
    }
    let share = |n: usize, of: usize| (of > 0).then(|| n as f64 / of as f64);
    CalibrationSummary {
        fires,
        uncalibrated: uncal,
        mean_confidence: (fires > uncal).then(|| conf_sum / (fires - uncal) as f64),
        passing,
        gate,
        resolved,
        hit_rate: share(hits, resolved),
        interval_coverage: share(inside, resolved),
        level: cfg.level,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn bar(i: usize, close: f64) -> Candle {
        Candle {
            open_time: i as i64 * 60_000,
            open: close,
            high: close,
            low: close,
            close,
            volume: 1.0,
        }
    }

    fn long(raw: f64) -> Prediction {
        Prediction {
            p_up: raw,
            p_neutral: (1.0 - raw) / 2.0,
            p_down: (1.0 - raw) / 2.0,
            expected_move_pct: 1.0,
            confidence: raw,
        }
    }

    /// A long fire at every bar; the next bar rises 2 % with probability
    /// `hit` (0.9 for raw 0.65, 0.3 for raw 0.58), else falls 2 % or stays.
    fn world(n: usize, seed: u64) -> (Vec<Candle>, Vec<Option<Prediction>>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut price = 100.0;
        let mut candles = vec![bar(0, price)];
        let mut raw = Vec::new();
        for i in 0..n {
            let strong = rng.random_bool(0.5);
            raw.push(Some(long(if strong { 0.65 } else { 0.58 })));
            let u: f64 = rng.random();
            let step = if u < if strong { 0.9 } else { 0.3 } {
                1.02
            } else if u < 0.95 {
                0.98
            } else {
                1.0
            };
            price *= step;
            candles.push(bar(i + 1, price));
        }
        raw.push(None);
        (candles, raw)
    }

    fn cfg() -> RuleCalibration {
        RuleCalibration {
            horizon: 1,
            threshold_pct: 0.4,
            window: 2000,
            min_fires: 50,
            level: 0.9,
        }
    }

    #[test]
    fn confidence_is_the_hit_rate_of_the_rules_own_past() {
        let (candles, raw) = world(3000, 1);
        let out = calibrate(&candles, &raw, &cfg());
        // The first fires have too little history behind them.
        assert!(matches!(
            out[10],
            Some(RuleConfidence::Uncalibrated {
                fires: 10,
                need: 50,
                ..
            })
        ));
        assert_eq!(
            out[10].unwrap().uncalibrated_reason().unwrap(),
            "10 resolved fires; 50 needed"
        );
        let late = |raw_score: f64| {
            out.iter()
                .zip(&raw)
                .skip(2500)
                .find_map(|(o, r)| (r.unwrap().confidence == raw_score).then_some(o.unwrap()))
                .unwrap()
        };
        let (strong, weak) = (late(0.65), late(0.58));
        let RuleConfidence::Calibrated {
            prediction,
            move_interval,
            fires,
            ..
        } = strong
        else {
            panic!("{strong:?}");
        };
        assert!((prediction.confidence - 0.9).abs() < 0.04, "{prediction:?}");
        assert!(fires >= 2000);
        assert_eq!(prediction.side(), Some(Side::Long));
        assert_eq!(prediction.p_up, 0.65, "the rule's own class scores");
        // Errors |±2 − 1| are 1 (rises, flat bars) or 3 (falls, about 35 %
        // of fires): the 90 % quantile is 3.
        assert!((move_interval.0 + 2.0).abs() < 1e-9 && (move_interval.1 - 4.0).abs() < 1e-9);
        // A weak fire right 30 % of the time: far under a 0.55 gate.
        let w = weak.prediction().confidence;
        assert!((w - 0.3).abs() < 0.05, "{weak:?}");
        // Under a third, and still the rule's long: the gate stops it as
        // unconfident, not as a short.
        assert_eq!(weak.prediction().side(), Some(Side::Long));
    }

    #[test]
    fn the_summary_checks_the_promise_on_what_followed() {
        let (candles, raw) = world(3000, 3);
        let out = calibrate(&candles, &raw, &cfg());
        let sum = summarize([(&candles[..], &out[..])], &cfg(), 0.55);
        assert_eq!((sum.fires, sum.uncalibrated), (3000, 50));
        // Every calibrated fire has its next bar in the data.
        assert_eq!(sum.resolved, 2950);
        let (mean, hit) = (sum.mean_confidence.unwrap(), sum.hit_rate.unwrap());
        assert!((mean - hit).abs() < 0.03, "calibrated: {mean} vs {hit}");
        assert!(
            (sum.passing as f64 / 2950.0 - 0.5).abs() < 0.05,
            "the strong half passes"
        );
        let cov = sum.interval_coverage.unwrap();
        assert!(cov >= 0.9 - 0.03, "{cov}");
    }

    #[test]
    fn a_bar_reads_nothing_after_its_close() {
        let (candles, raw) = world(800, 2);
        let full = calibrate(&candles, &raw, &cfg());
        for cut in [60, 300, 700] {
            let part = calibrate(&candles[..=cut], &raw[..=cut], &cfg());
            assert_eq!(part[..], full[..=cut], "cut at {cut}");
        }
        // The window forgets: only the last 100 fires count.
        let short = RuleCalibration {
            window: 100,
            ..cfg()
        };
        let out = calibrate(&candles, &raw, &short);
        let Some(RuleConfidence::Calibrated { fires, .. }) = out[700] else {
            panic!("{:?}", out[700]);
        };
        assert_eq!(fires, 100);
    }

    #[test]
    fn short_fires_are_calibrated_on_their_own_side() {
        // Prices only fall: every short is right.
        let candles: Vec<Candle> = (0..200)
            .map(|i| bar(i, 100.0 * 0.99f64.powi(i as i32)))
            .collect();
        let short = Prediction {
            p_up: 0.2,
            p_neutral: 0.2,
            p_down: 0.6,
            expected_move_pct: -1.0,
            confidence: 0.6,
        };
        let raw = vec![Some(short); 200];
        let out = calibrate(&candles, &raw, &cfg());
        let p = out[150].unwrap();
        assert_eq!(p.prediction().side(), Some(Side::Short));
        assert_eq!(p.prediction().confidence, 1.0);
        assert_eq!(p.prediction().p_down, 0.6);
    }
}
