//! Signals sized for the caller, the candles behind them, and "scan now".

use super::{ApiError, ApiQuery};
use crate::web::AppState;
use app::backend::Backend;
use app::types::{
    AppError, ChartData, ChartQuery, QualityView, ScanView, SignalBoard, UserSettings, Viewer,
};
use axum::extract::State;
use axum::{Extension, Json};
use serde::Deserialize;

/// Another profile or capital than the caller's saved settings (both or neither).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SignalsQuery {
    /// low, medium or high
    #[param(pattern = "^(low|medium|high)$")]
    pub risk_profile: Option<String>,
    /// Account size in quote currency.
    #[param(exclusive_minimum = 0.0, maximum = 1e12)]
    pub capital: Option<f64>,
}

/// Every series' newest signal candidate, judged for the caller: plans with
/// levels, leverage and size for their risk profile and capital (saved
/// settings unless given), and the rejected candidates with their reasons.
#[utoipa::path(get, path = "/api/v1/signals", tag = "signals", params(SignalsQuery),
    responses((status = 200, body = SignalBoard), (status = 401, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
pub async fn board(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    ApiQuery(q): ApiQuery<SignalsQuery>,
) -> Result<Json<SignalBoard>, ApiError> {
    let settings = match (q.risk_profile, q.capital) {
        (None, None) => None,
        (p, c) => {
            let saved = st.backend.settings(&v).await?;
            let risk_profile = match p {
                Some(p) => p
                    .parse()
                    .map_err(|e: String| AppError::invalid("risk_profile", e))?,
                None => saved.risk_profile,
            };
            Some(UserSettings {
                risk_profile,
                capital: c.unwrap_or(saved.capital),
            })
        }
    };
    Ok(Json(st.backend.signals(&v, settings).await?))
}

/// Candles of one stored series (newest `bars`) with the caller's signals on them.
#[utoipa::path(get, path = "/api/v1/candles", tag = "market", params(ChartQuery),
    responses((status = 200, body = ChartData), (status = 404, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
pub async fn candles(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    ApiQuery(q): ApiQuery<ChartQuery>,
) -> Result<Json<ChartData>, ApiError> {
    Ok(Json(st.backend.chart(&v, q).await?))
}

/// Gaps (weekends are not gaps for weekday series), zero-volume bars and
/// OHLC contradictions of one stored series (`bars` is ignored).
#[utoipa::path(get, path = "/api/v1/quality", tag = "market", params(ChartQuery),
    responses((status = 200, body = QualityView), (status = 404, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
pub async fn quality(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    ApiQuery(q): ApiQuery<ChartQuery>,
) -> Result<Json<QualityView>, ApiError> {
    Ok(Json(st.backend.quality(&v, q).await?))
}

/// Admin: scan every series at its newest closed bar now (workers do it
/// after each bar close anyway).
#[utoipa::path(post, path = "/api/v1/signals/scan", tag = "signals",
    responses((status = 200, body = ScanView), (status = 403, body = super::ErrorBody)))]
pub async fn scan(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
) -> Result<Json<ScanView>, ApiError> {
    Ok(Json(st.backend.scan_now(&v).await?))
}
