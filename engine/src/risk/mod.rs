//! Risk profiles, position sizing and portfolio guards.

pub mod guards;
pub mod sizing;

use serde::{Deserialize, Serialize};

/// What a user chooses: how much to risk per trade, how much leverage at
/// most, how many positions at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RiskProfile {
    Low,
    Medium,
    High,
}

impl RiskProfile {
    pub const ALL: [RiskProfile; 3] = [RiskProfile::Low, RiskProfile::Medium, RiskProfile::High];

    pub fn limits(self) -> RiskLimits {
        match self {
            RiskProfile::Low => RiskLimits {
                risk_per_trade_pct: 1.0,
                max_leverage: 5.0,
                max_positions: 2,
            },
            RiskProfile::Medium => RiskLimits {
                risk_per_trade_pct: 2.0,
                max_leverage: 10.0,
                max_positions: 4,
            },
            RiskProfile::High => RiskLimits {
                risk_per_trade_pct: 3.0,
                max_leverage: 20.0,
                max_positions: 6,
            },
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RiskProfile::Low => "low",
            RiskProfile::Medium => "medium",
            RiskProfile::High => "high",
        }
    }
}

impl std::str::FromStr for RiskProfile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "low" => Ok(RiskProfile::Low),
            "medium" | "med" => Ok(RiskProfile::Medium),
            "high" => Ok(RiskProfile::High),
            _ => Err(format!("risk profile {s:?}: expected low, medium or high")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RiskLimits {
    pub risk_per_trade_pct: f64,
    pub max_leverage: f64,
    pub max_positions: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_as_specified() {
        let l: Vec<_> = RiskProfile::ALL.iter().map(|p| p.limits()).collect();
        assert_eq!(
            l.iter().map(|l| l.risk_per_trade_pct).collect::<Vec<_>>(),
            [1.0, 2.0, 3.0]
        );
        assert_eq!(
            l.iter().map(|l| l.max_leverage).collect::<Vec<_>>(),
            [5.0, 10.0, 20.0]
        );
        assert_eq!(
            l.iter().map(|l| l.max_positions).collect::<Vec<_>>(),
            [2, 4, 6]
        );
        assert_eq!("HIGH".parse::<RiskProfile>(), Ok(RiskProfile::High));
        assert!("yolo".parse::<RiskProfile>().is_err());
    }
}
