//! Stored market data.

use super::ApiError;
use crate::web::AppState;
use app::backend::Backend;
use app::types::SeriesCoverage;
use axum::Json;
use axum::extract::State;

/// Every stored candle series with its bar count and time range.
#[utoipa::path(get, path = "/api/v1/series", tag = "market",
    responses((status = 200, body = Vec<SeriesCoverage>), (status = 401, body = super::ErrorBody)))]
pub async fn series(State(st): State<AppState>) -> Result<Json<Vec<SeriesCoverage>>, ApiError> {
    Ok(Json(st.backend.coverage().await?))
}
