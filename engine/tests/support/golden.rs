//! The golden BTC 15m bars (`engine/tests/golden/btc-usd-15m.csv`), read the
//! same way by every test that runs on them (engine's and trading's).

use engine::Candle;
use std::path::Path;

pub fn btc_15m() -> Vec<Candle> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../engine/tests/golden/btc-usd-15m.csv");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let v = |i: usize| f[i].parse::<f64>().unwrap();
            Candle {
                open_time: chrono::DateTime::parse_from_rfc3339(f[0])
                    .unwrap()
                    .timestamp_millis(),
                open: v(1),
                high: v(2),
                low: v(3),
                close: v(4),
                volume: v(5),
            }
        })
        .collect()
}
