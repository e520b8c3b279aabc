//! Sign-in, roles, CSRF, throttling, API tokens, the REST API's error shape
//! and OpenAPI document, and the WebSocket — over real HTTP against a fresh
//! PostgreSQL database.

mod common;

use common::fresh_db;
use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::config::WebSettings;
use std::net::SocketAddr;
use std::time::Duration;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

async fn spawn_app(pool: sqlx::PgPool, web: WebSettings) -> SocketAddr {
    let opts = server::web::leptos_options("127.0.0.1:0".parse().unwrap(), "target/site").unwrap();
    let settings = server::config::Settings {
        web,
        ..Default::default()
    };
    let app = server::web::router(pool, opts, &settings).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(server::web::serve_on(listener, app, std::future::pending()));
    addr
}

/// A client that keeps one session cookie by hand (what a browser does).
struct Client {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
    csrf: Option<String>,
}

impl Client {
    fn new(addr: SocketAddr) -> Self {
        Client {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: format!("http://{addr}"),
            cookie: None,
            csrf: None,
        }
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut r = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            r = r.header("cookie", c);
        }
        if method != reqwest::Method::GET
            && let Some(t) = &self.csrf
        {
            r = r.header("x-csrf-token", t);
        }
        r
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut r = self.req(method, path);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn login(&mut self, user: &str, pass: &str) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&json!({"username": user, "password": pass}))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        if let Some(set) = resp.headers().get("set-cookie") {
            let set = set.to_str().unwrap().to_owned();
            assert!(set.contains("HttpOnly"), "{set}");
            assert!(set.contains("SameSite=Lax"), "{set}");
            assert!(!set.contains("Secure"), "plain HTTP here: {set}");
            self.cookie = Some(set.split(';').next().unwrap().to_owned());
        }
        let body: Value = resp.json().await.unwrap();
        if status.is_success() {
            self.csrf = body["csrf"].as_str().map(str::to_owned);
        }
        (status, body)
    }
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("?")
}

fn field(v: &Value) -> &str {
    v["error"]["field"].as_str().unwrap_or("?")
}

use reqwest::Method as M;

#[tokio::test]
async fn sign_in_roles_csrf_throttle_and_tokens() {
    let (pool, _) = fresh_db().await;
    use server::auth::{FirstAdmin, ensure_first_admin};
    assert_eq!(
        ensure_first_admin(&pool, Some("root"), Some("root-pass-1"))
            .await
            .unwrap(),
        FirstAdmin::Created {
            username: "root".into()
        }
    );
    assert_eq!(
        ensure_first_admin(&pool, Some("root"), None).await.unwrap(),
        FirstAdmin::Exists
    );
    let cfg = WebSettings {
        login_attempts_per_minute: 5,
        ..WebSettings::default()
    };
    let addr = spawn_app(pool.clone(), cfg).await;

    // Anonymous: the API says 401, pages send to the sign-in page.
    let anon = Client::new(addr);
    let (s, b) = anon.get("/api/v1/me").await;
    assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "unauthenticated"));
    let page = anon.req(M::GET, "/admin/jobs").send().await.unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(page.headers()["location"], "/login?next=%2Fadmin%2Fjobs");
    let login_page = anon.req(M::GET, "/login").send().await.unwrap();
    assert_eq!(login_page.status(), 200);
    let html = login_page.text().await.unwrap();
    assert!(
        html.contains("action=\"/auth/login\"") && html.contains("name=\"password\""),
        "{html}"
    );

    // The admin signs in; wrong passwords are refused, then throttled.
    let mut admin = Client::new(addr);
    let (s, b) = admin.login("root", "wrong-password").await;
    assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "unauthenticated"));
    let (s, b) = admin.login("root", "root-pass-1").await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["role"], "admin");
    assert_eq!(b["csrf"].as_str().unwrap().len(), 64);
    let (s, me) = admin.get("/api/v1/me").await;
    assert_eq!((s, me["username"].as_str()), (StatusCode::OK, Some("root")));

    let mut mallory = Client::new(addr);
    for _ in 0..5 {
        mallory.login("carol", "guess-guess").await;
    }
    let (s, b) = mallory.login("carol", "guess-guess").await;
    assert_eq!(
        (s, code(&b)),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        "{b}"
    );

    // Creating users: validation names the field; CSRF and Origin are checked.
    let new_alice = json!({"username": "alice", "password": "alice-pass-1", "role": "user"});
    let (s, b) = admin
        .call(
            M::POST,
            "/api/v1/users",
            Some(json!({"username": "al", "password": "alice-pass-1", "role": "user"})),
        )
        .await;
    assert_eq!(
        (s, field(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "username"),
        "{b}"
    );
    let (s, b) = admin
        .call(
            M::POST,
            "/api/v1/users",
            Some(json!({"username": "alice", "password": "short", "role": "user"})),
        )
        .await;
    assert_eq!(
        (s, field(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "password"),
        "{b}"
    );
    let (s, b) = admin
        .call(
            M::POST,
            "/api/v1/users",
            Some(json!({"username": "alice", "role": "user"})),
        )
        .await;
    assert_eq!(
        (s, field(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "password"),
        "missing field named: {b}"
    );
    let no_csrf = admin
        .http
        .post(format!("{}/api/v1/users", admin.base))
        .header("cookie", admin.cookie.clone().unwrap())
        .json(&new_alice)
        .send()
        .await
        .unwrap();
    assert_eq!(no_csrf.status(), StatusCode::FORBIDDEN);
    assert_eq!(code(&no_csrf.json().await.unwrap()), "csrf");
    let cross_site = admin
        .req(M::POST, "/api/v1/users")
        .header("origin", "http://evil.example")
        .json(&new_alice)
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    let (s, alice_view) = admin
        .call(M::POST, "/api/v1/users", Some(new_alice.clone()))
        .await;
    assert_eq!(s, 200, "{alice_view}");
    assert_eq!(alice_view["settings"]["capital"], 100.0, "default capital");
    assert_eq!(alice_view["settings"]["risk_profile"], "medium");
    let (s, b) = admin
        .call(M::POST, "/api/v1/users", Some(new_alice.clone()))
        .await;
    assert_eq!((s, field(&b)), (StatusCode::CONFLICT, "username"));

    // A user: admin pages and admin API refused.
    let mut alice = Client::new(addr);
    assert_eq!(alice.login("alice", "alice-pass-1").await.0, 200);
    for path in ["/api/v1/users", "/api/v1/system"] {
        let (s, b) = alice.get(path).await;
        assert_eq!(
            (s, code(&b)),
            (StatusCode::FORBIDDEN, "forbidden"),
            "{path}"
        );
    }
    let (s, _) = alice
        .call(M::POST, "/api/v1/backfills", Some(json!({"exchange": "binance", "market": "spot", "symbols": ["BTC/USDT"], "timeframe": "1h", "from": "2024-01-01"})))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let page = alice.req(M::GET, "/admin/users").send().await.unwrap();
    assert_eq!(page.status(), StatusCode::FORBIDDEN);
    assert!(page.text().await.unwrap().contains("admins only"));
    let (s, b) = alice.get("/api/v1/jobs").await;
    assert_eq!((s, b.as_array().map(Vec::len)), (StatusCode::OK, Some(0)));

    // Settings are per user and validated.
    let (s, b) = alice
        .call(
            M::PUT,
            "/api/v1/settings",
            Some(json!({"risk_profile": "high", "capital": 2500.0})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        alice.get("/api/v1/settings").await.1,
        json!({"risk_profile": "high", "capital": 2500.0})
    );
    assert_eq!(
        admin.get("/api/v1/settings").await.1["capital"],
        100.0,
        "the admin's own are untouched"
    );
    let (s, b) = alice
        .call(
            M::PUT,
            "/api/v1/settings",
            Some(json!({"risk_profile": "high", "capital": -5.0})),
        )
        .await;
    assert_eq!(
        (s, field(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "capital")
    );
    let (s, b) = alice
        .call(
            M::PUT,
            "/api/v1/settings",
            Some(json!({"risk_profile": "extreme", "capital": 5.0})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");

    // API tokens: bearer works without cookie or CSRF; revoked tokens stop.
    let (s, tok) = alice
        .call(M::POST, "/api/v1/tokens", Some(json!({"name": "nightly"})))
        .await;
    assert_eq!(s, 200, "{tok}");
    let secret = tok["secret"].as_str().unwrap().to_owned();
    let bearer = |m: M, p: &str| {
        alice
            .http
            .request(m, format!("{}{p}", alice.base))
            .header("authorization", format!("Bearer {secret}"))
    };
    let r = bearer(M::PUT, "/api/v1/settings")
        .json(&json!({"risk_profile": "low", "capital": 50.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(alice.get("/api/v1/settings").await.1["risk_profile"], "low");
    let listed = alice.get("/api/v1/tokens").await.1;
    assert_eq!(listed[0]["prefix"], &secret[..8]);
    assert!(listed[0]["last_used_at"].is_i64(), "{listed}");
    assert!(
        !listed.to_string().contains(&secret),
        "the secret is never listed"
    );
    let id = tok["token"]["id"].as_i64().unwrap();
    assert_eq!(
        alice
            .call(M::DELETE, &format!("/api/v1/tokens/{id}"), None)
            .await
            .0,
        200
    );
    let r = bearer(M::GET, "/api/v1/settings").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // The system page's numbers come from the real database.
    let (s, sys) = admin.get("/api/v1/system").await;
    assert_eq!(s, 200, "{sys}");
    assert_eq!(sys["users"], 2);
    assert!(sys["database_bytes"].as_i64().unwrap() > 1_000_000, "{sys}");
    assert!(sys["memory_total_bytes"].as_u64().unwrap() > 0);

    // Disabling a user ends their session at the next request; the last
    // admin cannot remove themself.
    let alice_id = alice_view["id"].as_i64().unwrap();
    let (s, b) = admin
        .call(
            M::PATCH,
            &format!("/api/v1/users/{alice_id}"),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!((s, b["disabled"].as_bool()), (StatusCode::OK, Some(true)));
    assert_eq!(alice.get("/api/v1/me").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        alice.login("alice", "alice-pass-1").await.0,
        StatusCode::UNAUTHORIZED
    );
    let root_id = me["id"].as_i64().unwrap();
    let (s, b) = admin
        .call(
            M::PATCH,
            &format!("/api/v1/users/{root_id}"),
            Some(json!({"role": "user"})),
        )
        .await;
    assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "conflict"), "{b}");
    let (s, b) = admin
        .call(
            M::PATCH,
            "/api/v1/users/999999",
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"));

    // Unknown endpoints answer in the API's shape.
    let (s, b) = admin.get("/api/v1/nope").await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"));

    // OpenAPI from the code, browsable at /docs without signing in.
    let (s, doc) = anon.get("/api-docs/openapi.json").await;
    assert_eq!(s, 200);
    for p in [
        "/api/v1/settings",
        "/api/v1/jobs/{id}/cancel",
        "/api/v1/backfills",
        "/api/v1/auth/login",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p} documented");
    }
    assert!(doc["components"]["schemas"].get("AppError").is_some());
    let docs = anon.req(M::GET, "/docs/").send().await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(
        docs.text()
            .await
            .unwrap()
            .to_lowercase()
            .contains("swagger")
    );

    // Signing out ends the session.
    assert_eq!(
        admin.call(M::POST, "/api/v1/auth/logout", None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(admin.get("/api/v1/me").await.0, StatusCode::UNAUTHORIZED);
}

async fn ws_connect(
    addr: SocketAddr,
    cookie: Option<&str>,
    origin: &str,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    tungstenite::Error,
> {
    let mut req = format!("ws://{addr}/ws").into_client_request().unwrap();
    if let Some(c) = cookie {
        req.headers_mut().insert("cookie", c.parse().unwrap());
    }
    req.headers_mut().insert("origin", origin.parse().unwrap());
    tokio_tungstenite::connect_async(req).await.map(|(s, _)| s)
}

async fn next_json<S>(ws: &mut S, within: Duration) -> Option<Value>
where
    S: futures::Stream<Item = Result<tungstenite::Message, tungstenite::Error>> + Unpin,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = deadline.checked_duration_since(tokio::time::Instant::now())?;
        match tokio::time::timeout(left, ws.next()).await.ok()?? {
            Ok(tungstenite::Message::Text(t)) => return serde_json::from_str(&t).ok(),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

#[tokio::test]
async fn websocket_pushes_job_changes_to_whoever_may_see_them() {
    let (pool, _) = fresh_db().await;
    server::auth::ensure_first_admin(&pool, Some("root"), Some("root-pass-1"))
        .await
        .unwrap();
    let addr = spawn_app(pool.clone(), WebSettings::default()).await;
    let origin = format!("http://{addr}");
    let mut admin = Client::new(addr);
    admin.login("root", "root-pass-1").await;
    admin
        .call(
            M::POST,
            "/api/v1/users",
            Some(json!({"username": "bob", "password": "bob-pass-12", "role": "user"})),
        )
        .await;
    let mut bob = Client::new(addr);
    bob.login("bob", "bob-pass-12").await;

    // Refused: anonymous, and a foreign page riding the cookie.
    match ws_connect(addr, None, &origin).await {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status(), 401),
        other => panic!("anonymous socket: {:?}", other.map(|_| ())),
    }
    match ws_connect(addr, admin.cookie.as_deref(), "http://evil.example").await {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status(), 403),
        other => panic!("cross-site socket: {:?}", other.map(|_| ())),
    }

    let mut a = ws_connect(addr, admin.cookie.as_deref(), &origin)
        .await
        .unwrap();
    let mut b = ws_connect(addr, bob.cookie.as_deref(), &origin)
        .await
        .unwrap();
    for ws in [&mut a, &mut b] {
        ws.send(tungstenite::Message::Text(
            r#"{"type":"subscribe","topics":["jobs"]}"#.into(),
        ))
        .await
        .unwrap();
        let ack = next_json(ws, Duration::from_secs(5)).await.unwrap();
        assert_eq!(ack, json!({"type": "subscribed", "topics": ["jobs"]}));
    }
    a.send(tungstenite::Message::Text("not json".into()))
        .await
        .unwrap();
    assert_eq!(
        next_json(&mut a, Duration::from_secs(5)).await.unwrap()["type"],
        "error"
    );

    // The admin queues a backfill: the admin's socket hears it, bob's does not.
    let (s, job) = admin
        .call(M::POST, "/api/v1/backfills", Some(json!({"exchange": "binance", "market": "spot", "symbols": ["BTC/USDT"], "timeframe": "1h", "from": "2024-01-01", "to": "2024-01-02", "base_url": "http://127.0.0.1:9"})))
        .await;
    assert_eq!(s, 200, "{job}");
    let ev = next_json(&mut a, Duration::from_secs(5))
        .await
        .expect("job event");
    assert_eq!(ev["type"], "job");
    assert_eq!(ev["id"], job["id"]);
    assert_eq!(ev["status"], "queued");
    let (s, cancelled) = admin
        .call(M::POST, &format!("/api/v1/jobs/{}/cancel", job["id"]), None)
        .await;
    assert_eq!(
        (s, cancelled["status"].as_str()),
        (StatusCode::OK, Some("cancelled"))
    );
    let ev = next_json(&mut a, Duration::from_secs(5))
        .await
        .expect("cancel event");
    assert_eq!(
        (ev["id"].clone(), ev["status"].clone()),
        (job["id"].clone(), json!("cancelled"))
    );
    assert!(
        next_json(&mut b, Duration::from_millis(800))
            .await
            .is_none(),
        "bob may not see the admin's job"
    );
    // Bob cannot act on it either: it does not exist for him.
    let (s, _) = bob
        .call(M::POST, &format!("/api/v1/jobs/{}/resume", job["id"]), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // The admin resumes it; the socket hears the requeue.
    let (s, _) = admin
        .call(M::POST, &format!("/api/v1/jobs/{}/resume", job["id"]), None)
        .await;
    assert_eq!(s, 200);
    let ev = next_json(&mut a, Duration::from_secs(5))
        .await
        .expect("resume event");
    assert_eq!(ev["status"], "queued");
    let (s, b2) = admin
        .call(M::POST, &format!("/api/v1/jobs/{}/resume", job["id"]), None)
        .await;
    assert_eq!((s, code(&b2)), (StatusCode::CONFLICT, "conflict"));

    let sys = admin.get("/api/v1/system").await.1;
    assert_eq!(sys["ws_clients"], 2);
}
