//! Live risk state of an account: `Active` (all orders pass), `Reducing`
//! (only orders that close exposure pass), `Halted` (nothing new passes;
//! exits already resting at the venue stay, and `--flatten` closes what is
//! open). The engine's breakers (consecutive losses, daily loss, drawdown)
//! put an account in `Reducing` until their cooldown ends; the kill switch
//! (global or the account's own) halts it until someone resumes it. Every
//! halt carries its reason. An order the state refuses becomes
//! `OrderDenied` and never reaches a venue.
//!
//! Anchor: nautilus_trader `TradingState`.

use crate::order::OrderRequest;
use engine::TimeMs;
use engine::risk::guards::Halt;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TradingState {
    Active,
    Reducing,
    Halted,
}

impl TradingState {
    pub fn as_str(self) -> &'static str {
        match self {
            TradingState::Active => "active",
            TradingState::Reducing => "reducing",
            TradingState::Halted => "halted",
        }
    }
}

/// Who or what stopped trading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum HaltCause {
    /// The global kill switch (`traderai kill`, the admin button, the API).
    KillSwitch,
    /// The account's owner.
    Owner,
    /// One of the engine's breakers, until its cooldown ends.
    Breaker { halt: Halt, until: TimeMs },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HaltReason {
    pub cause: HaltCause,
    /// What a person wrote, or what the breaker measured.
    pub detail: String,
    pub at: TimeMs,
}

impl HaltReason {
    /// The state it puts an account in: breakers only stop new entries.
    pub fn state(&self) -> TradingState {
        match self.cause {
            HaltCause::Breaker { .. } => TradingState::Reducing,
            HaltCause::KillSwitch | HaltCause::Owner => TradingState::Halted,
        }
    }

    pub fn describe(&self) -> String {
        match &self.cause {
            HaltCause::KillSwitch => format!("kill switch: {}", self.detail),
            HaltCause::Owner => format!("halted by its owner: {}", self.detail),
            HaltCause::Breaker { .. } => format!("circuit breaker: {}", self.detail),
        }
    }
}

/// Why an order did not leave.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{state:?}: {why}")]
pub struct Denial {
    pub state: TradingState,
    pub why: String,
}

/// May `order` go to the venue in `state`? Reducing lets reduce-only
/// orders through; Halted lets nothing new through.
pub fn check(
    state: TradingState,
    reason: Option<&HaltReason>,
    order: &OrderRequest,
) -> Result<(), Denial> {
    let why = || reason.map_or_else(|| state.as_str().to_string(), HaltReason::describe);
    match state {
        TradingState::Active => Ok(()),
        TradingState::Reducing if order.reduce_only => Ok(()),
        TradingState::Reducing => Err(Denial {
            state,
            why: format!("only closing orders pass ({})", why()),
        }),
        TradingState::Halted => Err(Denial { state, why: why() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::{OrderKind, OrderSide, Purpose};
    use rust_decimal::Decimal;

    #[test]
    fn reducing_passes_only_closing_orders() {
        let mut o = OrderRequest {
            client_id: "x".into(),
            symbol: "A/B".into(),
            side: OrderSide::Buy,
            kind: OrderKind::Market,
            qty: Decimal::ONE,
            reduce_only: false,
            purpose: Purpose::Entry,
        };
        let r = HaltReason {
            cause: HaltCause::Breaker {
                halt: Halt::ConsecutiveLosses { losses: 4 },
                until: 10,
            },
            detail: "4 losses in a row".into(),
            at: 1,
        };
        assert_eq!(r.state(), TradingState::Reducing);
        assert!(check(TradingState::Active, None, &o).is_ok());
        let denied = check(TradingState::Reducing, Some(&r), &o).unwrap_err();
        assert!(denied.why.contains("4 losses"), "{denied}");
        o.reduce_only = true;
        assert!(check(TradingState::Reducing, Some(&r), &o).is_ok());
        assert!(check(TradingState::Halted, None, &o).is_err());
    }
}
