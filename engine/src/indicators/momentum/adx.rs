use crate::indicators::{Hlc, Indicator, ParamError, check, is_zero, true_range};

/// Average directional index (TA-Lib `ADX`). +DM, -DM and TR are summed over
/// the first `period - 1` changes, then Wilder-smoothed; the first ADX is the
/// mean of `period` DX values. Lookback `2 * period - 1`.
#[derive(Debug, Clone)]
pub struct Adx {
    period: usize,
    seen: usize,
    prev: Hlc,
    plus_dm: f64,
    minus_dm: f64,
    tr: f64,
    sum_dx: f64,
    adx: f64,
}

impl Adx {
    pub fn new(period: usize) -> Result<Self, ParamError> {
        let period = check("ADX", "period", period, 2)?;
        Ok(Adx {
            period,
            seen: 0,
            prev: Hlc {
                high: 0.0,
                low: 0.0,
                close: 0.0,
            },
            plus_dm: 0.0,
            minus_dm: 0.0,
            tr: 0.0,
            sum_dx: 0.0,
            adx: 0.0,
        })
    }

    fn dx(&self) -> Option<f64> {
        if is_zero(self.tr) {
            return None;
        }
        let minus_di = 100.0 * (self.minus_dm / self.tr);
        let plus_di = 100.0 * (self.plus_dm / self.tr);
        let sum = minus_di + plus_di;
        (!is_zero(sum)).then(|| 100.0 * ((minus_di - plus_di).abs() / sum))
    }
}

impl Indicator for Adx {
    type Input = Hlc;
    type Output = f64;

    fn update(&mut self, bar: Hlc) -> Option<f64> {
        self.seen += 1;
        if self.seen == 1 {
            self.prev = bar;
            return None;
        }
        let n = self.period as f64;
        let diff_p = bar.high - self.prev.high;
        let diff_m = self.prev.low - bar.low;
        let tr = true_range(bar.high, bar.low, self.prev.close);
        self.prev = bar;
        let smoothing = self.seen > self.period;
        if smoothing {
            self.minus_dm -= self.minus_dm / n;
            self.plus_dm -= self.plus_dm / n;
        }
        if diff_m > 0.0 && diff_p < diff_m {
            self.minus_dm += diff_m;
        } else if diff_p > 0.0 && diff_p > diff_m {
            self.plus_dm += diff_p;
        }
        self.tr = if smoothing {
            self.tr - self.tr / n + tr
        } else {
            self.tr + tr
        };
        if !smoothing {
            return None;
        }
        let first_adx = 2 * self.period;
        if self.seen <= first_adx {
            if let Some(dx) = self.dx() {
                self.sum_dx += dx;
            }
            if self.seen < first_adx {
                return None;
            }
            self.adx = self.sum_dx / n;
            return Some(self.adx);
        }
        if let Some(dx) = self.dx() {
            self.adx = (self.adx * (n - 1.0) + dx) / n;
        }
        Some(self.adx)
    }

    fn reset(&mut self) {
        *self = Adx::new(self.period).expect("period was valid");
    }

    fn lookback(&self) -> usize {
        2 * self.period - 1
    }
}
