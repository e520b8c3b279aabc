//! `/metrics`: Prometheus text with HTTP requests by route and status,
//! latency histograms, jobs, pool and process gauges; a configured token is
//! required; request ids are echoed; every metric the bundled Grafana
//! dashboard plots is one the code records.

mod common;

use reqwest::StatusCode;
use std::collections::BTreeSet;

async fn spawn(pool: sqlx::PgPool, token: &str, metrics: bool) -> std::net::SocketAddr {
    let mut s = server::config::Settings::default();
    s.web.metrics_token = token.into();
    s.web.metrics = metrics;
    let opts = server::web::leptos_options("127.0.0.1:0".parse().unwrap(), "target/site").unwrap();
    let app = server::web::router(pool, opts, &s).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(server::web::serve_on(listener, app, std::future::pending()));
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_by_route_and_need_the_token() {
    let (pool, _) = common::fresh_db().await;
    server::db::jobs::enqueue(&pool, "backfill", &serde_json::json!({}))
        .await
        .unwrap();
    let addr = spawn(pool.clone(), "scrape-token-0123", true).await;
    let http = reqwest::Client::new();
    let base = format!("http://{addr}");
    for _ in 0..3 {
        assert_eq!(
            http.get(format!("{base}/health"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    // Missing files share one label, whatever their names.
    for p in ["/pkg/missing-1.js", "/pkg/missing-2.js"] {
        assert_eq!(
            http.get(format!("{base}{p}"))
                .send()
                .await
                .unwrap()
                .status(),
            404
        );
    }
    let r = http
        .get(format!("{base}/api/v1/jobs/17"))
        .header("x-request-id", "req-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["x-request-id"],
        "req-abc-123",
        "a caller's id is echoed"
    );
    let made = http.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(
        made.headers()["x-request-id"].len(),
        16,
        "one is made otherwise"
    );

    let r = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = http
        .get(format!("{base}/metrics"))
        .bearer_auth("wrong-token-00000")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = http
        .get(format!("{base}/metrics"))
        .bearer_auth("scrape-token-0123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = r.text().await.unwrap();
    let line = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in:\n{text}"))
            .to_owned()
    };
    let value = |l: String| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap();
    let health =
        line("traderai_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"}");
    assert!(value(health) >= 4.0);
    assert_eq!(
        value(line(
            "traderai_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}"
        )),
        2.0
    );
    assert_eq!(
        value(line(
            "traderai_http_requests_total{method=\"GET\",route=\"/api/v1/jobs/{id}\",status=\"401\"}"
        )),
        1.0
    );
    assert!(text.contains("traderai_http_request_duration_seconds_bucket{method=\"GET\",route=\"/health\",le=\"0.005\"}"));
    assert_eq!(
        value(line("traderai_jobs{kind=\"backfill\",state=\"queued\"}")),
        1.0
    );
    assert!(value(line("traderai_db_pool_connections")) >= 1.0);
    assert!(value(line("process_resident_memory_bytes")) > 1e6);
    assert_eq!(value(line("traderai_metrics_database_up")), 1.0);

    // `[web] metrics = false`: nothing served (and nothing recorded).
    let off = spawn(pool.clone(), "", false).await;
    let r = http
        .get(format!("http://{off}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.headers().contains_key("x-request-id"), "request ids stay");
}

/// Every metric name a dashboard query uses is recorded somewhere in the
/// server's code (a renamed metric would leave an empty panel).
#[test]
fn the_dashboard_plots_only_metrics_the_code_records() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dash: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root.join("../deploy/grafana/traderai.json")).unwrap(),
    )
    .unwrap();
    let mut names = BTreeSet::new();
    for p in dash["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            let expr = t["expr"].as_str().unwrap();
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with("traderai_") || word.starts_with("process_") {
                    let base = word
                        .trim_end_matches("_bucket")
                        .trim_end_matches("_count")
                        .trim_end_matches("_sum");
                    names.insert(base.to_owned());
                }
            }
        }
    }
    assert!(names.len() >= 15, "{names:?}");
    let mut code = String::new();
    for dir in ["src", "src/notify", "src/web"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap().flatten() {
            if e.path().extension().is_some_and(|x| x == "rs") {
                code.push_str(&std::fs::read_to_string(e.path()).unwrap());
            }
        }
    }
    for n in &names {
        assert!(
            code.contains(&format!("\"{n}\"")),
            "the dashboard plots {n}, which nothing records"
        );
    }
}
