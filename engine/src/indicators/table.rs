//! The standard indicator set as named columns, one value per bar.

use super::*;
use crate::Candle;

/// A named column of values, `None` during the indicator's lookback.
pub type Column = (&'static str, Vec<Option<f64>>);

/// Every indicator of the standard set over `candles`, named after TA-Lib's
/// function and parameters (`SMA_20`, `MACDSIGNAL_12_26_9`, …); `None`
/// during each lookback.
pub fn standard(candles: &[Candle]) -> Vec<Column> {
    columns(candles)
        .into_iter()
        .map(|(name, v)| {
            (
                name,
                v.into_iter().map(|x| (!x.is_nan()).then_some(x)).collect(),
            )
        })
        .collect()
}

/// The standard set as TA-Lib returns it: one `f64` per bar, NaN during the
/// lookback. One tight loop per indicator over contiguous inputs: the same
/// streaming code, monomorphised and inlined, with nothing else in the loop.
pub fn columns(candles: &[Candle]) -> Vec<(&'static str, Vec<f64>)> {
    let close: Vec<f64> = candles.iter().map(|c| c.close).collect();
    let hlc: Vec<Hlc> = candles.iter().map(|&c| Hlc::from(c)).collect();
    let cv: Vec<(f64, f64)> = candles.iter().map(|c| (c.close, c.volume)).collect();
    fn run<I: Indicator<Output = f64>>(mut ind: I, xs: &[I::Input]) -> Vec<f64> {
        xs.iter()
            .map(|&x| ind.update(x).unwrap_or(f64::NAN))
            .collect()
    }
    fn run3<I: Indicator, const K: usize>(
        mut ind: I,
        xs: &[I::Input],
        f: impl Fn(I::Output) -> [f64; K],
    ) -> [Vec<f64>; K] {
        let mut out: [Vec<f64>; K] = std::array::from_fn(|_| Vec::with_capacity(xs.len()));
        for &x in xs {
            let v = ind.update(x).map_or([f64::NAN; K], &f);
            for (o, v) in out.iter_mut().zip(v) {
                o.push(v);
            }
        }
        out
    }
    // Periods below are constants that always validate.
    let [macd, signal, hist] = run3(Macd::new(12, 26, 9).expect("valid"), &close, |m| {
        [m.macd, m.signal, m.hist]
    });
    let [upper, middle, lower] = run3(Bbands::new(20, 2.0, 2.0).expect("valid"), &close, |b| {
        [b.upper, b.middle, b.lower]
    });
    let [k, d] = run3(Stoch::new(14, 3, 3).expect("valid"), &hlc, |s| [s.k, s.d]);
    let cols = [
        run(Sma::new(20).expect("valid"), &close),
        run(Sma::new(50).expect("valid"), &close),
        run(Ema::new(12).expect("valid"), &close),
        run(Ema::new(26).expect("valid"), &close),
        run(Rsi::new(14).expect("valid"), &close),
        run(Atr::new(14).expect("valid"), &hlc),
        macd,
        signal,
        hist,
        upper,
        middle,
        lower,
        k,
        d,
        run(Willr::new(14).expect("valid"), &hlc),
        run(Cci::new(20).expect("valid"), &hlc),
        run(Obv::new(), &cv),
        run(Roc::new(10).expect("valid"), &close),
        run(Mom::new(10).expect("valid"), &close),
        run(Adx::new(14).expect("valid"), &hlc),
    ];
    NAMES.iter().copied().zip(cols).collect()
}

/// Column names, in output order.
pub const NAMES: [&str; 20] = [
    "SMA_20",
    "SMA_50",
    "EMA_12",
    "EMA_26",
    "RSI_14",
    "ATR_14",
    "MACD_12_26_9",
    "MACDSIGNAL_12_26_9",
    "MACDHIST_12_26_9",
    "BBANDS_UPPER_20_2",
    "BBANDS_MIDDLE_20_2",
    "BBANDS_LOWER_20_2",
    "STOCH_K_14_3_3",
    "STOCH_D_14_3_3",
    "WILLR_14",
    "CCI_20",
    "OBV",
    "ROC_10",
    "MOM_10",
    "ADX_14",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_value_per_bar_in_every_column() {
        let candles: Vec<Candle> = (0..100)
            .map(|i| {
                let p = 100.0 + (i as f64 / 5.0).sin() * 3.0;
                Candle {
                    open_time: i * 60_000,
                    open: p,
                    high: p + 1.0,
                    low: p - 1.0,
                    close: p + 0.5,
                    volume: 10.0,
                }
            })
            .collect();
        let cols = standard(&candles);
        assert_eq!(cols.len(), 20);
        for (name, values) in &cols {
            assert_eq!(values.len(), 100, "{name}");
            assert!(
                values.last().unwrap().is_some(),
                "{name} is warmed up after 100 bars"
            );
        }
        let first = |name: &str| {
            cols.iter()
                .find(|c| c.0 == name)
                .unwrap()
                .1
                .iter()
                .position(Option::is_some)
        };
        assert_eq!(
            (
                first("SMA_50"),
                first("MACD_12_26_9"),
                first("ADX_14"),
                first("OBV")
            ),
            (Some(49), Some(33), Some(27), Some(0))
        );
    }
}
