//! Users and the system, for admins.

use super::{ApiError, ApiJson};
use crate::web::AppState;
use app::backend::Backend;
use app::types::{AppError, NewUser, SystemStatus, UserPatch, UserView, Viewer};
use axum::extract::{Path, State};
use axum::{Extension, Json};

#[utoipa::path(get, path = "/api/v1/users", tag = "admin",
    responses((status = 200, body = Vec<UserView>), (status = 403, body = AppError)))]
pub async fn list_users(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
) -> Result<Json<Vec<UserView>>, ApiError> {
    Ok(Json(st.backend.users(&v).await?))
}

#[utoipa::path(post, path = "/api/v1/users", tag = "admin", request_body = NewUser,
    responses((status = 200, body = UserView), (status = 409, body = AppError), (status = 422, body = AppError)))]
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
    responses((status = 200, body = UserView), (status = 409, body = AppError, description = "would leave no enabled admin")))]
pub async fn update_user(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    Path(id): Path<i64>,
    ApiJson(p): ApiJson<UserPatch>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(st.backend.update_user(&v, id, p).await?))
}

/// CPU, memory, database size, queue depth, uptime, version.
#[utoipa::path(get, path = "/api/v1/system", tag = "admin",
    responses((status = 200, body = SystemStatus), (status = 403, body = AppError)))]
pub async fn system(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
) -> Result<Json<SystemStatus>, ApiError> {
    Ok(Json(st.backend.system(&v).await?))
}
