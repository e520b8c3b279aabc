//! Alpaca's trading API v2 payloads, as it sends and takes them: numbers
//! are decimal strings, times RFC 3339, ids UUIDs. Only the fields TraderAI
//! reads are named; the rest are ignored.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// `{"code": 40310000, "message": "insufficient qty available for order …"}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiError {
    #[serde(default)]
    pub code: Option<i64>,
    pub message: String,
}

/// An order entity (`/v2/orders`, `trade_updates`). Legs of an `oco` or
/// `bracket` order are orders themselves, with ids Alpaca assigns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: String,
    pub client_order_id: String,
    pub created_at: String,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub submitted_at: Option<String>,
    #[serde(default)]
    pub filled_at: Option<String>,
    #[serde(default)]
    pub canceled_at: Option<String>,
    #[serde(default)]
    pub replaced_by: Option<String>,
    #[serde(default)]
    pub replaces: Option<String>,
    pub symbol: String,
    #[serde(default)]
    pub qty: Option<Decimal>,
    #[serde(default)]
    pub filled_qty: Decimal,
    #[serde(default)]
    pub filled_avg_price: Option<Decimal>,
    /// `simple`, `bracket`, `oco`, `oto` (Alpaca sends `""` for simple ones).
    #[serde(default)]
    pub order_class: String,
    /// `market`, `limit`, `stop`, `stop_limit`, `trailing_stop`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `buy`, `sell`.
    pub side: String,
    pub time_in_force: String,
    #[serde(default)]
    pub limit_price: Option<Decimal>,
    #[serde(default)]
    pub stop_price: Option<Decimal>,
    /// `new`, `accepted`, `pending_new`, `partially_filled`, `filled`,
    /// `done_for_day`, `canceled`, `expired`, `replaced`, `pending_cancel`,
    /// `pending_replace`, `rejected`, `suspended`, `calculated`, …
    pub status: String,
    #[serde(default)]
    pub extended_hours: bool,
    #[serde(default)]
    pub legs: Option<Vec<Order>>,
}

/// `POST /v2/orders`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewOrder {
    pub symbol: String,
    pub qty: Decimal,
    pub side: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub time_in_force: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_price: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_price: Option<Decimal>,
    pub client_order_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub take_profit: Option<TakeProfit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_loss: Option<StopLoss>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TakeProfit {
    pub limit_price: Decimal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopLoss {
    pub stop_price: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_price: Option<Decimal>,
}

/// `PATCH /v2/orders/{order_id}`: what changes; the answer is a new order
/// that `replaces` the old one.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Replace {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qty: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_price: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_price: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_order_id: Option<String>,
}

/// `GET /v2/positions`: `qty` is negative for a short.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub symbol: String,
    pub qty: Decimal,
    /// `long`, `short`.
    pub side: String,
    pub avg_entry_price: Decimal,
    pub cost_basis: Decimal,
    #[serde(default)]
    pub market_value: Option<Decimal>,
    #[serde(default)]
    pub qty_available: Option<Decimal>,
}

/// `GET /v2/account`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub id: String,
    #[serde(default)]
    pub account_number: Option<String>,
    pub status: String,
    #[serde(default)]
    pub currency: Option<String>,
    pub cash: Decimal,
    pub buying_power: Decimal,
    #[serde(default)]
    pub equity: Option<Decimal>,
    #[serde(default)]
    pub multiplier: Option<Decimal>,
    #[serde(default)]
    pub trading_blocked: bool,
    #[serde(default)]
    pub account_blocked: bool,
    #[serde(default)]
    pub shorting_enabled: bool,
}

/// `GET /v2/assets/{symbol}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Asset {
    pub symbol: String,
    pub status: String,
    pub tradable: bool,
    #[serde(default)]
    pub shortable: bool,
    #[serde(default)]
    pub fractionable: bool,
    #[serde(default)]
    pub easy_to_borrow: bool,
}

/// One `FILL` of `GET /v2/account/activities/FILL`. Its id is
/// `<transaction time digits>::<execution id>`; the execution id is what
/// `trade_updates` calls `execution_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fill {
    pub id: String,
    pub activity_type: String,
    pub transaction_time: String,
    /// `fill`, `partial_fill`.
    #[serde(rename = "type")]
    pub kind: String,
    pub price: Decimal,
    pub qty: Decimal,
    pub side: String,
    pub symbol: String,
    pub leaves_qty: Decimal,
    pub order_id: String,
    pub cum_qty: Decimal,
    pub order_status: String,
}

impl Fill {
    /// The execution id: the part of the activity id after `::`.
    pub fn execution_id(&self) -> &str {
        self.id.rsplit_once("::").map_or(&self.id, |(_, e)| e)
    }
}

/// A `trade_updates` message's `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TradeUpdate {
    /// `new`, `fill`, `partial_fill`, `canceled`, `expired`, `done_for_day`,
    /// `replaced`, `rejected`, `pending_new`, …
    pub event: String,
    #[serde(default)]
    pub execution_id: Option<String>,
    pub order: Order,
    pub timestamp: String,
    #[serde(default)]
    pub position_qty: Option<Decimal>,
    #[serde(default)]
    pub price: Option<Decimal>,
    #[serde(default)]
    pub qty: Option<Decimal>,
}

/// A message on the trading stream: `{"stream": "...", "data": {...}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamMessage {
    pub stream: String,
    #[serde(default)]
    pub data: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_oco_order_as_alpaca_sends_it_reads_with_its_stop_leg() {
        // The shape of Alpaca's answer to an `oco` exit (ids shortened).
        let body = r#"{
          "id": "61e69015-8549-4bfd-b9c3-01e75843f47d", "client_order_id": "v7-12",
          "created_at": "2026-11-02T15:31:00.123456Z", "updated_at": "2026-11-02T15:31:00.123456Z",
          "submitted_at": "2026-11-02T15:31:00.120000Z", "filled_at": null, "expired_at": null,
          "canceled_at": null, "failed_at": null, "replaced_at": null, "replaced_by": null,
          "replaces": null, "asset_id": "b0b6dd9d-8b9b-48a9-ba46-b9d54906e415", "symbol": "NVDA",
          "asset_class": "us_equity", "notional": null, "qty": "3", "filled_qty": "0",
          "filled_avg_price": null, "order_class": "oco", "order_type": "limit", "type": "limit",
          "side": "sell", "time_in_force": "gtc", "limit_price": "191.5", "stop_price": null,
          "status": "new", "extended_hours": false,
          "legs": [{
            "id": "ab2d4d62-5f33-4b68-a9f6-7dd5e2ad7d2a", "client_order_id": "0c4a7f8e-4c0d-4f51-9a3b-2a5b8f9e3c11",
            "created_at": "2026-11-02T15:31:00.123456Z", "symbol": "NVDA", "qty": "3", "filled_qty": "0",
            "order_class": "oco", "type": "stop", "side": "sell", "time_in_force": "gtc",
            "limit_price": null, "stop_price": "172.25", "status": "held", "extended_hours": false,
            "legs": null
          }],
          "trail_percent": null, "trail_price": null, "hwm": null
        }"#;
        let o: Order = serde_json::from_str(body).unwrap();
        assert_eq!(o.order_class, "oco");
        assert_eq!(o.limit_price, Some("191.5".parse().unwrap()));
        let leg = &o.legs.as_ref().unwrap()[0];
        assert_eq!(leg.kind, "stop");
        assert_eq!(leg.status, "held");
        assert_eq!(leg.stop_price, Some("172.25".parse().unwrap()));
        let f: Fill = serde_json::from_str(
            r#"{"id": "20261102153105123::8e6c4d1a-7e0f-4d4b-bb2e-0d3a5c7f9a10", "activity_type": "FILL",
                "transaction_time": "2026-11-02T15:31:05.123Z", "type": "fill", "price": "191.5",
                "qty": "3", "side": "sell", "symbol": "NVDA", "leaves_qty": "0",
                "order_id": "61e69015-8549-4bfd-b9c3-01e75843f47d", "cum_qty": "3", "order_status": "filled"}"#,
        )
        .unwrap();
        assert_eq!(f.execution_id(), "8e6c4d1a-7e0f-4d4b-bb2e-0d3a5c7f9a10");
    }
}
