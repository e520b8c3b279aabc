//! REST under `/api/v1`: what the pages do, for scripts. JSON in and out,
//! errors as `{"error": {code, message, field}}`, OpenAPI generated from
//! these handlers and served at `/docs`.

mod account;
mod admin;
mod backtests;
mod jobs;
mod market;
mod models;
mod notify;
mod paper;
mod signals;

use super::AppState;
use app::types::{AppError, ErrorCode};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Every error answer's body: `{"error": {code, message, field}}`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: AppError,
}

/// Adds to every operation the error answers the layers in front of the
/// handlers can give, so the document lists every status the server sends:
/// 401 (no session or token), 403 (role, CSRF or cross-site write), 415 and
/// 422 (a body or query that cannot be read), 429 (sign-in throttle), 500
/// and 503 (the database is down).
struct ErrorAnswers;

impl utoipa::Modify for ErrorAnswers {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{
            RefOr, Response, ResponseBuilder, content::ContentBuilder, path::HttpMethod,
        };
        let answer = |why: &str| -> RefOr<Response> {
            RefOr::T(
                ResponseBuilder::new()
                    .description(why)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build(),
            )
        };
        for (path, item) in doc.paths.paths.iter_mut() {
            let public = path == "/api/v1/auth/login";
            for (method, op) in [
                (HttpMethod::Get, item.get.as_mut()),
                (HttpMethod::Post, item.post.as_mut()),
                (HttpMethod::Put, item.put.as_mut()),
                (HttpMethod::Delete, item.delete.as_mut()),
                (HttpMethod::Patch, item.patch.as_mut()),
            ] {
                let Some(op) = op else { continue };
                let r = &mut op.responses.responses;
                let mut add = |code: &str, why: &str| {
                    r.entry(code.to_owned()).or_insert_with(|| answer(why));
                };
                if !public {
                    add(
                        "401",
                        "not signed in: no session cookie or API token, or an unknown one",
                    );
                }
                let writes = method != HttpMethod::Get;
                if writes || path.starts_with("/api/v1/admin") || path.starts_with("/api/v1/models")
                {
                    add(
                        "403",
                        "the role does not allow it, or a browser write without its CSRF token or from another site",
                    );
                }
                let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
                if op.request_body.is_some() {
                    add("415", "the body is not application/json");
                }
                if op.request_body.is_some() || has_params {
                    add(
                        "422",
                        "a field, parameter or value is missing or out of range (`field` names it)",
                    );
                }
                if has_params && path.contains('{') {
                    add("404", "no such thing, or not the caller's");
                }
                if public {
                    add("429", "too many sign-in attempts; retry in a minute");
                }
                add("500", "an internal error");
                add("503", "the database is unreachable");
            }
        }
    }
}

/// An `AppError` as an HTTP answer.
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut r = (status, Json(serde_json::json!({ "error": self.0 }))).into_response();
        if self.0.code == ErrorCode::Unauthenticated {
            r.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"traderai\""),
            );
        }
        r
    }
}

/// A JSON body axum could not read, as our error shape (axum's own answer is plain text).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;
    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rej) => {
                let text = rej.body_text();
                // serde names the field in its message: "missing field `capital`".
                let field = text
                    .split('`')
                    .nth(1)
                    .filter(|_| text.contains("field"))
                    .map(str::to_owned);
                Err(ApiError(AppError {
                    code: ErrorCode::Invalid,
                    message: text,
                    field,
                }))
            }
        }
    }
}

/// Query parameters axum could not read, as our error shape.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(q).map(ApiQuery).map_err(|e| {
            let text = e.to_string();
            // serde names the field: "missing field `symbol`", or the value's
            // type error without one.
            let field = text
                .split('`')
                .nth(1)
                .filter(|_| text.contains("field"))
                .map(str::to_owned);
            ApiError(AppError {
                code: ErrorCode::Invalid,
                message: format!("query: {text}"),
                field,
            })
        })
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "TraderAI API",
        description = "Signals, market data, jobs, models and settings. Authenticate with the session cookie from POST /api/v1/auth/login (then send X-CSRF-Token on writes) or with `Authorization: Bearer <API token>` (create one at POST /api/v1/tokens)."
    ),
    components(schemas(AppError, ErrorCode, ErrorBody)),
    modifiers(&ErrorAnswers),
    tags(
        (name = "auth", description = "Sign in and out"),
        (name = "account", description = "The signed-in user: settings and API tokens"),
        (name = "signals", description = "Trade plans sized for the caller's risk profile and capital"),
        (name = "market", description = "Stored candles"),
        (name = "jobs", description = "Backfills, training, backtests as jobs"),
        (name = "models", description = "Model registry and training (admin role)"),
        (name = "admin", description = "Users and the system (admin role)"),
        (name = "paper", description = "Paper accounts: orders, fills, ledger, journal, the owner's halt"),
        (name = "trading", description = "The global kill switch"),
        (name = "notify", description = "Notification channels, events, quiet hours, Telegram link"),
    )
)]
struct ApiDoc;

/// The API routes and the OpenAPI document describing them.
pub fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(super::session::login_api))
        .routes(routes!(super::session::logout_api))
        .routes(routes!(account::me))
        .routes(routes!(account::get_settings, account::put_settings))
        .routes(routes!(account::list_tokens, account::create_token))
        .routes(routes!(account::revoke_token))
        .routes(routes!(market::series))
        .routes(routes!(signals::board))
        .routes(routes!(signals::candles))
        .routes(routes!(signals::quality))
        .routes(routes!(signals::scan))
        .routes(routes!(jobs::list_jobs))
        .routes(routes!(jobs::get_job))
        .routes(routes!(jobs::cancel_job))
        .routes(routes!(jobs::resume_job))
        .routes(routes!(jobs::start_backfill))
        .routes(routes!(backtests::start_backtest))
        .routes(routes!(backtests::trades_csv))
        .routes(routes!(admin::list_users, admin::create_user))
        .routes(routes!(admin::update_user))
        .routes(routes!(admin::system))
        .routes(routes!(admin::get_follow, admin::put_follow))
        .routes(routes!(models::list))
        .routes(routes!(models::events))
        .routes(routes!(models::promote))
        .routes(routes!(models::rollback))
        .routes(routes!(models::download))
        .routes(routes!(models::start_training))
        .routes(routes!(paper::list, paper::open))
        .routes(routes!(paper::detail))
        .routes(routes!(paper::trades))
        .routes(routes!(paper::ledger))
        .routes(routes!(paper::trades_csv))
        .routes(routes!(paper::ledger_csv))
        .routes(routes!(paper::halt))
        .routes(routes!(paper::resume))
        .routes(routes!(paper::take))
        .routes(routes!(
            paper::venue,
            paper::connect_venue,
            paper::disconnect_venue
        ))
        .routes(routes!(paper::venue_mode))
        .routes(routes!(paper::halt_state, paper::halt_all))
        .routes(routes!(paper::resume_all))
        .routes(routes!(notify::get_settings, notify::put_settings))
        .routes(routes!(notify::add_channel))
        .routes(routes!(notify::remove_channel))
        .routes(routes!(notify::test_channel))
        .routes(routes!(notify::telegram_code))
        .routes(routes!(notify::troubles))
        .split_for_parts()
}

/// Any other path under /api/v1.
pub async fn not_found() -> ApiError {
    ApiError(AppError::new(ErrorCode::NotFound, "no such API endpoint"))
}
