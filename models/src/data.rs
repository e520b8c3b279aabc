//! Samples for the sequence model: 60-bar windows of the 18 features over
//! several symbols, their targets, and time-aligned splits.
//!
//! Each series keeps its raw feature rows once; a batch copies and scales
//! only the windows it holds, so memory is one copy of the features plus one
//! batch, whatever the window length.

use engine::features::{self, COUNT, Scaler, ScalerError};
use engine::labels::{self, Direction};
use engine::walkforward::{self, WalkForwardConfig, WalkForwardError};
use engine::{Candle, TimeMs, Timeframe};
use serde::{Deserialize, Serialize};

/// How targets are made from future bars.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// Bars ahead whose close decides the label and the regression target.
    pub horizon: usize,
    /// UP above +threshold %, DOWN below −threshold %, NEUTRAL between.
    pub threshold_pct: f64,
}

impl TargetConfig {
    /// About one day ahead on any timeframe (1 bar on 1d, 96 on 15m).
    pub fn for_timeframe(tf: Timeframe) -> TargetConfig {
        let day = 24 * 3_600_000;
        TargetConfig {
            horizon: (day / tf.duration_ms()).max(1) as usize,
            threshold_pct: labels::DIRECTION_THRESHOLD_PCT,
        }
    }
}

/// One series as the model sees it.
#[derive(Debug, Clone)]
pub struct Series {
    pub symbol: String,
    pub times: Vec<TimeMs>,
    /// Raw feature rows, `None` while warming up or when a value was bad.
    pub rows: Vec<Option<[f64; COUNT]>>,
    /// (class index, forward return %) where the future is known.
    pub targets: Vec<Option<(u8, f32)>>,
    /// Bars dropped because a feature was not finite.
    pub bad_rows: usize,
}

impl Series {
    pub fn new(symbol: &str, tf: Timeframe, candles: &[Candle], target: TargetConfig) -> Series {
        let fs = features::compute(symbol, tf, candles);
        let fwd = labels::forward_return(candles, target.horizon);
        Series {
            symbol: symbol.to_string(),
            times: candles.iter().map(|c| c.open_time).collect(),
            rows: fs.bars.iter().map(|b| b.features.ok()).collect(),
            targets: fwd
                .iter()
                .map(|r| {
                    r.map(|r| {
                        let d = Direction::from_return(r, target.threshold_pct);
                        (d.index() as u8, r as f32)
                    })
                })
                .collect(),
            bad_rows: fs.bad.len(),
        }
    }

    /// Bars that end a full window of usable rows (the model can score them).
    pub fn window_ends(&self, window: usize) -> Vec<usize> {
        let mut ends = Vec::new();
        let mut run = 0usize;
        for (i, r) in self.rows.iter().enumerate() {
            run = if r.is_some() { run + 1 } else { 0 };
            if run >= window {
                ends.push(i);
            }
        }
        ends
    }
}

/// A window ending at `bar` of series `series`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub series: u32,
    pub bar: u32,
    /// Position of the bar's time on the merged timeline.
    pub at: u32,
    /// First timeline position at or after the bar the label reads last.
    pub label_end: u32,
}

/// Every labelled window of several series on one merged timeline.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub series: Vec<Series>,
    pub window: usize,
    pub horizon: usize,
    /// Labelled windows in time order (every window, for [`Dataset::for_inference`]).
    pub samples: Vec<Sample>,
    /// Distinct bar times of all samples, ascending (empty for inference).
    pub timeline: Vec<TimeMs>,
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error(
        "no labelled {window}-bar windows in {symbols}: need at least {window} bars of features plus {horizon} ahead"
    )]
    Empty {
        symbols: String,
        window: usize,
        horizon: usize,
    },
    #[error("walk-forward split: {0}")]
    Split(#[from] WalkForwardError),
    #[error("scaler: {0}")]
    Scaler(#[from] ScalerError),
    #[error("hold-out: {0}")]
    Holdout(String),
}

impl Dataset {
    pub fn new(series: Vec<Series>, window: usize, horizon: usize) -> Result<Dataset, DataError> {
        let mut raw: Vec<(u32, u32, TimeMs, TimeMs)> = Vec::new();
        for (k, s) in series.iter().enumerate() {
            for end in s.window_ends(window) {
                if s.targets[end].is_some() {
                    let label_time = s.times[(end + horizon).min(s.times.len() - 1)];
                    raw.push((k as u32, end as u32, s.times[end], label_time));
                }
            }
        }
        if raw.is_empty() {
            return Err(DataError::Empty {
                symbols: series
                    .iter()
                    .map(|s| s.symbol.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                window,
                horizon,
            });
        }
        let mut timeline: Vec<TimeMs> = raw.iter().map(|r| r.2).collect();
        timeline.sort_unstable();
        timeline.dedup();
        let pos = |t: TimeMs| timeline.partition_point(|&x| x < t) as u32;
        let mut samples: Vec<Sample> = raw
            .iter()
            .map(|&(series, bar, t, lt)| Sample {
                series,
                bar,
                at: pos(t),
                label_end: pos(lt),
            })
            .collect();
        samples.sort_by_key(|s| (s.at, s.series));
        Ok(Dataset {
            series,
            window,
            horizon,
            samples,
            timeline,
        })
    }

    /// The widest label reach in timeline steps: the purge distance.
    pub fn timeline_horizon(&self) -> usize {
        self.samples
            .iter()
            .map(|s| (s.label_end - s.at) as usize)
            .max()
            .unwrap_or(0)
            .max(1)
    }

    /// Purged walk-forward folds over the merged timeline, as sample sets.
    pub fn folds(&self, cfg: &WalkForwardConfig) -> Result<Vec<SampleFold>, DataError> {
        let cfg = WalkForwardConfig {
            label_horizon: self.timeline_horizon(),
            ..*cfg
        };
        let folds = walkforward::split(self.timeline.len(), &cfg)?;
        Ok(folds
            .into_iter()
            .map(|f| {
                let in_train = |at: u32| f.train.iter().any(|r| r.contains(&(at as usize)));
                SampleFold {
                    index: f.index,
                    train: self
                        .samples
                        .iter()
                        .copied()
                        .filter(|s| in_train(s.at))
                        .collect(),
                    test: self
                        .samples
                        .iter()
                        .copied()
                        .filter(|s| f.test.contains(&(s.at as usize)))
                        .collect(),
                    purged: f.purged,
                    embargoed: f.embargoed,
                }
            })
            .collect())
    }

    /// Splits time-ordered training samples into fit | validation |
    /// calibration by time, purging samples whose label reaches the next part.
    pub fn holdout(
        &self,
        samples: &[Sample],
        val_frac: f64,
        calib_frac: f64,
    ) -> Result<Holdout, DataError> {
        let mut ats: Vec<u32> = samples.iter().map(|s| s.at).collect();
        ats.sort_unstable();
        ats.dedup();
        let n = ats.len();
        let n_cal = ((n as f64) * calib_frac).round() as usize;
        let n_val = ((n as f64) * val_frac).round() as usize;
        if n_val == 0 || n < n_val + n_cal + 2 * self.timeline_horizon() + 1 {
            return Err(DataError::Holdout(format!(
                "{n} training time steps are too few for a {:.0} % validation and {:.0} % calibration hold-out with a {}-step purge",
                val_frac * 100.0,
                calib_frac * 100.0,
                self.timeline_horizon()
            )));
        }
        let cal_start = if n_cal > 0 { ats[n - n_cal] } else { u32::MAX };
        let val_start = ats[n - n_cal - n_val];
        let mut h = Holdout::default();
        for &s in samples {
            if s.at >= cal_start {
                h.calibration.push(s);
            } else if s.at >= val_start {
                if s.label_end < cal_start {
                    h.validation.push(s);
                } else {
                    h.purged += 1;
                }
            } else if s.label_end < val_start {
                h.fit.push(s);
            } else {
                h.purged += 1;
            }
        }
        Ok(h)
    }

    /// Fits the feature scaler on the rows of `samples` (training rows only).
    pub fn fit_scaler(&self, samples: &[Sample]) -> Result<Scaler, DataError> {
        let rows = samples.iter().filter_map(|s| {
            self.series[s.series as usize].rows[s.bar as usize]
                .as_ref()
                .map(|r| r.as_slice())
        });
        Ok(Scaler::fit(&features::NAMES, rows)?)
    }

    /// Copies and scales the windows of `samples` into one batch.
    pub fn batch(&self, samples: &[Sample], scaler: &Scaler) -> Batch {
        let mut b = Batch::with_capacity(samples.len(), self.window);
        for s in samples {
            let series = &self.series[s.series as usize];
            push_window(&mut b.x, series, s.bar as usize, self.window, scaler);
            let (class, ret) = self.target(s);
            b.class.push(class);
            b.target_move.push(ret);
        }
        b
    }

    /// (class, forward return %) of a sample; NEUTRAL and 0 for an
    /// unlabelled window (inference), which no loss or metric reads.
    pub fn target(&self, s: &Sample) -> (u8, f32) {
        self.series[s.series as usize].targets[s.bar as usize].unwrap_or((1, 0.0))
    }

    /// Every full window of one series, labelled or not: for scoring.
    pub fn for_inference(series: Series, window: usize, horizon: usize) -> Dataset {
        let samples = series
            .window_ends(window)
            .into_iter()
            .enumerate()
            .map(|(k, bar)| Sample {
                series: 0,
                bar: bar as u32,
                at: k as u32,
                label_end: k as u32,
            })
            .collect();
        Dataset {
            series: vec![series],
            window,
            horizon,
            samples,
            timeline: Vec::new(),
        }
    }
}

/// Copies the window ending at `end` into `out`, scaled: `window × COUNT` values.
pub fn push_window(
    out: &mut Vec<f32>,
    series: &Series,
    end: usize,
    window: usize,
    scaler: &Scaler,
) {
    for i in end + 1 - window..=end {
        let row = series.rows[i]
            .as_ref()
            .expect("window_ends only yields full windows");
        for (j, &v) in row.iter().enumerate() {
            let z =
                ((v - scaler.mean[j]) / scaler.std[j]).clamp(-scaler.clip_sigma, scaler.clip_sigma);
            out.push(z as f32);
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct SampleFold {
    pub index: usize,
    pub train: Vec<Sample>,
    pub test: Vec<Sample>,
    pub purged: usize,
    pub embargoed: usize,
}

/// Training samples split by time for early stopping and calibration.
#[derive(Debug, Clone, Default)]
pub struct Holdout {
    pub fit: Vec<Sample>,
    pub validation: Vec<Sample>,
    pub calibration: Vec<Sample>,
    pub purged: usize,
}

/// A batch on the host: `x` is `[len, window, COUNT]` row-major.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub x: Vec<f32>,
    pub class: Vec<u8>,
    pub target_move: Vec<f32>,
}

impl Batch {
    fn with_capacity(n: usize, window: usize) -> Batch {
        Batch {
            x: Vec::with_capacity(n * window * COUNT),
            class: Vec::with_capacity(n),
            target_move: Vec::with_capacity(n),
        }
    }

    /// Samples in the batch.
    pub fn len(&self) -> usize {
        self.class.len()
    }

    pub fn is_empty(&self) -> bool {
        self.class.is_empty()
    }
}

/// Class weights n / (k · n_c) from training labels ("balanced"); 0 for an absent class.
pub fn class_weights(classes: impl Iterator<Item = u8>, k: usize) -> Vec<f32> {
    let mut counts = vec![0usize; k];
    let mut n = 0usize;
    for c in classes {
        counts[c as usize] += 1;
        n += 1;
    }
    counts
        .iter()
        .map(|&c| {
            if c == 0 {
                0.0
            } else {
                n as f32 / (k * c) as f32
            }
        })
        .collect()
}
