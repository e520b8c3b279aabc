//! The simulator over the API: start a backtest job, export its trades.

use super::{ApiError, ApiJson, ApiPath};
use crate::web::AppState;
use app::backend::Backend;
use app::types::{AppError, BacktestOutcome, BacktestRequest, ErrorCode, JobView, Viewer};
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::{Extension, Json};

/// Queues a backtest of stored series for the caller's (or the given) risk
/// profile and capital; follow it at /api/v1/jobs/{id} or on /ws. The
/// finished job's detail holds the report, equity curve and trades.
#[utoipa::path(post, path = "/api/v1/backtests", tag = "jobs", request_body = BacktestRequest,
    responses((status = 200, body = JobView), (status = 422, body = super::ErrorBody)))]
pub async fn start_backtest(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    ApiJson(r): ApiJson<BacktestRequest>,
) -> Result<Json<JobView>, ApiError> {
    Ok(Json(st.backend.start_backtest(&v, r).await?))
}

/// Every trade of a finished backtest as CSV.
#[utoipa::path(get, path = "/api/v1/backtests/{id}/trades.csv", tag = "jobs",
    params(("id" = i64, Path, description = "backtest job id")),
    responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub async fn trades_csv(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    ApiPath(id): ApiPath<i64>,
) -> Result<impl IntoResponse, ApiError> {
    let job = st.backend.job(&v, id).await?;
    if job.kind != crate::simulate::KIND {
        return Err(AppError::not_found(format!("backtest {id}")).into());
    }
    if job.status != "succeeded" {
        return Err(AppError::new(
            ErrorCode::Conflict,
            format!(
                "backtest {id} is {}; trades exist once it has succeeded",
                job.status
            ),
        )
        .into());
    }
    let outcome: BacktestOutcome = serde_json::from_value(job.detail).map_err(|e| {
        tracing::error!(job = id, error = %e, "stored backtest detail unreadable");
        AppError::new(ErrorCode::Internal, "the stored backtest cannot be read")
    })?;
    let mut buf = Vec::new();
    crate::research::write_trades_to(&mut buf, &outcome.trades)
        .map_err(|e| AppError::new(ErrorCode::Internal, format!("writing CSV failed: {e:#}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"backtest-{id}-trades.csv\""),
            ),
        ],
        buf,
    ))
}
