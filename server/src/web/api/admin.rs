//! Users and the system, for admins.

use super::{ApiError, ApiJson, ApiPath};
use crate::web::AppState;
use app::backend::Backend;
use app::types::{
    FollowConfigView, FollowEdit, NewUser, SystemStatus, UserPatch, UserView, Viewer,
};
use axum::extract::State;
use axum::{Extension, Json};

#[utoipa::path(get, path = "/api/v1/users", tag = "admin",
    responses((status = 200, body = Vec<UserView>), (status = 403, body = super::ErrorBody)))]
pub async fn list_users(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
) -> Result<Json<Vec<UserView>>, ApiError> {
    Ok(Json(st.backend.users(&v).await?))
}

#[utoipa::path(post, path = "/api/v1/users", tag = "admin", request_body = NewUser,
    responses((status = 200, body = UserView), (status = 409, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
pub async fn create_user(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    ApiJson(u): ApiJson<NewUser>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(st.backend.create_user(&v, u).await?))
}

/// Changes a user's role, disables or enables them, or sets a new password.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "admin", request_body = UserPatch,
    params(("id" = i64, Path, description = "user id")),
    responses((status = 200, body = UserView), (status = 409, body = super::ErrorBody, description = "would leave no enabled admin")))]
pub async fn update_user(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(p): ApiJson<UserPatch>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(st.backend.update_user(&v, id, p).await?))
}

/// CPU, memory, database size, queue depth, uptime, version.
#[utoipa::path(get, path = "/api/v1/system", tag = "admin",
    responses((status = 200, body = SystemStatus), (status = 403, body = super::ErrorBody)))]
pub async fn system(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
) -> Result<Json<SystemStatus>, ApiError> {
    Ok(Json(st.backend.system(&v).await?))
}

/// The followed universe in force: the config file's `[follow]`, or an admin's edit of it.
#[utoipa::path(get, path = "/api/v1/follow", tag = "admin",
    responses((status = 200, body = FollowConfigView), (status = 403, body = super::ErrorBody)))]
pub async fn get_follow(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
) -> Result<Json<FollowConfigView>, ApiError> {
    Ok(Json(st.backend.follow_config(&v).await?))
}

/// Replaces the followed universe (venue market, symbols, timeframes); every
/// bad entry is named (422) and nothing changes; followers restart within seconds.
#[utoipa::path(put, path = "/api/v1/follow", tag = "admin", request_body = FollowEdit,
    responses((status = 200, body = FollowConfigView), (status = 422, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn put_follow(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    ApiJson(e): ApiJson<FollowEdit>,
) -> Result<Json<FollowConfigView>, ApiError> {
    Ok(Json(st.backend.save_follow_config(&v, e).await?))
}
