//! Sign-in, sessions, CSRF and who may see what, as axum middleware.
//!
//! Sessions live in PostgreSQL (tower-sessions' sqlx store), so any server
//! replica serves any user. A request is authenticated by its session cookie
//! or by `Authorization: Bearer <API token>`; the viewer then sits in the
//! request's extensions for handlers and server functions.

use super::AppState;
use super::api::ApiError;
use crate::auth;
use crate::config::WebSettings;
use crate::db;
use app::types::{AppError, ErrorCode, Viewer};
use axum::Json;
use axum::extract::{ConnectInfo, Form, FromRequestParts, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header, request::Parts};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use rand::Rng;
use serde::Deserialize;
use sqlx::PgPool;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, Session, SessionManagerLayer};
use tower_sessions_sqlx_store::PostgresStore;

const UID: &str = "uid";
const CSRF: &str = "csrf";
pub const COOKIE: &str = "traderai_session";
/// The header a cookie-authenticated API call carries its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The session store, its table created on first use.
pub async fn store(pool: PgPool) -> anyhow::Result<PostgresStore> {
    let store = PostgresStore::new(pool);
    store
        .migrate()
        .await
        .map_err(|e| anyhow::anyhow!("creating the session table failed: {e}"))?;
    Ok(store)
}

pub fn layer(store: PostgresStore, cfg: &WebSettings) -> SessionManagerLayer<PostgresStore> {
    SessionManagerLayer::new(store)
        .with_name(COOKIE)
        .with_http_only(true)
        // Lax: sent on top-level navigation (links into the app work), never
        // on a cross-site POST.
        .with_same_site(SameSite::Lax)
        .with_secure(cfg.secure_cookies)
        .with_expiry(Expiry::OnInactivity(time::Duration::days(
            cfg.session_idle_days.max(1),
        )))
}

/// Sign-in attempts per (client address, user name).
#[derive(Debug)]
pub struct LoginLimiter {
    inner: DefaultKeyedRateLimiter<(IpAddr, String)>,
}

impl LoginLimiter {
    pub fn new(per_minute: u32) -> Self {
        let n = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        LoginLimiter {
            inner: RateLimiter::keyed(Quota::per_minute(n)),
        }
    }

    /// Ok, or how many seconds to wait.
    fn check(&self, ip: IpAddr, username: &str) -> Result<(), u64> {
        // Forget idle keys now and then so the map cannot grow without bound.
        if self.inner.len() > 10_000 {
            self.inner.retain_recent();
        }
        self.inner
            .check_key(&(ip, username.to_lowercase()))
            .map_err(|not_until| {
                not_until
                    .wait_time_from(DefaultClock::default().now())
                    .as_secs()
                    .max(1)
            })
    }
}

/// The peer address (the socket's; a proxy in front would need its header trusted).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip())
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        ))
    }
}

/// Paths anyone may open: the sign-in page, health probes, API docs, static files.
pub fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/login"
            | "/auth/login"
            | "/api/v1/auth/login"
            | "/health"
            | "/health/ready"
            | "/metrics"
            | "/favicon.svg"
            | "/robots.txt"
    ) || path.starts_with("/pkg/")
        || path.starts_with("/docs")
        || path.starts_with("/api-docs/")
}

fn is_static(path: &str) -> bool {
    path.starts_with("/pkg/") || path == "/favicon.svg" || path == "/robots.txt"
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

fn unavailable(e: impl std::fmt::Display) -> AppError {
    tracing::error!(error = %e, "auth storage failed");
    AppError::unavailable()
}

/// Finds who is asking and puts the `Viewer` in the request's extensions.
pub async fn authenticate(
    State(st): State<AppState>,
    session: Session,
    mut req: Request,
    next: Next,
) -> Response {
    // /metrics checks its own scrape token, which is no user's API token.
    if is_static(req.uri().path()) || req.uri().path() == "/metrics" {
        return next.run(req).await;
    }
    let viewer = match bearer(req.headers()) {
        Some(secret) => {
            match db::users::user_of_token(&st.pool, &auth::token_sha256(secret)).await {
                Ok(Some(u)) => Some(Viewer {
                    id: u.id,
                    username: u.username,
                    role: u.role,
                    csrf: None,
                }),
                Ok(None) => {
                    return ApiError(AppError::new(
                        ErrorCode::Unauthenticated,
                        "the API token is unknown or revoked, or its user is disabled",
                    ))
                    .into_response();
                }
                Err(e) => return ApiError(unavailable(e)).into_response(),
            }
        }
        None => match session_viewer(&st.pool, &session).await {
            Ok(v) => v,
            Err(e) => return ApiError(e).into_response(),
        },
    };
    if let Some(v) = viewer {
        req.extensions_mut().insert(v);
    }
    next.run(req).await
}

async fn session_viewer(pool: &PgPool, session: &Session) -> Result<Option<Viewer>, AppError> {
    let Some(uid) = session.get::<i64>(UID).await.map_err(unavailable)? else {
        return Ok(None);
    };
    let user = db::users::by_id(pool, uid).await.map_err(unavailable)?;
    match user {
        Some(u) if !u.view.disabled => Ok(Some(Viewer {
            id: u.view.id,
            username: u.view.username,
            role: u.view.role,
            csrf: session.get::<String>(CSRF).await.map_err(unavailable)?,
        })),
        // Disabled or deleted since signing in: the session ends now.
        _ => {
            session.flush().await.map_err(unavailable)?;
            Ok(None)
        }
    }
}

/// Whether an unsafe request comes from our own pages: its `Origin` (sent by
/// browsers on every cross-origin and same-origin POST) names our host.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        // Scripts and older browsers send none; cookies still need SameSite
        // and the CSRF token.
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest.trim_end_matches('/'));
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

/// Refuses what the viewer may not do: cross-site writes, cookie API writes
/// without the CSRF header, anonymous visits, users on admin pages.
pub async fn gate(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let viewer = req.extensions().get::<Viewer>().cloned();
    let writes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if writes && !same_origin(req.headers()) {
        return ApiError(AppError::new(
            ErrorCode::Csrf,
            "cross-site request refused (Origin does not match this host)",
        ))
        .into_response();
    }
    if let Some(expected) = viewer.as_ref().and_then(|v| v.csrf.as_deref())
        && writes
        && path.starts_with("/api/v1/")
        && path != "/api/v1/auth/login"
    {
        let sent = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if sent != expected {
            return ApiError(AppError {
                code: ErrorCode::Csrf,
                message: format!(
                    "a signed-in browser session must send its CSRF token in {CSRF_HEADER} (GET /api/v1/me shows it)"
                ),
                field: Some(CSRF_HEADER.into()),
            })
            .into_response();
        }
    }
    if is_public(&path) {
        return next.run(req).await;
    }
    match viewer {
        None if path.starts_with("/api/") || path == "/ws" => {
            ApiError(AppError::unauthenticated()).into_response()
        }
        None => {
            let target = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_else(|| path.clone());
            let q = serde_urlencoded::to_string([("next", target)]).unwrap_or_default();
            Redirect::to(&format!("/login?{q}")).into_response()
        }
        Some(v) if (path == "/admin" || path.starts_with("/admin/")) && !v.is_admin() => {
            (StatusCode::FORBIDDEN, Html(FORBIDDEN_PAGE)).into_response()
        }
        Some(_) => next.run(req).await,
    }
}

const FORBIDDEN_PAGE: &str = r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Forbidden · TraderAI</title><link rel="stylesheet" href="/pkg/traderai.css"></head><body><main class="narrow"><section class="panel" id="forbidden"><h1>403 — admins only</h1><p>This page belongs to the admin panel and your account has the user role.</p><p><a href="/">Back to the dashboard</a></p></section></main></body></html>"#;

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub next: Option<String>,
}

/// A local path to return to after sign-in; anything else goes home.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") => n,
        _ => "/",
    }
}

async fn sign_in(
    st: &AppState,
    session: &Session,
    ip: IpAddr,
    username: &str,
    password: &str,
) -> Result<Viewer, AppError> {
    if let Err(wait) = st.limiter.check(ip, username) {
        tracing::warn!(%ip, username, "sign-in rate limited");
        return Err(AppError::new(
            ErrorCode::RateLimited,
            format!("too many sign-in attempts; try again in {wait} s"),
        ));
    }
    let user = auth::check_login(&st.pool, username, password)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| {
            tracing::info!(%ip, username, "sign-in refused");
            AppError::new(ErrorCode::Unauthenticated, "wrong user name or password")
        })?;
    // A fresh id on privilege change, so a planted session id is worthless.
    session.cycle_id().await.map_err(unavailable)?;
    let csrf = hex::encode(rand::rng().random::<[u8; 32]>());
    session
        .insert(UID, user.view.id)
        .await
        .map_err(unavailable)?;
    session.insert(CSRF, &csrf).await.map_err(unavailable)?;
    db::users::touch_login(&st.pool, user.view.id)
        .await
        .map_err(unavailable)?;
    tracing::info!(user = %user.view.username, role = user.view.role.as_str(), "signed in");
    Ok(Viewer {
        id: user.view.id,
        username: user.view.username,
        role: user.view.role,
        csrf: Some(csrf),
    })
}

/// `POST /auth/login` from the sign-in page's form (works without WASM).
pub async fn login_form(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
    Form(f): Form<LoginForm>,
) -> Response {
    let next = safe_next(f.next.as_deref()).to_owned();
    match sign_in(&st, &session, ip, f.username.trim(), &f.password).await {
        Ok(_) => Redirect::to(&next).into_response(),
        Err(e) => {
            let q = serde_urlencoded::to_string([
                ("error", e.message.as_str()),
                ("next", next.as_str()),
            ])
            .unwrap_or_default();
            // Scripts sign in through /api/v1/auth/login and get the status there.
            Redirect::to(&format!("/login?{q}")).into_response()
        }
    }
}

#[derive(Debug, Deserialize, serde::Serialize, utoipa::ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// Signs in with a user name and password; the answer sets the session cookie.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = Viewer, description = "signed in; `csrf` goes in X-CSRF-Token on writes"),
              (status = 401, body = crate::web::api::ErrorBody), (status = 429, body = crate::web::api::ErrorBody)))]
pub async fn login_api(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
    super::api::ApiJson(f): super::api::ApiJson<LoginRequest>,
) -> Result<Json<Viewer>, ApiError> {
    Ok(Json(
        sign_in(&st, &session, ip, f.username.trim(), &f.password).await?,
    ))
}

#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    pub csrf: String,
}

/// `POST /auth/logout` from the page's sign-out button.
pub async fn logout_form(
    session: Session,
    axum::Extension(v): axum::Extension<Viewer>,
    Form(f): Form<LogoutForm>,
) -> Response {
    if let Err(e) = app::backend::require_csrf(&v, &f.csrf) {
        return ApiError(e).into_response();
    }
    match session.flush().await {
        Ok(()) => Redirect::to("/login").into_response(),
        Err(e) => ApiError(unavailable(e)).into_response(),
    }
}

/// Ends the session.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "signed out"), (status = 401, body = crate::web::api::ErrorBody)))]
pub async fn logout_api(session: Session) -> Result<StatusCode, ApiError> {
    session.flush().await.map_err(unavailable)?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/admin/jobs?x=1")), "/admin/jobs?x=1");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn origin_must_name_this_host() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "127.0.0.1:3000".parse().unwrap());
        assert!(same_origin(&h), "no Origin: a script");
        h.insert(header::ORIGIN, "http://127.0.0.1:3000".parse().unwrap());
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, "http://evil.example".parse().unwrap());
        assert!(!same_origin(&h));
        h.insert(header::ORIGIN, "null".parse().unwrap());
        assert!(!same_origin(&h));
    }

    #[test]
    fn limiter_counts_per_address_and_name() {
        let l = LoginLimiter::new(3);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert!(l.check(ip, "alice").is_ok());
        }
        let wait = l.check(ip, "Alice").unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
        assert!(
            l.check(ip, "bob").is_ok(),
            "another name has its own budget"
        );
        assert!(l.check("10.0.0.2".parse().unwrap(), "alice").is_ok());
    }
}
