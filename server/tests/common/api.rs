//! A running app and a signed-in REST client for API tests.
#![allow(dead_code)]

use reqwest::{Method as M, StatusCode};
use serde_json::{Value, json};
use std::net::SocketAddr;

pub async fn spawn_app(pool: sqlx::PgPool) -> SocketAddr {
    spawn_app_with(pool, &Default::default()).await
}

/// The app with these settings.
pub async fn spawn_app_with(pool: sqlx::PgPool, settings: &server::config::Settings) -> SocketAddr {
    let opts = server::web::leptos_options("127.0.0.1:0".parse().unwrap(), "target/site").unwrap();
    let app = server::web::router(pool, opts, settings).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(server::web::serve_on(listener, app, std::future::pending()));
    addr
}

/// A signed-in API client (bearer token: no cookie or CSRF needed).
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub cookie: String,
    pub token: String,
}

impl Api {
    pub async fn sign_in(addr: SocketAddr, user: &str, pass: &str) -> Api {
        let http = reqwest::Client::new();
        let base = format!("http://{addr}");
        let r = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"username": user, "password": pass}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let cookie = r.headers()["set-cookie"].to_str().unwrap();
        let cookie = cookie.split(';').next().unwrap().to_owned();
        let csrf = r.json::<Value>().await.unwrap()["csrf"]
            .as_str()
            .unwrap()
            .to_owned();
        let tok: Value = http
            .post(format!("{base}/api/v1/tokens"))
            .header("cookie", &cookie)
            .header("x-csrf-token", csrf)
            .json(&json!({"name": "test"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Api {
            token: tok["secret"].as_str().unwrap().to_owned(),
            http,
            base,
            cookie,
        }
    }

    pub async fn call(&self, m: M, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut r = self
            .http
            .request(m, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let s = resp.status();
        let text = resp.text().await.unwrap();
        (
            s,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(M::GET, path, None).await
    }
}

/// An app over `pool` with its first admin (`root`) and the users `names`
/// (role user, one password), each signed in: (admin, users in order).
pub async fn admin_and_users(pool: &sqlx::PgPool, names: &[&str]) -> (Api, Vec<Api>) {
    server::auth::ensure_first_admin(pool, Some("root"), Some("root-pass-1"))
        .await
        .unwrap();
    let addr = spawn_app(pool.clone()).await;
    let admin = Api::sign_in(addr, "root", "root-pass-1").await;
    let mut users = Vec::new();
    for name in names {
        let body = json!({"username": name, "password": "a-long-password", "role": "user"});
        let (s, _) = admin.call(M::POST, "/api/v1/users", Some(body)).await;
        assert_eq!(s, 200);
        users.push(Api::sign_in(addr, name, "a-long-password").await);
    }
    (admin, users)
}
