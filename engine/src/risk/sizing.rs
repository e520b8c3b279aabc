//! Position size from the risk budget and the stop distance.

use super::RiskLimits;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum SizingMode {
    #[default]
    /// Lose the profile's risk-per-trade (costs included) at the stop.
    FixedRisk,
    /// Lose the risk budget on a one-ATR adverse move (volatility targeting).
    Atr,
    /// A fraction of the Kelly stake p − (1 − p)/R, never above the profile's risk.
    Kelly { fraction: f64 },
}

impl SizingMode {
    /// `fixed-risk` (or `fixed`), `atr`, or `kelly:F` with F in (0, 1]: the
    /// CLI's `--sizing` and the simulator's `sizing`.
    pub fn parse(s: &str) -> Result<SizingMode, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "fixed-risk" | "fixed" => Ok(SizingMode::FixedRisk),
            "atr" => Ok(SizingMode::Atr),
            k => {
                let f = k
                    .strip_prefix("kelly:")
                    .ok_or_else(|| format!("{s:?}: expected fixed-risk, atr or kelly:F"))?;
                match f.parse::<f64>() {
                    Ok(fraction) if fraction > 0.0 && fraction <= 1.0 => {
                        Ok(SizingMode::Kelly { fraction })
                    }
                    _ => Err(format!("{s:?}: the Kelly fraction must be in (0, 1]")),
                }
            }
        }
    }
}

/// What sizing needs to know about the trade.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SizingInput {
    /// Equity the risk budget is a share of.
    pub equity: f64,
    /// Margin not tied up in other positions.
    pub free_margin: f64,
    pub entry: f64,
    pub stop: f64,
    pub atr: f64,
    /// Probability the trade reaches its target (the calibrated confidence).
    pub win_prob: f64,
    pub reward_risk: f64,
    /// Costs of a round trip as a fraction of notional.
    pub cost_frac: f64,
    /// Maintenance margin rate of the venue (liquidation distance).
    pub maintenance_margin: f64,
    /// Scales the risk budget down (1 = full): the correlation guard's cut.
    pub risk_scale: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Size {
    pub qty: f64,
    pub notional: f64,
    pub leverage: f64,
    pub margin: f64,
    /// What hitting the stop would cost, fees and slippage included.
    pub risk_amount: f64,
    pub liquidation: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum SizingError {
    #[error("the stop is at or beyond the entry")]
    BadStop,
    #[error("no edge: the Kelly stake {kelly:.4} is not positive")]
    NoEdge { kelly: f64 },
    #[error("no free margin")]
    NoMargin,
    /// So little capital that the position rounds to nothing.
    #[error("the capital is too small for any position")]
    TooSmall,
}

/// Sizes a long when `stop < entry`, a short when `stop > entry`.
pub fn size(mode: SizingMode, limits: &RiskLimits, s: &SizingInput) -> Result<Size, SizingError> {
    let stop_dist = (s.entry - s.stop).abs();
    if stop_dist <= 0.0 || !stop_dist.is_finite() || s.entry <= 0.0 {
        return Err(SizingError::BadStop);
    }
    if s.free_margin <= 0.0 || s.equity <= 0.0 {
        return Err(SizingError::NoMargin);
    }
    let mut risk_frac = limits.risk_per_trade_pct / 100.0 * s.risk_scale.clamp(0.0, 1.0);
    let per_unit_loss = stop_dist + s.entry * s.cost_frac;
    let mut qty = match mode {
        SizingMode::FixedRisk => s.equity * risk_frac / per_unit_loss,
        SizingMode::Atr => s.equity * risk_frac / s.atr.max(f64::MIN_POSITIVE),
        SizingMode::Kelly { fraction } => {
            let kelly = s.win_prob - (1.0 - s.win_prob) / s.reward_risk;
            if kelly <= 0.0 || !kelly.is_finite() {
                return Err(SizingError::NoEdge { kelly });
            }
            risk_frac = risk_frac.min(fraction * kelly);
            s.equity * risk_frac / per_unit_loss
        }
    };
    // Leverage: enough for the notional, never past the profile, and low
    // enough that liquidation lies beyond the stop (with a 20 % buffer).
    let stop_frac = stop_dist / s.entry;
    let liq_cap = (0.8 / (stop_frac + s.maintenance_margin)).floor().max(1.0);
    let max_lev = limits.max_leverage.min(liq_cap).max(1.0);
    // Each of the profile's concurrent positions gets an equal margin slot,
    // so the first trade cannot tie up the margin the others need.
    let slot = s
        .free_margin
        .min(s.equity / limits.max_positions.max(1) as f64);
    let mut notional = qty * s.entry;
    if notional > slot * max_lev {
        notional = slot * max_lev;
        qty = notional / s.entry;
    }
    if !(qty > 0.0 && qty.is_finite() && slot > 0.0 && notional > 0.0) {
        return Err(SizingError::TooSmall);
    }
    let leverage = (notional / slot).ceil().clamp(1.0, max_lev);
    let long = s.stop < s.entry;
    let liquidation = if long {
        s.entry * (1.0 - 1.0 / leverage + s.maintenance_margin)
    } else {
        s.entry * (1.0 + 1.0 / leverage - s.maintenance_margin)
    };
    Ok(Size {
        qty,
        notional,
        leverage,
        margin: notional / leverage,
        risk_amount: qty * per_unit_loss,
        liquidation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::risk::RiskProfile;

    #[test]
    fn capital_too_small_for_a_position_is_refused() {
        let mut s = input();
        s.equity = 5e-324;
        s.free_margin = 5e-324;
        assert_eq!(
            size(SizingMode::FixedRisk, &RiskProfile::Medium.limits(), &s),
            Err(SizingError::TooSmall)
        );
    }

    fn input() -> SizingInput {
        SizingInput {
            equity: 100.0,
            free_margin: 100.0,
            entry: 100.0,
            stop: 98.0,
            atr: 1.0,
            win_prob: 0.6,
            reward_risk: 2.0,
            cost_frac: 0.0,
            maintenance_margin: 0.005,
            risk_scale: 1.0,
        }
    }

    #[test]
    fn fixed_risk_loses_the_budget_at_the_stop() {
        let s = size(
            SizingMode::FixedRisk,
            &RiskProfile::Medium.limits(),
            &input(),
        )
        .unwrap();
        // 2 % of $100 over a $2 stop: 1 unit, $100 notional on a $25 slot (4 positions): 4×.
        assert!((s.qty - 1.0).abs() < 1e-12);
        assert_eq!((s.leverage, s.margin), (4.0, 25.0));
        assert!((s.risk_amount - 2.0).abs() < 1e-12);
        let tight = SizingInput {
            stop: 99.8,
            ..input()
        };
        let s = size(SizingMode::FixedRisk, &RiskProfile::Medium.limits(), &tight).unwrap();
        // Risk would want $1,000; a $25 slot at 10× holds $250.
        assert!((s.notional - 250.0).abs() < 1e-9);
        assert_eq!(s.leverage, 10.0);
        assert!(
            s.liquidation < 99.8,
            "liquidation {} beyond the stop",
            s.liquidation
        );
        let low = size(SizingMode::FixedRisk, &RiskProfile::Low.limits(), &tight).unwrap();
        assert_eq!(low.leverage, 5.0);
        assert!((low.notional - 250.0).abs() < 1e-9, "a $50 slot at 5×");
    }

    #[test]
    fn kelly_and_atr_modes() {
        let wide = SizingInput {
            stop: 90.0,
            ..input()
        };
        let k = size(
            SizingMode::Kelly { fraction: 0.25 },
            &RiskProfile::High.limits(),
            &wide,
        )
        .unwrap();
        // Kelly 0.6 − 0.4/2 = 0.4; a quarter is 10 %, capped at 3 %.
        assert!((k.risk_amount - 3.0).abs() < 1e-9);
        let none = SizingInput {
            win_prob: 0.3,
            ..input()
        };
        assert!(matches!(
            size(
                SizingMode::Kelly { fraction: 0.5 },
                &RiskProfile::High.limits(),
                &none
            ),
            Err(SizingError::NoEdge { .. })
        ));
        let a = size(SizingMode::Atr, &RiskProfile::Low.limits(), &input()).unwrap();
        assert!((a.qty - 1.0).abs() < 1e-12, "1 % of $100 per $1 ATR");
        assert_eq!(a.leverage, 2.0, "$100 on a $50 slot");
        let short = SizingInput {
            stop: 102.0,
            ..input()
        };
        let s = size(SizingMode::FixedRisk, &RiskProfile::Medium.limits(), &short).unwrap();
        assert!(s.liquidation > 102.0 || s.leverage == 1.0);
    }
}
