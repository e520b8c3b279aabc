//! Hyperparameter search: a declared space over the pipeline's knobs, a
//! TPE sampler (the `tpe` crate, one univariate optimiser per knob, as
//! Optuna's default sampler) and a median pruner.
//!
//! A trial's assignment depends only on the seed, its number and the
//! results of the trials before it, and what the optimisers are told is a
//! function of the stored assignment: a search killed at any point and
//! resumed from its stored trials asks for the same trials.

use std::collections::BTreeMap;

use rand10::rngs::Xoshiro256PlusPlus;
use rand10::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::boost::BoostConfig;
use crate::pipeline::PipelineConfig;

/// What a trial may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Knob {
    /// Boosted trees beside the network, or the network alone. Sampled
    /// first: the tree knobs apply only when it is on.
    Ensemble,
    /// The sequence transformer as another member (the base pipeline's
    /// sizes, or the defaults), or none.
    Transformer,
    /// Network width: the GRUs, attention and first dense layer get it,
    /// the second GRU and dense layer half of it.
    Width,
    /// Bars the network reads.
    Window,
    LearningRate,
    /// The first dropout; the second is three quarters of it.
    Dropout,
    /// The direction labels' threshold as a multiple of the timeframe's.
    ThresholdScale,
    /// LightGBM's `max_depth`.
    TreeDepth,
    TreeLeaves,
    /// LightGBM's round cap (early stopping still applies).
    TreeRounds,
}

impl Knob {
    fn is_switch(self) -> bool {
        matches!(self, Knob::Ensemble | Knob::Transformer)
    }

    fn is_tree(self) -> bool {
        matches!(self, Knob::TreeDepth | Knob::TreeLeaves | Knob::TreeRounds)
    }

    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// The values a knob may take.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case", tag = "kind")]
pub enum Domain {
    /// `low..=high`, uniform in the log when `log`.
    Int {
        low: i64,
        high: i64,
        #[serde(default)]
        log: bool,
    },
    /// `low..high`, uniform in the log when `log`.
    Float {
        low: f64,
        high: f64,
        #[serde(default)]
        log: bool,
    },
    Bool,
}

/// A knob's value in a trial.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Float(f64),
}

impl Value {
    fn as_f64(self) -> f64 {
        match self {
            Value::Bool(b) => b as u8 as f64,
            Value::Int(i) => i as f64,
            Value::Float(f) => f,
        }
    }
}

/// One trial's values, by knob.
pub type Assignment = BTreeMap<Knob, Value>;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpaceError {
    #[error("search space: {knob}: {why}")]
    Domain { knob: String, why: String },
    #[error("search space: {0}")]
    Conflict(String),
    #[error("search space: nothing to search (no knobs)")]
    Empty,
}

/// The declared space: the knobs a search varies and their domains; the
/// base pipeline keeps the rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SearchSpace(pub BTreeMap<Knob, Domain>);

impl Default for SearchSpace {
    /// Every knob, over ranges around the shipped defaults.
    fn default() -> Self {
        use Domain::*;
        SearchSpace(BTreeMap::from([
            (Knob::Ensemble, Bool),
            (Knob::Transformer, Bool),
            (
                Knob::Width,
                Int {
                    low: 16,
                    high: 128,
                    log: true,
                },
            ),
            (
                Knob::Window,
                Int {
                    low: 30,
                    high: 90,
                    log: false,
                },
            ),
            (
                Knob::LearningRate,
                Float {
                    low: 1e-4,
                    high: 3e-3,
                    log: true,
                },
            ),
            (
                Knob::Dropout,
                Float {
                    low: 0.0,
                    high: 0.4,
                    log: false,
                },
            ),
            (
                Knob::ThresholdScale,
                Float {
                    low: 0.5,
                    high: 2.0,
                    log: true,
                },
            ),
            (
                Knob::TreeDepth,
                Int {
                    low: 3,
                    high: 10,
                    log: false,
                },
            ),
            (
                Knob::TreeLeaves,
                Int {
                    low: 7,
                    high: 63,
                    log: true,
                },
            ),
            (
                Knob::TreeRounds,
                Int {
                    low: 100,
                    high: 800,
                    log: true,
                },
            ),
        ]))
    }
}

impl SearchSpace {
    /// Refuses domains no trial could use, before any training: empty or
    /// inverted ranges, logs of non-positive numbers, a knob of the wrong
    /// kind, windows the trees' lags reach outside of, a label threshold
    /// with barrier labels.
    pub fn check(&self, base: &PipelineConfig, barrier_labels: bool) -> Result<(), SpaceError> {
        if self.0.is_empty() {
            return Err(SpaceError::Empty);
        }
        for (&knob, &d) in &self.0 {
            let bad = |why: String| SpaceError::Domain {
                knob: knob.name(),
                why,
            };
            let integer = matches!(
                knob,
                Knob::Width | Knob::Window | Knob::TreeDepth | Knob::TreeLeaves | Knob::TreeRounds
            );
            match d {
                Domain::Bool if !knob.is_switch() => {
                    return Err(bad("a number, not a bool".into()));
                }
                Domain::Int { .. } | Domain::Float { .. } if knob.is_switch() => {
                    return Err(bad("a bool (on or off)".into()));
                }
                Domain::Float { .. } if integer => {
                    return Err(bad("a whole number: use kind \"int\"".into()));
                }
                Domain::Int { low, high, log } => {
                    if low > high {
                        return Err(bad(format!("low {low} above high {high}")));
                    }
                    if log && low < 1 {
                        return Err(bad(format!(
                            "a log range must start at 1 or more (low {low})"
                        )));
                    }
                    let min = match knob {
                        Knob::Width | Knob::TreeDepth | Knob::TreeRounds => 1,
                        Knob::TreeLeaves | Knob::Window => 2,
                        _ => 0,
                    };
                    if low < min {
                        return Err(bad(format!("at least {min} (low {low})")));
                    }
                }
                Domain::Float { low, high, log } => {
                    if !(low.is_finite() && high.is_finite() && low < high) {
                        return Err(bad(format!("need finite low < high (got {low}, {high})")));
                    }
                    if log && low <= 0.0 {
                        return Err(bad(format!("a log range must be positive (low {low})")));
                    }
                    let ok = match knob {
                        Knob::Dropout => (0.0..1.0).contains(&low) && high <= 1.0,
                        _ => low > 0.0,
                    };
                    if !ok {
                        return Err(bad(match knob {
                            Knob::Dropout => "a dropout is a share in [0, 1)".into(),
                            _ => format!("must be positive (low {low})"),
                        }));
                    }
                }
                Domain::Bool => {}
            }
        }
        if barrier_labels && self.0.contains_key(&Knob::ThresholdScale) {
            return Err(SpaceError::Conflict(
                "threshold_scale tunes the direction labels; drop it when training on barrier labels"
                    .into(),
            ));
        }
        let trees_possible = base.boost.is_some() || self.0.contains_key(&Knob::Ensemble);
        let max_lag = base
            .boost
            .as_ref()
            .map_or_else(|| BoostConfig::default().lags, |b| b.lags.clone())
            .into_iter()
            .max()
            .unwrap_or(0);
        let min_window = match self.0.get(&Knob::Window) {
            Some(Domain::Int { low, .. }) => *low as usize,
            _ => base.train.net.window,
        };
        if trees_possible && min_window <= max_lag {
            return Err(SpaceError::Conflict(format!(
                "windows from {min_window} bars: the trees' lag {max_lag} reaches outside them (raise window's low)"
            )));
        }
        Ok(())
    }

    /// The pipeline and label-threshold multiple a trial trains with.
    pub fn apply(&self, a: &Assignment, base: &PipelineConfig) -> (PipelineConfig, Option<f64>) {
        let mut cfg = base.clone();
        let int = |k: Knob| match a.get(&k) {
            Some(Value::Int(v)) => Some(*v),
            _ => None,
        };
        let float = |k: Knob| match a.get(&k) {
            Some(Value::Float(v)) => Some(*v),
            _ => None,
        };
        if let Some(Value::Bool(on)) = a.get(&Knob::Ensemble) {
            cfg.boost = match (on, cfg.boost.take()) {
                (true, b) => Some(b.unwrap_or_default()),
                (false, _) => None,
            };
        }
        if let Some(Value::Bool(on)) = a.get(&Knob::Transformer) {
            cfg.transformer = match (on, cfg.transformer.take()) {
                (true, t) => Some(t.unwrap_or_default()),
                (false, _) => None,
            };
        }
        let net = &mut cfg.train.net;
        if let Some(w) = int(Knob::Width) {
            let w = w as usize;
            (net.gru1, net.attention, net.dense1) = (w, w, w);
            (net.gru2, net.dense2) = ((w / 2).max(1), (w / 2).max(1));
        }
        if let Some(w) = int(Knob::Window) {
            net.window = w as usize;
        }
        if let Some(d) = float(Knob::Dropout) {
            (net.dropout1, net.dropout2) = (d, d * 0.75);
        }
        if let Some(lr) = float(Knob::LearningRate) {
            cfg.train.learning_rate = lr;
        }
        if let Some(b) = cfg.boost.as_mut() {
            if let Some(d) = int(Knob::TreeDepth) {
                b.max_depth = d as i32;
            }
            if let Some(l) = int(Knob::TreeLeaves) {
                b.num_leaves = l as usize;
            }
            if let Some(r) = int(Knob::TreeRounds) {
                b.max_rounds = r as usize;
            }
        }
        (cfg, float(Knob::ThresholdScale))
    }
}

/// Where a value sits on the optimiser's axis (the log for log domains),
/// as `[start, end)`.
fn axis(d: Domain) -> (f64, f64) {
    match d {
        Domain::Bool => (0.0, 2.0),
        Domain::Int { low, high, log } if log => ((low as f64).ln(), ((high + 1) as f64).ln()),
        Domain::Int { low, high, .. } => (low as f64, (high + 1) as f64),
        Domain::Float { low, high, log } if log => (low.ln(), high.ln()),
        Domain::Float { low, high, .. } => (low, high),
    }
}

fn decode(d: Domain, x: f64) -> Value {
    match d {
        Domain::Bool => Value::Bool(x >= 1.0),
        Domain::Int { low, high, log } => {
            let v = if log { x.exp() } else { x };
            Value::Int((v.floor() as i64).clamp(low, high))
        }
        Domain::Float { low, high, log } => {
            let v = if log { x.exp() } else { x };
            Value::Float(v.clamp(low, high))
        }
    }
}

/// The point told for a value: an integer's cell centre, the value itself
/// (or its log) otherwise, kept inside `[start, end)`.
fn encode(d: Domain, v: Value) -> f64 {
    let (start, end) = axis(d);
    let x = match (d, v) {
        (Domain::Bool, v) => v.as_f64() + 0.5,
        (Domain::Int { log: true, .. }, v) => (v.as_f64() + 0.5).ln(),
        (Domain::Int { .. }, v) => v.as_f64() + 0.5,
        (Domain::Float { log: true, .. }, v) => v.as_f64().ln(),
        (Domain::Float { .. }, v) => v.as_f64(),
    };
    let below_end = end - (end - start) * 1e-12;
    x.clamp(start, below_end)
}

/// The TPE sampler over a space.
#[derive(Debug, Clone)]
pub struct Sampler {
    pub space: SearchSpace,
    pub seed: u64,
    /// Trials drawn uniformly before TPE models the results.
    pub startup: usize,
}

impl Sampler {
    /// Trial `number`'s assignment after `told` (each finished trial's
    /// assignment and objective, higher is better).
    pub fn suggest(&self, number: usize, told: &[(Assignment, f64)]) -> Assignment {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(
            self.seed ^ (number as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let mut out = Assignment::new();
        // Ensemble first: its value decides whether the tree knobs apply.
        let order = self
            .space
            .0
            .iter()
            .filter(|(k, _)| **k == Knob::Ensemble)
            .chain(self.space.0.iter().filter(|(k, _)| **k != Knob::Ensemble));
        for (&knob, &d) in order {
            if knob.is_tree() && out.get(&Knob::Ensemble) == Some(&Value::Bool(false)) {
                continue;
            }
            let (start, end) = axis(d);
            let x = if told.len() < self.startup {
                rng.random_range(start..end)
            } else {
                self.tpe_ask(knob, d, told, &mut rng)
                    .unwrap_or_else(|| rng.random_range(start..end))
            };
            out.insert(knob, decode(d, x));
        }
        out
    }

    fn tpe_ask(
        &self,
        knob: Knob,
        d: Domain,
        told: &[(Assignment, f64)],
        rng: &mut Xoshiro256PlusPlus,
    ) -> Option<f64> {
        let (start, end) = axis(d);
        let range = tpe::range(start, end).ok()?;
        let estimator = match d {
            Domain::Bool => tpe::histogram_estimator(),
            _ => tpe::parzen_estimator(),
        };
        let mut opt = tpe::TpeOptimizer::new(estimator, range);
        for (a, objective) in told {
            // NaN: the knob did not apply to that trial (trees off).
            let x = a.get(&knob).map_or(f64::NAN, |&v| encode(d, v));
            // The optimiser minimises.
            opt.tell(x, -objective).ok()?;
        }
        opt.ask(rng).ok()
    }
}

/// Optuna's median pruner on the first fold: after `startup` finished
/// trials, a trial whose first-fold objective is below their median stops.
pub fn prune(first_fold: f64, finished_first_folds: &[f64], startup: usize) -> bool {
    if finished_first_folds.len() < startup.max(1) {
        return false;
    }
    let mut v: Vec<f64> = finished_first_folds
        .iter()
        .copied()
        .filter(|x| x.is_finite())
        .collect();
    if v.is_empty() {
        return false;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    first_fold < median
}

/// The log-loss skill over the class-prior forecast of the same labels:
/// 1 − model / prior. Comparable across label thresholds (each trial is
/// scored against the no-skill forecast of its own labels); 0 is no skill.
pub fn skill(log_loss: f64, prior_log_loss: f64) -> f64 {
    if prior_log_loss > 0.0 {
        1.0 - log_loss / prior_log_loss
    } else {
        0.0
    }
}

/// Per tested bar (by open time, averaged over the series tested then):
/// the log-likelihood gained over the fold's class prior — the series
/// whose Sharpe CSCV ranks.
pub fn skill_gains(
    ds: &crate::data::Dataset,
    evaluation: &crate::pipeline::EvaluationReport,
    oos: &[crate::pipeline::OosPrediction],
) -> Vec<(i64, f64)> {
    let samples: std::collections::HashMap<(u32, u32), &crate::data::Sample> =
        ds.samples.iter().map(|s| ((s.series, s.bar), s)).collect();
    let priors: std::collections::HashMap<usize, [f32; 3]> = evaluation
        .folds
        .iter()
        .filter_map(|f| f.class_prior.map(|p| (f.fold, p)))
        .collect();
    let mut by_time: BTreeMap<i64, (f64, usize)> = BTreeMap::new();
    for p in oos {
        let (Some(s), Some(prior)) = (samples.get(&(p.series, p.bar)), priors.get(&p.fold)) else {
            continue;
        };
        let class = ds.target(s).0 as usize;
        let q = &p.prediction;
        let model = [q.p_up, q.p_neutral, q.p_down][class];
        let ln = |v: f64| v.clamp(1e-15, 1.0).ln();
        let gain = ln(model) - ln(prior[class] as f64);
        let time = ds.series[p.series as usize].times[p.bar as usize];
        let e = by_time.entry(time).or_insert((0.0, 0));
        e.0 += gain;
        e.1 += 1;
    }
    by_time
        .into_iter()
        .map(|(t, (sum, n))| (t, sum / n as f64))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampler(space: SearchSpace, startup: usize) -> Sampler {
        Sampler {
            space,
            seed: 7,
            startup,
        }
    }

    #[test]
    fn a_space_file_names_its_knobs_and_bad_domains_are_refused() {
        let s: SearchSpace = serde_json::from_str(
            r#"{"width": {"kind": "int", "low": 8, "high": 32, "log": true},
                "ensemble": {"kind": "bool"}}"#,
        )
        .unwrap();
        s.check(&PipelineConfig::default(), false).unwrap();
        assert!(serde_json::from_str::<SearchSpace>(r#"{"widht": {"kind": "bool"}}"#).is_err());
        assert!(
            serde_json::from_str::<SearchSpace>(r#"{"width": {"kind": "int", "lo": 1}}"#).is_err()
        );
        let bad = |json: &str| {
            serde_json::from_str::<SearchSpace>(json)
                .unwrap()
                .check(&PipelineConfig::default(), false)
                .unwrap_err()
                .to_string()
        };
        assert!(bad(r#"{"width": {"kind": "int", "low": 9, "high": 8}}"#).contains("width"));
        assert!(
            bad(r#"{"learning_rate": {"kind": "float", "low": 0, "high": 1, "log": true}}"#)
                .contains("positive")
        );
        assert!(bad(r#"{"window": {"kind": "float", "low": 3, "high": 9}}"#).contains("int"));
        assert!(
            bad(r#"{"dropout": {"kind": "float", "low": 0.1, "high": 1.5}}"#).contains("share")
        );
        assert!(bad(r#"{"ensemble": {"kind": "int", "low": 0, "high": 1}}"#).contains("bool"));
        // The default trees read 20 bars back.
        assert!(bad(r#"{"window": {"kind": "int", "low": 10, "high": 40}}"#).contains("lag 20"));
        let t = SearchSpace::default().check(&PipelineConfig::default(), true);
        assert!(t.unwrap_err().to_string().contains("barrier"));
        assert_eq!(
            SearchSpace(BTreeMap::new()).check(&PipelineConfig::default(), false),
            Err(SpaceError::Empty)
        );
    }

    #[test]
    fn suggestions_stay_in_their_domains_and_repeat_from_the_same_history() {
        let s = sampler(SearchSpace::default(), 3);
        let mut told = Vec::new();
        for n in 0..12 {
            let a = s.suggest(n, &told);
            assert_eq!(
                a,
                s.suggest(n, &told),
                "trial {n} is a function of its history"
            );
            for (k, d) in &s.space.0 {
                match (d, a.get(k)) {
                    (Domain::Int { low, high, .. }, Some(Value::Int(v))) => {
                        assert!((low..=high).contains(&v), "{k:?} {v}")
                    }
                    (Domain::Float { low, high, .. }, Some(Value::Float(v))) => {
                        assert!(*low <= *v && v <= high, "{k:?} {v}")
                    }
                    (Domain::Bool, Some(Value::Bool(_))) => {}
                    (_, None) => assert!(
                        k.is_tree() && a[&Knob::Ensemble] == Value::Bool(false),
                        "{k:?} missing with trees on"
                    ),
                    other => panic!("{k:?}: {other:?}"),
                }
            }
            // A stored and reloaded assignment is the same trial.
            let back: Assignment =
                serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
            assert_eq!(back, a);
            told.push((a, n as f64 * 0.01));
        }
    }

    #[test]
    fn applying_a_trial_changes_only_its_knobs() {
        let base = PipelineConfig::default();
        let a = Assignment::from([
            (Knob::Ensemble, Value::Bool(true)),
            (Knob::Width, Value::Int(40)),
            (Knob::Dropout, Value::Float(0.2)),
            (Knob::TreeDepth, Value::Int(4)),
            (Knob::ThresholdScale, Value::Float(1.5)),
        ]);
        let (cfg, scale) = SearchSpace::default().apply(&a, &base);
        assert_eq!(scale, Some(1.5));
        let net = &cfg.train.net;
        assert_eq!(
            (net.gru1, net.gru2, net.attention, net.dense1, net.dense2),
            (40, 20, 40, 40, 20)
        );
        assert!((net.dropout2 - 0.15).abs() < 1e-12);
        assert_eq!(cfg.boost.as_ref().unwrap().max_depth, 4);
        assert_eq!(cfg.train.learning_rate, base.train.learning_rate);
        assert_eq!(net.window, base.train.net.window);
        let off = Assignment::from([(Knob::Ensemble, Value::Bool(false))]);
        assert_eq!(SearchSpace::default().apply(&off, &base).0.boost, None);
    }

    /// On a one-knob objective peaked at 0.3, TPE's trials after the random
    /// start crowd the peak: their median distance to it is well under the
    /// random start's.
    #[test]
    fn tpe_concentrates_trials_near_the_best_region() {
        let space = SearchSpace(BTreeMap::from([(
            Knob::Dropout,
            Domain::Float {
                low: 0.0,
                high: 1.0,
                log: false,
            },
        )]));
        let s = sampler(space, 10);
        let mut told: Vec<(Assignment, f64)> = Vec::new();
        let mut dist = Vec::new();
        for n in 0..60 {
            let a = s.suggest(n, &told);
            let Value::Float(x) = a[&Knob::Dropout] else {
                panic!()
            };
            dist.push((x - 0.3).abs());
            told.push((a, -(x - 0.3).powi(2)));
        }
        let median = |v: &[f64]| {
            let mut v = v.to_vec();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (random, guided) = (median(&dist[..10]), median(&dist[30..]));
        assert!(guided < random / 3.0, "random {random:.3}, TPE {guided:.3}");
    }

    #[test]
    fn the_median_pruner_waits_for_its_startup_then_cuts_below_the_median() {
        assert!(!prune(-1.0, &[0.1, 0.2], 3));
        assert!(prune(0.05, &[0.1, 0.2, 0.3], 3));
        assert!(!prune(0.2, &[0.1, 0.2, 0.3], 3));
        // Median of four: 0.175.
        assert!(!prune(0.18, &[0.1, 0.2, 0.3, 0.15], 3));
        assert!(prune(0.17, &[0.1, 0.2, 0.3, 0.15], 3));
        assert_eq!(skill(0.9, 1.0), 1.0 - 0.9);
        assert_eq!(skill(1.0, 0.0), 0.0);
    }
}
