//! `traderai serve`: the Leptos app (SSR + hydration), the REST API with its
//! OpenAPI document, the WebSocket, health probes; sessions and roles in front.

pub mod api;
pub mod backend;
pub mod notify;
pub mod paper;
pub mod session;
pub mod venue;
pub mod ws;

use crate::config::Settings;
use app::backend::SharedBackend;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json};
use axum::routing::{get, post};
use axum::{Router, middleware};
use backend::PgBackend;
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};
use sqlx::PgPool;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use utoipa_swagger_ui::SwaggerUi;

#[derive(Clone)]
#[allow(missing_debug_implementations)] // LeptosOptions and the store are opaque
pub struct AppState {
    leptos: LeptosOptions,
    pool: PgPool,
    backend: Arc<PgBackend>,
    limiter: Arc<session::LoginLimiter>,
    hub: ws::Hub,
    /// `/metrics` wants `Authorization: Bearer <this>` when set.
    metrics_token: Option<Arc<str>>,
}

/// The request id header: taken from the caller (a proxy's) or made here,
/// echoed on the answer, and on every log line of the request.
pub const REQUEST_ID: &str = "x-request-id";

/// Request ids, the request's log span, and HTTP metrics by route and status.
async fn observe(
    State(record): State<bool>,
    mut req: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    use tracing::Instrument;
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{:016x}", rand::random::<u64>()));
    if let Ok(v) = axum::http::HeaderValue::from_str(&id) {
        req.headers_mut().insert(REQUEST_ID, v);
    }
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let span = tracing::info_span!("request", request_id = %id, %method, %path);
    let started = std::time::Instant::now();
    let mut res = next.run(req).instrument(span.clone()).await;
    let status = res.status().as_u16();
    let seconds = started.elapsed().as_secs_f64();
    if record {
        crate::metrics::http_request(&method, &path, status, seconds);
    }
    if status >= 500 {
        span.in_scope(|| tracing::warn!(status, ms = seconds * 1e3, "request failed"));
    }
    if let Ok(v) = axum::http::HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    res
}

/// `[web] metrics = false`: nothing is recorded, so nothing is served.
async fn metrics_off() -> (StatusCode, &'static str) {
    (
        StatusCode::NOT_FOUND,
        "metrics are off ([web] metrics = false)\n",
    )
}

/// Prometheus text format; a configured token is required as a bearer token.
async fn metrics(
    State(s): State<AppState>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    if let Some(token) = &s.metrics_token {
        let sent = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let same = sent.len() == token.len()
            && sent
                .bytes()
                .zip(token.bytes())
                .fold(0u8, |a, (x, y)| a | (x ^ y))
                == 0;
        if !same {
            return (
                StatusCode::UNAUTHORIZED,
                [(
                    axum::http::header::WWW_AUTHENTICATE,
                    "Bearer realm=\"metrics\"",
                )],
                "metrics need Authorization: Bearer <TRADERAI_METRICS_TOKEN>\n",
            )
                .into_response();
        }
    }
    let clients = s
        .backend
        .ws_clients
        .load(std::sync::atomic::Ordering::Relaxed);
    let body = crate::metrics::render(&s.pool, clients).await;
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

impl axum::extract::FromRef<AppState> for LeptosOptions {
    fn from_ref(s: &AppState) -> Self {
        s.leptos.clone()
    }
}

/// Leptos options from cargo-leptos' environment (`LEPTOS_*`) with our
/// defaults, so the binary also runs without cargo-leptos.
pub fn leptos_options(addr: SocketAddr, site_root: &str) -> anyhow::Result<LeptosOptions> {
    let text = format!(
        "[package.metadata.leptos]\noutput-name = \"traderai\"\nsite-root = \"{site_root}\"\nsite-pkg-dir = \"pkg\"\n"
    );
    let mut opts = leptos::config::get_config_from_str(&text)?;
    opts.site_addr = addr;
    Ok(opts)
}

/// The full router: pages, server functions, REST API and docs, WebSocket,
/// static files, health; behind sessions, authentication and the role gate.
pub async fn router(
    pool: PgPool,
    leptos: LeptosOptions,
    settings: &Settings,
) -> anyhow::Result<Router> {
    let cfg = &settings.web;
    let store = session::store(pool.clone()).await?;
    spawn_session_cleanup(store.clone());
    let backend = Arc::new(PgBackend::new(pool.clone(), settings));
    let hub = ws::Hub::start(pool.clone(), backend.ws_clients.clone());
    let shared: SharedBackend = backend.clone();
    if cfg.metrics {
        crate::metrics::handle();
    }
    let state = AppState {
        metrics_token: std::env::var("TRADERAI_METRICS_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
            .or_else(|| (!cfg.metrics_token.is_empty()).then(|| cfg.metrics_token.clone()))
            .map(Arc::from),
        leptos: leptos.clone(),
        pool,
        backend,
        limiter: Arc::new(session::LoginLimiter::new(cfg.login_attempts_per_minute)),
        hub,
    };
    let ctx = move || provide_context(shared.clone());
    let (api, openapi) = api::routes();
    let routes = generate_route_list(app::App);
    let app = Router::new()
        .route("/health", get(health))
        .route("/health/ready", get(ready))
        .route(
            "/metrics",
            if cfg.metrics {
                get(metrics)
            } else {
                get(metrics_off)
            },
        )
        .route("/auth/login", post(session::login_form))
        .route("/auth/logout", post(session::logout_form))
        .route("/ws", get(ws::handler))
        .merge(api)
        .route("/api/v1/{*rest}", axum::routing::any(api::not_found))
        .merge(SwaggerUi::new("/docs").url("/api-docs/openapi.json", openapi))
        .leptos_routes_with_context(&state, routes, ctx.clone(), {
            let leptos = leptos.clone();
            move || app::shell(leptos.clone())
        })
        .route(
            "/api/{*fn_name}",
            post({
                let ctx = ctx.clone();
                move |req| leptos_axum::handle_server_fns_with_context(ctx.clone(), req)
            }),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(
            app::shell,
        ))
        .layer(middleware::from_fn(session::gate))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            session::authenticate,
        ))
        .layer(session::layer(store, cfg))
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(middleware::from_fn_with_state(cfg.metrics, observe))
        .with_state(state);
    Ok(app)
}

fn spawn_session_cleanup(store: tower_sessions_sqlx_store::PostgresStore) {
    use tower_sessions::session_store::ExpiredDeletion;
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(3600));
        loop {
            every.tick().await;
            if let Err(e) = store.delete_expired().await {
                tracing::warn!(error = %e, "deleting expired sessions failed");
            }
        }
    });
}

/// Liveness: the process answers.
async fn health(State(s): State<AppState>) -> impl IntoResponse {
    Json(
        serde_json::json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION"), "uptime_s": s.backend.started.elapsed().as_secs() }),
    )
}

/// Readiness: the database answers too.
async fn ready(State(s): State<AppState>) -> impl IntoResponse {
    if let Err(e) = sqlx::query_scalar::<_, i32>("SELECT 1")
        .fetch_one(&s.pool)
        .await
    {
        tracing::warn!(error = %e, "readiness check failed");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "not ready", "database": "unreachable" })),
        );
    }
    // The follower's view of each followed series; stale data does not make
    // the server unready (restarting it would not help), it is reported.
    let follow = match backend::follow_views(&s.pool).await {
        Ok(series) => {
            let count = |st: &str| series.iter().filter(|f| f.state == st).count();
            serde_json::json!({
                "live": count("live"), "catching_up": count("catching_up"), "stale": count("stale"),
                "series": series,
            })
        }
        Err(e) => serde_json::json!({ "error": e.to_string() }),
    };
    // The job runner: what waits and what runs, and running jobs whose
    // heartbeat went silent (their worker died; another takes them over).
    let jobs = sqlx::query_as::<_, (i64, i64, i64)>(
        "SELECT count(*) FILTER (WHERE status = 'queued'), count(*) FILTER (WHERE status = 'running'),
                count(*) FILTER (WHERE status = 'running' AND heartbeat_at < now() - interval '60 seconds')
         FROM jobs",
    )
    .fetch_one(&s.pool)
    .await
    .map_or_else(
        |e| serde_json::json!({ "state": "unknown", "error": e.to_string() }),
        |(queued, running, silent)| serde_json::json!({
            "state": if silent > 0 { "degraded" } else { "ok" },
            "queued": queued, "running": running, "silent": silent,
        }),
    );
    // The notifier: deliveries due and not sent for over a minute mean no
    // notifier runs, or a channel is down.
    let notifier = sqlx::query_as::<_, (i64, Option<f64>, i64)>(
        "SELECT count(*) FILTER (WHERE status = 'pending' AND next_at <= now()),
                extract(epoch FROM now() - min(next_at) FILTER (WHERE status = 'pending' AND next_at <= now()))::float8,
                count(*) FILTER (WHERE status = 'failed' AND created_at > now() - interval '1 day')
         FROM notify_deliveries",
    )
    .fetch_one(&s.pool)
    .await
    .map_or_else(
        |e| serde_json::json!({ "state": "unknown", "error": e.to_string() }),
        |(due, oldest, failed)| serde_json::json!({
            "state": if oldest.is_some_and(|a| a > 60.0) { "behind" } else { "ok" },
            "due": due, "oldest_due_s": oldest, "failed_24h": failed,
        }),
    );
    (
        StatusCode::OK,
        Json(serde_json::json!({
            "status": "ready", "database": "ok", "follow": follow, "jobs": jobs, "notifier": notifier,
        })),
    )
}

/// Serves on `listener` until `stop` resolves (client addresses reach the
/// sign-in throttle).
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    app: Router,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    tracing::info!("serving on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    // In-flight requests finish; WebSockets are told why they close.
    .with_graceful_shutdown(async move {
        stop.await;
        tracing::info!("shutting down: finishing requests, closing WebSockets");
        ws::close_all();
    })
    .await?;
    Ok(())
}

/// Binds the configured address and serves until `stop` resolves.
pub async fn serve(
    pool: PgPool,
    leptos: LeptosOptions,
    settings: &Settings,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = leptos.site_addr;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let app = router(pool, leptos, settings).await?;
    serve_on(listener, app, stop).await
}
