//! Supervised targets: triple-barrier outcomes, three-class direction and
//! the forward return. A label at bar t looks at bars t+1 ..= t+horizon
//! only, and a bar without a full horizon ahead gets no label at all.

use crate::{Candle, TimeMs};
use serde::{Deserialize, Serialize};

/// Where a horizontal barrier sits, measured from the entry close.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum BarrierWidth {
    /// A multiple of the entry bar's ATR.
    Atr(f64),
    /// A percentage of the entry price.
    Pct(f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BarrierConfig {
    pub upper: BarrierWidth,
    pub lower: BarrierWidth,
    /// The vertical barrier: bars after entry.
    pub horizon: usize,
}

impl Default for BarrierConfig {
    fn default() -> Self {
        BarrierConfig {
            upper: BarrierWidth::Atr(2.0),
            lower: BarrierWidth::Atr(1.0),
            horizon: 48,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Barrier {
    Upper,
    Lower,
    Vertical,
}

/// A triple-barrier outcome for an entry at the close of one bar.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BarrierLabel {
    /// +1 upper first, −1 lower first, 0 vertical.
    pub label: i8,
    pub barrier: Barrier,
    /// Index of the bar where it was touched.
    pub exit_index: usize,
    pub exit_time: TimeMs,
    /// Return to the barrier price (or the close at the vertical), percent.
    pub return_pct: f64,
}

/// Triple-barrier labels. `atr[i]` is the ATR known at bar i's close (None
/// in warm-up; ATR barriers then give no label). When one bar touches both
/// barriers the lower one counts: the conservative reading of a bar whose
/// path is unknown.
pub fn triple_barrier(
    candles: &[Candle],
    atr: &[Option<f64>],
    cfg: &BarrierConfig,
) -> Vec<Option<BarrierLabel>> {
    let width = |w: BarrierWidth, price: f64, atr: Option<f64>| match w {
        BarrierWidth::Atr(k) => atr.map(|a| k * a),
        BarrierWidth::Pct(p) => Some(price * p / 100.0),
    };
    (0..candles.len())
        .map(|t| {
            if t + cfg.horizon >= candles.len() || cfg.horizon == 0 {
                return None;
            }
            let entry = candles[t].close;
            let up = entry + width(cfg.upper, entry, atr.get(t).copied().flatten())?;
            let down = entry - width(cfg.lower, entry, atr.get(t).copied().flatten())?;
            let ret = |p: f64| (p / entry - 1.0) * 100.0;
            for (j, c) in candles
                .iter()
                .enumerate()
                .take(t + cfg.horizon + 1)
                .skip(t + 1)
            {
                let (hit_down, hit_up) = (c.low <= down, c.high >= up);
                if hit_down || hit_up {
                    let (label, barrier, price) = if hit_down {
                        (-1, Barrier::Lower, down.min(c.open))
                    } else {
                        (1, Barrier::Upper, up.max(c.open))
                    };
                    return Some(BarrierLabel {
                        label,
                        barrier,
                        exit_index: j,
                        exit_time: c.open_time,
                        return_pct: ret(price),
                    });
                }
            }
            let last = &candles[t + cfg.horizon];
            Some(BarrierLabel {
                label: 0,
                barrier: Barrier::Vertical,
                exit_index: t + cfg.horizon,
                exit_time: last.open_time,
                return_pct: ret(last.close),
            })
        })
        .collect()
}

/// Percent change of the close `horizon` bars ahead: the regression target.
pub fn forward_return(candles: &[Candle], horizon: usize) -> Vec<Option<f64>> {
    (0..candles.len())
        .map(|t| {
            candles
                .get(t + horizon)
                .filter(|_| horizon > 0)
                .map(|f| (f.close / candles[t].close - 1.0) * 100.0)
        })
        .collect()
}

/// Bars in about one day ahead on `tf` (1 on 1d, 96 on 15m): the horizon
/// the models' labels and the technical rule's calibration look at.
pub fn day_horizon(tf: crate::Timeframe) -> usize {
    (24 * 3_600_000 / tf.duration_ms()).max(1) as usize
}

/// Direction classes for the classification head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Direction {
    Up,
    Neutral,
    Down,
}

/// The default ±0.4 % threshold between NEUTRAL and a direction.
pub const DIRECTION_THRESHOLD_PCT: f64 = 0.4;

impl Direction {
    /// Class index used by models: UP 0, NEUTRAL 1, DOWN 2.
    pub fn index(self) -> usize {
        match self {
            Direction::Up => 0,
            Direction::Neutral => 1,
            Direction::Down => 2,
        }
    }

    /// UP above +threshold, DOWN below −threshold, NEUTRAL between (inclusive).
    pub fn from_return(ret_pct: f64, threshold_pct: f64) -> Direction {
        if ret_pct > threshold_pct {
            Direction::Up
        } else if ret_pct < -threshold_pct {
            Direction::Down
        } else {
            Direction::Neutral
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bars(closes: &[(f64, f64, f64)]) -> Vec<Candle> {
        closes
            .iter()
            .enumerate()
            .map(|(i, &(h, l, c))| Candle {
                open_time: i as i64 * 60_000,
                open: c,
                high: h,
                low: l,
                close: c,
                volume: 1.0,
            })
            .collect()
    }

    #[test]
    fn first_barrier_touched_wins_and_both_in_one_bar_counts_as_lower() {
        let c = bars(&[
            (100.0, 100.0, 100.0),
            (101.0, 99.5, 100.5),
            (102.5, 100.0, 102.0),
            (103.0, 97.0, 100.0),
            (100.0, 100.0, 100.0),
        ]);
        let cfg = BarrierConfig {
            upper: BarrierWidth::Pct(2.0),
            lower: BarrierWidth::Pct(1.0),
            horizon: 3,
        };
        let l = triple_barrier(&c, &[], &cfg);
        let first = l[0].unwrap();
        assert_eq!(
            (first.label, first.barrier, first.exit_index),
            (1, Barrier::Upper, 2)
        );
        assert!((first.return_pct - 2.0).abs() < 1e-12);
        // From bar 1 (100.5): up 102.51 not reached at bar 2 (102.5); bar 3 touches both.
        let second = l[1].unwrap();
        assert_eq!(
            (second.label, second.barrier, second.exit_index),
            (-1, Barrier::Lower, 3)
        );
        assert_eq!(l[2], None, "no full horizon ahead");
    }

    #[test]
    fn vertical_barrier_and_atr_widths() {
        let c = bars(&[
            (100.0, 100.0, 100.0),
            (100.5, 99.5, 100.2),
            (100.5, 99.5, 100.3),
            (100.0, 100.0, 100.0),
        ]);
        let cfg = BarrierConfig {
            upper: BarrierWidth::Atr(2.0),
            lower: BarrierWidth::Atr(2.0),
            horizon: 2,
        };
        let l = triple_barrier(&c, &[Some(1.0), None], &cfg);
        let v = l[0].unwrap();
        assert_eq!(
            (v.label, v.barrier, v.exit_index),
            (0, Barrier::Vertical, 2)
        );
        assert!((v.return_pct - 0.3).abs() < 1e-9);
        assert_eq!(l[1], None, "ATR unknown at bar 1");
    }

    #[test]
    fn three_classes_and_forward_return() {
        let c = bars(&[
            (1.0, 1.0, 100.0),
            (1.0, 1.0, 100.5),
            (1.0, 1.0, 99.0),
            (1.0, 1.0, 99.3),
        ]);
        let r = forward_return(&c, 1);
        assert_eq!(r.len(), 4);
        assert_eq!(r[3], None);
        let classes: Vec<_> = r
            .iter()
            .flatten()
            .map(|&x| Direction::from_return(x, DIRECTION_THRESHOLD_PCT))
            .collect();
        assert_eq!(
            classes,
            [Direction::Up, Direction::Down, Direction::Neutral]
        );
        assert_eq!(Direction::from_return(0.4, 0.4), Direction::Neutral);
    }
}
