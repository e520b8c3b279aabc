//! Portfolio guards: circuit breakers, a kill switch and a correlation cap.
//! They decide whether a new entry may open; open positions keep their exits.

use crate::TimeMs;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};

const DAY_MS: TimeMs = 86_400_000;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GuardConfig {
    /// Halt after this many losing trades in a row.
    pub max_consecutive_losses: usize,
    /// Halt when equity falls this far below the UTC day's opening equity.
    pub daily_loss_pct: f64,
    /// Halt when equity falls this far below its peak.
    pub max_drawdown_pct: f64,
    /// A halt lifts after this long; the drawdown peak then restarts from
    /// the equity of that moment (an operator acknowledging the loss).
    pub cooldown_hours: f64,
    /// Returns correlated above this count as one exposure.
    pub correlation_threshold: f64,
    /// Returns (bars) in the rolling correlation.
    pub correlation_window: usize,
    /// Risk of one correlated group, as a multiple of one trade's risk.
    pub max_correlated_risk_mult: f64,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            max_consecutive_losses: 4,
            daily_loss_pct: 2.0,
            max_drawdown_pct: 5.0,
            cooldown_hours: 24.0,
            correlation_threshold: 0.8,
            correlation_window: 96,
            max_correlated_risk_mult: 1.5,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "breaker", rename_all = "snake_case")]
pub enum Halt {
    ConsecutiveLosses { losses: usize },
    DailyLoss { loss_pct: f64 },
    Drawdown { drawdown_pct: f64 },
    KillSwitch,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "guard", rename_all = "snake_case")]
pub enum GuardRejection {
    #[error("circuit breaker: {halt:?} until {until}")]
    Halted { halt: Halt, until: TimeMs },
    #[error("max concurrent positions ({max}) reached")]
    MaxPositions { max: usize },
    #[error("correlated exposure with {with:?} uses the whole group budget")]
    Correlated { with: Vec<String> },
}

/// An open position as the guards see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Exposure {
    pub symbol: String,
    pub long: bool,
    pub risk_amount: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PortfolioGuard {
    cfg: GuardConfig,
    losses_in_row: usize,
    day: TimeMs,
    day_open_equity: f64,
    peak: f64,
    halt: Option<(Halt, TimeMs)>,
    kill: bool,
    returns: HashMap<String, VecDeque<(TimeMs, f64)>>,
    last_close: HashMap<String, f64>,
}

impl PortfolioGuard {
    pub fn new(cfg: GuardConfig, equity: f64) -> Self {
        PortfolioGuard {
            cfg,
            losses_in_row: 0,
            day: TimeMs::MIN,
            day_open_equity: equity,
            peak: equity,
            halt: None,
            kill: false,
            returns: HashMap::new(),
            last_close: HashMap::new(),
        }
    }

    /// Stops every new entry until [`PortfolioGuard::clear_kill_switch`].
    pub fn kill_switch(&mut self) {
        self.kill = true;
    }

    pub fn clear_kill_switch(&mut self) {
        self.kill = false;
    }

    /// The active halt, if any.
    pub fn halted(&self) -> Option<Halt> {
        if self.kill {
            Some(Halt::KillSwitch)
        } else {
            self.halt.map(|h| h.0)
        }
    }

    /// Feeds a closed bar's price for the correlation estimate.
    pub fn on_close(&mut self, symbol: &str, time: TimeMs, close: f64) {
        // Called for every bar: no allocation once the symbol is known.
        let Some(prev) = self.last_close.get_mut(symbol) else {
            self.last_close.insert(symbol.to_string(), close);
            self.returns.insert(
                symbol.to_string(),
                VecDeque::with_capacity(self.cfg.correlation_window + 1),
            );
            return;
        };
        let r = close / *prev - 1.0;
        *prev = close;
        if let Some(q) = self.returns.get_mut(symbol) {
            q.push_back((time, r));
            if q.len() > self.cfg.correlation_window {
                q.pop_front();
            }
        }
    }

    /// Feeds the marked-to-market equity at `time`.
    pub fn on_equity(&mut self, time: TimeMs, equity: f64) {
        let day = time.div_euclid(DAY_MS);
        if day != self.day {
            self.day = day;
            self.day_open_equity = equity;
        }
        if let Some((_, until)) = self.halt
            && time >= until
        {
            self.halt = None;
            self.losses_in_row = 0;
            self.peak = equity;
        }
        self.peak = self.peak.max(equity);
        if self.halt.is_some() {
            return;
        }
        let daily = (1.0 - equity / self.day_open_equity) * 100.0;
        let dd = (1.0 - equity / self.peak) * 100.0;
        let halt = if daily >= self.cfg.daily_loss_pct {
            Some(Halt::DailyLoss { loss_pct: daily })
        } else if dd >= self.cfg.max_drawdown_pct {
            Some(Halt::Drawdown { drawdown_pct: dd })
        } else if self.cfg.max_consecutive_losses > 0
            && self.losses_in_row >= self.cfg.max_consecutive_losses
        {
            Some(Halt::ConsecutiveLosses {
                losses: self.losses_in_row,
            })
        } else {
            None
        };
        if let Some(h) = halt {
            self.halt = Some((h, time + (self.cfg.cooldown_hours * 3_600_000.0) as TimeMs));
        }
    }

    /// Records a closed trade's net result.
    pub fn on_trade_closed(&mut self, pnl: f64) {
        self.losses_in_row = if pnl < 0.0 { self.losses_in_row + 1 } else { 0 };
    }

    /// May any new position open now? The breakers, the kill switch and the
    /// position cap, which refuse whatever the plan.
    pub fn may_open(&self, open: usize, max_positions: usize) -> Result<(), GuardRejection> {
        if self.kill {
            return Err(GuardRejection::Halted {
                halt: Halt::KillSwitch,
                until: TimeMs::MAX,
            });
        }
        if let Some((halt, until)) = self.halt {
            return Err(GuardRejection::Halted { halt, until });
        }
        if open >= max_positions {
            return Err(GuardRejection::MaxPositions { max: max_positions });
        }
        Ok(())
    }

    /// May a new position on `symbol` open? Returns the share (0, 1] of the
    /// trade's risk budget the correlation cap leaves.
    pub fn admit(
        &self,
        symbol: &str,
        long: bool,
        risk_amount: f64,
        open: &[Exposure],
        max_positions: usize,
    ) -> Result<f64, GuardRejection> {
        self.may_open(open.len(), max_positions)?;
        let mut with = Vec::new();
        let mut used = 0.0;
        for e in open.iter().filter(|e| e.symbol != symbol) {
            let Some(rho) = self.correlation(symbol, &e.symbol) else {
                continue;
            };
            // Same direction in co-moving markets, or opposite in inverse ones, stacks risk.
            if (rho >= self.cfg.correlation_threshold && e.long == long)
                || (rho <= -self.cfg.correlation_threshold && e.long != long)
            {
                used += e.risk_amount;
                with.push(e.symbol.clone());
            }
        }
        if with.is_empty() || risk_amount <= 0.0 {
            return Ok(1.0);
        }
        let room = self.cfg.max_correlated_risk_mult * risk_amount - used;
        if room <= 0.0 {
            return Err(GuardRejection::Correlated { with });
        }
        Ok((room / risk_amount).min(1.0))
    }

    /// Pearson correlation of the two symbols' returns at common times.
    pub fn correlation(&self, a: &str, b: &str) -> Option<f64> {
        let (qa, qb) = (self.returns.get(a)?, self.returns.get(b)?);
        let (mut i, mut j) = (0, 0);
        let (mut n, mut sa, mut sb, mut saa, mut sbb, mut sab) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
        while i < qa.len() && j < qb.len() {
            let ((ta, x), (tb, y)) = (qa[i], qb[j]);
            match ta.cmp(&tb) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    n += 1.0;
                    sa += x;
                    sb += y;
                    saa += x * x;
                    sbb += y * y;
                    sab += x * y;
                    i += 1;
                    j += 1;
                }
            }
        }
        if n < 10.0 {
            return None;
        }
        let cov = sab - sa * sb / n;
        let (va, vb) = (saa - sa * sa / n, sbb - sb * sb / n);
        (va > 0.0 && vb > 0.0).then(|| cov / (va * vb).sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breakers_halt_and_lift_after_the_cooldown() {
        let mut g = PortfolioGuard::new(GuardConfig::default(), 100.0);
        g.on_equity(0, 100.0);
        g.on_equity(3_600_000, 97.9);
        assert!(matches!(g.halted(), Some(Halt::DailyLoss { .. })));
        assert!(matches!(
            g.admit("A/B", true, 1.0, &[], 4),
            Err(GuardRejection::Halted { .. })
        ));
        g.on_equity(26 * 3_600_000, 97.9);
        assert_eq!(g.halted(), None);
        for _ in 0..4 {
            g.on_trade_closed(-0.1);
        }
        g.on_equity(27 * 3_600_000, 97.8);
        assert_eq!(g.halted(), Some(Halt::ConsecutiveLosses { losses: 4 }));
        let mut dd = PortfolioGuard::new(
            GuardConfig {
                daily_loss_pct: 100.0,
                ..Default::default()
            },
            100.0,
        );
        for (h, e) in [(0, 100.0), (30, 110.0), (60, 104.0)] {
            dd.on_equity(h * 3_600_000, e);
        }
        assert!(matches!(dd.halted(), Some(Halt::Drawdown { .. })));
    }

    #[test]
    fn kill_switch_and_position_cap() {
        let mut g = PortfolioGuard::new(GuardConfig::default(), 100.0);
        let open = vec![
            Exposure {
                symbol: "X/Y".into(),
                long: true,
                risk_amount: 1.0
            };
            2
        ];
        assert_eq!(
            g.admit("A/B", true, 1.0, &open, 2),
            Err(GuardRejection::MaxPositions { max: 2 })
        );
        g.kill_switch();
        assert!(matches!(
            g.admit("A/B", true, 1.0, &[], 2),
            Err(GuardRejection::Halted {
                halt: Halt::KillSwitch,
                ..
            })
        ));
        g.clear_kill_switch();
        assert_eq!(g.admit("A/B", true, 1.0, &[], 2), Ok(1.0));
    }

    #[test]
    fn correlated_positions_share_one_budget() {
        let mut g = PortfolioGuard::new(GuardConfig::default(), 100.0);
        let mut p = (100.0, 50.0, 100.0);
        for t in 0..50 {
            let r = if t % 3 == 0 { 1.01 } else { 0.995 };
            p = (
                p.0 * r,
                p.1 * r * r,
                p.2 * if t % 2 == 0 { 1.01 } else { 0.99 },
            );
            g.on_close("BTC/USDT", t, p.0);
            g.on_close("ETH/USDT", t, p.1);
            g.on_close("XRP/USDT", t, p.2);
        }
        assert!(g.correlation("BTC/USDT", "ETH/USDT").unwrap() > 0.99);
        let open = [Exposure {
            symbol: "BTC/USDT".into(),
            long: true,
            risk_amount: 2.0,
        }];
        // 1.5 × 2 − 2 = 1 of 2 left: half size.
        assert!((g.admit("ETH/USDT", true, 2.0, &open, 4).unwrap() - 0.5).abs() < 1e-12);
        // The opposite side hedges; an uncorrelated market is free.
        assert_eq!(g.admit("ETH/USDT", false, 2.0, &open, 4), Ok(1.0));
        assert_eq!(g.admit("XRP/USDT", true, 2.0, &open, 4), Ok(1.0));
        let two = [
            open[0].clone(),
            Exposure {
                symbol: "BTC/USDT".into(),
                long: true,
                risk_amount: 1.0,
            },
        ];
        assert!(matches!(
            g.admit("ETH/USDT", true, 2.0, &two, 4),
            Err(GuardRejection::Correlated { .. })
        ));
    }
}
