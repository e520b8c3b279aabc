//! Paper accounts (`/api/v1/paper/…`) and the global kill switch
//! (`/api/v1/trading/halt`).

use super::{ApiError, ApiJson, ApiPath};
use crate::web::AppState;
use app::backend::Backend;
use app::types::{
    AppError, ErrorCode, HaltRequest, LedgerEntryView, NewPaperAccount, NewVenueConnection,
    PaperAccountDetail, PaperAccountView, PaperTradeView, TakeRequest, TakeView, TradingHaltView,
    VenueConnectionView, VenueModeRequest, Viewer,
};
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::{Extension, Json};

/// The caller's paper accounts (an admin sees everyone's).
#[utoipa::path(get, path = "/api/v1/paper/accounts", tag = "paper",
    responses((status = 200, body = Vec<PaperAccountView>), (status = 401, body = super::ErrorBody)))]
pub async fn list(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
) -> Result<Json<Vec<PaperAccountView>>, ApiError> {
    Ok(Json(st.backend.paper_accounts(&v).await?))
}

/// Opens a paper account on the followed series; it takes signals from the next close on.
#[utoipa::path(post, path = "/api/v1/paper/accounts", tag = "paper", request_body = NewPaperAccount,
    responses((status = 200, body = PaperAccountView), (status = 409, body = super::ErrorBody, description = "nothing is followed"),
        (status = 422, body = super::ErrorBody), (status = 401, body = super::ErrorBody)))]
pub async fn open(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    ApiJson(n): ApiJson<NewPaperAccount>,
) -> Result<Json<PaperAccountView>, ApiError> {
    Ok(Json(st.backend.open_paper_account(&v, n).await?))
}

/// One account: positions, orders with their status history, equity curve, journal.
#[utoipa::path(get, path = "/api/v1/paper/accounts/{id}", tag = "paper",
    params(("id" = i64, Path, description = "account id")),
    responses((status = 200, body = PaperAccountDetail), (status = 404, body = super::ErrorBody)))]
pub async fn detail(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<PaperAccountDetail>, ApiError> {
    Ok(Json(st.backend.paper_account(&v, id).await?))
}

/// Closed trades, oldest first.
#[utoipa::path(get, path = "/api/v1/paper/accounts/{id}/trades", tag = "paper",
    params(("id" = i64, Path, description = "account id")),
    responses((status = 200, body = Vec<PaperTradeView>), (status = 404, body = super::ErrorBody)))]
pub async fn trades(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<PaperTradeView>>, ApiError> {
    let rows = st.backend.paper_trades(&v, id).await?;
    Ok(Json(
        rows.iter().map(crate::web::paper::trade_view).collect(),
    ))
}

/// Every ledger entry (fees, realised P&L, funding), oldest first.
#[utoipa::path(get, path = "/api/v1/paper/accounts/{id}/ledger", tag = "paper",
    params(("id" = i64, Path, description = "account id")),
    responses((status = 200, body = Vec<LedgerEntryView>), (status = 404, body = super::ErrorBody)))]
pub async fn ledger(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<LedgerEntryView>>, ApiError> {
    Ok(Json(st.backend.paper_ledger(&v, id).await?))
}

fn csv_answer(name: String, body: Vec<u8>) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
}

fn csv_err(e: impl std::fmt::Display) -> ApiError {
    ApiError(AppError::new(
        ErrorCode::Internal,
        format!("writing CSV failed: {e}"),
    ))
}

/// Closed trades as CSV.
#[utoipa::path(get, path = "/api/v1/paper/accounts/{id}/trades.csv", tag = "paper",
    params(("id" = i64, Path, description = "account id")),
    responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = super::ErrorBody)))]
pub async fn trades_csv(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    ApiPath(id): ApiPath<i64>,
) -> Result<impl IntoResponse, ApiError> {
    let rows = st.backend.paper_trades(&v, id).await?;
    let mut w = csv::Writer::from_writer(Vec::new());
    for t in rows.iter().map(crate::web::paper::trade_view) {
        w.serialize(t).map_err(csv_err)?;
    }
    let body = w.into_inner().map_err(csv_err)?;
    Ok(csv_answer(format!("paper-{id}-trades.csv"), body))
}

/// The ledger as CSV: its amounts sum to balance − capital exactly.
#[utoipa::path(get, path = "/api/v1/paper/accounts/{id}/ledger.csv", tag = "paper",
    params(("id" = i64, Path, description = "account id")),
    responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = super::ErrorBody)))]
pub async fn ledger_csv(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    ApiPath(id): ApiPath<i64>,
) -> Result<impl IntoResponse, ApiError> {
    let rows = st.backend.paper_ledger(&v, id).await?;
    let mut w = csv::Writer::from_writer(Vec::new());
    for l in rows {
        w.serialize(l).map_err(csv_err)?;
    }
    let body = w.into_inner().map_err(csv_err)?;
    Ok(csv_answer(format!("paper-{id}-ledger.csv"), body))
}

/// The owner's kill switch for one account (optionally closing its positions).
#[utoipa::path(post, path = "/api/v1/paper/accounts/{id}/halt", tag = "paper", request_body = HaltRequest,
    params(("id" = i64, Path, description = "account id")),
    responses((status = 200, body = PaperAccountView), (status = 404, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
pub async fn halt(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(h): ApiJson<HaltRequest>,
) -> Result<Json<PaperAccountView>, ApiError> {
    Ok(Json(st.backend.halt_paper_account(&v, id, Some(h)).await?))
}

/// Lifts the owner's halt (refused while the global kill switch is engaged).
#[utoipa::path(post, path = "/api/v1/paper/accounts/{id}/resume", tag = "paper",
    params(("id" = i64, Path, description = "account id")),
    responses((status = 200, body = PaperAccountView), (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub async fn resume(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<PaperAccountView>, ApiError> {
    Ok(Json(st.backend.halt_paper_account(&v, id, None).await?))
}

/// Whether the global kill switch is engaged, why, since when.
#[utoipa::path(get, path = "/api/v1/trading/halt", tag = "trading",
    responses((status = 200, body = TradingHaltView), (status = 401, body = super::ErrorBody)))]
pub async fn halt_state(State(st): State<AppState>) -> Result<Json<TradingHaltView>, ApiError> {
    Ok(Json(st.backend.trading_halt().await?))
}

/// Admin: the global kill switch — every account halts now; `flatten` closes their positions.
#[utoipa::path(post, path = "/api/v1/trading/halt", tag = "trading", request_body = HaltRequest,
    responses((status = 200, body = TradingHaltView), (status = 403, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
pub async fn halt_all(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    ApiJson(h): ApiJson<HaltRequest>,
) -> Result<Json<TradingHaltView>, ApiError> {
    Ok(Json(st.backend.set_trading_halt(&v, Some(h)).await?))
}

/// Admin: lifts the global kill switch.
#[utoipa::path(post, path = "/api/v1/trading/resume", tag = "trading",
    responses((status = 200, body = TradingHaltView), (status = 403, body = super::ErrorBody)))]
pub async fn resume_all(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
) -> Result<Json<TradingHaltView>, ApiError> {
    Ok(Json(st.backend.set_trading_halt(&v, None).await?))
}

/// "Take" a board signal on the caller's accounts that do not follow it by
/// themselves; only at the close it was made at (409 once a later bar applied).
#[utoipa::path(post, path = "/api/v1/paper/take", tag = "paper", request_body = TakeRequest,
    responses((status = 200, body = Vec<TakeView>), (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub async fn take(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    ApiJson(r): ApiJson<TakeRequest>,
) -> Result<Json<Vec<TakeView>>, ApiError> {
    Ok(Json(st.backend.take_signal(&v, r).await?))
}

/// The account's broker connection: venue, key hint, mode, journal (never the keys).
#[utoipa::path(get, path = "/api/v1/paper/accounts/{id}/venue", tag = "paper",
    params(("id" = i64, Path, description = "account id")),
    responses((status = 200, body = VenueConnectionView), (status = 404, body = super::ErrorBody), (status = 401, body = super::ErrorBody)))]
pub async fn venue(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<VenueConnectionView>, ApiError> {
    Ok(Json(st.backend.venue_connection(&v, id).await?))
}

/// Connects the account to Binance USDⓈ-M (owner). The keys are checked with
/// the venue, stored encrypted, and never returned; it starts in dry-run:
/// every order is validated by the venue and none is placed.
#[utoipa::path(post, path = "/api/v1/paper/accounts/{id}/venue", tag = "paper", request_body = NewVenueConnection,
    params(("id" = i64, Path, description = "account id")),
    responses((status = 200, body = VenueConnectionView), (status = 404, body = super::ErrorBody),
        (status = 409, body = super::ErrorBody, description = "already connected, or the venue refused the keys"),
        (status = 422, body = super::ErrorBody), (status = 503, body = super::ErrorBody, description = "no TRADERAI_SECRET_KEY to store keys under")))]
pub async fn connect_venue(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(c): ApiJson<NewVenueConnection>,
) -> Result<Json<VenueConnectionView>, ApiError> {
    Ok(Json(st.backend.connect_venue(&v, id, c).await?))
}

/// Removes the connection and its stored keys (not while live).
#[utoipa::path(delete, path = "/api/v1/paper/accounts/{id}/venue", tag = "paper",
    params(("id" = i64, Path, description = "account id")),
    responses((status = 204), (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody, description = "live: switch back to dry-run first")))]
pub async fn disconnect_venue(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    ApiPath(id): ApiPath<i64>,
) -> Result<axum::http::StatusCode, ApiError> {
    st.backend.disconnect_venue(&v, id).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Admin: the live switch. Live places real orders from the next step on; off returns to dry-run.
#[utoipa::path(post, path = "/api/v1/paper/accounts/{id}/venue/mode", tag = "paper", request_body = VenueModeRequest,
    params(("id" = i64, Path, description = "account id")),
    responses((status = 200, body = VenueConnectionView), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn venue_mode(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(m): ApiJson<VenueModeRequest>,
) -> Result<Json<VenueConnectionView>, ApiError> {
    Ok(Json(st.backend.set_venue_mode(&v, id, m).await?))
}
