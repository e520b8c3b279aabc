//! Training the universal network: weighted cross-entropy + 0.3 × Huber,
//! Adam with reduce-on-plateau, early stopping that restores the best
//! weights, per-epoch progress, cancellation and checkpoints to resume from.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Device, Tensor, TensorData};
use engine::features::Scaler;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::backend::{Backend, BackendError};
use crate::data::{Batch, Dataset, Sample, class_weights};
use crate::metrics::{self, ClassMetrics};
use crate::net::transformer::{SeqTransformer, TransformerConfig};
use crate::net::{NetConfig, Output, SequenceModel, UniversalNet};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    pub net: NetConfig,
    pub batch_size: usize,
    pub max_epochs: usize,
    pub learning_rate: f64,
    /// Reduce-on-plateau: multiply the rate by this after `lr_patience`
    /// epochs without a better validation loss.
    pub lr_factor: f64,
    pub lr_patience: usize,
    pub min_learning_rate: f64,
    /// Stop after this many epochs without a better validation loss.
    pub early_stop_patience: usize,
    pub huber_weight: f64,
    pub huber_delta: f64,
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            net: NetConfig::default(),
            batch_size: 64,
            max_epochs: 80,
            learning_rate: 5e-4,
            lr_factor: 0.5,
            lr_patience: 7,
            min_learning_rate: 1e-6,
            early_stop_patience: 15,
            huber_weight: 0.3,
            huber_delta: 1.0,
            seed: 42,
        }
    }
}

impl TrainConfig {
    /// Identifies a run for checkpoint resumption: same config, same data.
    pub fn fingerprint(&self, data_hash: &str) -> String {
        let mut h = Sha256::new();
        h.update(serde_json::to_vec(self).unwrap_or_default());
        h.update(data_hash.as_bytes());
        format!("{:x}", h.finalize())
    }
}

/// What one epoch did, as published to the job row and the WebSocket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    pub epoch: usize,
    pub max_epochs: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub val_loss: f64,
    pub val_accuracy: f64,
    pub val_balanced_accuracy: f64,
    pub val_log_loss: f64,
    pub val_calibration_error: f64,
    pub learning_rate: f64,
    pub best_epoch: usize,
    pub epoch_seconds: f64,
    /// Seconds left at this pace if training ran to `max_epochs`.
    pub eta_seconds: f64,
}

/// The observer's answer after each epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Continue,
    Cancel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    EarlyStop,
    MaxEpochs,
    Cancelled,
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error("no training samples")]
    NoSamples,
    #[error("no validation samples: early stopping needs a hold-out")]
    NoValidation,
    #[error("the network takes {net} features a bar; the data has {data}")]
    Width { net: usize, data: usize },
    #[error("checkpoint {path}: {message}")]
    Checkpoint { path: PathBuf, message: String },
    #[error("weights {path}: {message}")]
    Weights { path: PathBuf, message: String },
}

/// A finished (or cancelled) training run.
#[derive(Debug)]
pub struct Trained<M = UniversalNet> {
    /// The best weights, ready for inference.
    pub net: M,
    pub history: Vec<EpochReport>,
    pub best_epoch: usize,
    pub stop: StopReason,
    /// Epochs done before this process started (resumed from a checkpoint).
    pub resumed_from: usize,
}

/// Progress kept beside the checkpoint weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CheckpointState {
    fingerprint: String,
    epochs_done: usize,
    learning_rate: f64,
    best_val: f64,
    best_epoch: usize,
    since_best: usize,
    plateau_best: f64,
    since_plateau: usize,
    history: Vec<EpochReport>,
}

/// Where checkpoints of one run live.
#[derive(Debug, Clone)]
pub struct Checkpoints {
    pub dir: PathBuf,
}

impl Checkpoints {
    fn state(&self) -> PathBuf {
        self.dir.join("state.json")
    }
    fn last(&self) -> PathBuf {
        self.dir.join("last.bpk")
    }
    fn best(&self) -> PathBuf {
        self.dir.join("best.bpk")
    }
    fn optim(&self) -> PathBuf {
        self.dir.join("optim.bpk")
    }
    fn err(&self, path: PathBuf, e: impl std::fmt::Display) -> TrainError {
        TrainError::Checkpoint {
            path,
            message: e.to_string(),
        }
    }

    fn load_state(&self, fingerprint: &str) -> Result<Option<CheckpointState>, TrainError> {
        let path = self.state();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.err(path, e)),
        };
        let st: CheckpointState = serde_json::from_str(&text).map_err(|e| self.err(path, e))?;
        // A checkpoint of another config or other data is not ours to resume.
        Ok((st.fingerprint == fingerprint).then_some(st))
    }

    /// Weights and optimizer first, then the state file by rename: a crash
    /// between the two leaves the previous epoch's state pointing at files
    /// that are at least as new, which only repeats one epoch.
    fn save<M: SequenceModel>(
        &self,
        st: &CheckpointState,
        net: &M,
        optim: &ModuleOptimizer,
        best: bool,
    ) -> Result<(), TrainError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| self.err(self.dir.clone(), e))?;
        let tmp = self.dir.join("last.bpk.tmp");
        net.clone()
            .save_file(&tmp)
            .map_err(|e| self.err(tmp.clone(), e))?;
        if best {
            std::fs::copy(&tmp, self.best()).map_err(|e| self.err(self.best(), e))?;
        }
        std::fs::rename(&tmp, self.last()).map_err(|e| self.err(self.last(), e))?;
        optim
            .save(self.optim())
            .map_err(|e| self.err(self.optim(), e))?;
        let tmp = self.dir.join("state.json.tmp");
        let json = serde_json::to_vec_pretty(st).map_err(|e| self.err(tmp.clone(), e))?;
        std::fs::write(&tmp, json).map_err(|e| self.err(tmp.clone(), e))?;
        std::fs::rename(&tmp, self.state()).map_err(|e| self.err(self.state(), e))
    }
}

/// Trains the BiGRU-attention network on `fit`, stops early on
/// `validation`. `data_hash` ties a checkpoint to the data it was made from.
#[allow(clippy::too_many_arguments)]
pub fn train(
    ds: &Dataset,
    scaler: &Scaler,
    fit: &[Sample],
    validation: &[Sample],
    cfg: &TrainConfig,
    backend: Backend,
    checkpoints: Option<&Checkpoints>,
    data_hash: &str,
    on_epoch: &mut dyn FnMut(&EpochReport) -> Control,
) -> Result<Trained, TrainError> {
    let make = |rng: &mut ChaCha8Rng, device: &Device| UniversalNet::new(&cfg.net, rng, device);
    let fingerprint = cfg.fingerprint(data_hash);
    #[rustfmt::skip]
    let run = Run { ds, scaler, fit, validation, cfg, backend, checkpoints, fingerprint };
    train_model(run, &make, on_epoch)
}

/// Trains the sequence transformer with the same schedule, loss and
/// hold-outs as the network (`cfg.net` gives its window and widths in).
#[allow(clippy::too_many_arguments)]
pub fn train_transformer(
    ds: &Dataset,
    scaler: &Scaler,
    fit: &[Sample],
    validation: &[Sample],
    cfg: &TrainConfig,
    transformer: &TransformerConfig,
    backend: Backend,
    checkpoints: Option<&Checkpoints>,
    data_hash: &str,
    on_epoch: &mut dyn FnMut(&EpochReport) -> Control,
) -> Result<Trained<SeqTransformer>, TrainError> {
    let make = |rng: &mut ChaCha8Rng, device: &Device| {
        SeqTransformer::new(&cfg.net, transformer, rng, device)
    };
    let mut h = Sha256::new();
    h.update(cfg.fingerprint(data_hash).as_bytes());
    h.update(serde_json::to_vec(transformer).unwrap_or_default());
    let fingerprint = format!("{:x}", h.finalize());
    #[rustfmt::skip]
    let run = Run { ds, scaler, fit, validation, cfg, backend, checkpoints, fingerprint };
    train_model(run, &make, on_epoch)
}

/// What a training run reads.
struct Run<'a> {
    ds: &'a Dataset,
    scaler: &'a Scaler,
    fit: &'a [Sample],
    validation: &'a [Sample],
    cfg: &'a TrainConfig,
    backend: Backend,
    checkpoints: Option<&'a Checkpoints>,
    fingerprint: String,
}

fn train_model<M: SequenceModel>(
    run: Run<'_>,
    make: &dyn Fn(&mut ChaCha8Rng, &Device) -> M,
    on_epoch: &mut dyn FnMut(&EpochReport) -> Control,
) -> Result<Trained<M>, TrainError> {
    let Run {
        ds,
        scaler,
        fit,
        validation,
        cfg,
        backend,
        checkpoints,
        fingerprint,
    } = run;
    if fit.is_empty() {
        return Err(TrainError::NoSamples);
    }
    if validation.is_empty() {
        return Err(TrainError::NoValidation);
    }
    if cfg.net.features != ds.width() {
        return Err(TrainError::Width {
            net: cfg.net.features,
            data: ds.width(),
        });
    }
    let eval_device = backend.device()?;
    let device = eval_device.clone().autodiff();
    let weights = class_weights(fit.iter().map(|s| ds.target(s).0), cfg.net.classes);

    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut net = make(&mut rng, &device);
    let mut optim = AdamConfig::new().with_epsilon(1e-8).init();
    let mut st = CheckpointState {
        fingerprint: fingerprint.clone(),
        epochs_done: 0,
        learning_rate: cfg.learning_rate,
        best_val: f64::INFINITY,
        best_epoch: 0,
        since_best: 0,
        plateau_best: f64::INFINITY,
        since_plateau: 0,
        history: Vec::new(),
    };
    if let Some(cp) = checkpoints
        && let Some(saved) = cp.load_state(&fingerprint)?
    {
        net = net
            .try_load_file(cp.last())
            .map_err(|e| cp.err(cp.last(), e))?;
        optim = optim.load(cp.optim()).map_err(|e| cp.err(cp.optim(), e))?;
        st = saved;
    }
    let resumed_from = st.epochs_done;

    let mut order: Vec<Sample> = fit.to_vec();
    let mut best_in_memory: Option<M> = None;
    let mut stop = StopReason::MaxEpochs;
    while st.epochs_done < cfg.max_epochs {
        if st.since_best >= cfg.early_stop_patience {
            stop = StopReason::EarlyStop;
            break;
        }
        let epoch = st.epochs_done + 1;
        let started = Instant::now();
        // Each epoch's shuffle and dropout masks derive from (seed, epoch):
        // a resumed run repeats exactly what the interrupted one would have done.
        let epoch_seed = cfg.seed.wrapping_mul(1_000_003).wrapping_add(epoch as u64);
        order.copy_from_slice(fit);
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(epoch_seed));
        device.seed(epoch_seed);

        let (mut loss_sum, mut hits, mut seen) = (0.0f64, 0usize, 0usize);
        for chunk in order.chunks(cfg.batch_size) {
            let batch = ds.batch(chunk, scaler);
            let out = net.forward(input(&batch, cfg, &device));
            let loss = loss(&out, &batch, &weights, cfg, &device);
            loss_sum += loss.clone().into_scalar::<f32>() as f64 * batch.len() as f64;
            hits += correct(&out.logits, &batch);
            seen += batch.len();
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = optim.step(st.learning_rate, net, grads);
        }

        let val = evaluate(
            &net.valid(),
            ds,
            scaler,
            validation,
            cfg,
            &weights,
            &eval_device,
        );
        if val.loss < st.best_val {
            st.best_val = val.loss;
            st.best_epoch = epoch;
            st.since_best = 0;
        } else {
            st.since_best += 1;
        }
        if val.loss < st.plateau_best {
            st.plateau_best = val.loss;
            st.since_plateau = 0;
        } else {
            st.since_plateau += 1;
            if st.since_plateau >= cfg.lr_patience {
                st.learning_rate = (st.learning_rate * cfg.lr_factor).max(cfg.min_learning_rate);
                st.since_plateau = 0;
            }
        }
        let secs = started.elapsed().as_secs_f64();
        let report = EpochReport {
            epoch,
            max_epochs: cfg.max_epochs,
            train_loss: loss_sum / seen.max(1) as f64,
            train_accuracy: hits as f64 / seen.max(1) as f64,
            val_loss: val.loss,
            val_accuracy: val.metrics.accuracy,
            val_balanced_accuracy: val.metrics.balanced_accuracy,
            val_log_loss: val.metrics.log_loss,
            val_calibration_error: val.metrics.calibration_error,
            learning_rate: st.learning_rate,
            best_epoch: st.best_epoch,
            epoch_seconds: secs,
            eta_seconds: secs * (cfg.max_epochs - epoch) as f64,
        };
        st.history.push(report.clone());
        st.epochs_done = epoch;
        let improved = st.best_epoch == epoch;
        match checkpoints {
            Some(cp) => cp.save(&st, &net, &optim, improved)?,
            None if improved => best_in_memory = Some(net.valid()),
            None => {}
        }
        if on_epoch(&report) == Control::Cancel {
            stop = StopReason::Cancelled;
            break;
        }
    }
    if stop == StopReason::MaxEpochs && st.since_best >= cfg.early_stop_patience {
        stop = StopReason::EarlyStop;
    }
    let best = match checkpoints {
        Some(cp) if st.best_epoch > 0 => net
            .try_load_file(cp.best())
            .map_err(|e| cp.err(cp.best(), e))?
            .valid(),
        _ => best_in_memory.unwrap_or_else(|| net.valid()),
    };
    Ok(Trained {
        net: best,
        history: st.history,
        best_epoch: st.best_epoch,
        stop,
        resumed_from,
    })
}

fn input(batch: &Batch, cfg: &TrainConfig, device: &Device) -> Tensor<3> {
    Tensor::from_data(
        TensorData::new(
            batch.x.clone(),
            [batch.len(), cfg.net.window, cfg.net.features],
        ),
        device,
    )
}

/// Class-weighted cross-entropy (weighted mean, as PyTorch's) + w × Huber.
fn loss(
    out: &Output,
    batch: &Batch,
    weights: &[f32],
    cfg: &TrainConfig,
    device: &Device,
) -> Tensor<1> {
    let k = cfg.net.classes;
    let mut w = vec![0f32; batch.len() * k];
    let mut w_sum = 0f64;
    for (i, &c) in batch.class.iter().enumerate() {
        w[i * k + c as usize] = weights[c as usize];
        w_sum += weights[c as usize] as f64;
    }
    let w = Tensor::<2>::from_data(TensorData::new(w, [batch.len(), k]), device);
    let ce = (log_softmax(out.logits.clone(), 1) * w)
        .sum()
        .neg()
        .div_scalar(w_sum.max(f64::MIN_POSITIVE));
    let y = Tensor::<1>::from_data(
        TensorData::new(batch.target_move.clone(), [batch.len()]),
        device,
    );
    let d = (out.expected_move.clone() - y).abs();
    let quad = d.clone().clamp_max(cfg.huber_delta);
    let lin = d - quad.clone();
    let huber = (quad.square().mul_scalar(0.5) + lin.mul_scalar(cfg.huber_delta)).mean();
    ce + huber.mul_scalar(cfg.huber_weight)
}

fn correct(logits: &Tensor<2>, batch: &Batch) -> usize {
    let probs = to_rows(logits.clone());
    probs
        .iter()
        .zip(&batch.class)
        .filter(|(p, c)| metrics::argmax(p) == **c as usize)
        .count()
}

fn to_rows(logits: Tensor<2>) -> Vec<[f32; 3]> {
    let v: Vec<f32> = softmax(logits, 1)
        .into_data()
        .try_into_vec()
        .unwrap_or_default();
    v.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect()
}

/// Network outputs for some windows, on the host.
#[derive(Debug, Clone, Default)]
pub struct Predictions {
    pub probs: Vec<[f32; 3]>,
    pub moves: Vec<f32>,
}

/// Scores the windows ending at `samples`' bars, `batch` at a time.
pub fn predict<M: SequenceModel>(
    net: &M,
    ds: &Dataset,
    scaler: &Scaler,
    samples: &[Sample],
    batch: usize,
    device: &Device,
) -> Predictions {
    let mut p = Predictions::default();
    for chunk in samples.chunks(batch.max(1)) {
        let b = ds.batch(chunk, scaler);
        let n = b.len();
        let x = Tensor::from_data(TensorData::new(b.x, [n, ds.window, ds.width()]), device);
        let out = net.forward(x);
        p.probs.extend(to_rows(out.logits));
        p.moves.extend(
            out.expected_move
                .into_data()
                .try_into_vec::<f32>()
                .unwrap_or_default(),
        );
    }
    p
}

struct Evaluation {
    loss: f64,
    metrics: ClassMetrics,
}

fn evaluate<M: SequenceModel>(
    net: &M,
    ds: &Dataset,
    scaler: &Scaler,
    samples: &[Sample],
    cfg: &TrainConfig,
    weights: &[f32],
    device: &Device,
) -> Evaluation {
    let (mut loss_sum, mut n) = (0.0, 0usize);
    let mut probs = Vec::with_capacity(samples.len());
    let mut moves = Vec::with_capacity(samples.len());
    for chunk in samples.chunks(cfg.batch_size.max(256)) {
        let b = ds.batch(chunk, scaler);
        let out = net.forward(input(&b, cfg, device));
        loss_sum +=
            loss(&out, &b, weights, cfg, device).into_scalar::<f32>() as f64 * b.len() as f64;
        n += b.len();
        probs.extend(to_rows(out.logits));
        moves.extend(
            out.expected_move
                .into_data()
                .try_into_vec::<f32>()
                .unwrap_or_default(),
        );
    }
    let (classes, targets): (Vec<u8>, Vec<f32>) = samples.iter().map(|s| ds.target(s)).unzip();
    Evaluation {
        loss: loss_sum / n.max(1) as f64,
        metrics: metrics::classification(&probs, &classes, &moves, &targets),
    }
}

/// Saves inference weights as safetensors (loads on either backend).
pub fn save_weights<M: SequenceModel>(net: &M, path: &Path) -> Result<(), TrainError> {
    use burn::store::{ModuleSnapshot, SafetensorsStore};
    let mut store = SafetensorsStore::from_file(path);
    net.save_into(&mut store).map_err(|e| TrainError::Weights {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Loads safetensors weights into a network of `cfg`'s shape on `device`.
pub fn load_weights(
    cfg: &NetConfig,
    path: &Path,
    device: &Device,
) -> Result<UniversalNet, TrainError> {
    use burn::store::{ModuleSnapshot, SafetensorsStore};
    let mut net = UniversalNet::new(cfg, &mut ChaCha8Rng::seed_from_u64(0), device);
    let mut store = SafetensorsStore::from_file(path);
    net.load_from(&mut store).map_err(|e| TrainError::Weights {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(net)
}

/// Loads safetensors weights into a transformer of these shapes on `device`.
pub fn load_transformer(
    net: &NetConfig,
    cfg: &TransformerConfig,
    path: &Path,
    device: &Device,
) -> Result<SeqTransformer, TrainError> {
    use burn::store::{ModuleSnapshot, SafetensorsStore};
    let mut t = SeqTransformer::new(net, cfg, &mut ChaCha8Rng::seed_from_u64(0), device);
    let mut store = SafetensorsStore::from_file(path);
    t.load_from(&mut store).map_err(|e| TrainError::Weights {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(t)
}
