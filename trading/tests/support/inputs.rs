//! Real BTC 15-minute bars with the technical rule's predictions: the
//! signals every account test follows.

use engine::backtest::{self, BacktestConfig};
use engine::signals::{Prediction, TechnicalRule};
use engine::{Candle, Timeframe, features};

#[path = "../../../engine/tests/support/golden.rs"]
mod golden;

pub fn cfg() -> BacktestConfig {
    let mut c = BacktestConfig::default();
    // 15-minute moves rarely promise 2 % net: lower the gate so trades happen.
    c.plan.min_net_profit_pct = 0.3;
    c
}

pub struct Inputs {
    pub candles: Vec<Candle>,
    pub preds: Vec<Option<Prediction>>,
    pub atr: Vec<Option<f64>>,
}

pub fn inputs() -> Inputs {
    let candles = golden::btc_15m();
    let set = features::compute("BTC/USD", Timeframe::M15, &candles);
    let preds = backtest::strategy::technical(
        &set,
        &TechnicalRule {
            move_atr: 4.0,
            ..Default::default()
        },
    );
    let atr = set
        .bars
        .iter()
        .map(|b| b.technicals.map(|t| t.atr))
        .collect();
    Inputs {
        candles,
        preds,
        atr,
    }
}
