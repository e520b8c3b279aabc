//! `traderai serve`: the Leptos app (SSR + hydration) and HTTP endpoints on axum.

use crate::db;
use app::backend::{Backend, SharedBackend};
use app::types::SeriesCoverage;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json};
use axum::routing::get;
use futures::future::BoxFuture;
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};
use sqlx::PgPool;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// The server's view of the store, handed to server functions.
#[derive(Debug, Clone)]
pub struct PgBackend {
    pool: PgPool,
}

impl Backend for PgBackend {
    fn coverage(&self) -> BoxFuture<'_, Result<Vec<SeriesCoverage>, String>> {
        Box::pin(async move {
            let rows = db::candles::list_series(&self.pool).await.map_err(|e| {
                tracing::error!(error = %e, "listing series failed");
                "the database is unavailable".to_string()
            })?;
            Ok(rows
                .into_iter()
                .filter(|r| r.bars > 0)
                .map(|r| SeriesCoverage {
                    exchange: r.key.exchange,
                    market: r.key.market.to_string(),
                    symbol: r.key.symbol.to_string(),
                    timeframe: r.key.timeframe.to_string(),
                    bars: r.bars,
                    first: r.first_open.unwrap_or_default(),
                    last: r.last_open.unwrap_or_default(),
                })
                .collect())
        })
    }
}

#[derive(Clone)]
struct AppState {
    leptos: LeptosOptions,
    pool: PgPool,
    started: Instant,
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

/// The full router: app pages, server functions, static files, health.
pub fn router(pool: PgPool, leptos: LeptosOptions) -> Router {
    let backend: SharedBackend = Arc::new(PgBackend { pool: pool.clone() });
    let routes = generate_route_list(app::App);
    let state = AppState {
        leptos: leptos.clone(),
        pool,
        started: Instant::now(),
    };
    let ctx = move || provide_context(backend.clone());
    Router::new()
        .route("/health", get(health))
        .route("/health/ready", get(ready))
        .leptos_routes_with_context(&state, routes, ctx.clone(), {
            let leptos = leptos.clone();
            move || app::shell(leptos.clone())
        })
        .route(
            "/api/{*fn_name}",
            axum::routing::post({
                let ctx = ctx.clone();
                move |req| leptos_axum::handle_server_fns_with_context(ctx.clone(), req)
            }),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(
            app::shell,
        ))
        .layer(tower_http::compression::CompressionLayer::new())
        .with_state(state)
}

/// Liveness: the process answers.
async fn health(State(s): State<AppState>) -> impl IntoResponse {
    Json(
        serde_json::json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION"), "uptime_s": s.started.elapsed().as_secs() }),
    )
}

/// Readiness: the database answers too.
async fn ready(State(s): State<AppState>) -> impl IntoResponse {
    match sqlx::query_scalar::<_, i32>("SELECT 1")
        .fetch_one(&s.pool)
        .await
    {
        Ok(_) => (
            StatusCode::OK,
            Json(serde_json::json!({ "status": "ready", "database": "ok" })),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({ "status": "not ready", "database": "unreachable" })),
            )
        }
    }
}

/// Serves until `stop` resolves.
pub async fn serve(
    pool: PgPool,
    leptos: LeptosOptions,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = leptos.site_addr;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    tracing::info!("serving on http://{}", listener.local_addr()?);
    axum::serve(listener, router(pool, leptos))
        .with_graceful_shutdown(stop)
        .await?;
    Ok(())
}
