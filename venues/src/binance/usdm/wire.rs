//! Binance USDⓈ-M's JSON for orders, trades, positions, balances and the
//! user-data stream, read into the trading core's types — and written from
//! them by the mock, so both sides use one definition of the shapes. A test
//! reads Binance's documented examples.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use trading::execution::{VenueEvent, VenueOrder, VenuePosition, VenueTrade};
use trading::order::{OrderEvent, OrderFilled, OrderKind, OrderSide, OrderStatus};

use engine::costs::Liquidity;

fn dec(s: &str) -> Decimal {
    s.parse().unwrap_or_default()
}

pub fn side_str(s: OrderSide) -> &'static str {
    match s {
        OrderSide::Buy => "BUY",
        OrderSide::Sell => "SELL",
    }
}

fn side_of(s: &str) -> OrderSide {
    if s == "BUY" {
        OrderSide::Buy
    } else {
        OrderSide::Sell
    }
}

pub fn status_str(s: OrderStatus) -> &'static str {
    match s {
        OrderStatus::Initialized | OrderStatus::Submitted | OrderStatus::Accepted => "NEW",
        OrderStatus::PartiallyFilled => "PARTIALLY_FILLED",
        OrderStatus::Filled => "FILLED",
        OrderStatus::Canceled => "CANCELED",
        OrderStatus::Expired => "EXPIRED",
        OrderStatus::Rejected | OrderStatus::Denied => "REJECTED",
    }
}

fn status_of(s: &str) -> OrderStatus {
    match s {
        "PARTIALLY_FILLED" => OrderStatus::PartiallyFilled,
        "FILLED" => OrderStatus::Filled,
        "CANCELED" => OrderStatus::Canceled,
        "EXPIRED" | "EXPIRED_IN_MATCH" => OrderStatus::Expired,
        "REJECTED" => OrderStatus::Rejected,
        _ => OrderStatus::Accepted,
    }
}

fn kind_of(t: &str, price: Decimal, stop: Decimal) -> OrderKind {
    match t {
        "LIMIT" => OrderKind::Limit { price },
        "STOP_MARKET" | "STOP" => OrderKind::StopMarket { trigger: stop },
        "TAKE_PROFIT_MARKET" | "TAKE_PROFIT" => OrderKind::TakeProfitMarket { trigger: stop },
        _ => OrderKind::Market,
    }
}

pub fn kind_str(k: &OrderKind) -> &'static str {
    match k {
        OrderKind::Market => "MARKET",
        OrderKind::Limit { .. } => "LIMIT",
        OrderKind::StopMarket { .. } => "STOP_MARKET",
        OrderKind::TakeProfitMarket { .. } => "TAKE_PROFIT_MARKET",
    }
}

/// `POST/GET/DELETE /fapi/v1/order`, `GET /fapi/v1/openOrders`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub order_id: i64,
    pub symbol: String,
    pub status: String,
    pub client_order_id: String,
    pub price: String,
    pub avg_price: String,
    pub orig_qty: String,
    pub executed_qty: String,
    pub cum_quote: String,
    pub time_in_force: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub reduce_only: bool,
    pub close_position: bool,
    pub side: String,
    pub position_side: String,
    pub stop_price: String,
    pub working_type: String,
    pub price_protect: bool,
    pub orig_type: String,
    #[serde(default)]
    pub time: i64,
    pub update_time: i64,
}

impl Order {
    /// `symbol` is ours (`BTC/USDT`); the venue's is in the payload.
    pub fn to_venue(&self, symbol: &str) -> VenueOrder {
        VenueOrder {
            client_id: self.client_order_id.clone(),
            venue_id: self.order_id.to_string(),
            symbol: symbol.to_string(),
            side: side_of(&self.side),
            kind: kind_of(&self.kind, dec(&self.price), dec(&self.stop_price)),
            qty: dec(&self.orig_qty),
            filled: dec(&self.executed_qty),
            reduce_only: self.reduce_only,
            status: status_of(&self.status),
            time: self.update_time,
        }
    }

    /// The mock's answer for `o` (venue symbol `symbol`).
    pub fn from_venue(o: &VenueOrder, symbol: &str, avg: Decimal, now: i64) -> Order {
        let (price, stop) = match o.kind {
            OrderKind::Limit { price } => (price, Decimal::ZERO),
            OrderKind::StopMarket { trigger } | OrderKind::TakeProfitMarket { trigger } => {
                (Decimal::ZERO, trigger)
            }
            OrderKind::Market => (Decimal::ZERO, Decimal::ZERO),
        };
        Order {
            order_id: o.venue_id.parse().unwrap_or_default(),
            symbol: symbol.to_string(),
            status: status_str(o.status).into(),
            client_order_id: o.client_id.clone(),
            price: price.to_string(),
            avg_price: avg.to_string(),
            orig_qty: o.qty.to_string(),
            executed_qty: o.filled.to_string(),
            cum_quote: (avg * o.filled).round_dp(8).to_string(),
            time_in_force: if matches!(o.kind, OrderKind::Limit { .. }) && o.reduce_only {
                "GTX".into()
            } else {
                "GTC".into()
            },
            kind: kind_str(&o.kind).into(),
            reduce_only: o.reduce_only,
            close_position: false,
            side: side_str(o.side).into(),
            position_side: "BOTH".into(),
            stop_price: stop.to_string(),
            working_type: "CONTRACT_PRICE".into(),
            price_protect: false,
            orig_type: kind_str(&o.kind).into(),
            time: o.time,
            update_time: now,
        }
    }
}

/// `GET /fapi/v1/userTrades`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserTrade {
    pub buyer: bool,
    pub commission: String,
    pub commission_asset: String,
    pub id: i64,
    pub maker: bool,
    pub order_id: i64,
    pub price: String,
    pub qty: String,
    pub quote_qty: String,
    pub realized_pnl: String,
    pub side: String,
    pub position_side: String,
    pub symbol: String,
    pub time: i64,
}

impl UserTrade {
    /// `client_id`: our id for its `orderId` (the payload does not carry it).
    pub fn to_venue(&self, symbol: &str, client_id: &str) -> VenueTrade {
        VenueTrade {
            trade_id: self.id.to_string(),
            client_id: client_id.to_string(),
            symbol: symbol.to_string(),
            side: side_of(&self.side),
            qty: dec(&self.qty),
            price: dec(&self.price),
            // Binance's examples show it signed either way; a fee is paid.
            fee: dec(&self.commission).abs(),
            liquidity: if self.maker {
                Liquidity::Maker
            } else {
                Liquidity::Taker
            },
            realized_pnl: dec(&self.realized_pnl),
            time: self.time,
        }
    }

    pub fn from_venue(t: &VenueTrade, symbol: &str, order_id: i64) -> UserTrade {
        UserTrade {
            buyer: t.side == OrderSide::Buy,
            commission: t.fee.to_string(),
            commission_asset: "USDT".into(),
            id: t.trade_id.parse().unwrap_or_default(),
            maker: t.liquidity == Liquidity::Maker,
            order_id,
            price: t.price.to_string(),
            qty: t.qty.to_string(),
            quote_qty: (t.price * t.qty).round_dp(8).to_string(),
            realized_pnl: t.realized_pnl.to_string(),
            side: side_str(t.side).into(),
            position_side: "BOTH".into(),
            symbol: symbol.to_string(),
            time: t.time,
        }
    }
}

/// `GET /fapi/v1/income` (here: `incomeType=FUNDING_FEE`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Income {
    pub symbol: String,
    pub income_type: String,
    pub income: String,
    pub asset: String,
    pub info: String,
    pub time: i64,
    pub tran_id: i64,
    pub trade_id: String,
}

impl Income {
    pub fn to_venue(&self, symbol: &str) -> trading::execution::FundingPayment {
        trading::execution::FundingPayment {
            symbol: symbol.to_string(),
            time: self.time,
            amount: dec(&self.income),
        }
    }
}

/// `GET /fapi/v2/positionRisk` (one-way mode: `positionSide` BOTH).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PositionRisk {
    pub symbol: String,
    pub position_amt: String,
    pub entry_price: String,
    pub mark_price: String,
    pub un_realized_profit: String,
    pub liquidation_price: String,
    pub leverage: String,
    pub margin_type: String,
    pub isolated_margin: String,
    pub position_side: String,
    pub update_time: i64,
}

impl PositionRisk {
    pub fn to_venue(&self, symbol: &str) -> VenuePosition {
        VenuePosition {
            symbol: symbol.to_string(),
            qty: dec(&self.position_amt),
            entry_price: dec(&self.entry_price),
            leverage: self.leverage.parse().unwrap_or(0),
        }
    }
}

/// `GET /fapi/v2/balance`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Balance {
    pub account_alias: String,
    pub asset: String,
    pub balance: String,
    pub cross_wallet_balance: String,
    pub cross_un_pnl: String,
    pub available_balance: String,
    pub max_withdraw_amount: String,
    pub margin_available: bool,
    pub update_time: i64,
}

/// The `o` object of `ORDER_TRADE_UPDATE`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderUpdate {
    pub s: String,
    pub c: String,
    #[serde(rename = "S")]
    pub side: String,
    pub o: String,
    pub f: String,
    pub q: String,
    pub p: String,
    pub ap: String,
    pub sp: String,
    /// Execution type: NEW, TRADE, CANCELED, EXPIRED, CALCULATED, AMENDMENT.
    pub x: String,
    /// Order status.
    #[serde(rename = "X")]
    pub status: String,
    pub i: i64,
    /// Last filled quantity and price.
    pub l: String,
    pub z: String,
    #[serde(rename = "L")]
    pub last_price: String,
    #[serde(rename = "N", default)]
    pub fee_asset: Option<String>,
    #[serde(default)]
    pub n: Option<String>,
    #[serde(rename = "T")]
    pub time: i64,
    pub t: i64,
    pub m: bool,
    #[serde(rename = "R")]
    pub reduce_only: bool,
    #[serde(default)]
    pub rp: Option<String>,
}

/// `ACCOUNT_UPDATE`'s balance and position entries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountUpdate {
    /// Reason: ORDER, FUNDING_FEE, DEPOSIT, …
    pub m: String,
    #[serde(rename = "B")]
    pub balances: Vec<BalanceUpdate>,
    #[serde(rename = "P")]
    pub positions: Vec<PositionUpdate>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BalanceUpdate {
    pub a: String,
    pub wb: String,
    pub cw: String,
    pub bc: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PositionUpdate {
    pub s: String,
    pub pa: String,
    pub ep: String,
    pub up: String,
    pub mt: String,
    pub ps: String,
}

/// One user-data stream message.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "e")]
pub enum UserEvent {
    #[serde(rename = "ORDER_TRADE_UPDATE")]
    OrderTradeUpdate {
        #[serde(rename = "E")]
        event_time: i64,
        #[serde(rename = "T")]
        time: i64,
        o: Box<OrderUpdate>,
    },
    #[serde(rename = "ACCOUNT_UPDATE")]
    AccountUpdate {
        #[serde(rename = "E")]
        event_time: i64,
        #[serde(rename = "T")]
        time: i64,
        a: AccountUpdate,
    },
    #[serde(rename = "listenKeyExpired")]
    ListenKeyExpired {
        #[serde(rename = "E")]
        event_time: i64,
    },
    /// Margin calls, config changes, …: not acted on.
    #[serde(other)]
    Other,
}

impl UserEvent {
    /// Our events for this message; `symbol` maps a venue symbol to ours.
    pub fn to_venue(&self, symbol: impl Fn(&str) -> String) -> Vec<VenueEvent> {
        match self {
            UserEvent::OrderTradeUpdate { o, .. } => {
                let event = match o.x.as_str() {
                    "NEW" => OrderEvent::Accepted {
                        venue_id: Some(o.i.to_string()),
                    },
                    "TRADE" | "CALCULATED" => OrderEvent::Filled(OrderFilled {
                        trade_id: o.t.to_string(),
                        qty: dec(&o.l),
                        price: dec(&o.last_price),
                        fee: o.n.as_deref().map_or(Decimal::ZERO, |n| dec(n).abs()),
                        liquidity: if o.m {
                            Liquidity::Maker
                        } else {
                            Liquidity::Taker
                        },
                    }),
                    "CANCELED" => OrderEvent::Canceled {
                        reason: "canceled at the venue".into(),
                    },
                    "EXPIRED" => OrderEvent::Expired,
                    "AMENDMENT" => OrderEvent::Updated { price: dec(&o.p) },
                    _ => return Vec::new(),
                };
                vec![VenueEvent::Order {
                    time: o.time,
                    client_id: o.c.clone(),
                    symbol: symbol(&o.s),
                    event,
                    realized_pnl: o.rp.as_deref().map(dec),
                }]
            }
            UserEvent::AccountUpdate { time, a, .. } => {
                let mut out = Vec::new();
                let sym = a.positions.first().map(|p| symbol(&p.s));
                for b in a.balances.iter().filter(|b| b.a == "USDT") {
                    out.push(VenueEvent::Balance {
                        time: *time,
                        symbol: sym.clone(),
                        balance: dec(&b.wb),
                        change: dec(&b.bc),
                        reason: a.m.clone(),
                    });
                }
                for p in &a.positions {
                    out.push(VenueEvent::Position {
                        time: *time,
                        symbol: symbol(&p.s),
                        qty: dec(&p.pa),
                        entry_price: dec(&p.ep),
                    });
                }
                out
            }
            UserEvent::ListenKeyExpired { .. } => vec![VenueEvent::Disconnected {
                reason: "the listen key expired".into(),
            }],
            UserEvent::Other => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binances_documented_order_trade_update_reads() {
        // "Event: Order Update" in Binance's USDⓈ-M user-data stream docs.
        let text = r#"{"e":"ORDER_TRADE_UPDATE","E":1568879465651,"T":1568879465650,"o":{"s":"BTCUSDT","c":"TEST","S":"SELL","o":"TRAILING_STOP_MARKET","f":"GTC","q":"0.001","p":"0","ap":"0","sp":"7103.04","x":"NEW","X":"NEW","i":8886774,"l":"0","z":"0","L":"0","N":"USDT","n":"0","T":1568879465650,"t":0,"b":"0","a":"9.91","m":false,"R":false,"wt":"CONTRACT_PRICE","ot":"TRAILING_STOP_MARKET","ps":"LONG","cp":false,"AP":"7476.89","cr":"5.0","pP":false,"si":0,"ss":0,"rp":"0","V":"EXPIRE_TAKER","pm":"OPPONENT","gtd":0}}"#;
        let e: UserEvent = serde_json::from_str(text).unwrap();
        let v = e.to_venue(|s| s.replace("USDT", "/USDT"));
        assert_eq!(v.len(), 1);
        match &v[0] {
            VenueEvent::Order {
                client_id,
                symbol,
                event: OrderEvent::Accepted { venue_id },
                ..
            } => {
                assert_eq!(client_id, "TEST");
                assert_eq!(symbol, "BTC/USDT");
                assert_eq!(venue_id.as_deref(), Some("8886774"));
            }
            other => panic!("{other:?}"),
        }
        let trade = text
            .replace(r#""x":"NEW","X":"NEW""#, r#""x":"TRADE","X":"FILLED""#)
            .replace(r#""l":"0""#, r#""l":"0.001""#)
            .replace(r#""L":"0""#, r#""L":"7103.04""#)
            .replace(r#""n":"0""#, r#""n":"0.00355""#)
            .replace(r#""t":0"#, r#""t":42"#);
        let e: UserEvent = serde_json::from_str(&trade).unwrap();
        match &e.to_venue(str::to_string)[0] {
            VenueEvent::Order {
                event: OrderEvent::Filled(f),
                ..
            } => {
                assert_eq!(f.trade_id, "42");
                assert_eq!(f.qty, dec("0.001"));
                assert_eq!(f.price, dec("7103.04"));
                assert_eq!(f.fee, dec("0.00355"));
                assert_eq!(f.liquidity, Liquidity::Taker);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn binances_documented_account_update_and_trades_read() {
        let text = r#"{"e":"ACCOUNT_UPDATE","E":1564745798939,"T":1564745798938,"a":{"m":"FUNDING_FEE","B":[{"a":"USDT","wb":"122624.12345678","cw":"100.12345678","bc":"-50.12345678"},{"a":"BUSD","wb":"1.0","cw":"0","bc":"0"}],"P":[{"s":"BTCUSDT","pa":"0","ep":"0.00000","bep":"0","cr":"200","up":"0","mt":"isolated","iw":"0.00000000","ps":"BOTH"}]}}"#;
        let e: UserEvent = serde_json::from_str(text).unwrap();
        let v = e.to_venue(str::to_string);
        assert!(
            matches!(&v[0], VenueEvent::Balance { change, reason, .. } if *change == dec("-50.12345678") && reason == "FUNDING_FEE")
        );
        assert!(matches!(&v[1], VenueEvent::Position { qty, .. } if qty.is_zero()));
        let trades = r#"[{"buyer":false,"commission":"-0.07819010","commissionAsset":"USDT","id":698759,"maker":false,"orderId":25851813,"price":"7819.01","qty":"0.002","quoteQty":"15.63802","realizedPnl":"-0.91539999","side":"SELL","positionSide":"SHORT","symbol":"BTCUSDT","time":1569514978020}]"#;
        let t: Vec<UserTrade> = serde_json::from_str(trades).unwrap();
        let t = t[0].to_venue("BTC/USDT", "ours-1");
        assert_eq!(t.fee, dec("0.07819010"));
        assert_eq!(t.realized_pnl, dec("-0.91539999"));
        assert_eq!(t.trade_id, "698759");
        let other: UserEvent =
            serde_json::from_str(r#"{"e":"MARGIN_CALL","E":1,"cw":"3.16"}"#).unwrap();
        assert!(other.to_venue(str::to_string).is_empty());
    }

    #[test]
    fn binances_documented_order_response_reads() {
        let text = r#"{"clientOrderId":"testOrder","cumQty":"0","cumQuote":"0","executedQty":"0","orderId":22542179,"avgPrice":"0.00000","origQty":"10","price":"0","reduceOnly":false,"side":"BUY","positionSide":"SHORT","status":"NEW","stopPrice":"9300","closePosition":false,"symbol":"BTCUSDT","timeInForce":"GTD","type":"TRAILING_STOP_MARKET","origType":"TRAILING_STOP_MARKET","activatePrice":"9020","priceRate":"0.3","updateTime":1566818724722,"workingType":"CONTRACT_PRICE","priceProtect":false,"priceMatch":"NONE","selfTradePreventionMode":"NONE","goodTillDate":1693207680000}"#;
        let o: Order = serde_json::from_str(text).unwrap();
        let v = o.to_venue("BTC/USDT");
        assert_eq!(v.venue_id, "22542179");
        assert_eq!(v.status, OrderStatus::Accepted);
        assert_eq!(v.qty, dec("10"));
    }
}
