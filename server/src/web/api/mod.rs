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
        constrain(doc);
        // A time zone is one of the IANA names the server knows.
        if let Some(components) = doc.components.as_mut()
            && let Some(RefOr::T(utoipa::openapi::Schema::Object(prefs))) =
                components.schemas.get_mut("NotifyPrefsView")
            && let Some(RefOr::T(utoipa::openapi::Schema::Object(tz))) =
                prefs.properties.get_mut("timezone")
        {
            tz.enum_values = Some(
                chrono_tz::TZ_VARIANTS
                    .iter()
                    .map(|z| serde_json::Value::from(z.name()))
                    .collect(),
            );
        }
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
                if writes {
                    add(
                        "409",
                        "it clashes with what is stored, or with how this installation is set up",
                    );
                }
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

/// Timeframes the schema lists (the server parses any `<n>m|h|d` that
/// tiles a UTC day; these are the ones the product uses).
const TIMEFRAMES: &[&str] = &[
    "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d",
];
const SYMBOL: &str = "^[A-Za-z0-9]{1,20}/[A-Za-z0-9]{1,20}$";
/// What `parse_instant` reads: `now`, epoch ms, a date, a date and time (UTC
/// unless an offset is given); days up to 29 so every month has them.
const INSTANT: &str = "^(now|-?[0-9]{1,18}|[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-9])([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9]((\\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9]))?)?)?)$";

/// The same, or empty (an optional bound left out).
const INSTANT_OR_EMPTY: &str = concat!(
    "^$|",
    "^(now|-?[0-9]{1,18}|[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-9])([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9]((\\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9]))?)?)?)$"
);

/// What the request types' fields accept, where the Rust type (a String, a
/// Vec<String>) cannot say it: enums, patterns, sizes.
fn constrain(doc: &mut utoipa::openapi::OpenApi) {
    use serde_json::json;
    use utoipa::openapi::{RefOr, Schema};
    let rules: &[(&str, &str, serde_json::Value)] = &[
        (
            "BackfillRequest",
            "exchange",
            json!({"enum": ["binance", venues::stocks::EXCHANGE]}),
        ),
        (
            "BackfillRequest",
            "universe",
            json!({"enum": ["us-stocks", "", null]}),
        ),
        (
            "BackfillRequest",
            "market",
            json!({"enum": ["spot", "futures"]}),
        ),
        (
            "BackfillRequest",
            "symbols",
            // Empty with a universe; symbols or a universe is checked in the handler.
            json!({"items": SYMBOL}),
        ),
        ("BackfillRequest", "timeframe", json!({"enum": TIMEFRAMES})),
        ("BackfillRequest", "from", json!({"pattern": INSTANT})),
        (
            "BackfillRequest",
            "to",
            json!({"pattern": INSTANT_OR_EMPTY}),
        ),
        (
            "BacktestRequest",
            "symbols",
            json!({"items": SYMBOL, "minItems": 1}),
        ),
        ("BacktestRequest", "timeframe", json!({"enum": TIMEFRAMES})),
        (
            "BacktestRequest",
            "from",
            json!({"pattern": INSTANT_OR_EMPTY}),
        ),
        (
            "BacktestRequest",
            "to",
            json!({"pattern": INSTANT_OR_EMPTY}),
        ),
        (
            "BacktestRequest",
            "strategy",
            json!({"enum": ["technical", "model", "hybrid", ""]}),
        ),
        (
            "BacktestRequest",
            "sizing",
            json!({"pattern": "^(fixed-risk|atr|kelly:(0\\.[0-9]*[1-9][0-9]*|1(\\.0*)?))?$"}),
        ),
        (
            "BacktestRequest",
            "model_weight",
            json!({"minimum": 0.0, "maximum": 1.0}),
        ),
        (
            "BacktestRequest",
            "min_net_profit",
            json!({"minimum": 0.0, "maximum": 100.0}),
        ),
        ("EvaluateRequest", "symbols", json!({"items": SYMBOL})),
        ("EvaluateRequest", "timeframe", json!({"enum": TIMEFRAMES})),
        (
            "EvaluateRequest",
            "max_epochs",
            json!({"minimum": 1, "maximum": 500}),
        ),
        (
            "EvaluateRequest",
            "folds",
            json!({"minimum": 1, "maximum": 10}),
        ),
        (
            "EvaluateRequest",
            "backend",
            json!({"enum": ["libtorch", "tch", "torch", "flex", "", null]}),
        ),
        (
            "EvaluateRequest",
            "universe",
            json!({"enum": ["us-stocks", "", null]}),
        ),
        (
            "EvaluateRequest",
            "barrier",
            json!({"pattern": crate::web::backend::BARRIER_PATTERN}),
        ),
        (
            "TrainRequest",
            "barrier",
            json!({"pattern": crate::web::backend::BARRIER_PATTERN}),
        ),
        (
            "TrainRequest",
            "symbols",
            // Empty with a universe; symbols or a universe is checked in the handler.
            json!({"items": SYMBOL}),
        ),
        ("TrainRequest", "timeframe", json!({"enum": TIMEFRAMES})),
        (
            "TrainRequest",
            "max_epochs",
            json!({"minimum": 1, "maximum": 500}),
        ),
        (
            "TrainRequest",
            "folds",
            json!({"minimum": 0, "maximum": 10}),
        ),
        (
            "TrainRequest",
            "backend",
            json!({"enum": ["libtorch", "tch", "torch", "flex", "", null]}),
        ),
        (
            "TrainRequest",
            "promote",
            json!({"enum": ["if_better", "if-better", "always", "never", "", null]}),
        ),
        (
            "TrainRequest",
            "universe",
            json!({"enum": ["us-stocks", "", null]}),
        ),
        (
            "NewVenueConnection",
            "venue",
            json!({"enum": crate::venue::VENUES}),
        ),
        (
            "TrainRequest",
            "groups",
            json!({"items": {"enum": ["sentiment", "macro", "context"]}, "uniqueItems": true}),
        ),
        (
            "NewPaperAccount",
            "follow",
            json!({"enum": ["all", "symbols", "manual"]}),
        ),
        (
            "NewPaperAccount",
            "capital",
            json!({"pattern": "^[1-9][0-9]{0,11}(\\.[0-9]{1,8})?$"}),
        ),
        ("NewPaperAccount", "symbols", json!({"items": SYMBOL})),
        ("FollowEdit", "market", json!({"enum": ["spot", "futures"]})),
        (
            "FollowEdit",
            "symbols",
            json!({"items": SYMBOL, "minItems": 1}),
        ),
        (
            "RollbackRequest",
            "scope",
            json!({"pattern": "^[A-Za-z0-9/_-]{1,64}$"}),
        ),
        ("RollbackRequest", "timeframe", json!({"enum": TIMEFRAMES})),
    ];
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    // PostgreSQL text cannot hold NUL: no free-text field accepts it.
    for (name, s) in components.schemas.iter_mut() {
        // An error's message may quote what was sent.
        if name == "AppError" || name == "ErrorBody" {
            continue;
        }
        if let Ok(mut v) = serde_json::to_value(&*s) {
            no_nul(&mut v);
            if let Ok(n) = serde_json::from_value(v) {
                *s = n;
            }
        }
    }
    for (schema, field, rule) in rules {
        let Some(RefOr::T(Schema::Object(obj))) = components.schemas.get_mut(*schema) else {
            tracing::warn!(schema, "OpenAPI: no such schema to constrain");
            continue;
        };
        let Some(prop) = obj.properties.get_mut(*field) else {
            tracing::warn!(schema, field, "OpenAPI: no such field to constrain");
            continue;
        };
        // Through JSON: the same edit for plain and nullable (oneOf) fields.
        let Ok(mut v) = serde_json::to_value(&*prop) else {
            continue;
        };
        let target = match v.get_mut("oneOf").and_then(|o| o.as_array_mut()) {
            Some(alts) => alts
                .iter_mut()
                .find(|a| a.get("type") != Some(&json!("null"))),
            None => Some(&mut v),
        };
        let Some(t) = target.and_then(|t| t.as_object_mut()) else {
            continue;
        };
        for (k, r) in rule.as_object().into_iter().flatten() {
            match k.as_str() {
                "items" => {
                    t.insert("items".into(), json!({"type": "string", "pattern": r}));
                }
                "itemsEnum" => {
                    t.insert("items".into(), json!({"type": "string", "enum": r}));
                }
                _ => {
                    t.insert(k.clone(), r.clone());
                }
            }
        }
        if let Ok(p) = serde_json::from_value(v) {
            *prop = p;
        }
    }
}

/// Adds a no-NUL pattern to every string schema that has no pattern, enum or format.
fn no_nul(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(o) => {
            let is_string = match o.get("type") {
                Some(serde_json::Value::String(t)) => t == "string",
                Some(serde_json::Value::Array(a)) => a.iter().any(|t| t == "string"),
                _ => false,
            };
            if is_string
                && !["pattern", "enum", "format", "const"]
                    .iter()
                    .any(|k| o.contains_key(*k))
            {
                o.insert("pattern".into(), "^[^\\u0000]*$".into());
            }
            o.values_mut().for_each(no_nul);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(no_nul),
        _ => {}
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
    T: serde::de::DeserializeOwned + serde::Serialize,
    S: Send + Sync,
{
    type Rejection = ApiError;
    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match Json::<serde_json::Value>::from_request(req, state).await {
            Ok(Json(mut v)) => {
                if !v.is_object() {
                    return Err(ApiError(AppError::invalid(
                        "body",
                        "the body must be a JSON object",
                    )));
                }
                integral_floats(&mut v);
                let t = serde_json::from_value::<T>(v).map_err(|e| {
                    let text = e.to_string();
                    let field = serde_field(&text);
                    ApiError(AppError {
                        code: ErrorCode::Invalid,
                        message: format!("body: {text}"),
                        field,
                    })
                })?;
                // Only what the server reads is checked (extra keys are ignored).
                if let Some(at) = serde_json::to_value(&t).ok().and_then(|v| nul_at(&v, "")) {
                    return Err(ApiError(AppError::invalid(
                        at.trim_start_matches('.'),
                        "text may not contain NUL characters",
                    )));
                }
                Ok(ApiJson(t))
            }
            Err(rej) => {
                let text = rej.body_text();
                // serde names the field in its message: "missing field `capital`".
                let field = serde_field(&text);
                Err(ApiError(AppError {
                    code: ErrorCode::Invalid,
                    message: text,
                    field,
                }))
            }
        }
    }
}

/// Where the first string holding a NUL character is (PostgreSQL text cannot).
fn nul_at(v: &serde_json::Value, at: &str) -> Option<String> {
    match v {
        serde_json::Value::String(s) if s.contains('\0') => Some(at.to_owned()),
        serde_json::Value::Array(a) => a
            .iter()
            .enumerate()
            .find_map(|(i, x)| nul_at(x, &format!("{at}[{i}]"))),
        serde_json::Value::Object(o) => o.iter().find_map(|(k, x)| {
            if k.contains('\0') {
                Some(format!("{at}.{k}"))
            } else {
                nul_at(x, &format!("{at}.{k}"))
            }
        }),
        _ => None,
    }
}

/// JSON has one number type: 3.0 is the integer 3 (as JSON Schema says),
/// which serde would refuse for an integer field.
fn integral_floats(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64())
                && f.fract() == 0.0
                && f.abs() < 9.0e15
            {
                *n = serde_json::Number::from(f as i64);
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(integral_floats),
        serde_json::Value::Object(o) => o.values_mut().for_each(integral_floats),
        _ => {}
    }
}

/// The field serde names in its message ("missing field `capital`"), if any.
fn serde_field(text: &str) -> Option<String> {
    text.split('`')
        .nth(1)
        .filter(|_| text.contains("field"))
        .map(str::to_owned)
}

/// A path parameter axum could not read (`/jobs/abc`), as our error shape.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for ApiPath<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(rej) => Err(ApiError(AppError {
                code: ErrorCode::Invalid,
                message: format!("path: {}", rej.body_text()),
                field: Some("id".into()),
            })),
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
        if let Some((k, _)) = serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .unwrap_or_default()
            .into_iter()
            .find(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            return Err(ApiError(AppError::invalid(
                &k.replace('\0', ""),
                "text may not contain NUL characters",
            )));
        }
        serde_urlencoded::from_str(q).map(ApiQuery).map_err(|e| {
            let text = e.to_string();
            // serde names the field: "missing field `symbol`", or the value's
            // type error without one.
            let field = serde_field(&text);
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
    components(schemas(AppError, ErrorCode, ErrorBody, app::types::TimeframeName, app::types::RiskProfileName, app::types::EventName)),
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
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(super::session::login_api))
        .routes(routes!(super::session::logout_api))
        .routes(routes!(account::me))
        .routes(routes!(account::get_settings, account::put_settings))
        .routes(routes!(account::list_tokens, account::create_token))
        .routes(routes!(account::revoke_token))
        .routes(routes!(market::series))
        .routes(routes!(market::prices))
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
        .routes(routes!(models::start_evaluation))
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
        .split_for_parts();
    // After the routes: the modifier needs their operations.
    utoipa::Modify::modify(&ErrorAnswers, &mut doc);
    (router, doc)
}

/// A list's `limit`: 1 to 500, 100 when absent.
pub fn limit(l: Option<i64>) -> Result<i64, ApiError> {
    match l {
        None => Ok(100),
        Some(n) if (1..=500).contains(&n) => Ok(n),
        Some(n) => Err(ApiError(AppError::invalid(
            "limit",
            format!("{n}: from 1 to 500"),
        ))),
    }
}

/// Any other path under /api/v1.
pub async fn not_found() -> ApiError {
    ApiError(AppError::new(ErrorCode::NotFound, "no such API endpoint"))
}
