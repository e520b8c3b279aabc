//! Real bundled series (as imported, from the engine's golden files) and a
//! shrunken network so tests train in seconds.
#![allow(dead_code)] // each test binary uses its own part

use std::path::Path;

use engine::{Candle, Timeframe};
use models::data::{Dataset, Series, TargetConfig};
use models::net::NetConfig;
use models::train::TrainConfig;

pub fn candles(name: &str) -> Vec<Candle> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../engine/tests/golden")
        .join(format!("{name}.csv"));
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            Candle {
                open_time: chrono::DateTime::parse_from_rfc3339(f[0])
                    .unwrap()
                    .timestamp_millis(),
                open: f[1].parse().unwrap(),
                high: f[2].parse().unwrap(),
                low: f[3].parse().unwrap(),
                close: f[4].parse().unwrap(),
                volume: f[5].parse().unwrap(),
            }
        })
        .collect()
}

pub fn daily(names: &[&str], window: usize) -> Dataset {
    let target = TargetConfig::for_timeframe(Timeframe::D1);
    let series = names
        .iter()
        .map(|n| Series::new(n, Timeframe::D1, &candles(n), target))
        .collect();
    Dataset::new(series, window, target.horizon).unwrap()
}

pub fn tiny(window: usize, max_epochs: usize) -> TrainConfig {
    TrainConfig {
        net: NetConfig {
            window,
            gru1: 12,
            gru2: 8,
            attention: 8,
            dense1: 16,
            dense2: 8,
            ..NetConfig::default()
        },
        max_epochs,
        learning_rate: 2e-3,
        ..TrainConfig::default()
    }
}
