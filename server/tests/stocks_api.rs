//! `GET /api/v1/prices` against the stock providers' mock: the 62-ticker
//! universe priced in one call (a delisted ticker named in its own row), a
//! repeat within the TTL served from the cache, and bad input refused by field.

mod common;

use common::api::Api;
use engine::{Candle, Timeframe};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_universe_is_priced_from_the_chain_then_from_the_cache() {
    let (pool, _) = common::fresh_db().await;
    server::auth::ensure_first_admin(&pool, Some("root"), Some("root-pass-1"))
        .await
        .unwrap();
    let (parsed, _) = server::import::parse_file(
        &common::data("nvda-1d-yahoo.csv"),
        Timeframe::D1,
        None,
        &Default::default(),
        true,
    )
    .unwrap();
    let bars: Vec<Candle> = parsed.candles.into_iter().rev().take(30).rev().collect();
    let mock = venues::stocks::mock::MockStocks::new("AKTEST", "alpaca-secret", "fh-token");
    let universe = server::universes::get("us-stocks").unwrap();
    for s in universe.symbols() {
        // HES was delisted in 2025: no provider lists it.
        if s.base() != "HES" {
            mock.list(s.base(), bars.clone(), 1.0);
        }
    }
    let (maddr, _) = mock.spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let mut settings = server::config::Settings::default();
    settings.stocks = venues::stocks::with_base(settings.stocks, &format!("http://{maddr}"));
    settings.stocks.alpaca.key = Some("AKTEST".into());
    settings.stocks.alpaca.secret = Some("alpaca-secret".into());
    settings.stocks.finnhub.key = Some("fh-token".into());
    for p in [
        &mut settings.stocks.alpaca,
        &mut settings.stocks.finnhub,
        &mut settings.stocks.yahoo,
    ] {
        p.requests_per_min = 0;
        p.max_retries = 0;
    }
    settings.stocks.quote_ttl_s = 600;
    let opts = server::web::leptos_options("127.0.0.1:0".parse().unwrap(), "target/site").unwrap();
    let app = server::web::router(pool, opts, &settings).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(server::web::serve_on(listener, app, std::future::pending()));
    let admin = Api::sign_in(addr, "root", "root-pass-1").await;

    let (s, v) = admin.get("/api/v1/prices?universe=us-stocks").await;
    assert_eq!(s, 200, "{v}");
    let rows = v["prices"].as_array().unwrap();
    assert_eq!(rows.len(), 62);
    let last = bars.last().unwrap().close;
    for r in rows {
        if r["symbol"] == "HES/USD" {
            let e = r["error"].as_str().unwrap();
            assert!(
                e.contains("HES/USD") && e.contains("alpaca") && e.contains("yahoo"),
                "{e}"
            );
            assert!(r["price"].is_null());
        } else {
            assert_eq!(
                (r["price"].as_f64(), r["provider"].as_str()),
                (Some(last), Some("alpaca")),
                "{r}"
            );
            assert_eq!(r["cached"], false);
        }
    }
    assert!(
        mock.peak_in_flight() <= 20,
        "at most [stocks] concurrency in flight"
    );
    let asked = mock.requests("alpaca");
    let (_, again) = admin.get("/api/v1/prices?symbols=AAPL/USD,MSFT/USD").await;
    assert!(
        again["prices"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["cached"] == true),
        "{again}"
    );
    assert_eq!(mock.requests("alpaca"), asked, "no request within the TTL");

    let (s, e) = admin.get("/api/v1/prices?symbols=BTC/USDT").await;
    assert_eq!(
        (s.as_u16(), e["error"]["field"].as_str()),
        (422, Some("symbols")),
        "{e}"
    );
    let (s, all) = admin.get("/api/v1/prices").await;
    assert_eq!(
        (s.as_u16(), all["prices"].as_array().map(Vec::len)),
        (200, Some(62)),
        "the default universe"
    );
    let (s, e) = admin.get("/api/v1/prices?universe=nasdaq-9000").await;
    assert_eq!(
        (s.as_u16(), e["error"]["field"].as_str()),
        (422, Some("universe")),
        "{e}"
    );
}
