//! Gradient-boosted trees (LightGBM) on tabular features: the 18 features of
//! the bar and of a few bars before it, from the same windows the network
//! reads. A multiclass booster gives UP/NEUTRAL/DOWN probabilities and a
//! Huber regressor the expected move, both early-stopped on the validation
//! hold-out.
//!
//! LightGBM rather than a pure-Rust booster: see BENCHMARKS.md "Gradient
//! boosting" for the comparison on our data that decided it.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::data::{Dataset, Sample, class_weights};
use crate::train::Predictions;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BoostConfig {
    /// Bars back whose features join the row (0 = the bar itself).
    pub lags: Vec<usize>,
    pub learning_rate: f64,
    pub num_leaves: usize,
    /// Tree depth cap (−1: none, LightGBM's default; leaves still cap it).
    pub max_depth: i32,
    pub min_data_in_leaf: usize,
    pub feature_fraction: f64,
    pub bagging_fraction: f64,
    pub lambda_l2: f64,
    pub max_rounds: usize,
    /// Rounds without a better validation loss before stopping.
    pub early_stopping_rounds: usize,
    /// Huber δ of the move regressor, percentage points (the network's too).
    pub huber_delta: f64,
    /// Threads LightGBM may use (0: all cores).
    pub threads: usize,
    pub seed: u64,
}

impl Default for BoostConfig {
    fn default() -> Self {
        BoostConfig {
            lags: vec![0, 1, 5, 20],
            learning_rate: 0.05,
            num_leaves: 15,
            max_depth: -1,
            min_data_in_leaf: 50,
            feature_fraction: 0.8,
            bagging_fraction: 0.8,
            lambda_l2: 1.0,
            max_rounds: 500,
            early_stopping_rounds: 50,
            huber_delta: 1.0,
            threads: 0,
            seed: 42,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BoostError {
    #[error("boosted trees: LightGBM: {0}")]
    LightGbm(#[from] lightgbm3::Error),
    #[error(
        "boosted trees: lag {lag} reaches outside the {window}-bar window (set boost.lags below the window)"
    )]
    Lag { lag: usize, window: usize },
    #[error("boosted trees: no {0} samples to fit on")]
    Empty(&'static str),
}

impl BoostConfig {
    /// Column names of the tabular rows over features `names`, e.g. `RSI`
    /// and `RSI_lag5`.
    pub fn columns(&self, names: &[String]) -> Vec<String> {
        self.lags
            .iter()
            .flat_map(|&lag| {
                names.iter().map(move |n| match lag {
                    0 => n.to_string(),
                    _ => format!("{n}_lag{lag}"),
                })
            })
            .collect()
    }

    /// Every lag must fall inside the network's window (rows exist there).
    pub fn check(&self, window: usize) -> Result<(), BoostError> {
        match self.lags.iter().find(|&&l| l >= window) {
            Some(&lag) => Err(BoostError::Lag { lag, window }),
            None => Ok(()),
        }
    }

    fn params(&self, objective: serde_json::Value) -> serde_json::Value {
        let mut p = json!({
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "max_depth": self.max_depth,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": 1,
            "lambda_l2": self.lambda_l2,
            "num_iterations": self.max_rounds,
            "early_stopping_rounds": self.early_stopping_rounds,
            "seed": self.seed,
            "deterministic": true,
            "force_row_wise": true,
            "num_threads": self.threads,
            "verbosity": -1,
        });
        if let (Some(p), Some(o)) = (p.as_object_mut(), objective.as_object()) {
            p.extend(o.clone());
        }
        p
    }
}

/// Raw (unscaled: trees don't care) feature rows of `samples`, row-major.
pub fn rows(ds: &Dataset, samples: &[Sample], lags: &[usize]) -> Vec<f64> {
    let mut out = Vec::with_capacity(samples.len() * lags.len() * ds.width());
    for s in samples {
        let series = &ds.series[s.series as usize];
        for &lag in lags {
            let row = series.rows[s.bar as usize - lag]
                .as_ref()
                .expect("samples end full windows and lags stay inside them");
            out.extend(ds.select(row));
        }
    }
    out
}

/// A LightGBM model with its text form (what the artifact stores).
pub struct Trees {
    text: String,
    booster: lightgbm3::Booster,
}

// SAFETY: a LightGBM booster is a heap object with no thread affinity, and
// its C API takes a shared lock around prediction (c_api.cpp), so moving it
// between threads and predicting from several at once is sound. `Trees`
// exposes no mutation after construction.
#[allow(unsafe_code)]
unsafe impl Send for Trees {}
#[allow(unsafe_code)]
unsafe impl Sync for Trees {}

impl std::fmt::Debug for Trees {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trees")
            .field("rounds", &self.booster.num_iterations())
            .finish()
    }
}

impl Trees {
    pub fn from_text(text: String) -> Result<Trees, BoostError> {
        let booster = lightgbm3::Booster::from_string(&text)?;
        Ok(Trees { text, booster })
    }

    fn from_booster(booster: lightgbm3::Booster) -> Result<Trees, BoostError> {
        Ok(Trees {
            text: booster.save_string()?,
            booster,
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn rounds(&self) -> usize {
        self.booster.num_iterations().max(0) as usize
    }

    fn predict(&self, x: &[f64], columns: usize) -> Result<Vec<f64>, BoostError> {
        if x.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self.booster.predict(x, columns as i32, true)?)
    }
}

/// The trained trees: class probabilities and expected move.
#[derive(Debug)]
pub struct Boosted {
    pub config: BoostConfig,
    pub classifier: Trees,
    pub regressor: Trees,
}

/// How the boosted trees were fitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoostReport {
    pub classifier_rounds: usize,
    pub regressor_rounds: usize,
    pub fit_samples: usize,
    pub validation_samples: usize,
    pub seconds: f64,
}

impl Boosted {
    /// Fits both boosters on `fit`, early-stopping on `validation`.
    /// Classes are weighted like the network's ("balanced").
    pub fn fit(
        ds: &Dataset,
        fit: &[Sample],
        validation: &[Sample],
        cfg: &BoostConfig,
    ) -> Result<(Boosted, BoostReport), BoostError> {
        cfg.check(ds.window)?;
        if fit.is_empty() {
            return Err(BoostError::Empty("fit"));
        }
        if validation.is_empty() {
            return Err(BoostError::Empty("validation"));
        }
        let started = std::time::Instant::now();
        let cols = cfg.lags.len() * ds.width();
        let x_fit = rows(ds, fit, &cfg.lags);
        let x_val = rows(ds, validation, &cfg.lags);
        let (c_fit, m_fit) = labels(ds, fit);
        let (c_val, m_val) = labels(ds, validation);
        let weights = class_weights(c_fit.iter().map(|&c| c as u8), 3);
        let w_fit: Vec<f32> = c_fit.iter().map(|&c| weights[c as usize]).collect();

        let dataset = |y: &[f32], w: Option<&[f32]>| -> Result<_, BoostError> {
            let mut train = lightgbm3::Dataset::from_slice(&x_fit, y, cols as i32, true)?;
            if let Some(w) = w {
                train.set_weights(w)?;
            }
            Ok(train)
        };
        let train = dataset(&c_fit, Some(&w_fit))?;
        let valid = lightgbm3::Dataset::from_slice_with_reference(
            &x_val,
            &c_val,
            cols as i32,
            true,
            Some(&train),
        )?;
        let classifier = lightgbm3::Booster::train_with_valid(
            train,
            Some(valid),
            &cfg.params(
                json!({"objective": "multiclass", "num_class": 3, "metric": "multi_logloss"}),
            ),
        )?;
        let train = dataset(&m_fit, None)?;
        let valid = lightgbm3::Dataset::from_slice_with_reference(
            &x_val,
            &m_val,
            cols as i32,
            true,
            Some(&train),
        )?;
        let regressor = lightgbm3::Booster::train_with_valid(
            train,
            Some(valid),
            &cfg.params(json!({"objective": "huber", "alpha": cfg.huber_delta, "metric": "huber"})),
        )?;
        let b = Boosted {
            config: cfg.clone(),
            classifier: Trees::from_booster(classifier)?,
            regressor: Trees::from_booster(regressor)?,
        };
        let report = BoostReport {
            classifier_rounds: b.classifier.rounds(),
            regressor_rounds: b.regressor.rounds(),
            fit_samples: fit.len(),
            validation_samples: validation.len(),
            seconds: started.elapsed().as_secs_f64(),
        };
        Ok((b, report))
    }

    pub fn predict(&self, ds: &Dataset, samples: &[Sample]) -> Result<Predictions, BoostError> {
        let cols = self.config.lags.len() * ds.width();
        let x = rows(ds, samples, &self.config.lags);
        let p = self.classifier.predict(&x, cols)?;
        let m = self.regressor.predict(&x, cols)?;
        Ok(Predictions {
            probs: p
                .chunks_exact(3)
                .map(|c| [c[0] as f32, c[1] as f32, c[2] as f32])
                .collect(),
            moves: m.iter().map(|&v| v as f32).collect(),
        })
    }
}

impl Boosted {
    /// Why the trees expect the move they do for `sample`: each feature's
    /// SHAP contribution (LightGBM's TreeSHAP) to the expected move, in
    /// percentage points, summed over its lags, largest first.
    pub fn move_contributions(
        &self,
        ds: &Dataset,
        sample: &Sample,
    ) -> Result<Vec<(String, f64)>, BoostError> {
        let cols = self.config.lags.len() * ds.width();
        let x = rows(ds, std::slice::from_ref(sample), &self.config.lags);
        let c = self
            .regressor
            .booster
            .predict_contrib(&x, cols as i32, true)?;
        let width = ds.width();
        let mut by_feature = vec![0.0f64; width];
        // cols contributions, then the bias (the expected value of the model).
        for (j, v) in c.iter().take(cols).enumerate() {
            by_feature[j % width] += v;
        }
        let mut out: Vec<(String, f64)> = ds.names.iter().cloned().zip(by_feature).collect();
        out.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
        Ok(out)
    }
}

fn labels(ds: &Dataset, samples: &[Sample]) -> (Vec<f32>, Vec<f32>) {
    samples
        .iter()
        .map(|s| {
            let (c, m) = ds.target(s);
            (c as f32, m)
        })
        .unzip()
}
