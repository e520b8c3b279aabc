//! The signed-in user: who, their trading settings, their API tokens.

use super::{ApiError, ApiJson, ApiPath};
use crate::web::AppState;
use app::backend::Backend;
use app::types::{NewToken, TokenView, UserSettings, Viewer};
use axum::extract::State;
use axum::{Extension, Json};
use serde::Deserialize;

/// Who is signed in (and the session's CSRF token).
#[utoipa::path(get, path = "/api/v1/me", tag = "account",
    responses((status = 200, body = Viewer), (status = 401, body = super::ErrorBody)))]
pub async fn me(Extension(v): Extension<Viewer>) -> Json<Viewer> {
    Json(v)
}

/// The risk profile and capital signals are sized for.
#[utoipa::path(get, path = "/api/v1/settings", tag = "account",
    responses((status = 200, body = UserSettings), (status = 401, body = super::ErrorBody)))]
pub async fn get_settings(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
) -> Result<Json<UserSettings>, ApiError> {
    Ok(Json(st.backend.settings(&v).await?))
}

#[utoipa::path(put, path = "/api/v1/settings", tag = "account", request_body = UserSettings,
    responses((status = 200, body = UserSettings), (status = 422, body = super::ErrorBody)))]
pub async fn put_settings(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    ApiJson(s): ApiJson<UserSettings>,
) -> Result<Json<UserSettings>, ApiError> {
    Ok(Json(st.backend.save_settings(&v, s).await?))
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "account",
    responses((status = 200, body = Vec<TokenView>)))]
pub async fn list_tokens(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
) -> Result<Json<Vec<TokenView>>, ApiError> {
    Ok(Json(st.backend.tokens(&v).await?))
}

#[derive(Debug, Deserialize, serde::Serialize, utoipa::ToSchema)]
pub struct TokenRequest {
    /// What the token is for, e.g. "nightly export".
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
}

/// Creates an API token; its secret is in this answer only.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "account", request_body = TokenRequest,
    responses((status = 200, body = NewToken), (status = 422, body = super::ErrorBody)))]
pub async fn create_token(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    ApiJson(r): ApiJson<TokenRequest>,
) -> Result<Json<NewToken>, ApiError> {
    Ok(Json(st.backend.create_token(&v, r.name).await?))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "account",
    params(("id" = i64, Path, description = "token id")),
    responses((status = 200, body = TokenView), (status = 404, body = super::ErrorBody)))]
pub async fn revoke_token(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<TokenView>, ApiError> {
    Ok(Json(st.backend.revoke_token(&v, id).await?))
}
