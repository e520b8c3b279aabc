//! Signal plans: side, entry, three targets, stop, leverage, size, expected
//! net profit after every cost, and the gates that reject weak candidates.

use super::{Prediction, Side};
use crate::TimeMs;
use crate::costs::{CostModel, Liquidity};
use crate::risk::RiskLimits;
use crate::risk::sizing::{SizingError, SizingInput, SizingMode, size};
use serde::{Deserialize, Serialize};

/// Where the stop sits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum StopRule {
    /// A multiple of ATR from the entry.
    Atr(f64),
    /// A percentage of the entry.
    Pct(f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlanConfig {
    pub stop: StopRule,
    /// TP1/TP2/TP3 as fractions of the expected move.
    pub tp_fractions: [f64; 3],
    /// Share of the position closed at each target.
    pub tp_split: [f64; 3],
    pub min_net_profit_pct: f64,
    pub min_confidence: f64,
    /// Funding hours a plan budgets for.
    pub funding_hours: f64,
    pub maintenance_margin: f64,
    pub sizing: SizingMode,
}

impl Default for PlanConfig {
    fn default() -> Self {
        PlanConfig {
            stop: StopRule::Atr(1.5),
            tp_fractions: [0.5, 1.0, 1.5],
            tp_split: [0.3, 0.4, 0.3],
            min_net_profit_pct: 2.0,
            min_confidence: 0.55,
            funding_hours: 12.0,
            maintenance_margin: 0.005,
            sizing: SizingMode::FixedRisk,
        }
    }
}

impl PlanConfig {
    /// The weighted distance of the targets as a multiple of the expected move.
    pub fn target_weight(&self) -> f64 {
        self.tp_fractions
            .iter()
            .zip(self.tp_split)
            .map(|(f, w)| f * w)
            .sum()
    }
}

/// The market state a plan is made in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlanContext {
    pub time: TimeMs,
    /// The close the signal is made at (the expected entry).
    pub price: f64,
    pub atr: f64,
    pub equity: f64,
    pub free_margin: f64,
    /// The correlation guard's share of the risk budget.
    pub risk_scale: f64,
}

/// A trade plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalPlan {
    pub symbol: String,
    pub time: TimeMs,
    pub side: Side,
    pub entry: f64,
    pub take_profit: [f64; 3],
    pub stop_loss: f64,
    pub leverage: f64,
    pub qty: f64,
    pub notional: f64,
    pub margin: f64,
    pub risk_amount: f64,
    pub liquidation: f64,
    pub confidence: f64,
    /// ATR at the signal (the trailing stop's unit).
    pub atr: f64,
    pub expected_move_pct: f64,
    /// Weighted target profit before costs, percent of notional.
    pub expected_gross_pct: f64,
    pub costs_pct: f64,
    /// After fees, slippage and `funding_hours` of funding.
    pub expected_net_pct: f64,
    /// The same in money for this size.
    pub expected_net: f64,
    pub risk_reward: f64,
    /// Probability-weighted: confidence × net gain − (1 − confidence) × loss at the stop, percent.
    pub expected_value_pct: f64,
}

/// Why a candidate did not become a signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Rejection {
    #[error("the model expects no move (NEUTRAL most likely)")]
    Neutral,
    #[error("the expected move {expected_move_pct:.3} % points against the {side:?} side")]
    MoveAgainstSide { side: Side, expected_move_pct: f64 },
    #[error("confidence {confidence:.3} is below {min:.2}")]
    LowConfidence { confidence: f64, min: f64 },
    #[error("expected net profit {net_pct:.3} % is below {min:.2} %")]
    LowProfit { net_pct: f64, min: f64 },
    #[error("no ATR or price to place the stop")]
    NoVolatility,
    #[error("sizing: {0}")]
    Sizing(SizingError),
    #[error("portfolio guard: {0}")]
    Guard(crate::risk::guards::GuardRejection),
}

impl Rejection {
    /// A short stable name for counting rejections by reason.
    pub fn kind(&self) -> &'static str {
        match self {
            Rejection::Neutral => "neutral",
            Rejection::MoveAgainstSide { .. } => "move_against_side",
            Rejection::LowConfidence { .. } => "low_confidence",
            Rejection::LowProfit { .. } => "low_profit",
            Rejection::NoVolatility => "no_volatility",
            Rejection::Sizing(_) => "sizing",
            Rejection::Guard(crate::risk::guards::GuardRejection::Halted { .. }) => {
                "circuit_breaker"
            }
            Rejection::Guard(crate::risk::guards::GuardRejection::MaxPositions { .. }) => {
                "max_positions"
            }
            Rejection::Guard(crate::risk::guards::GuardRejection::Correlated { .. }) => {
                "correlation_cap"
            }
        }
    }
}

/// Makes the plan for `pred`, or says why not.
pub fn plan(
    symbol: &str,
    pred: &Prediction,
    ctx: &PlanContext,
    cfg: &PlanConfig,
    limits: &RiskLimits,
    costs: &CostModel,
) -> Result<SignalPlan, Rejection> {
    let side = pred.side().ok_or(Rejection::Neutral)?;
    let m = pred.expected_move_pct;
    if m * side.sign() <= 0.0 {
        return Err(Rejection::MoveAgainstSide {
            side,
            expected_move_pct: m,
        });
    }
    if pred.confidence < cfg.min_confidence || pred.confidence.is_nan() {
        return Err(Rejection::LowConfidence {
            confidence: pred.confidence,
            min: cfg.min_confidence,
        });
    }
    let costs_pct = costs.round_trip_pct(Liquidity::Maker, cfg.funding_hours);
    let gross = m.abs() * cfg.target_weight();
    let net = gross - costs_pct;
    if net < cfg.min_net_profit_pct || net.is_nan() {
        return Err(Rejection::LowProfit {
            net_pct: net,
            min: cfg.min_net_profit_pct,
        });
    }
    let entry = ctx.price;
    let dist = match cfg.stop {
        StopRule::Atr(k) => k * ctx.atr,
        StopRule::Pct(p) => entry * p / 100.0,
    };
    if !(dist > 0.0 && entry > 0.0) {
        return Err(Rejection::NoVolatility);
    }
    let s = side.sign();
    let stop = entry - s * dist;
    let take_profit = cfg
        .tp_fractions
        .map(|f| entry * (1.0 + s * f * m.abs() / 100.0));
    let stop_pct = dist / entry * 100.0;
    let risk_reward = gross / stop_pct;
    let sized = size(
        cfg.sizing,
        limits,
        &SizingInput {
            equity: ctx.equity,
            free_margin: ctx.free_margin,
            entry,
            stop,
            atr: ctx.atr,
            win_prob: pred.confidence,
            reward_risk: risk_reward,
            cost_frac: costs.round_trip_pct(Liquidity::Taker, 0.0) / 100.0,
            maintenance_margin: cfg.maintenance_margin,
            risk_scale: ctx.risk_scale,
        },
    )
    .map_err(Rejection::Sizing)?;
    let loss_pct = stop_pct + costs.round_trip_pct(Liquidity::Taker, cfg.funding_hours);
    Ok(SignalPlan {
        symbol: symbol.to_string(),
        time: ctx.time,
        side,
        entry,
        take_profit,
        stop_loss: stop,
        leverage: sized.leverage,
        qty: sized.qty,
        notional: sized.notional,
        margin: sized.margin,
        risk_amount: sized.risk_amount,
        liquidation: sized.liquidation,
        confidence: pred.confidence,
        atr: ctx.atr,
        expected_move_pct: m,
        expected_gross_pct: gross,
        costs_pct,
        expected_net_pct: net,
        expected_net: sized.notional * net / 100.0,
        risk_reward,
        expected_value_pct: pred.confidence * net - (1.0 - pred.confidence) * loss_pct,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::risk::RiskProfile;

    fn pred(up: f64, down: f64, m: f64, conf: f64) -> Prediction {
        Prediction {
            p_up: up,
            p_neutral: 1.0 - up - down,
            p_down: down,
            expected_move_pct: m,
            confidence: conf,
        }
    }

    fn ctx() -> PlanContext {
        PlanContext {
            time: 0,
            price: 100.0,
            atr: 2.0,
            equity: 100.0,
            free_margin: 100.0,
            risk_scale: 1.0,
        }
    }

    fn go(p: &Prediction) -> Result<SignalPlan, Rejection> {
        plan(
            "BTC/USDT",
            p,
            &ctx(),
            &PlanConfig::default(),
            &RiskProfile::Medium.limits(),
            &CostModel::default(),
        )
    }

    #[test]
    fn a_long_plan_has_ordered_levels_and_net_profit_after_costs() {
        let p = go(&pred(0.7, 0.1, 6.0, 0.7)).unwrap();
        assert_eq!(p.side, Side::Long);
        for (tp, want) in p.take_profit.iter().zip([103.0, 106.0, 109.0]) {
            assert!((tp - want).abs() < 1e-9, "{tp} vs {want}");
        }
        assert_eq!(p.stop_loss, 97.0);
        assert!(p.liquidation < p.stop_loss);
        // 0.3·3 + 0.4·6 + 0.3·9 = 6 % gross; 5+3+2+1.5 (12 h funding) bps = 0.115 % costs.
        assert!((p.expected_gross_pct - 6.0).abs() < 1e-12);
        assert!((p.expected_net_pct - 5.885).abs() < 1e-12);
        assert!((p.risk_reward - 2.0).abs() < 1e-12);
        assert!(p.risk_amount <= 2.0 + 1e-9, "2 % of $100 at most");
        let s = go(&pred(0.1, 0.7, -6.0, 0.7)).unwrap();
        assert_eq!((s.side, s.stop_loss), (Side::Short, 103.0));
        assert!(s.take_profit.iter().all(|&t| t < 100.0) && s.liquidation > s.stop_loss);
    }

    #[test]
    fn weak_candidates_are_rejected_with_their_reason() {
        assert_eq!(go(&pred(0.2, 0.1, 5.0, 0.7)), Err(Rejection::Neutral));
        assert!(matches!(
            go(&pred(0.7, 0.1, 5.0, 0.54)),
            Err(Rejection::LowConfidence { .. })
        ));
        // 2.1 % gross − 0.115 % costs = 1.985 %: just under the 2 % gate.
        assert!(
            matches!(go(&pred(0.7, 0.1, 2.1, 0.9)), Err(Rejection::LowProfit { net_pct, .. }) if (net_pct - 1.985).abs() < 1e-9)
        );
        assert!(go(&pred(0.7, 0.1, 2.12, 0.9)).is_ok());
        assert!(matches!(
            go(&pred(0.7, 0.1, -3.0, 0.9)),
            Err(Rejection::MoveAgainstSide { .. })
        ));
    }
}
