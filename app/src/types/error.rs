//! The one error shape every API answer and server function uses:
//! a stable code, a sentence for people, and the field at fault if any.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No valid session or token (HTTP 401).
    Unauthenticated,
    /// Signed in, but the role does not allow it (403).
    Forbidden,
    /// A missing or wrong CSRF token, or a cross-site request (403).
    Csrf,
    NotFound,
    /// The request is malformed or a value is out of range (400/422).
    Invalid,
    /// It clashes with what is stored (409).
    Conflict,
    /// Too many attempts; retry later (429).
    RateLimited,
    /// A dependency (the database) is down (503).
    Unavailable,
    Internal,
}

impl ErrorCode {
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::Unauthenticated => 401,
            ErrorCode::Forbidden | ErrorCode::Csrf => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Invalid => 422,
            ErrorCode::Conflict => 409,
            ErrorCode::RateLimited => 429,
            ErrorCode::Unavailable => 503,
            ErrorCode::Internal => 500,
        }
    }
}

/// What went wrong, for a person and for a script.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[error("{message}")]
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
    /// The request field at fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        AppError {
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        AppError {
            code: ErrorCode::Invalid,
            message: message.into(),
            field: Some(field.to_owned()),
        }
    }

    pub fn unauthenticated() -> Self {
        Self::new(ErrorCode::Unauthenticated, "sign in first")
    }

    pub fn forbidden() -> Self {
        Self::new(ErrorCode::Forbidden, "this needs the admin role")
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, format!("{} not found", what.into()))
    }

    pub fn unavailable() -> Self {
        Self::new(
            ErrorCode::Unavailable,
            "the database is unavailable; try again shortly",
        )
    }
}

// Server functions carry the same error, JSON-encoded, so a page can show
// the field at fault.
impl leptos::prelude::FromServerFnError for AppError {
    type Encoder = leptos::server_fn::codec::JsonEncoding;

    fn from_server_fn_error(e: leptos::prelude::ServerFnErrorErr) -> Self {
        AppError::new(ErrorCode::Internal, e.to_string())
    }
}
