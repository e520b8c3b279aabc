//! Trading costs: fees, slippage and funding, in basis points of notional.

use serde::{Deserialize, Serialize};

/// Per-exchange costs. Funding is charged to longs and shorts alike: the
/// sign of real funding flips with the market, and a plan should not count
/// on being paid.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CostModel {
    pub maker_bps: f64,
    pub taker_bps: f64,
    pub slippage_bps: f64,
    pub funding_bps_per_hour: f64,
}

impl CostModel {
    /// US stocks through a commission-free broker (Alpaca): no commission,
    /// the SEC and FINRA fees on sells (about 0.3 bp of notional) spread
    /// over both sides, 2 bp of slippage on liquid names, and no funding (a
    /// cash position; there is no perpetual to fund).
    pub fn us_stocks() -> Self {
        CostModel {
            maker_bps: 0.15,
            taker_bps: 0.15,
            slippage_bps: 2.0,
            funding_bps_per_hour: 0.0,
        }
    }
}

impl Default for CostModel {
    fn default() -> Self {
        CostModel {
            maker_bps: 2.0,
            taker_bps: 5.0,
            slippage_bps: 3.0,
            // Binance USDⓈ-M's standard rate: 0.01 % per 8 h (its interest
            // component; premium adds or subtracts). 1.0 was 8× that and made
            // every multi-day hold pay 0.24 % a day.
            funding_bps_per_hour: 0.125,
        }
    }
}

/// One perpetual funding settlement: at `time` (ms) positions pay `rate`
/// of their notional, longs to shorts when it is positive (Binance's
/// `/fapi/v1/fundingRate` history).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FundingRate {
    pub time: i64,
    pub rate: f64,
}

/// What a position of `side_sign` (+1 long, −1 short) and `notional` pays
/// at the settlements in `(from, to]` (a receipt is negative).
pub fn settled_funding(
    rates: &[FundingRate],
    from: i64,
    to: i64,
    side_sign: f64,
    notional: f64,
) -> f64 {
    let a = rates.partition_point(|r| r.time <= from);
    let b = rates.partition_point(|r| r.time <= to);
    rates[a..b.max(a)]
        .iter()
        .map(|r| side_sign * r.rate * notional.abs())
        .sum()
}

/// How an order meets the book.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Liquidity {
    /// Resting limit order (take-profits): maker fee, no slippage.
    Maker,
    /// Market or stop order: taker fee and slippage.
    Taker,
}

const BP: f64 = 1e-4;

impl CostModel {
    /// Fee on a fill of `notional`.
    pub fn fee(&self, notional: f64, liq: Liquidity) -> f64 {
        notional.abs()
            * BP
            * match liq {
                Liquidity::Maker => self.maker_bps,
                Liquidity::Taker => self.taker_bps,
            }
    }

    /// The price actually obtained: taker orders pay slippage against them.
    /// `buy` is the direction of this fill.
    pub fn fill_price(&self, price: f64, buy: bool, liq: Liquidity) -> f64 {
        match liq {
            Liquidity::Maker => price,
            Liquidity::Taker if buy => price * (1.0 + self.slippage_bps * BP),
            Liquidity::Taker => price * (1.0 - self.slippage_bps * BP),
        }
    }

    /// Funding on `notional` held for `hours`.
    pub fn funding(&self, notional: f64, hours: f64) -> f64 {
        notional.abs() * self.funding_bps_per_hour * BP * hours
    }

    /// Cost of a round trip as a percentage of notional: taker entry with
    /// slippage, exit at the given liquidity, funding for `hours`.
    pub fn round_trip_pct(&self, exit: Liquidity, hours: f64) -> f64 {
        let exit_bps = match exit {
            Liquidity::Maker => self.maker_bps,
            Liquidity::Taker => self.taker_bps + self.slippage_bps,
        };
        (self.taker_bps + self.slippage_bps + exit_bps + self.funding_bps_per_hour * hours) / 100.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_arithmetic() {
        let c = CostModel::default();
        assert!((c.fee(10_000.0, Liquidity::Taker) - 5.0).abs() < 1e-12);
        assert!((c.fee(-10_000.0, Liquidity::Maker) - 2.0).abs() < 1e-12);
        assert!((c.fill_price(100.0, true, Liquidity::Taker) - 100.03).abs() < 1e-12);
        assert!((c.fill_price(100.0, false, Liquidity::Taker) - 99.97).abs() < 1e-12);
        assert_eq!(c.fill_price(100.0, false, Liquidity::Maker), 100.0);
        // 8 h of funding = 0.01 % of notional, Binance's standard rate.
        assert!((c.funding(10_000.0, 8.0) - 1.0).abs() < 1e-12);
        // 5 + 3 in, 2 out, 1.5 funding (12 h) = 11.5 bps.
        assert!((c.round_trip_pct(Liquidity::Maker, 12.0) - 0.115).abs() < 1e-12);
    }
}
