//! A whole training run: purged walk-forward evaluation (every number from
//! data the model never trained on), then the model to ship, trained on all
//! the data with its own validation and calibration hold-outs.
//!
//! Per fold: training samples → fit | validation (early stopping of both
//! members) | blend (the ensemble's weights, on rows neither member saw) |
//! calibration (conformal, on the pooled output), purged at each boundary; scaler fitted on the fit part
//! only; predictions on the test window are out-of-sample.

use burn::tensor::Device;
use engine::signals::Prediction;
use engine::walkforward::{Scheme, WalkForwardConfig};
use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::boost::{BoostConfig, BoostError, BoostReport, Boosted};
use crate::conformal::{
    ADAPTIVE_GAMMA, AdaptiveCoverage, CalibrationError, Calibrator, Coverage,
    adaptive_interval_coverage,
};
use crate::data::{DataError, Dataset, FeatureGroup, Sample};
use crate::ensemble::{Ensemble, EnsembleWeights, Members};
use crate::metrics::{self, ClassMetrics};
use crate::net::transformer::TransformerConfig;
use crate::train::{
    self, Checkpoints, Control, EpochReport, Predictions, StopReason, TrainConfig, TrainError,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    pub train: TrainConfig,
    /// Boosted trees beside the network (`null`: the network alone).
    pub boost: Option<BoostConfig>,
    /// The sequence transformer as another member, trained with the
    /// network's schedule on the same hold-outs (`null`: none).
    pub transformer: Option<TransformerConfig>,
    /// Walk-forward test windows (0 = no evaluation, only the final model).
    pub folds: usize,
    pub scheme: Scheme,
    pub embargo_frac: f64,
    /// Shares of each training span held out, by time, for early stopping
    /// and for conformal calibration.
    pub val_frac: f64,
    /// Share held out after validation to choose the ensemble's weights
    /// (with trees or a transformer only: a network alone has nothing to weigh).
    pub blend_frac: f64,
    pub calib_frac: f64,
    /// Coverage promised by prediction sets and move intervals.
    pub conformal_level: f64,
    /// Optional feature groups after the technical features (`sentiment`,
    /// `macro`); the walk-forward also runs without each, on the same folds.
    pub groups: Vec<FeatureGroup>,
}

impl PipelineConfig {
    /// Trainings in a run: each fold, each fold again without each group, the final model.
    pub fn stages(&self) -> usize {
        self.folds * (1 + self.groups.len()) + 1
    }
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            train: TrainConfig::default(),
            boost: Some(BoostConfig::default()),
            transformer: None,
            folds: 3,
            scheme: Scheme::Expanding,
            embargo_frac: 0.01,
            val_frac: 0.15,
            blend_frac: 0.1,
            calib_frac: 0.15,
            conformal_level: 0.9,
            groups: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error(transparent)]
    Boost(#[from] BoostError),
    #[error("calibration: {0}")]
    Calibration(#[from] CalibrationError),
    #[error("cancelled")]
    Cancelled,
    #[error("pipeline: {0}")]
    Config(String),
    #[error(
        "feature group {group} was asked for but the data was built with {built:?}; build the series with it"
    )]
    GroupMissing {
        group: &'static str,
        built: Vec<FeatureGroup>,
    },
}

/// Which training of the run an epoch belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "stage", content = "fold")]
pub enum Stage {
    Fold(usize),
    /// A fold of the comparison run without one feature group.
    Without(FeatureGroup, usize),
    Final,
}

impl Stage {
    /// Position among the run's trainings (0-based, of [`PipelineConfig::stages`]):
    /// the folds, the comparison runs' folds group by group, then the final model.
    pub fn index(&self, cfg: &PipelineConfig) -> usize {
        match *self {
            Stage::Fold(k) => k,
            Stage::Without(g, k) => {
                let at = cfg.groups.iter().position(|x| *x == g).unwrap_or(0);
                cfg.folds * (1 + at) + k
            }
            Stage::Final => cfg.folds * (1 + cfg.groups.len()),
        }
    }

    /// The training's checkpoint directory under a run's root.
    pub fn checkpoint_dir(&self) -> String {
        match self {
            Stage::Fold(k) => format!("fold-{k}"),
            Stage::Without(g, k) => format!("fold-{k}-without-{}", g.name()),
            Stage::Final => "final".into(),
        }
    }

    pub fn label(&self) -> String {
        match self {
            Stage::Fold(k) => format!("fold {k}"),
            Stage::Without(g, k) => format!("fold {k} without {}", g.name()),
            Stage::Final => "final".into(),
        }
    }
}

/// One out-of-sample prediction of the walk-forward.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OosPrediction {
    pub series: u32,
    pub bar: u32,
    pub fold: usize,
    pub prediction: Prediction,
}

/// What one feature group added, measured on the walk-forward's own folds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupEffect {
    pub group: FeatureGroup,
    /// The walk-forward without this group, on the same folds and samples.
    pub without: ClassMetrics,
    pub folds_without: Vec<ClassMetrics>,
    /// With minus without (negative log-loss change: the group helps).
    pub log_loss_change: f64,
    pub balanced_accuracy_change: f64,
    /// Folds where the group lowered the log loss, of all folds.
    pub folds_better: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldReport {
    pub fold: usize,
    pub train_samples: usize,
    pub validation_samples: usize,
    /// Rows the ensemble's weights were chosen on (0 for a network alone).
    #[serde(default)]
    pub blend_samples: usize,
    pub calibration_samples: usize,
    pub test_samples: usize,
    pub purged: usize,
    pub embargoed: usize,
    pub test_from: i64,
    pub test_to: i64,
    pub epochs: usize,
    pub best_epoch: usize,
    pub stop: StopReason,
    /// The shipped (pooled) predictions on the test window.
    pub metrics: ClassMetrics,
    pub coverage: Coverage,
    /// The move interval under adaptive conformal inference on the same
    /// window (absent in reports from before it).
    #[serde(default)]
    pub adaptive: Option<AdaptiveCoverage>,
    /// Each member alone on the same window.
    pub net: ClassMetrics,
    pub trees: Option<ClassMetrics>,
    #[serde(default)]
    pub transformer: Option<ClassMetrics>,
    pub weights: Option<EnsembleWeights>,
    pub boost: Option<BoostReport>,
    /// The training class frequencies (the no-skill forecast) and their
    /// score on this window (absent in reports from before them).
    #[serde(default)]
    pub class_prior: Option<[f32; 3]>,
    #[serde(default)]
    pub prior: Option<ClassMetrics>,
}

/// Everything measured in a run; nothing from in-sample data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluationReport {
    pub folds: Vec<FoldReport>,
    /// All test windows pooled.
    pub metrics: ClassMetrics,
    /// Each member alone on all test windows.
    pub net: ClassMetrics,
    pub trees: Option<ClassMetrics>,
    #[serde(default)]
    pub transformer: Option<ClassMetrics>,
    /// Baseline: the training class frequencies as the forecast, same test windows.
    pub prior_baseline: ClassMetrics,
    /// Each feature group's measured value: the same walk-forward without it.
    #[serde(default)]
    pub groups: Vec<GroupEffect>,
}

/// The model to ship and how it was trained.
#[derive(Debug)]
pub struct FinalModel {
    pub ensemble: Ensemble,
    pub calibrator: Calibrator,
    pub boost: Option<BoostReport>,
    pub history: Vec<EpochReport>,
    pub best_epoch: usize,
    pub stop: StopReason,
    pub train_samples: usize,
    pub resumed_from: usize,
}

#[derive(Debug)]
pub struct RunResult {
    pub evaluation: Option<EvaluationReport>,
    pub oos: Vec<OosPrediction>,
    pub model: FinalModel,
}

/// Runs the walk-forward evaluation and trains the final model.
/// `checkpoints(stage)` gives each training its checkpoint directory.
pub fn run(
    ds: &Dataset,
    cfg: &PipelineConfig,
    backend: Backend,
    checkpoints: &dyn Fn(Stage) -> Option<Checkpoints>,
    data_hash: &str,
    on_epoch: &mut dyn FnMut(Stage, &EpochReport) -> Control,
) -> Result<RunResult, PipelineError> {
    // Refuse a bad tree config before hours of network training, not after.
    if let Some(b) = &cfg.boost {
        b.check(ds.window)?;
    }
    if let Some(g) = cfg.groups.iter().find(|g| !ds.groups().contains(g)) {
        return Err(PipelineError::GroupMissing {
            group: g.name(),
            built: ds.groups().to_vec(),
        });
    }
    // The network reads as many columns as the dataset gives.
    let mut cfg = cfg.clone();
    cfg.train.net.features = ds.width();
    let cfg = &cfg;
    let (evaluation, oos) = if cfg.folds > 0 {
        let (mut report, oos) = evaluate(ds, cfg, backend, checkpoints, data_hash, on_epoch)?;
        for &group in &cfg.groups {
            let less = ds.without(group);
            let mut c = cfg.clone();
            c.train.net.features = less.width();
            // No checkpoints: the comparison runs are not resumed.
            let mut relabel = |stage: Stage, r: &EpochReport| match stage {
                Stage::Fold(k) => on_epoch(Stage::Without(group, k), r),
                other => on_epoch(other, r),
            };
            let (r, _) = evaluate(&less, &c, backend, &|_| None, data_hash, &mut relabel)?;
            report.groups.push(GroupEffect {
                group,
                log_loss_change: report.metrics.log_loss - r.metrics.log_loss,
                balanced_accuracy_change: report.metrics.balanced_accuracy
                    - r.metrics.balanced_accuracy,
                folds_better: report
                    .folds
                    .iter()
                    .zip(&r.folds)
                    .filter(|(a, b)| a.metrics.log_loss < b.metrics.log_loss)
                    .count(),
                folds_without: r.folds.iter().map(|f| f.metrics.clone()).collect(),
                without: r.metrics,
            });
        }
        (Some(report), oos)
    } else {
        (None, Vec::new())
    };

    let f = fit_one(
        ds,
        &ds.samples,
        cfg,
        backend,
        checkpoints(Stage::Final),
        data_hash,
        &mut |r| on_epoch(Stage::Final, r),
    )?;
    if f.stop == StopReason::Cancelled {
        return Err(PipelineError::Cancelled);
    }
    Ok(RunResult {
        evaluation,
        oos,
        model: FinalModel {
            ensemble: f.ensemble,
            calibrator: f.calibrator,
            boost: f.boost,
            history: f.history,
            best_epoch: f.best_epoch,
            stop: f.stop,
            train_samples: f.fit_samples,
            resumed_from: f.resumed_from,
        },
    })
}

/// The purged walk-forward alone: every fold trained and scored on its test
/// window (`cfg.folds` > 0).
pub fn evaluate(
    ds: &Dataset,
    cfg: &PipelineConfig,
    backend: Backend,
    checkpoints: &dyn Fn(Stage) -> Option<Checkpoints>,
    data_hash: &str,
    on_epoch: &mut dyn FnMut(Stage, &EpochReport) -> Control,
) -> Result<(EvaluationReport, Vec<OosPrediction>), PipelineError> {
    evaluate_with(
        ds,
        cfg,
        backend,
        checkpoints,
        data_hash,
        on_epoch,
        &mut |_| Control::Continue,
    )
}

/// [`evaluate`], told each fold's report as it is scored: `Cancel` stops
/// the walk-forward there (a search prunes a bad trial on its first fold).
pub fn evaluate_with(
    ds: &Dataset,
    cfg: &PipelineConfig,
    backend: Backend,
    checkpoints: &dyn Fn(Stage) -> Option<Checkpoints>,
    data_hash: &str,
    on_epoch: &mut dyn FnMut(Stage, &EpochReport) -> Control,
    on_fold: &mut dyn FnMut(&FoldReport) -> Control,
) -> Result<(EvaluationReport, Vec<OosPrediction>), PipelineError> {
    let device = backend.device().map_err(TrainError::from)?;
    let mut oos = Vec::new();
    {
        let wf = WalkForwardConfig {
            scheme: cfg.scheme,
            folds: cfg.folds,
            embargo_frac: cfg.embargo_frac,
            ..WalkForwardConfig::default()
        };
        let mut folds = Vec::new();
        let (mut all_c, mut all_t) = (vec![], vec![]);
        let (mut pooled, mut nets, mut trees, mut transformers) = (
            Predictions::default(),
            Predictions::default(),
            Vec::new(),
            Vec::new(),
        );
        let mut base_p = Vec::new();
        for fold in ds.folds(&wf)? {
            let stage = Stage::Fold(fold.index);
            let fitted = fit_one(
                ds,
                &fold.train,
                cfg,
                backend,
                checkpoints(stage),
                data_hash,
                &mut |r| on_epoch(stage, r),
            )?;
            let scored = fitted.ensemble.predict(ds, &fold.test, &device)?;
            let pred = &scored.pooled;
            let (classes, targets) = targets(ds, &fold.test);
            let score =
                |p: &Predictions| metrics::classification(&p.probs, &classes, &p.moves, &targets);
            let m = score(pred);
            let coverage = fitted
                .calibrator
                .coverage(&pred.probs, &classes, &pred.moves, &targets);
            let adaptive = adaptive_interval_coverage(
                &fitted.move_scores,
                &pred.moves,
                &targets,
                &fold
                    .test
                    .iter()
                    .map(|s| (s.at, s.label_end))
                    .collect::<Vec<_>>(),
                cfg.conformal_level,
                ADAPTIVE_GAMMA,
            );
            let prior = class_prior(ds, &fold.train);
            let prior_p = vec![prior; fold.test.len()];
            let prior_m =
                metrics::classification(&prior_p, &classes, &vec![0.0; classes.len()], &targets);
            base_p.extend(prior_p);
            for (i, s) in fold.test.iter().enumerate() {
                oos.push(OosPrediction {
                    series: s.series,
                    bar: s.bar,
                    fold: fold.index,
                    prediction: to_prediction(&pred.probs[i], pred.moves[i], &fitted.calibrator),
                });
            }
            let time = |s: &Sample| ds.timeline[s.at as usize];
            folds.push(FoldReport {
                fold: fold.index,
                train_samples: fitted.fit_samples,
                validation_samples: fitted.validation_samples,
                blend_samples: fitted.blend_samples,
                calibration_samples: fitted.calibrator.samples,
                test_samples: fold.test.len(),
                purged: fold.purged + fitted.purged,
                embargoed: fold.embargoed,
                test_from: fold.test.first().map_or(0, time),
                test_to: fold.test.last().map_or(0, time),
                epochs: fitted.history.len(),
                best_epoch: fitted.best_epoch,
                stop: fitted.stop,
                metrics: m,
                coverage,
                adaptive: Some(adaptive),
                net: score(&scored.net),
                trees: scored.trees.as_ref().map(score),
                transformer: scored.transformer.as_ref().map(score),
                weights: fitted.ensemble.weights.clone(),
                boost: fitted.boost.clone(),
                class_prior: Some(prior),
                prior: Some(prior_m),
            });
            extend(&mut pooled, &scored.pooled);
            extend(&mut nets, &scored.net);
            if let Some(t) = &scored.trees {
                trees.push(t.clone());
            }
            if let Some(t) = &scored.transformer {
                transformers.push(t.clone());
            }
            all_c.extend(classes);
            all_t.extend(targets);
            if fitted.stop == StopReason::Cancelled {
                return Err(PipelineError::Cancelled);
            }
            if let Some(f) = folds.last()
                && on_fold(f) == Control::Cancel
            {
                return Err(PipelineError::Cancelled);
            }
        }
        let zeros = vec![0.0; all_t.len()];
        let score = |p: &Predictions| metrics::classification(&p.probs, &all_c, &p.moves, &all_t);
        // A member is pooled only when every fold had it.
        let all_folds = |parts: &[Predictions]| {
            (parts.len() == folds.len()).then(|| {
                let mut all = Predictions::default();
                for t in parts {
                    extend(&mut all, t);
                }
                score(&all)
            })
        };
        let (trees, transformer) = (all_folds(&trees), all_folds(&transformers));
        Ok((
            EvaluationReport {
                metrics: score(&pooled),
                net: score(&nets),
                trees,
                transformer,
                folds,
                prior_baseline: metrics::classification(&base_p, &all_c, &zeros, &all_t),
                groups: Vec::new(),
            },
            oos,
        ))
    }
}

struct Fitted {
    ensemble: Ensemble,
    calibrator: Calibrator,
    /// The calibration fold's move scores, ascending (for the adaptive interval).
    move_scores: Vec<f64>,
    boost: Option<BoostReport>,
    history: Vec<EpochReport>,
    best_epoch: usize,
    stop: StopReason,
    fit_samples: usize,
    validation_samples: usize,
    blend_samples: usize,
    purged: usize,
    resumed_from: usize,
}

fn fit_one(
    ds: &Dataset,
    samples: &[Sample],
    cfg: &PipelineConfig,
    backend: Backend,
    checkpoints: Option<Checkpoints>,
    data_hash: &str,
    on_epoch: &mut dyn FnMut(&EpochReport) -> Control,
) -> Result<Fitted, PipelineError> {
    if let Some(t) = &cfg.transformer {
        t.check().map_err(PipelineError::Config)?;
    }
    let pooled = cfg.boost.is_some() || cfg.transformer.is_some();
    let blend_frac = if pooled { cfg.blend_frac } else { 0.0 };
    let h = ds.holdout_with_blend(samples, cfg.val_frac, blend_frac, cfg.calib_frac)?;
    let scaler = ds.fit_scaler(&h.fit)?;
    let trained = train::train(
        ds,
        &scaler,
        &h.fit,
        &h.validation,
        &cfg.train,
        backend,
        checkpoints.as_ref(),
        data_hash,
        on_epoch,
    )?;
    let mut stop = trained.stop;
    let device: Device = backend.device().map_err(TrainError::from)?;
    let mut ensemble = Ensemble {
        net: trained.net,
        scaler,
        trees: None,
        transformer: None,
        weights: None,
    };
    if let Some(tc) = cfg
        .transformer
        .as_ref()
        .filter(|_| stop != StopReason::Cancelled)
    {
        let t = train::train_transformer(
            ds,
            &ensemble.scaler,
            &h.fit,
            &h.validation,
            &cfg.train,
            tc,
            backend,
            checkpoints
                .as_ref()
                .map(|c| Checkpoints {
                    dir: c.dir.join("transformer"),
                })
                .as_ref(),
            data_hash,
            on_epoch,
        )?;
        if t.stop == StopReason::Cancelled {
            stop = StopReason::Cancelled;
        }
        ensemble.transformer = Some(t.net);
    }
    let mut boost = None;
    if let Some(bc) = &cfg.boost {
        let (trees, report) = Boosted::fit(ds, &h.fit, &h.validation, bc)?;
        ensemble.trees = Some(trees);
        boost = Some(report);
    }
    if pooled {
        // Weights from every member on the blend part: recent, and unseen
        // by all (validation stopped their training, so it flatters them).
        let s = ensemble.predict(ds, &h.blend, &device)?;
        let (classes, targets) = targets(ds, &h.blend);
        let members = Members {
            net: &s.net,
            trees: s.trees.as_ref(),
            transformer: s.transformer.as_ref(),
        };
        ensemble.weights = Some(EnsembleWeights::choose(members, &classes, &targets));
    }
    let pred = ensemble.predict(ds, &h.calibration, &device)?.pooled;
    let (classes, targets) = targets(ds, &h.calibration);
    let calibrator = Calibrator::fit(
        &pred.probs,
        &classes,
        &pred.moves,
        &targets,
        cfg.conformal_level,
    )?;
    Ok(Fitted {
        ensemble,
        calibrator,
        move_scores: crate::conformal::move_scores(&pred.moves, &targets),
        boost,
        history: trained.history.clone(),
        best_epoch: trained.best_epoch,
        stop,
        fit_samples: h.fit.len(),
        validation_samples: h.validation.len(),
        blend_samples: h.blend.len(),
        purged: h.purged,
        resumed_from: trained.resumed_from,
    })
}

fn extend(all: &mut Predictions, p: &Predictions) {
    all.probs.extend_from_slice(&p.probs);
    all.moves.extend_from_slice(&p.moves);
}

fn targets(ds: &Dataset, samples: &[Sample]) -> (Vec<u8>, Vec<f32>) {
    samples.iter().map(|s| ds.target(s)).unzip()
}

/// Training class frequencies: the no-skill forecast.
fn class_prior(ds: &Dataset, samples: &[Sample]) -> [f32; 3] {
    let mut counts = [0f32; 3];
    for c in targets(ds, samples).0 {
        counts[c as usize] += 1.0;
    }
    let n = counts.iter().sum::<f32>().max(1.0);
    counts.map(|c| c / n)
}

/// Pooled output + calibration → the engine's prediction.
pub fn to_prediction(p: &[f32; 3], expected_move: f32, cal: &Calibrator) -> Prediction {
    Prediction {
        p_up: p[0] as f64,
        p_neutral: p[1] as f64,
        p_down: p[2] as f64,
        expected_move_pct: expected_move as f64,
        confidence: cal.confidence(p),
    }
}
