//! The standard indicator set as named columns, one value per bar.

use super::*;
use crate::Candle;

/// A named column of values, `None` during the indicator's lookback.
pub type Column = (&'static str, Vec<Option<f64>>);

/// Every indicator of the standard set over `candles`, named after TA-Lib's
/// function and parameters (`SMA_20`, `MACDSIGNAL_12_26_9`, …).
pub fn standard(candles: &[Candle]) -> Vec<Column> {
    let close: Vec<f64> = candles.iter().map(|c| c.close).collect();
    let hlc: Vec<Hlc> = candles.iter().map(|&c| c.into()).collect();
    let on_close =
        |ind: &mut dyn FnMut(f64) -> Option<f64>| close.iter().map(|&x| ind(x)).collect::<Vec<_>>();
    let on_bars =
        |ind: &mut dyn FnMut(Hlc) -> Option<f64>| hlc.iter().map(|&b| ind(b)).collect::<Vec<_>>();
    // Periods below are constants that always validate.
    let (mut sma20, mut sma50) = (Sma::new(20).expect("valid"), Sma::new(50).expect("valid"));
    let (mut ema12, mut ema26) = (Ema::new(12).expect("valid"), Ema::new(26).expect("valid"));
    let mut rsi = Rsi::new(14).expect("valid");
    let mut atr = Atr::new(14).expect("valid");
    let mut roc = Roc::new(10).expect("valid");
    let mut mom = Mom::new(10).expect("valid");
    let mut willr = Willr::new(14).expect("valid");
    let mut cci = Cci::new(20).expect("valid");
    let mut adx = Adx::new(14).expect("valid");
    let mut obv = Obv::new();
    let macd = batch(
        &mut Macd::new(12, 26, 9).expect("valid"),
        close.iter().copied(),
    );
    let bb = batch(
        &mut Bbands::new(20, 2.0, 2.0).expect("valid"),
        close.iter().copied(),
    );
    let st = batch(
        &mut Stoch::new(14, 3, 3).expect("valid"),
        hlc.iter().copied(),
    );
    vec![
        ("SMA_20", on_close(&mut |x| sma20.update(x))),
        ("SMA_50", on_close(&mut |x| sma50.update(x))),
        ("EMA_12", on_close(&mut |x| ema12.update(x))),
        ("EMA_26", on_close(&mut |x| ema26.update(x))),
        ("RSI_14", on_close(&mut |x| rsi.update(x))),
        ("ATR_14", on_bars(&mut |b| atr.update(b))),
        (
            "MACD_12_26_9",
            macd.iter().map(|v| v.map(|v| v.macd)).collect(),
        ),
        (
            "MACDSIGNAL_12_26_9",
            macd.iter().map(|v| v.map(|v| v.signal)).collect(),
        ),
        (
            "MACDHIST_12_26_9",
            macd.iter().map(|v| v.map(|v| v.hist)).collect(),
        ),
        (
            "BBANDS_UPPER_20_2",
            bb.iter().map(|v| v.map(|v| v.upper)).collect(),
        ),
        (
            "BBANDS_MIDDLE_20_2",
            bb.iter().map(|v| v.map(|v| v.middle)).collect(),
        ),
        (
            "BBANDS_LOWER_20_2",
            bb.iter().map(|v| v.map(|v| v.lower)).collect(),
        ),
        (
            "STOCH_K_14_3_3",
            st.iter().map(|v| v.map(|v| v.k)).collect(),
        ),
        (
            "STOCH_D_14_3_3",
            st.iter().map(|v| v.map(|v| v.d)).collect(),
        ),
        ("WILLR_14", on_bars(&mut |b| willr.update(b))),
        ("CCI_20", on_bars(&mut |b| cci.update(b))),
        (
            "OBV",
            candles
                .iter()
                .map(|c| obv.update((c.close, c.volume)))
                .collect(),
        ),
        ("ROC_10", on_close(&mut |x| roc.update(x))),
        ("MOM_10", on_close(&mut |x| mom.update(x))),
        ("ADX_14", on_bars(&mut |b| adx.update(b))),
    ]
}

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
