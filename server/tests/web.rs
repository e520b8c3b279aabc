//! The server as a browser or a probe sees it: SSR pages and health, over HTTP.

mod common;

use common::{data_dir, fresh_db};

#[tokio::test]
async fn first_page_renders_stored_coverage_and_health_answers() {
    let (pool, _) = fresh_db().await;
    server::seed::run(&pool, &data_dir(), true).await.unwrap();
    server::auth::ensure_first_admin(&pool, Some("root"), Some("root-pass-1"))
        .await
        .unwrap();
    let opts = server::web::leptos_options("127.0.0.1:0".parse().unwrap(), "target/site").unwrap();
    let app = server::web::router(pool.clone(), opts, &Default::default())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(server::web::serve_on(listener, app, std::future::pending()));
    let http = reqwest::Client::new();
    let signed_in = http
        .post(format!("http://{addr}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "root", "password": "root-pass-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 200);
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();

    let html = http
        .get(format!("http://{addr}/data"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("<title>TraderAI</title>"), "{html}");
    assert!(
        html.contains("6 series"),
        "server-rendered summary of the seeded data"
    );
    for sym in ["BTC/USD", "NVDA/USD", "MSFT/USD"] {
        assert!(html.contains(sym), "{sym} row rendered on the server");
    }
    assert!(
        html.contains("1999-01-22 00:00"),
        "NVDA's first bar, formatted"
    );
    assert!(
        html.contains("data-hydrated=\"false\""),
        "hydration flag starts false on the server"
    );
    assert!(
        html.contains("/pkg/traderai.js"),
        "hydration script referenced"
    );

    let health: serde_json::Value = http
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let ready = http
        .get(format!("http://{addr}/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);

    assert!(
        html.contains("root · admin"),
        "the signed-in viewer in the top bar"
    );
    let missing = http
        .get(format!("http://{addr}/no/such/page"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    // Readiness reports a lost database instead of pretending.
    pool.close().await;
    assert_eq!(
        http.get(format!("http://{addr}/health/ready"))
            .send()
            .await
            .unwrap()
            .status(),
        503
    );
}

#[tokio::test]
async fn seeding_twice_stores_nothing_new() {
    let (pool, _) = fresh_db().await;
    let first = server::seed::run(&pool, &data_dir(), true).await.unwrap();
    assert_eq!(first.len(), 6);
    assert!(first.iter().all(|r| r.stored > 0));
    let second = server::seed::run(&pool, &data_dir(), true).await.unwrap();
    assert!(
        second.iter().all(|r| r.stored == 0),
        "{:?}",
        second
            .iter()
            .map(|r| (&r.series, r.stored))
            .collect::<Vec<_>>()
    );
}
