//! The standard indicator set as named columns, one value per bar.

use super::*;
use crate::Candle;

/// A named column of values, `None` during the indicator's lookback.
pub type Column = (&'static str, Vec<Option<f64>>);

/// Every indicator of the standard set over `candles`, named after TA-Lib's
/// function and parameters (`SMA_20`, `MACDSIGNAL_12_26_9`, …).
pub fn standard(candles: &[Candle]) -> Vec<Column> {
    let n = candles.len();
    // Periods below are constants that always validate.
    let mut sma20 = Sma::new(20).expect("valid");
    let mut sma50 = Sma::new(50).expect("valid");
    let mut ema12 = Ema::new(12).expect("valid");
    let mut ema26 = Ema::new(26).expect("valid");
    let mut rsi = Rsi::new(14).expect("valid");
    let mut atr = Atr::new(14).expect("valid");
    let mut macd = Macd::new(12, 26, 9).expect("valid");
    let mut bb = Bbands::new(20, 2.0, 2.0).expect("valid");
    let mut st = Stoch::new(14, 3, 3).expect("valid");
    let mut willr = Willr::new(14).expect("valid");
    let mut cci = Cci::new(20).expect("valid");
    let mut obv = Obv::new();
    let mut roc = Roc::new(10).expect("valid");
    let mut mom = Mom::new(10).expect("valid");
    let mut adx = Adx::new(14).expect("valid");
    let mut cols: Vec<Vec<Option<f64>>> = (0..NAMES.len()).map(|_| Vec::with_capacity(n)).collect();
    // One pass over the bars, every indicator fed in turn: the bar stays in
    // cache and no intermediate vectors of structs are built.
    for c in candles {
        let (x, bar) = (c.close, Hlc::from(*c));
        let m = macd.update(x);
        let b = bb.update(x);
        let s = st.update(bar);
        let row = [
            sma20.update(x),
            sma50.update(x),
            ema12.update(x),
            ema26.update(x),
            rsi.update(x),
            atr.update(bar),
            m.map(|v| v.macd),
            m.map(|v| v.signal),
            m.map(|v| v.hist),
            b.map(|v| v.upper),
            b.map(|v| v.middle),
            b.map(|v| v.lower),
            s.map(|v| v.k),
            s.map(|v| v.d),
            willr.update(bar),
            cci.update(bar),
            obv.update((c.close, c.volume)),
            roc.update(x),
            mom.update(x),
            adx.update(bar),
        ];
        for (col, v) in cols.iter_mut().zip(row) {
            col.push(v);
        }
    }
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
