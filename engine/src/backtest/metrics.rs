//! Performance metrics of a backtest, including the deflated Sharpe ratio
//! (Bailey & López de Prado, 2014) for the number of configurations tried.

use super::{BacktestResult, EquityPoint, Trade};
use serde::{Deserialize, Serialize};

const YEAR_MS: f64 = 365.25 * 86_400_000.0;
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub trades: usize,
    pub tp1_hit_rate: Option<f64>,
    pub win_rate: Option<f64>,
    /// Gross wins over gross losses; None without a losing trade.
    pub profit_factor: Option<f64>,
    pub initial_equity: f64,
    pub final_equity: f64,
    pub total_return_pct: f64,
    pub cagr_pct: f64,
    pub sharpe: Option<f64>,
    pub sortino: Option<f64>,
    pub information_ratio: Option<f64>,
    pub max_drawdown_pct: f64,
    pub calmar: Option<f64>,
    /// Share of bars with a position open, percent.
    pub exposure_pct: f64,
    pub avg_trade: Option<f64>,
    pub avg_trade_pct: Option<f64>,
    pub fees_paid: f64,
    pub funding_paid: f64,
    /// Probability that the true Sharpe exceeds the best expected among `trials` by luck.
    pub deflated_sharpe: Option<f64>,
    pub trials: usize,
}

impl Metrics {
    /// What `deflated_sharpe` is: after one trial nothing is deflated and it
    /// is the probabilistic Sharpe ratio (PSR) against zero.
    pub fn sharpe_test_name(&self) -> String {
        if self.trials <= 1 {
            "PSR (1 trial)".into()
        } else {
            format!("Deflated Sharpe ({} trials)", self.trials)
        }
    }
}

/// The per-trade figures of a set of closed trades (a backtest's, a paper
/// account's journal group).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TradeStats {
    pub trades: usize,
    pub tp1_hit_rate: Option<f64>,
    pub win_rate: Option<f64>,
    /// Gross wins over gross losses; None without a losing trade.
    pub profit_factor: Option<f64>,
    /// Net P&L of them all.
    pub pnl: f64,
}

impl TradeStats {
    /// From each trade's net P&L and whether it reached TP1.
    pub fn of(trades: impl IntoIterator<Item = (f64, bool)>) -> TradeStats {
        let (mut n, mut tp1, mut won) = (0usize, 0usize, 0usize);
        let (mut wins, mut losses, mut total) = (0.0, 0.0, 0.0);
        for (pnl, hit) in trades {
            n += 1;
            total += pnl;
            tp1 += usize::from(hit);
            if pnl > 0.0 {
                won += 1;
                wins += pnl;
            } else if pnl < 0.0 {
                losses -= pnl;
            }
        }
        let ratio = |k: usize| (n > 0).then(|| k as f64 / n as f64);
        TradeStats {
            trades: n,
            tp1_hit_rate: ratio(tp1),
            win_rate: ratio(won),
            profit_factor: (losses > 0.0).then(|| wins / losses),
            pnl: total,
        }
    }
}

/// Metrics of `result`. `periods_per_year` annualises per-bar ratios.
pub fn compute(
    result: &BacktestResult,
    initial: f64,
    periods_per_year: f64,
    trials: usize,
) -> Metrics {
    let eq: Vec<f64> = std::iter::once(initial)
        .chain(result.equity.iter().map(|p| p.equity))
        .collect();
    let bh: Vec<f64> = std::iter::once(initial)
        .chain(result.equity.iter().map(|p| p.buy_and_hold))
        .collect();
    let trades = &result.trades;
    let mut m = from_equity(&eq, Some(&bh), &result.equity, periods_per_year, trials);
    let t = TradeStats::of(trades.iter().map(|t| (t.pnl, t.tp1_hit)));
    m.trades = t.trades;
    m.tp1_hit_rate = t.tp1_hit_rate;
    m.win_rate = t.win_rate;
    m.profit_factor = t.profit_factor;
    let n = trades.len() as f64;
    m.avg_trade = (!trades.is_empty()).then(|| t.pnl / n);
    m.avg_trade_pct =
        (!trades.is_empty()).then(|| trades.iter().map(|t| t.return_pct).sum::<f64>() / n);
    m.fees_paid = trades.iter().map(|t| t.fees).sum();
    m.funding_paid = trades.iter().map(|t: &Trade| t.funding).sum();
    m
}

/// Return metrics of an equity series (first value = initial equity).
pub fn from_equity(
    eq: &[f64],
    benchmark: Option<&[f64]>,
    points: &[EquityPoint],
    periods_per_year: f64,
    trials: usize,
) -> Metrics {
    let initial = eq.first().copied().unwrap_or(0.0);
    let last = eq.last().copied().unwrap_or(initial);
    let rets: Vec<f64> = eq.windows(2).map(|w| w[1] / w[0] - 1.0).collect();
    let span_ms = match (points.first(), points.last()) {
        (Some(a), Some(b)) if points.len() > 1 => {
            (b.time - a.time) as f64 * points.len() as f64 / (points.len() - 1) as f64
        }
        _ => 0.0,
    };
    let years = span_ms / YEAR_MS;
    let total = (last / initial - 1.0) * 100.0;
    let cagr = if years > 0.0 && last > 0.0 {
        ((last / initial).powf(1.0 / years) - 1.0) * 100.0
    } else {
        total
    };
    let mut peak = f64::MIN;
    let mdd = eq.iter().fold(0.0f64, |mdd, &e| {
        peak = peak.max(e);
        mdd.max((1.0 - e / peak) * 100.0)
    });
    let ann = periods_per_year.sqrt();
    let (mean, sd) = mean_sd(&rets);
    let sharpe = sd.filter(|&s| s > 0.0).map(|s| mean / s * ann);
    let downside = (!rets.is_empty())
        .then(|| (rets.iter().map(|r| r.min(0.0).powi(2)).sum::<f64>() / rets.len() as f64).sqrt());
    let sortino = downside.filter(|&d| d > 0.0).map(|d| mean / d * ann);
    let information_ratio = benchmark.and_then(|b| {
        let ex: Vec<f64> = rets
            .iter()
            .zip(b.windows(2))
            .map(|(r, w)| r - (w[1] / w[0] - 1.0))
            .collect();
        let (m, s) = mean_sd(&ex);
        s.filter(|&s| s > 0.0).map(|s| m / s * ann)
    });
    let exposure = if points.is_empty() {
        0.0
    } else {
        points.iter().filter(|p| p.open_positions > 0).count() as f64 / points.len() as f64 * 100.0
    };
    Metrics {
        trades: 0,
        tp1_hit_rate: None,
        win_rate: None,
        profit_factor: None,
        initial_equity: initial,
        final_equity: last,
        total_return_pct: total,
        cagr_pct: cagr,
        sharpe,
        sortino,
        information_ratio,
        max_drawdown_pct: mdd,
        calmar: (mdd > 0.0).then(|| cagr / mdd),
        exposure_pct: exposure,
        avg_trade: None,
        avg_trade_pct: None,
        fees_paid: 0.0,
        funding_paid: 0.0,
        deflated_sharpe: deflated_sharpe(&rets, trials, None),
        trials,
    }
}

fn mean_sd(x: &[f64]) -> (f64, Option<f64>) {
    if x.len() < 2 {
        return (x.first().copied().unwrap_or(0.0), None);
    }
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, Some(var.sqrt()))
}

/// Deflated Sharpe ratio of per-period `returns` after `trials` configurations.
/// `sharpe_variance` is the variance of the (per-period) Sharpe ratios across
/// the trials; when unknown, the estimator's own variance stands in.
pub fn deflated_sharpe(
    returns: &[f64],
    trials: usize,
    sharpe_variance: Option<f64>,
) -> Option<f64> {
    let t = returns.len() as f64;
    let (mean, sd) = mean_sd(returns);
    let sd = sd.filter(|&s| s > 0.0)?;
    let sr = mean / sd;
    let m3 = returns
        .iter()
        .map(|r| ((r - mean) / sd).powi(3))
        .sum::<f64>()
        / t;
    let m4 = returns
        .iter()
        .map(|r| ((r - mean) / sd).powi(4))
        .sum::<f64>()
        / t;
    Some(dsr(sr, t, m3, m4, trials, sharpe_variance))
}

/// The DSR from moments: `sr` per period, `t` observations, skewness and
/// (non-excess) kurtosis of returns.
pub fn dsr(
    sr: f64,
    t: f64,
    skew: f64,
    kurt: f64,
    trials: usize,
    sharpe_variance: Option<f64>,
) -> f64 {
    let denom = (1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr)
        .max(f64::MIN_POSITIVE)
        .sqrt();
    let var = sharpe_variance.unwrap_or((denom * denom) / (t - 1.0));
    let sr0 = if trials <= 1 {
        0.0
    } else {
        let n = trials as f64;
        var.sqrt()
            * ((1.0 - EULER_GAMMA) * norm_inv(1.0 - 1.0 / n)
                + EULER_GAMMA * norm_inv(1.0 - 1.0 / (n * std::f64::consts::E)))
    };
    norm_cdf((sr - sr0) * (t - 1.0).sqrt() / denom)
}

/// Wilson's 95 % score interval for `hits` of `n`.
pub fn wilson(hits: f64, n: usize) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let (n, z) = (n as f64, 1.959_963_984_540_054);
    let p = hits / n;
    let centre = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z / (1.0 + z * z / n) * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

pub fn norm_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// Inverse standard normal CDF: Acklam's rational approximation refined by
/// one Halley step (relative error near machine precision).
pub fn norm_inv(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.383_577_518_672_69e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let x = if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    };
    let e = norm_cdf(x) - p;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_the_textbook() {
        // 8 of 10: (0.4902, 0.9433) (Wilson 1927; e.g. Newcombe 1998, table I).
        let (lo, hi) = wilson(8.0, 10).unwrap();
        assert!(
            (lo - 0.4902).abs() < 1e-4 && (hi - 0.9433).abs() < 1e-4,
            "{lo} {hi}"
        );
        let (lo, hi) = wilson(0.0, 20).unwrap();
        assert_eq!(lo, 0.0);
        assert!((hi - 0.1611).abs() < 1e-4, "{hi}");
        assert_eq!(wilson(0.0, 0), None);
    }

    #[test]
    fn normal_quantiles() {
        for p in [1e-6, 0.01, 0.025, 0.3, 0.5, 0.9, 0.975, 0.999_999] {
            assert!(
                (norm_cdf(norm_inv(p)) - p).abs() < 1e-12 * p.max(1e-3),
                "{p}"
            );
        }
        assert!((norm_inv(0.975) - 1.959_963_984_540_054).abs() < 1e-12);
    }

    #[test]
    fn deflated_sharpe_matches_the_papers_worked_example() {
        // Bailey & López de Prado (2014), §3: 100 trials, annualised SR 2.5
        // and trial variance 0.5 over 1,250 daily returns, skew −3, kurtosis 10.
        let sr = 2.5 / 250f64.sqrt();
        let v = 0.5 / 250.0;
        let d = dsr(sr, 1250.0, -3.0, 10.0, 100, Some(v));
        assert!((d - 0.9004).abs() < 5e-4, "DSR {d}");
        // One trial: the probabilistic Sharpe ratio against zero.
        assert!(dsr(sr, 1250.0, -3.0, 10.0, 1, Some(v)) > 0.99);
        // More trials, less confidence.
        assert!(dsr(sr, 1250.0, -3.0, 10.0, 1000, Some(v)) < d);
    }

    #[test]
    fn equity_metrics() {
        let eq = [100.0, 110.0, 99.0, 121.0];
        let pts: Vec<EquityPoint> = (1..4)
            .map(|i| EquityPoint {
                time: i * 86_400_000,
                equity: eq[i as usize],
                drawdown_pct: 0.0,
                buy_and_hold: 100.0,
                open_positions: (i % 2) as u32,
            })
            .collect();
        let m = from_equity(&eq, None, &pts, 365.0, 1);
        assert!((m.total_return_pct - 21.0).abs() < 1e-9);
        assert!((m.max_drawdown_pct - 10.0).abs() < 1e-9);
        assert!((m.exposure_pct - 200.0 / 3.0).abs() < 1e-9);
        let rets = [0.1, -0.1, 121.0 / 99.0 - 1.0];
        let mean = rets.iter().sum::<f64>() / 3.0;
        let sd = (rets.iter().map(|r| (r - mean) * (r - mean)).sum::<f64>() / 2.0).sqrt();
        assert!((m.sharpe.unwrap() - mean / sd * 365f64.sqrt()).abs() < 1e-9);
    }
}
