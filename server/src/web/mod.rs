//! `traderai serve`: the Leptos app (SSR + hydration), the REST API with its
//! OpenAPI document, the WebSocket, health probes; sessions and roles in front.

pub mod api;
pub mod backend;
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
    let state = AppState {
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
    (
        StatusCode::OK,
        Json(serde_json::json!({ "status": "ready", "database": "ok", "follow": follow })),
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
    .with_graceful_shutdown(stop)
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
