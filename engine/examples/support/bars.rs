//! The closed-form synthetic bars every engine benchmark uses (and the
//! Python side rebuilds with numpy): a smooth multi-sine walk, 1-minute bars.

use engine::Candle;

pub fn bars(n: usize) -> Vec<Candle> {
    (0..n)
        .map(|i| {
            let f = i as f64;
            let p = |x: f64| {
                100.0 + 20.0 * (x / 500.0).sin() + 5.0 * (x / 37.0).sin() + 0.5 * (x * 1.7).sin()
            };
            let (open, close) = (p(f), p(f + 1.0));
            let wick = 0.3 + 0.2 * (f * 0.3).sin().abs();
            Candle {
                open_time: i as i64 * 60_000,
                open,
                high: open.max(close) + wick,
                low: open.min(close) - wick,
                close,
                volume: 1000.0 + (i % 977) as f64,
            }
        })
        .collect()
}
