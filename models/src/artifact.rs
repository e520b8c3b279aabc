//! A trained model as files: network weights (safetensors), boosted trees
//! (LightGBM text), transformer weights (safetensors), ensemble weights, scaler, calibrator, config, metrics,
//! training history, and a manifest with SHA-256 hashes of each. Loading checks every hash, so a changed or truncated file is
//! refused by name rather than served.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use engine::features::Scaler;
use engine::signals::Prediction;
use engine::{TimeMs, Timeframe};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::backend::{Backend, BackendError};
use crate::boost::{BoostError, Boosted, Trees};
use crate::conformal::Calibrator;
use crate::data::{AltInputs, Dataset, Series, TargetConfig, feature_names};
use crate::ensemble::{Ensemble, EnsembleWeights};
use crate::net::NetConfig;
use crate::pipeline::{PipelineConfig, to_prediction};
use crate::train::{self, TrainError};

pub const WEIGHTS: &str = "weights.safetensors";
pub const SCALER: &str = "scaler.json";
pub const CALIBRATOR: &str = "calibrator.json";
pub const CONFIG: &str = "config.json";
pub const METRICS: &str = "metrics.json";
pub const HISTORY: &str = "history.json";
pub const MANIFEST: &str = "manifest.json";
pub const TREES_CLASSIFIER: &str = "trees_classifier.txt";
pub const TREES_REGRESSOR: &str = "trees_regressor.txt";
pub const ENSEMBLE: &str = "ensemble.json";
pub const TRANSFORMER: &str = "transformer.safetensors";

/// What the model is and what it was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub architecture: String,
    /// "universal" or the one symbol of a per-symbol model.
    pub scope: String,
    pub timeframe: Timeframe,
    pub features: Vec<String>,
    pub net: NetConfig,
    pub target: TargetConfig,
    pub pipeline: PipelineConfig,
    pub backend: Backend,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataRange {
    pub symbols: Vec<String>,
    pub from: TimeMs,
    pub to: TimeMs,
    pub samples: usize,
    /// SHA-256 of the candles trained on.
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub created_at: TimeMs,
    pub code_version: String,
    pub data: DataRange,
    pub files: Vec<FileEntry>,
    /// SHA-256 over the files' names and hashes: the artifact's identity.
    pub sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    #[error("{path}: SHA-256 {actual} differs from the manifest's {expected}")]
    Tampered {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error(transparent)]
    Weights(#[from] TrainError),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error("{path}: {source}")]
    Trees { path: PathBuf, source: BoostError },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ArtifactError + '_ {
    move |source| ArtifactError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

pub fn sha256_file(path: &Path) -> Result<(u64, String), ArtifactError> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    Ok((bytes.len() as u64, sha256_hex(&bytes)))
}

/// Everything a model directory holds, before it is written.
#[derive(Debug)]
pub struct ArtifactParts<'a> {
    pub ensemble: &'a Ensemble,
    pub calibrator: &'a Calibrator,
    pub config: &'a ModelConfig,
    pub metrics: &'a serde_json::Value,
    pub history: &'a serde_json::Value,
    pub data: DataRange,
    pub code_version: String,
    pub created_at: TimeMs,
}

/// Writes the model into `dir` (created) and returns its manifest.
pub fn write(dir: &Path, parts: ArtifactParts<'_>) -> Result<Manifest, ArtifactError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let e = parts.ensemble;
    train::save_weights(&e.net, &dir.join(WEIGHTS))?;
    write_json(dir, SCALER, &e.scaler)?;
    write_json(dir, CALIBRATOR, parts.calibrator)?;
    write_json(dir, CONFIG, parts.config)?;
    write_json(dir, METRICS, parts.metrics)?;
    write_json(dir, HISTORY, parts.history)?;
    let mut names = vec![WEIGHTS, SCALER, CALIBRATOR, CONFIG, METRICS, HISTORY];
    if let Some(trees) = &e.trees {
        for (name, t) in [
            (TREES_CLASSIFIER, &trees.classifier),
            (TREES_REGRESSOR, &trees.regressor),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, t.text()).map_err(io(&path))?;
        }
        names.extend([TREES_CLASSIFIER, TREES_REGRESSOR]);
    }
    if let Some(t) = &e.transformer {
        train::save_weights(t, &dir.join(TRANSFORMER))?;
        names.push(TRANSFORMER);
    }
    if let Some(weights) = &e.weights {
        write_json(dir, ENSEMBLE, weights)?;
        names.push(ENSEMBLE);
    }
    let mut files = Vec::new();
    for name in names {
        let (bytes, sha256) = sha256_file(&dir.join(name))?;
        files.push(FileEntry {
            path: name.to_string(),
            bytes,
            sha256,
        });
    }
    let manifest = Manifest {
        created_at: parts.created_at,
        code_version: parts.code_version,
        data: parts.data,
        sha256: identity(&files),
        files,
    };
    write_json(dir, MANIFEST, &manifest)?;
    Ok(manifest)
}

fn identity(files: &[FileEntry]) -> String {
    let mut h = Sha256::new();
    for f in files {
        h.update(f.path.as_bytes());
        h.update([0]);
        h.update(f.sha256.as_bytes());
        h.update([0]);
    }
    format!("{:x}", h.finalize())
}

fn write_json<T: Serialize>(dir: &Path, name: &str, value: &T) -> Result<(), ArtifactError> {
    let path = dir.join(name);
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| ArtifactError::Format {
        path: path.clone(),
        message: e.to_string(),
    })?;
    std::fs::write(&path, bytes).map_err(io(&path))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ArtifactError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    serde_json::from_str(&text).map_err(|e| ArtifactError::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Reads and verifies a manifest: every file's hash and the identity.
pub fn verify(dir: &Path) -> Result<Manifest, ArtifactError> {
    let manifest: Manifest = read_json(&dir.join(MANIFEST))?;
    for f in &manifest.files {
        let path = dir.join(&f.path);
        let (_, actual) = sha256_file(&path)?;
        if actual != f.sha256 {
            return Err(ArtifactError::Tampered {
                path,
                expected: f.sha256.clone(),
                actual,
            });
        }
    }
    let actual = identity(&manifest.files);
    if actual != manifest.sha256 {
        return Err(ArtifactError::Tampered {
            path: dir.join(MANIFEST),
            expected: manifest.sha256.clone(),
            actual,
        });
    }
    Ok(manifest)
}

/// The directory as a ZIP whose bytes depend only on the files' contents
/// (sorted names, fixed timestamps), so its SHA-256 tells clients whether
/// the model they hold is the current one. Verifies the directory first.
pub fn zip(dir: &Path) -> Result<Vec<u8>, ArtifactError> {
    use std::io::Write;
    use zip::write::SimpleFileOptions;
    let manifest = verify(dir)?;
    let mut names: Vec<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
    names.push(MANIFEST);
    names.sort_unstable();
    let zip_err = |e: zip::result::ZipError| ArtifactError::Format {
        path: dir.to_path_buf(),
        message: format!("zip: {e}"),
    };
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644);
    for name in names {
        let path = dir.join(name);
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        w.start_file(name, opts).map_err(zip_err)?;
        w.write_all(&bytes).map_err(io(&path))?;
    }
    Ok(w.finish().map_err(zip_err)?.into_inner())
}

/// One feature's share of a prediction (SHAP value on the expected move, in
/// percentage points: positive pushes the move up).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Driver {
    pub feature: String,
    pub value: f64,
}

/// The model's word on the newest bar.
#[derive(Debug, Clone, PartialEq)]
pub struct LatestPrediction {
    /// Index of the candle it is for (the last one).
    pub bar: usize,
    pub prediction: Prediction,
    /// The conformal prediction set at `level` (e.g. `["UP", "NEUTRAL"]`).
    pub set: Vec<&'static str>,
    /// The conformal interval of the expected move at `level`, percent.
    pub move_interval: (f64, f64),
    pub level: f64,
    /// The largest contributions of the trees to the expected move; empty
    /// for a network-only model (it has no attribution).
    pub drivers: Vec<Driver>,
}

/// A verified model ready to score candles.
#[derive(Debug)]
pub struct LoadedModel {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub config: ModelConfig,
    pub ensemble: Ensemble,
    pub calibrator: Calibrator,
    device: Device,
}

impl LoadedModel {
    pub fn load(dir: &Path, backend: Backend) -> Result<LoadedModel, ArtifactError> {
        let manifest = verify(dir)?;
        let config: ModelConfig = read_json(&dir.join(CONFIG))?;
        let computed = feature_names(&config.pipeline.groups);
        if config.features != computed {
            return Err(ArtifactError::Format {
                path: dir.join(CONFIG),
                message: format!(
                    "trained on features {:?}; this build computes {computed:?}",
                    config.features
                ),
            });
        }
        let device = backend.device()?;
        let net = train::load_weights(&config.net, &dir.join(WEIGHTS), &device)?;
        let trees = match &config.pipeline.boost {
            Some(bc) => {
                let load = |name: &str| {
                    let path = dir.join(name);
                    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
                    Trees::from_text(text).map_err(|source| ArtifactError::Trees { path, source })
                };
                Some(Boosted {
                    config: bc.clone(),
                    classifier: load(TREES_CLASSIFIER)?,
                    regressor: load(TREES_REGRESSOR)?,
                })
            }
            None => None,
        };
        let transformer = match &config.pipeline.transformer {
            Some(tc) => Some(train::load_transformer(
                &config.net,
                tc,
                &dir.join(TRANSFORMER),
                &device,
            )?),
            None => None,
        };
        let weights: Option<EnsembleWeights> = match trees.is_some() || transformer.is_some() {
            true => Some(read_json(&dir.join(ENSEMBLE))?),
            false => None,
        };
        Ok(LoadedModel {
            dir: dir.to_path_buf(),
            ensemble: Ensemble {
                net,
                scaler: read_json::<Scaler>(&dir.join(SCALER))?,
                trees,
                transformer,
                weights,
            },
            calibrator: read_json(&dir.join(CALIBRATOR))?,
            manifest,
            config,
            device,
        })
    }

    /// Each member's and the pooled predictions for `samples` of `ds`.
    pub fn score(
        &self,
        ds: &Dataset,
        samples: &[crate::data::Sample],
    ) -> Result<crate::ensemble::Scored, ArtifactError> {
        self.ensemble
            .predict(ds, samples, &self.device)
            .map_err(|source| ArtifactError::Trees {
                path: self.dir.join(TREES_CLASSIFIER),
                source,
            })
    }

    /// The series as this model reads it: its feature groups from `alt`.
    fn series(&self, symbol: &str, candles: &[engine::Candle], alt: &AltInputs) -> Series {
        Series::with_groups(
            symbol,
            self.config.timeframe,
            candles,
            self.config.target,
            &self.config.pipeline.groups,
            alt,
        )
    }

    /// The prediction at the last candle (the bar that just closed), with
    /// its conformal set and move interval and what drove it; `None` when
    /// the series is too short for one full window of features. `alt`: the
    /// symbol's alternative data when the model reads feature groups.
    pub fn predict_last(
        &self,
        symbol: &str,
        candles: &[engine::Candle],
        alt: &AltInputs,
    ) -> Result<Option<LatestPrediction>, ArtifactError> {
        let series = self.series(symbol, candles, alt);
        let mut ds =
            Dataset::for_inference(series, self.config.net.window, self.config.target.horizon);
        let Some(&last) = ds.samples.last() else {
            return Ok(None);
        };
        if last.bar as usize + 1 != candles.len() {
            // The newest bar has no features (a bad value): nothing to say about it.
            return Ok(None);
        }
        ds.samples = vec![last];
        let scored = self.score(&ds, &ds.samples)?;
        let probs = scored.pooled.probs[0];
        let mv = scored.pooled.moves[0];
        let set = self.calibrator.set_names(&probs);
        let drivers = match &self.ensemble.trees {
            Some(trees) => trees
                .move_contributions(&ds, &last)
                .map_err(|source| ArtifactError::Trees {
                    path: self.dir.join(TREES_REGRESSOR),
                    source,
                })?
                .into_iter()
                .take(5)
                .map(|(feature, value)| Driver { feature, value })
                .collect(),
            None => Vec::new(),
        };
        Ok(Some(LatestPrediction {
            bar: last.bar as usize,
            prediction: to_prediction(&probs, mv, &self.calibrator),
            set,
            move_interval: self.calibrator.interval(mv),
            level: self.calibrator.level,
            drivers,
        }))
    }

    /// One prediction per candle: `None` where no full window of features exists.
    pub fn predict_series(
        &self,
        symbol: &str,
        candles: &[engine::Candle],
        alt: &AltInputs,
    ) -> Result<Vec<Option<Prediction>>, ArtifactError> {
        let series = self.series(symbol, candles, alt);
        let ds = Dataset::for_inference(series, self.config.net.window, self.config.target.horizon);
        let pred = self.score(&ds, &ds.samples)?.pooled;
        let mut out = vec![None; candles.len()];
        for (i, s) in ds.samples.iter().enumerate() {
            out[s.bar as usize] = Some(to_prediction(
                &pred.probs[i],
                pred.moves[i],
                &self.calibrator,
            ));
        }
        Ok(out)
    }
}
