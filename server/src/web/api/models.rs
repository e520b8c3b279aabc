//! The model registry and training for admins: list, decisions, promote,
//! roll back, download, start a training run.

use super::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::web::AppState;
use app::backend::Backend;
use app::types::{
    AppError, ErrorCode, EvaluateRequest, JobView, ModelEventView, ModelView, RegistryDecision,
    RollbackRequest, TrainRequest, Viewer,
};
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::Deserialize;

/// Every registered model, newest version first.
#[utoipa::path(get, path = "/api/v1/models", tag = "models",
    responses((status = 200, body = Vec<ModelView>), (status = 403, body = super::ErrorBody)))]
pub async fn list(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
) -> Result<Json<Vec<ModelView>>, ApiError> {
    Ok(Json(st.backend.models(&v).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Newest first; at most 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// Registry decisions and drift checks with their numbers, newest first.
#[utoipa::path(get, path = "/api/v1/models/events", tag = "models", params(EventsQuery),
    responses((status = 200, body = Vec<ModelEventView>), (status = 403, body = super::ErrorBody)))]
pub async fn events(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Json<Vec<ModelEventView>>, ApiError> {
    Ok(Json(
        st.backend.model_events(&v, super::limit(q.limit)?).await?,
    ))
}

/// Makes the model the one serving its scope and timeframe.
#[utoipa::path(post, path = "/api/v1/models/{id}/promote", tag = "models",
    params(("id" = i64, Path, description = "model id")),
    responses((status = 200, body = RegistryDecision), (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub async fn promote(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<RegistryDecision>, ApiError> {
    Ok(Json(st.backend.promote_model(&v, id).await?))
}

/// Restores the most recently served backup of a scope and timeframe.
#[utoipa::path(post, path = "/api/v1/models/rollback", tag = "models", request_body = RollbackRequest,
    responses((status = 200, body = RegistryDecision), (status = 409, body = super::ErrorBody)))]
pub async fn rollback(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    ApiJson(r): ApiJson<RollbackRequest>,
) -> Result<Json<RegistryDecision>, ApiError> {
    Ok(Json(st.backend.rollback_model(&v, r).await?))
}

/// The model directory as a byte-reproducible ZIP; `X-Model-SHA256` carries
/// the hash the registry published, checked before sending.
#[utoipa::path(get, path = "/api/v1/models/{id}/download", tag = "models",
    params(("id" = i64, Path, description = "model id")),
    responses((status = 200, content_type = "application/zip", body = Vec<u8>), (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub async fn download(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    ApiPath(id): ApiPath<i64>,
) -> Result<impl IntoResponse, ApiError> {
    if !v.is_admin() {
        return Err(AppError::forbidden().into());
    }
    let (m, bytes) = crate::registry::download(&st.pool, id).await.map_err(|e| {
        let text = format!("{e:#}");
        let code = if text.starts_with("no model") {
            ErrorCode::NotFound
        } else {
            ErrorCode::Conflict
        };
        AppError::new(code, text)
    })?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"{}-{}-v{}.zip\"",
                    m.scope.replace('/', "-"),
                    m.timeframe,
                    m.version
                ),
            ),
            (
                header::HeaderName::from_static("x-model-sha256"),
                m.zip_sha256,
            ),
        ],
        bytes,
    ))
}

/// Queues an evaluation: walk-forward training, then the held-out windows
/// traded by the model, the hybrid and the rule beside buy-and-hold and
/// random entries; the finished job's detail is the evaluation.
#[utoipa::path(post, path = "/api/v1/evaluations", tag = "models", request_body = EvaluateRequest,
    responses((status = 200, body = JobView), (status = 403, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
pub async fn start_evaluation(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    ApiJson(r): ApiJson<EvaluateRequest>,
) -> Result<Json<JobView>, ApiError> {
    Ok(Json(st.backend.start_evaluation(&v, r).await?))
}

/// Queues a training run (walk-forward evaluation, final model, registry
/// decision); epochs stream on /ws and on the job row.
#[utoipa::path(post, path = "/api/v1/trainings", tag = "models", request_body = TrainRequest,
    responses((status = 200, body = JobView), (status = 403, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
pub async fn start_training(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    ApiJson(r): ApiJson<TrainRequest>,
) -> Result<Json<JobView>, ApiError> {
    Ok(Json(st.backend.start_training(&v, r).await?))
}
