//! Jobs: list, inspect, cancel, resume; start a backfill.

use super::{ApiError, ApiJson, ApiPath};
use crate::web::AppState;
use app::backend::Backend;
use app::types::{BackfillRequest, JobView, Viewer};
use axum::extract::State;
use axum::{Extension, Json};
use serde::Deserialize;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Newest first; at most 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// Jobs, newest first: a user's own, or all for an admin. A backtest's
/// detail is its metrics here; GET /api/v1/jobs/{id} has its curve and trades.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", params(ListQuery),
    responses((status = 200, body = Vec<JobView>), (status = 401, body = super::ErrorBody)))]
pub async fn list_jobs(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    super::ApiQuery(q): super::ApiQuery<ListQuery>,
) -> Result<Json<Vec<JobView>>, ApiError> {
    Ok(Json(st.backend.jobs(&v, super::limit(q.limit)?).await?))
}

#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs",
    params(("id" = i64, Path, description = "job id")),
    responses((status = 200, body = JobView), (status = 404, body = super::ErrorBody)))]
pub async fn get_job(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<JobView>, ApiError> {
    Ok(Json(st.backend.job(&v, id).await?))
}

/// Asks a job to stop: a queued one at once, a running one at its next checkpoint.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/cancel", tag = "jobs",
    params(("id" = i64, Path, description = "job id")),
    responses((status = 200, body = JobView), (status = 404, body = super::ErrorBody)))]
pub async fn cancel_job(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<JobView>, ApiError> {
    Ok(Json(st.backend.cancel_job(&v, id).await?))
}

/// Queues a failed or cancelled job again; it continues from its checkpoint.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/resume", tag = "jobs",
    params(("id" = i64, Path, description = "job id")),
    responses((status = 200, body = JobView), (status = 409, body = super::ErrorBody)))]
pub async fn resume_job(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<JobView>, ApiError> {
    Ok(Json(st.backend.resume_job(&v, id).await?))
}

/// Queues a resumable backfill from an exchange (admin).
#[utoipa::path(post, path = "/api/v1/backfills", tag = "jobs", request_body = BackfillRequest,
    responses((status = 200, body = JobView), (status = 403, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
pub async fn start_backfill(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    ApiJson(r): ApiJson<BackfillRequest>,
) -> Result<Json<JobView>, ApiError> {
    Ok(Json(st.backend.start_backfill(&v, r).await?))
}
