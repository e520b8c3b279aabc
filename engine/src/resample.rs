//! Building higher-timeframe bars from a stored base series, aligned to UTC.

use crate::market::{Candle, MarketError, Timeframe};
use serde::{Deserialize, Serialize};

/// Whether to emit windows that are missing some base bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Completeness {
    /// Only windows whose every base bar is present (the default: an
    /// incomplete daily bar has a wrong high, low or close).
    #[default]
    CompleteOnly,
    /// Also windows with missing base bars.
    AllowPartial,
}

/// One resampled bar and how many base bars made it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ResampledBar {
    pub candle: Candle,
    pub base_bars: u32,
    pub complete: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResampleError {
    #[error(
        "cannot build {target} bars from {base} bars: {target} is not a whole multiple of {base}"
    )]
    NotMultiple { base: Timeframe, target: Timeframe },
    #[error("base series is not sorted by open time at index {0}")]
    Unsorted(usize),
    #[error("base bar at index {index} (open time {open_time}) is not aligned to the {base} grid")]
    OffGrid {
        index: usize,
        open_time: i64,
        base: Timeframe,
    },
    #[error(transparent)]
    Market(#[from] MarketError),
}

/// Aggregates `base` bars (sorted, unique, aligned to `base_tf`) into `target`
/// bars: open of the first, max high, min low, close of the last, summed volume.
pub fn resample(
    base: &[Candle],
    base_tf: Timeframe,
    target: Timeframe,
    mode: Completeness,
) -> Result<Vec<ResampledBar>, ResampleError> {
    if !target.is_multiple_of(base_tf) {
        return Err(ResampleError::NotMultiple {
            base: base_tf,
            target,
        });
    }
    let per_window = target.minutes() / base_tf.minutes();
    let mut out = Vec::with_capacity(base.len() / per_window as usize + 1);
    let mut current: Option<(Candle, u32)> = None;
    for (i, c) in base.iter().enumerate() {
        if !base_tf.is_aligned(c.open_time) {
            return Err(ResampleError::OffGrid {
                index: i,
                open_time: c.open_time,
                base: base_tf,
            });
        }
        if i > 0 && base[i - 1].open_time >= c.open_time {
            return Err(ResampleError::Unsorted(i));
        }
        let window = target.floor(c.open_time);
        match current.as_mut() {
            Some((acc, n)) if acc.open_time == window => {
                acc.high = acc.high.max(c.high);
                acc.low = acc.low.min(c.low);
                acc.close = c.close;
                acc.volume += c.volume;
                *n += 1;
            }
            _ => {
                if let Some((acc, n)) = current.take() {
                    push(&mut out, acc, n, per_window, mode);
                }
                current = Some((
                    Candle {
                        open_time: window,
                        ..*c
                    },
                    1,
                ));
            }
        }
    }
    if let Some((acc, n)) = current {
        push(&mut out, acc, n, per_window, mode);
    }
    Ok(out)
}

fn push(out: &mut Vec<ResampledBar>, candle: Candle, n: u32, per_window: u32, mode: Completeness) {
    let complete = n == per_window;
    if complete || mode == Completeness::AllowPartial {
        out.push(ResampledBar {
            candle,
            base_bars: n,
            complete,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M15: i64 = 900_000;

    fn bar(i: i64, o: f64, h: f64, l: f64, c: f64, v: f64) -> Candle {
        Candle {
            open_time: i * M15,
            open: o,
            high: h,
            low: l,
            close: c,
            volume: v,
        }
    }

    #[test]
    fn aggregates_full_windows() {
        let base = vec![
            bar(0, 10.0, 12.0, 9.0, 11.0, 1.0),
            bar(1, 11.0, 15.0, 10.0, 14.0, 2.0),
            bar(2, 14.0, 14.5, 8.0, 9.0, 3.0),
            bar(3, 9.0, 10.0, 8.5, 9.5, 4.0),
            bar(4, 9.5, 9.6, 9.4, 9.5, 5.0),
        ];
        let out = resample(
            &base,
            Timeframe::M15,
            Timeframe::H1,
            Completeness::CompleteOnly,
        )
        .unwrap();
        assert_eq!(
            out.len(),
            1,
            "the trailing window has 1 of 4 bars and is dropped"
        );
        let c = out[0].candle;
        assert_eq!(
            (c.open_time, c.open, c.high, c.low, c.close, c.volume),
            (0, 10.0, 15.0, 8.0, 9.5, 10.0)
        );
        assert!(out[0].complete);

        let partial = resample(
            &base,
            Timeframe::M15,
            Timeframe::H1,
            Completeness::AllowPartial,
        )
        .unwrap();
        assert_eq!(partial.len(), 2);
        assert_eq!(
            (
                partial[1].candle.open_time,
                partial[1].base_bars,
                partial[1].complete
            ),
            (4 * M15, 1, false)
        );
    }

    #[test]
    fn a_hole_makes_the_window_incomplete() {
        let base: Vec<_> = [0, 1, 3, 4, 5, 6, 7]
            .iter()
            .map(|&i| bar(i, 1.0, 1.0, 1.0, 1.0, 1.0))
            .collect();
        let out = resample(
            &base,
            Timeframe::M15,
            Timeframe::H1,
            Completeness::CompleteOnly,
        )
        .unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].candle.open_time, 4 * M15);
    }

    #[test]
    fn rejects_bad_inputs() {
        let base = vec![
            bar(1, 1.0, 1.0, 1.0, 1.0, 1.0),
            bar(0, 1.0, 1.0, 1.0, 1.0, 1.0),
        ];
        assert_eq!(
            resample(
                &base,
                Timeframe::M15,
                Timeframe::H1,
                Completeness::CompleteOnly
            ),
            Err(ResampleError::Unsorted(1))
        );
        assert!(matches!(
            resample(
                &base,
                Timeframe::H1,
                Timeframe::M15,
                Completeness::CompleteOnly
            ),
            Err(ResampleError::NotMultiple { .. })
        ));
        let off = vec![Candle {
            open_time: 60_000,
            ..bar(0, 1.0, 1.0, 1.0, 1.0, 1.0)
        }];
        assert!(matches!(
            resample(
                &off,
                Timeframe::M15,
                Timeframe::H1,
                Completeness::CompleteOnly
            ),
            Err(ResampleError::OffGrid { index: 0, .. })
        ));
    }

    #[test]
    fn daily_windows_align_to_utc_midnight() {
        let base: Vec<_> = (0..96 * 2)
            .map(|i| bar(i + 40, 1.0, 2.0, 0.5, 1.0, 1.0))
            .collect();
        let out = resample(
            &base,
            Timeframe::M15,
            Timeframe::D1,
            Completeness::AllowPartial,
        )
        .unwrap();
        assert_eq!(
            out.iter()
                .map(|b| (b.candle.open_time, b.base_bars))
                .collect::<Vec<_>>(),
            vec![(0, 56), (86_400_000, 96), (172_800_000, 40)]
        );
    }
}
