//! Samples for the sequence model: 60-bar windows of the 18 features (and
//! any optional feature groups) over several symbols, their targets, and
//! time-aligned splits.
//!
//! Each series keeps its raw feature rows once; a batch copies and scales
//! only the windows it holds, so memory is one copy of the features plus one
//! batch, whatever the window length. A dataset reads a selection of the
//! columns, so the same samples can be scored with and without a group.

use engine::altdata::{self, macro_series, sentiment};
use engine::features::{self, Scaler, ScalerError};
use engine::labels::{self, Direction};
use engine::walkforward::{self, WalkForwardConfig, WalkForwardError};
use engine::{Candle, TimeMs, Timeframe};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// How targets are made from future bars.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// Bars ahead whose close decides the label and the regression target.
    pub horizon: usize,
    /// UP above +threshold %, DOWN below −threshold %, NEUTRAL between.
    pub threshold_pct: f64,
    /// Label by the triple barrier instead (the engine's): UP when the
    /// upper barrier (`upper` ATRs above the close) is touched first, DOWN
    /// for the lower one, NEUTRAL when neither is within `horizon` bars;
    /// the regression target is the return to the barrier hit.
    #[serde(default)]
    pub barrier: Option<BarrierTarget>,
}

/// The triple barrier's widths in ATR(14) of the entry bar.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BarrierTarget {
    pub upper_atr: f64,
    pub lower_atr: f64,
}

impl BarrierTarget {
    /// "2,1": upper and lower widths in ATRs.
    pub fn parse(s: &str) -> Result<BarrierTarget, String> {
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        let width = |p: &str| match p.parse::<f64>() {
            Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
            _ => Err(format!(
                "barrier widths: positive ATR multiples like 2,1 (got {s:?})"
            )),
        };
        match parts.as_slice() {
            [u, l] => Ok(BarrierTarget {
                upper_atr: width(u)?,
                lower_atr: width(l)?,
            }),
            _ => Err(format!(
                "barrier widths: upper,lower in ATRs like 2,1 (got {s:?})"
            )),
        }
    }
}

impl TargetConfig {
    /// About one day ahead on any timeframe (1 bar on 1d, 96 on 15m).
    pub fn for_timeframe(tf: Timeframe) -> TargetConfig {
        TargetConfig {
            horizon: labels::day_horizon(tf),
            threshold_pct: labels::DIRECTION_THRESHOLD_PCT,
            barrier: None,
        }
    }
}

/// Inputs beside the technical features, chosen by name in
/// [`crate::pipeline::PipelineConfig::groups`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureGroup {
    /// News and social sentiment about the symbol (mean score, mention
    /// count, abnormal mention volume), counted from publish time.
    Sentiment,
    /// CPI, fed funds, the 10-year yield, VIX and unemployment as released.
    Macro,
    /// The market's context from the bars themselves: each higher
    /// timeframe's trend (close vs its SMA-20, %) and RSI-14, as of its last
    /// closed bar, and the regime (uptrend, downtrend, range) one-hot.
    Context,
}

/// Higher timeframes the context group has columns for (the engine's
/// first ones for the base: 1h, 4h, 1d on 15m bars; none above 1d).
const CONTEXT_HTFS: usize = 3;

impl FeatureGroup {
    pub const ALL: [FeatureGroup; 3] = [
        FeatureGroup::Sentiment,
        FeatureGroup::Macro,
        FeatureGroup::Context,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FeatureGroup::Sentiment => "sentiment",
            FeatureGroup::Macro => "macro",
            FeatureGroup::Context => "context",
        }
    }

    pub fn parse(s: &str) -> Result<FeatureGroup, String> {
        Self::ALL
            .into_iter()
            .find(|g| g.name() == s.trim())
            .ok_or_else(|| format!("no feature group {s:?}; there are: sentiment, macro, context"))
    }

    /// The group's column names, in row order.
    pub fn columns(self) -> Vec<String> {
        match self {
            FeatureGroup::Sentiment => altdata::SENTIMENT_COLUMNS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            FeatureGroup::Macro => altdata::macro_columns(),
            FeatureGroup::Context => (1..=CONTEXT_HTFS)
                .flat_map(|k| [format!("HTF{k} trend %"), format!("HTF{k} RSI")])
                .chain(["regime up", "regime down", "regime range"].map(String::from))
                .collect(),
        }
    }
}

/// Every column of rows made with `groups`: the 18 technical features, then
/// each group's columns in the order given.
pub fn feature_names(groups: &[FeatureGroup]) -> Vec<String> {
    let mut names: Vec<String> = features::NAMES.iter().map(|s| s.to_string()).collect();
    for g in groups {
        names.extend(g.columns());
    }
    names
}

/// A bar's context columns. A higher timeframe without enough history yet
/// (or none above the base) reads as flat: trend 0 %, RSI 50.
fn context_row(b: &features::BarFeatures) -> Vec<f64> {
    let mut row = Vec::with_capacity(2 * CONTEXT_HTFS + 3);
    for k in 0..CONTEXT_HTFS {
        let v = b.htf.get(k).copied().flatten();
        let finite = |x: f64, flat: f64| if x.is_finite() { x } else { flat };
        row.push(v.map_or(0.0, |v| finite(v.trend_pct, 0.0)));
        row.push(v.map_or(50.0, |v| finite(v.rsi, 50.0)));
    }
    let r = b.regime;
    for want in [
        features::Regime::Uptrend,
        features::Regime::Downtrend,
        features::Regime::Range,
    ] {
        row.push(f64::from(u8::from(r == Some(want))));
    }
    row
}

/// The alternative data of one series: its symbol's scored items and the
/// macro series (by FRED id), as stored.
#[derive(Debug, Clone, Default)]
pub struct AltInputs {
    pub sentiment: Vec<sentiment::Item>,
    pub macro_series: Vec<(String, Vec<macro_series::Observation>)>,
}

/// One series as the model sees it.
#[derive(Debug, Clone)]
pub struct Series {
    pub symbol: String,
    pub times: Vec<TimeMs>,
    /// The groups whose columns follow the technical features in each row.
    pub groups: Vec<FeatureGroup>,
    /// Raw feature rows, `None` while warming up or when a technical value
    /// was bad (group columns are always finite).
    pub rows: Vec<Option<Box<[f64]>>>,
    /// (class index, forward return %) where the future is known.
    pub targets: Vec<Option<(u8, f32)>>,
    /// Bars dropped because a feature was not finite.
    pub bad_rows: usize,
}

impl Series {
    pub fn new(symbol: &str, tf: Timeframe, candles: &[Candle], target: TargetConfig) -> Series {
        Self::with_groups(symbol, tf, candles, target, &[], &AltInputs::default())
    }

    /// With the columns of `groups` after the technical features, from `alt`
    /// (each joined by when it became known: nothing after a bar's close).
    pub fn with_groups(
        symbol: &str,
        tf: Timeframe,
        candles: &[Candle],
        target: TargetConfig,
        groups: &[FeatureGroup],
        alt: &AltInputs,
    ) -> Series {
        let fs = features::compute(symbol, tf, candles);
        let targets: Vec<Option<(u8, f32)>> = match target.barrier {
            None => labels::forward_return(candles, target.horizon)
                .iter()
                .map(|r| {
                    r.map(|r| {
                        let d = Direction::from_return(r, target.threshold_pct);
                        (d.index() as u8, r as f32)
                    })
                })
                .collect(),
            Some(b) => {
                let atr: Vec<Option<f64>> = fs
                    .bars
                    .iter()
                    .map(|x| {
                        x.technicals
                            .map(|t| t.atr)
                            .filter(|a| a.is_finite() && *a > 0.0)
                    })
                    .collect();
                let cfg = labels::BarrierConfig {
                    upper: labels::BarrierWidth::Atr(b.upper_atr),
                    lower: labels::BarrierWidth::Atr(b.lower_atr),
                    horizon: target.horizon,
                };
                labels::triple_barrier(candles, &atr, &cfg)
                    .iter()
                    .map(|l| {
                        l.map(|l| {
                            let d = match l.label {
                                1 => Direction::Up,
                                -1 => Direction::Down,
                                _ => Direction::Neutral,
                            };
                            (d.index() as u8, l.return_pct as f32)
                        })
                    })
                    .collect()
            }
        };
        let times: Vec<TimeMs> = candles.iter().map(|c| c.open_time).collect();
        let dur = tf.duration_ms();
        let extra: Vec<Vec<Vec<f64>>> = groups
            .iter()
            .map(|g| match g {
                FeatureGroup::Sentiment => altdata::sentiment_at_bars(&times, dur, &alt.sentiment)
                    .into_iter()
                    .map(|r| r.to_vec())
                    .collect(),
                FeatureGroup::Macro => altdata::macro_at_bars(&times, dur, &alt.macro_series),
                FeatureGroup::Context => fs.bars.iter().map(context_row).collect(),
            })
            .collect();
        let rows = fs
            .bars
            .iter()
            .enumerate()
            .map(|(i, b)| {
                b.features.as_ref().ok().map(|f| {
                    let mut row = f.to_vec();
                    for cols in &extra {
                        row.extend_from_slice(&cols[i]);
                    }
                    row.into_boxed_slice()
                })
            })
            .collect();
        Series {
            symbol: symbol.to_string(),
            times,
            groups: groups.to_vec(),
            rows,
            targets,
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
    /// Shared, so a dataset reading fewer columns costs no copy.
    pub series: Arc<Vec<Series>>,
    /// The row columns this dataset reads, and their names.
    pub cols: Vec<usize>,
    pub names: Vec<String>,
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
    #[error("{symbol} was built with feature groups {got:?}, {first} with {want:?}")]
    Groups {
        symbol: String,
        got: Vec<FeatureGroup>,
        first: String,
        want: Vec<FeatureGroup>,
    },
}

impl Dataset {
    pub fn new(series: Vec<Series>, window: usize, horizon: usize) -> Result<Dataset, DataError> {
        if let Some(first) = series.first()
            && let Some(odd) = series.iter().find(|s| s.groups != first.groups)
        {
            return Err(DataError::Groups {
                symbol: odd.symbol.clone(),
                got: odd.groups.clone(),
                first: first.symbol.clone(),
                want: first.groups.clone(),
            });
        }
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
        let names = feature_names(&series[0].groups);
        Ok(Dataset {
            cols: (0..names.len()).collect(),
            names,
            series: Arc::new(series),
            window,
            horizon,
            samples,
            timeline,
        })
    }

    /// Columns read per bar.
    pub fn width(&self) -> usize {
        self.cols.len()
    }

    /// The groups this dataset's series were built with.
    pub fn groups(&self) -> &[FeatureGroup] {
        self.series.first().map_or(&[], |s| &s.groups)
    }

    /// The same samples reading every column but `group`'s.
    pub fn without(&self, group: FeatureGroup) -> Dataset {
        let drop = group.columns();
        let (cols, names) = self
            .cols
            .iter()
            .zip(&self.names)
            .filter(|(_, n)| !drop.contains(n))
            .map(|(&c, n)| (c, n.clone()))
            .unzip();
        Dataset {
            cols,
            names,
            ..self.clone()
        }
    }

    /// The selected columns of one raw row.
    pub fn select<'a>(&'a self, row: &'a [f64]) -> impl Iterator<Item = f64> + 'a {
        self.cols.iter().map(move |&c| row[c])
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
        self.holdout_with_blend(samples, val_frac, 0.0, calib_frac)
    }

    /// As [`Dataset::holdout`], with a blend part between validation and
    /// calibration: fit | validation | blend | calibration. The ensemble's
    /// weights are chosen on the blend part, which neither member trained
    /// or stopped early on, and conformal calibration sees none of them.
    pub fn holdout_with_blend(
        &self,
        samples: &[Sample],
        val_frac: f64,
        blend_frac: f64,
        calib_frac: f64,
    ) -> Result<Holdout, DataError> {
        let mut ats: Vec<u32> = samples.iter().map(|s| s.at).collect();
        ats.sort_unstable();
        ats.dedup();
        let n = ats.len();
        let count = |frac: f64| ((n as f64) * frac).round() as usize;
        let (n_val, n_blend, n_cal) = (count(val_frac), count(blend_frac), count(calib_frac));
        let purges = if n_blend > 0 { 3 } else { 2 };
        if n_val == 0
            || (blend_frac > 0.0 && n_blend == 0)
            || n < n_val + n_blend + n_cal + purges * self.timeline_horizon() + 1
        {
            return Err(DataError::Holdout(format!(
                "{n} training time steps are too few for a {:.0} % validation, {:.0} % blend and {:.0} % calibration hold-out with a {}-step purge",
                val_frac * 100.0,
                blend_frac * 100.0,
                calib_frac * 100.0,
                self.timeline_horizon()
            )));
        }
        let start = |k: usize| if k > 0 { ats[n - k] } else { u32::MAX };
        let cal_start = start(n_cal);
        let blend_start = if n_blend > 0 {
            start(n_cal + n_blend)
        } else {
            cal_start
        };
        let val_start = ats[n - n_cal - n_blend - n_val];
        let mut h = Holdout::default();
        for &s in samples {
            // Each part ends where the next begins; a label reaching past it is purged.
            let (part, end) = if s.at >= cal_start {
                (&mut h.calibration, u32::MAX)
            } else if s.at >= blend_start {
                (&mut h.blend, cal_start)
            } else if s.at >= val_start {
                (&mut h.validation, blend_start)
            } else {
                (&mut h.fit, val_start)
            };
            if end == u32::MAX || s.label_end < end {
                part.push(s);
            } else {
                h.purged += 1;
            }
        }
        Ok(h)
    }

    /// Fits the feature scaler on the rows of `samples` (training rows only).
    pub fn fit_scaler(&self, samples: &[Sample]) -> Result<Scaler, DataError> {
        let rows: Vec<Vec<f64>> = samples
            .iter()
            .filter_map(|s| {
                self.series[s.series as usize].rows[s.bar as usize]
                    .as_ref()
                    .map(|r| self.select(r).collect())
            })
            .collect();
        let names: Vec<&str> = self.names.iter().map(String::as_str).collect();
        Ok(Scaler::fit(&names, rows.iter().map(Vec::as_slice))?)
    }

    /// Copies and scales the windows of `samples` into one batch.
    pub fn batch(&self, samples: &[Sample], scaler: &Scaler) -> Batch {
        let mut b = Batch::with_capacity(samples.len(), self.window * self.width());
        for s in samples {
            let series = &self.series[s.series as usize];
            push_window(
                &mut b.x,
                series,
                &self.cols,
                s.bar as usize,
                self.window,
                scaler,
            );
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
        let names = feature_names(&series.groups);
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
            cols: (0..names.len()).collect(),
            names,
            series: Arc::new(vec![series]),
            window,
            horizon,
            samples,
            timeline: Vec::new(),
        }
    }
}

/// Copies the window ending at `end` into `out`, scaled: `window × cols` values.
pub fn push_window(
    out: &mut Vec<f32>,
    series: &Series,
    cols: &[usize],
    end: usize,
    window: usize,
    scaler: &Scaler,
) {
    for i in end + 1 - window..=end {
        let row = series.rows[i]
            .as_ref()
            .expect("window_ends only yields full windows");
        for (j, v) in cols.iter().map(|&c| row[c]).enumerate() {
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
    /// Where an ensemble's weights are chosen (empty without a blend part).
    pub blend: Vec<Sample>,
    pub calibration: Vec<Sample>,
    pub purged: usize,
}

/// A batch on the host: `x` is `[len, window, width]` row-major.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub x: Vec<f32>,
    pub class: Vec<u8>,
    pub target_move: Vec<f32>,
}

impl Batch {
    fn with_capacity(n: usize, per_sample: usize) -> Batch {
        Batch {
            x: Vec::with_capacity(n * per_sample),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn barrier_targets_are_the_engines_triple_barrier() {
        let day = 86_400_000;
        let candles: Vec<Candle> = (0..300)
            .map(|i| {
                let p = 100.0 + 10.0 * (i as f64 / 7.0).sin();
                Candle {
                    open_time: i * day,
                    open: p,
                    high: p * 1.01,
                    low: p * 0.99,
                    close: p,
                    volume: 1.0,
                }
            })
            .collect();
        let tf = Timeframe::D1;
        let plain_target = TargetConfig {
            horizon: 5,
            ..TargetConfig::for_timeframe(tf)
        };
        let barrier = BarrierTarget::parse("2,1").unwrap();
        let plain = Series::new("X", tf, &candles, plain_target);
        let b = Series::new(
            "X",
            tf,
            &candles,
            TargetConfig {
                barrier: Some(barrier),
                ..plain_target
            },
        );
        let fs = features::compute("X", tf, &candles);
        let atr: Vec<Option<f64>> = fs
            .bars
            .iter()
            .map(|x| x.technicals.map(|t| t.atr))
            .collect();
        let want = labels::triple_barrier(
            &candles,
            &atr,
            &labels::BarrierConfig {
                upper: labels::BarrierWidth::Atr(2.0),
                lower: labels::BarrierWidth::Atr(1.0),
                horizon: 5,
            },
        );
        let mut labelled = 0;
        for (got, want) in b.targets.iter().zip(&want) {
            let want = want.map(|l| {
                let class = match l.label {
                    1 => 0,
                    -1 => 2,
                    _ => 1,
                };
                (class, l.return_pct as f32)
            });
            assert_eq!(*got, want);
            labelled += usize::from(got.is_some());
        }
        assert!(labelled > 200, "{labelled}");
        assert!(
            b.targets
                .iter()
                .zip(&plain.targets)
                .any(|(x, y)| x.is_some() && y.is_some() && x != y),
            "another target, not the direction one"
        );
        assert_eq!(b.rows, plain.rows, "the same inputs");
        assert!(BarrierTarget::parse("2").is_err());
        assert!(
            BarrierTarget::parse("2,-1")
                .unwrap_err()
                .contains("positive")
        );
    }

    #[test]
    fn the_context_group_carries_the_higher_timeframes_and_the_regime() {
        let m15 = 900_000;
        let candles: Vec<Candle> = (0..3000)
            .map(|i| {
                let p = 100.0 + 5.0 * (i as f64 / 300.0).sin() + 0.01 * i as f64;
                Candle {
                    open_time: i * m15,
                    open: p,
                    high: p * 1.002,
                    low: p * 0.998,
                    close: p,
                    volume: 1.0,
                }
            })
            .collect();
        let tf = Timeframe::M15;
        let target = TargetConfig::for_timeframe(tf);
        let groups = [FeatureGroup::Context];
        let s = Series::with_groups("X", tf, &candles, target, &groups, &AltInputs::default());
        let names = feature_names(&groups);
        assert_eq!(names.len(), features::COUNT + 9);
        assert_eq!(names[features::COUNT], "HTF1 trend %");
        let fs = features::compute("X", tf, &candles);
        let i = 2900;
        let row = s.rows[i].as_ref().unwrap();
        assert_eq!(row.len(), names.len());
        let h = fs.bars[i].htf;
        for k in 0..3 {
            let v = h[k].expect("1h, 4h and 1d have history by then");
            assert_eq!(row[features::COUNT + 2 * k], v.trend_pct);
            assert_eq!(row[features::COUNT + 2 * k + 1], v.rsi);
        }
        let regime = &row[features::COUNT + 6..];
        assert_eq!(regime.iter().sum::<f64>(), 1.0, "one regime: {regime:?}");
        assert_eq!(FeatureGroup::parse("context"), Ok(FeatureGroup::Context));
        // Early on the 1d slot has no SMA-20 of daily closes yet: flat.
        let early = s.rows.iter().position(|r| r.is_some()).unwrap();
        let r = s.rows[early].as_ref().unwrap();
        assert_eq!(
            (r[features::COUNT + 4], r[features::COUNT + 5]),
            (0.0, 50.0)
        );
    }
}
