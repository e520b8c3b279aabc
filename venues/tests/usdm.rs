//! The signed USDⓈ-M client against the mock, which checks signatures and
//! timestamps as Binance does: a dry-run order validates; a wrong secret, a
//! wrong key, a stale timestamp, insufficient margin and an unknown symbol
//! each end in a clear error naming the venue's code.

use rust_decimal::Decimal;
use trading::order::{OrderKind, OrderRequest, OrderSide, Purpose};
use venues::binance::mock::{MockConfig, MockExchange};
use venues::binance::usdm::{Credentials, UsdmClient, UsdmError};

fn order(symbol: &str, qty: &str, kind: OrderKind, reduce_only: bool) -> OrderRequest {
    OrderRequest {
        client_id: "p1-1".into(),
        symbol: symbol.into(),
        side: OrderSide::Buy,
        kind,
        qty: qty.parse().unwrap(),
        reduce_only,
        purpose: Purpose::Entry,
    }
}

async fn mock() -> String {
    let m = MockExchange::new(MockConfig::default());
    let (addr, _) = m.spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    format!("http://{addr}")
}

fn client(base: &str, key: &str, secret: &str) -> UsdmClient {
    UsdmClient::new(base, Credentials::new(key, secret), 5000).unwrap()
}

#[tokio::test]
async fn a_signed_dry_run_validates_and_each_refusal_is_named() {
    let base = mock().await;
    let c = client(&base, "mock-api-key", "mock-api-secret");
    c.sync_time().await.unwrap();
    assert!(c.offset_ms().abs() < 1000, "same host: {}", c.offset_ms());
    let market = order("SYN001/USDT", "1.5", OrderKind::Market, false);
    c.test_order(&market).await.unwrap();
    let stop = order(
        "SYN001/USDT",
        "1.5",
        OrderKind::StopMarket {
            trigger: Decimal::new(95, 0),
        },
        true,
    );
    c.test_order(&stop).await.unwrap();

    // A wrong secret: the signature does not match.
    let bad = client(&base, "mock-api-key", "not-the-secret");
    let e = bad.test_order(&market).await.unwrap_err();
    assert!(matches!(e, UsdmError::BadSignature(_)), "{e}");
    assert!(e.to_string().contains("-1022"), "{e}");
    // An unknown key.
    let e = client(&base, "someone-else", "mock-api-secret")
        .test_order(&market)
        .await
        .unwrap_err();
    assert!(matches!(e, UsdmError::Key { code: -2015, .. }), "{e}");

    // A clock a minute behind: refused, then resynchronised by the client itself.
    c.set_offset_ms(-60_000);
    let e = c.test_order(&market).await.unwrap_err();
    assert!(matches!(e, UsdmError::Timestamp(_)), "{e}");
    assert!(c.offset_ms().abs() < 1000, "resynced: {}", c.offset_ms());
    c.test_order(&market).await.unwrap();

    // 5,000 at 100 on 20× needs 25,000 of margin; the account has 10,000.
    let big = order("SYN001/USDT", "5000", OrderKind::Market, false);
    let e = c.test_order(&big).await.unwrap_err();
    assert!(matches!(e, UsdmError::InsufficientMargin(_)), "{e}");
    // Reduce-only orders need no new margin.
    let closing = order("SYN001/USDT", "5000", OrderKind::Market, true);
    c.test_order(&closing).await.unwrap();
    let e = c
        .test_order(&order("NOPE/USDT", "1", OrderKind::Market, false))
        .await
        .unwrap_err();
    assert!(matches!(e, UsdmError::Api { code: -1121, .. }), "{e}");
    // Nothing secret in what a log line would show.
    let shown = format!("{c:?}");
    assert!(
        !shown.contains("mock-api-secret") && !shown.contains("mock-api-key"),
        "{shown}"
    );
}
