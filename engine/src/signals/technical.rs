//! The plain technical signal (SMA trend, MACD, RSI, ATR) and the hybrid in
//! which a model adjusts its confidence but never its direction.

use super::{Prediction, Side};
use crate::features::Technicals;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TechnicalRule {
    /// Expected move in ATRs the rule promises when it fires.
    pub move_atr: f64,
    /// Longs only below this RSI, shorts only above 100 minus it.
    pub rsi_ceiling: f64,
    /// Confidence with three of four votes agreeing, and with all four.
    pub confidence: [f64; 2],
}

impl Default for TechnicalRule {
    fn default() -> Self {
        TechnicalRule {
            move_atr: 3.0,
            rsi_ceiling: 70.0,
            confidence: [0.58, 0.65],
        }
    }
}

impl TechnicalRule {
    /// What the four votes read, each as its distance from the vote's
    /// threshold: the sign is the vote (+ long, − short, 0 abstains), the
    /// size says how clearly (what the dashboard shows as "why").
    pub fn inputs(t: &Technicals) -> [(&'static str, f64); 4] {
        let pct = |a: f64, b: f64| (a - b) / b.abs() * 100.0;
        [
            ("SMA20 vs SMA50 %", pct(t.sma20, t.sma50)),
            ("EMA12 vs EMA26 %", pct(t.ema12, t.ema26)),
            ("MACD histogram", t.macd_hist),
            ("RSI − 50", t.rsi - 50.0),
        ]
    }

    /// Four votes: SMA-20 vs SMA-50, EMA-12 vs EMA-26, MACD histogram sign,
    /// RSI vs 50. Fires when at least three agree and RSI is not stretched.
    pub fn evaluate(&self, t: &Technicals) -> Option<Prediction> {
        let vote = |b: bool, s: bool| {
            if b {
                1
            } else if s {
                -1
            } else {
                0
            }
        };
        let votes = Self::inputs(t).map(|(_, v)| vote(v > 0.0, v < 0.0));
        let sum: i32 = votes.iter().sum();
        let side = match sum {
            s if s >= 2 => Side::Long,
            s if s <= -2 => Side::Short,
            _ => return None,
        };
        let agree = votes.iter().filter(|&&v| v as f64 == side.sign()).count();
        if agree < 3 {
            return None;
        }
        let stretched = match side {
            Side::Long => t.rsi >= self.rsi_ceiling,
            Side::Short => t.rsi <= 100.0 - self.rsi_ceiling,
        };
        if stretched || t.close <= 0.0 {
            return None;
        }
        let confidence = self.confidence[usize::from(agree == 4)];
        let rest = (1.0 - confidence) / 2.0;
        let (p_up, p_down) = match side {
            Side::Long => (confidence, rest),
            Side::Short => (rest, confidence),
        };
        Some(Prediction {
            p_up,
            p_neutral: rest,
            p_down,
            expected_move_pct: side.sign() * self.move_atr * t.atr / t.close * 100.0,
            confidence,
        })
    }
}

/// The technical signal with its confidence blended toward the model's
/// probability of the same direction: `(1 − w)·rule + w·model`. The side and
/// the expected move stay the rule's, so a disagreeing model can only push
/// the confidence under the gate, never turn the trade around.
pub fn hybrid(rule: &Prediction, model: &Prediction, weight: f64) -> Prediction {
    let w = weight.clamp(0.0, 1.0);
    let model_p = match rule.side() {
        Some(Side::Long) => model.p_up,
        Some(Side::Short) => model.p_down,
        None => return *rule,
    };
    Prediction {
        confidence: (1.0 - w) * rule.confidence + w * model_p,
        ..*rule
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tech(up: bool, rsi: f64) -> Technicals {
        let s = if up { 1.0 } else { -1.0 };
        Technicals {
            close: 100.0,
            sma20: 100.0 + s,
            sma50: 100.0,
            ema12: 100.0 + s,
            ema26: 100.0,
            macd_hist: s,
            rsi,
            atr: 1.0,
            adx: 30.0,
        }
    }

    #[test]
    fn rule_fires_on_agreement_and_not_when_stretched() {
        let r = TechnicalRule::default();
        let long = r.evaluate(&tech(true, 60.0)).unwrap();
        assert_eq!((long.side(), long.confidence), (Some(Side::Long), 0.65));
        assert!((long.expected_move_pct - 3.0).abs() < 1e-12);
        assert_eq!(
            r.evaluate(&tech(false, 40.0)).unwrap().side(),
            Some(Side::Short)
        );
        assert_eq!(r.evaluate(&tech(true, 75.0)), None);
        // RSI disagreeing leaves three votes: lower confidence.
        assert_eq!(r.evaluate(&tech(true, 45.0)).unwrap().confidence, 0.58);
        let mixed = Technicals {
            macd_hist: -1.0,
            ..tech(true, 45.0)
        };
        assert_eq!(r.evaluate(&mixed), None);
    }

    #[test]
    fn inputs_carry_the_votes_in_their_signs() {
        let i = TechnicalRule::inputs(&tech(true, 45.0));
        assert!((i[0].1 - 1.0).abs() < 1e-12, "SMA20 1 % above SMA50");
        assert!(i[1].1 > 0.0 && i[2].1 > 0.0);
        assert_eq!(i[3].1, -5.0, "RSI votes short");
        let flat = TechnicalRule::inputs(&Technicals {
            sma20: 0.0,
            sma50: 0.0,
            ..tech(true, 50.0)
        });
        assert!(flat[0].1.is_nan() && flat[3].1 == 0.0, "no vote either way");
    }

    #[test]
    fn the_model_adjusts_confidence_but_never_the_side() {
        let rule = TechnicalRule::default()
            .evaluate(&tech(true, 60.0))
            .unwrap();
        let against = Prediction {
            p_up: 0.05,
            p_neutral: 0.05,
            p_down: 0.9,
            expected_move_pct: -5.0,
            confidence: 0.9,
        };
        let h = hybrid(&rule, &against, 0.5);
        assert_eq!(h.side(), Some(Side::Long));
        assert!((h.confidence - 0.35).abs() < 1e-12);
        assert_eq!(h.expected_move_pct, rule.expected_move_pct);
        let agree = Prediction {
            p_up: 0.9,
            p_down: 0.05,
            ..against
        };
        assert!((hybrid(&rule, &agree, 0.5).confidence - 0.775).abs() < 1e-12);
    }
}
