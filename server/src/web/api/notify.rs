//! Notification channels and preferences of the caller; delivery troubles for admins.

use super::{ApiError, ApiJson, ApiPath};
use crate::web::AppState;
use app::backend::Backend;
use app::types::*;
use axum::extract::State;
use axum::{Extension, Json};

/// The caller's channels (kind and hint, never the address), events, quiet
/// hours, daily summary time and Telegram link.
#[utoipa::path(get, path = "/api/v1/notify", tag = "notify",
    responses((status = 200, body = NotifySettingsView), (status = 401, body = super::ErrorBody)))]
pub async fn get_settings(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
) -> Result<Json<NotifySettingsView>, ApiError> {
    Ok(Json(st.backend.notify_settings(&v).await?))
}

/// Replaces the caller's events, quiet hours, time zone, daily time and rate.
#[utoipa::path(put, path = "/api/v1/notify", tag = "notify", request_body = NotifyPrefsView,
    responses((status = 200, body = NotifySettingsView), (status = 422, body = super::ErrorBody), (status = 401, body = super::ErrorBody)))]
pub async fn put_settings(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    ApiJson(p): ApiJson<NotifyPrefsView>,
) -> Result<Json<NotifySettingsView>, ApiError> {
    Ok(Json(st.backend.save_notify_prefs(&v, p).await?))
}

/// Adds a channel. The address is checked, stored encrypted and never returned.
#[utoipa::path(post, path = "/api/v1/notify/channels", tag = "notify", request_body = NewChannel,
    responses((status = 200, body = ChannelView), (status = 422, body = super::ErrorBody),
        (status = 503, body = super::ErrorBody, description = "no TRADERAI_SECRET_KEY to store addresses under"),
        (status = 401, body = super::ErrorBody)))]
pub async fn add_channel(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    ApiJson(c): ApiJson<NewChannel>,
) -> Result<Json<ChannelView>, ApiError> {
    Ok(Json(st.backend.add_channel(&v, c).await?))
}

/// Removes one of the caller's channels (a Telegram channel unlinks the chat).
#[utoipa::path(delete, path = "/api/v1/notify/channels/{id}", tag = "notify",
    params(("id" = i64, Path, description = "channel id")),
    responses((status = 204), (status = 404, body = super::ErrorBody), (status = 401, body = super::ErrorBody)))]
pub async fn remove_channel(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    ApiPath(id): ApiPath<i64>,
) -> Result<axum::http::StatusCode, ApiError> {
    st.backend.remove_channel(&v, id).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Queues a test message to one of the caller's channels.
#[utoipa::path(post, path = "/api/v1/notify/channels/{id}/test", tag = "notify",
    params(("id" = i64, Path, description = "channel id")),
    responses((status = 200, body = TestQueued), (status = 404, body = super::ErrorBody), (status = 401, body = super::ErrorBody)))]
pub async fn test_channel(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<TestQueued>, ApiError> {
    Ok(Json(st.backend.test_channel(&v, id).await?))
}

/// A one-time code (15 minutes) to send to the bot as `/link CODE`.
#[utoipa::path(post, path = "/api/v1/notify/telegram/code", tag = "notify",
    responses((status = 200, body = TelegramCode), (status = 409, body = super::ErrorBody, description = "no Telegram bot configured"),
        (status = 401, body = super::ErrorBody)))]
pub async fn telegram_code(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
) -> Result<Json<TelegramCode>, ApiError> {
    Ok(Json(st.backend.telegram_code(&v).await?))
}

/// Admin: deliveries that failed or are retrying, newest first.
#[utoipa::path(get, path = "/api/v1/admin/notify/deliveries", tag = "admin",
    responses((status = 200, body = Vec<DeliveryView>), (status = 403, body = super::ErrorBody), (status = 401, body = super::ErrorBody)))]
pub async fn troubles(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
) -> Result<Json<Vec<DeliveryView>>, ApiError> {
    Ok(Json(st.backend.delivery_troubles(&v).await?))
}
