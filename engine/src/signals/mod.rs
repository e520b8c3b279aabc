//! From a prediction to a trade plan someone can act on — or a stated
//! reason why there is none.

pub mod calibration;
pub mod plan;
pub mod technical;

pub use calibration::{RuleCalibration, RuleConfidence};
pub use plan::{PlanConfig, PlanContext, Rejection, SignalPlan, StopRule, plan};
pub use technical::{TechnicalRule, hybrid};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Long,
    Short,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Long => "long",
            Side::Short => "short",
        }
    }

    /// +1 long, −1 short.
    pub fn sign(self) -> f64 {
        match self {
            Side::Long => 1.0,
            Side::Short => -1.0,
        }
    }
}

/// What a model (or the technical rule) says about the next move.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub p_up: f64,
    pub p_neutral: f64,
    pub p_down: f64,
    /// Expected % move of the price over the label horizon (signed).
    pub expected_move_pct: f64,
    /// Calibrated probability that the chosen direction is right.
    pub confidence: f64,
}

impl Prediction {
    /// The direction with the larger probability, unless NEUTRAL beats both.
    pub fn side(&self) -> Option<Side> {
        if self.p_neutral > self.p_up.max(self.p_down) {
            None
        } else if self.p_up >= self.p_down {
            Some(Side::Long)
        } else {
            Some(Side::Short)
        }
    }
}
