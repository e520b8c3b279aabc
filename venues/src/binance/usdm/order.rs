//! Our order requests in Binance USDⓈ-M's parameters.

use trading::order::{OrderKind, OrderRequest, OrderSide};

/// `BTC/USDT` → `BTCUSDT`.
pub fn venue_symbol(symbol: &str) -> String {
    symbol.replace('/', "")
}

/// The parameters of `POST /fapi/v1/order` (and `/order/test`) for `o`.
/// Take-profit limits rest as maker-only (`GTX`: post-only, expired by the
/// venue rather than filled as taker).
pub fn params(o: &OrderRequest) -> Vec<(&'static str, String)> {
    let mut p = vec![
        ("symbol", venue_symbol(&o.symbol)),
        (
            "side",
            match o.side {
                OrderSide::Buy => "BUY",
                OrderSide::Sell => "SELL",
            }
            .to_string(),
        ),
    ];
    match o.kind {
        OrderKind::Market => p.push(("type", "MARKET".into())),
        OrderKind::Limit { price } => {
            p.push(("type", "LIMIT".into()));
            p.push((
                "timeInForce",
                if o.reduce_only { "GTX" } else { "GTC" }.into(),
            ));
            p.push(("price", price.normalize().to_string()));
        }
        OrderKind::StopMarket { trigger } => {
            p.push(("type", "STOP_MARKET".into()));
            p.push(("stopPrice", trigger.normalize().to_string()));
        }
        OrderKind::TakeProfitMarket { trigger } => {
            p.push(("type", "TAKE_PROFIT_MARKET".into()));
            p.push(("stopPrice", trigger.normalize().to_string()));
        }
    }
    p.push(("quantity", o.qty.normalize().to_string()));
    if o.reduce_only {
        p.push(("reduceOnly", "true".into()));
    }
    p.push(("newClientOrderId", o.client_id.clone()));
    p
}
