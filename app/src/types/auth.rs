//! Who is asking: users, roles, their trading settings and API tokens.

use engine::risk::RiskProfile;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "user" => Ok(Role::User),
            "admin" => Ok(Role::Admin),
            other => Err(format!("role {other:?}: expected user or admin")),
        }
    }
}

/// The signed-in person a request acts for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Viewer {
    pub id: i64,
    pub username: String,
    pub role: Role,
    /// The session's CSRF token; absent for API-token requests, which carry
    /// no ambient credentials a foreign page could borrow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csrf: Option<String>,
}

impl Viewer {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// A risk profile's name, as the schema lists it (engine::risk::RiskProfile).
#[cfg(feature = "ssr")]
#[derive(Debug, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum RiskProfileName {
    Low,
    Medium,
    High,
}

/// What a user trades with: signals are sized for these.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UserSettings {
    #[cfg_attr(feature = "ssr", schema(value_type = RiskProfileName, example = "medium"))]
    pub risk_profile: RiskProfile,
    /// Account size in quote currency (USD/USDT).
    #[cfg_attr(feature = "ssr", schema(exclusive_minimum = 0.0, maximum = 1e12))]
    pub capital: f64,
}

impl UserSettings {
    pub const MAX_CAPITAL: f64 = 1e12;

    /// Checks the ranges the database also enforces, naming the field.
    pub fn validate(&self) -> Result<(), super::AppError> {
        if !(self.capital.is_finite() && self.capital > 0.0) {
            return Err(super::AppError::invalid(
                "capital",
                "capital must be a positive amount",
            ));
        }
        if self.capital > Self::MAX_CAPITAL {
            return Err(super::AppError::invalid(
                "capital",
                "capital is above 1e12, the largest accepted",
            ));
        }
        Ok(())
    }
}

/// A user as an admin sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UserView {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub disabled: bool,
    pub settings: UserSettings,
    /// UTC ms.
    pub created_at: i64,
    pub last_login_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewUser {
    #[cfg_attr(feature = "ssr", schema(pattern = "^[A-Za-z0-9_.@-]{3,64}$"))]
    pub username: String,
    #[cfg_attr(feature = "ssr", schema(min_length = 8, write_only))]
    pub password: String,
    pub role: Role,
}

/// Changes an admin makes to a user; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UserPatch {
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub disabled: Option<bool>,
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(min_length = 8, write_only))]
    pub password: Option<String>,
}

/// Shortest password accepted (NIST SP 800-63B's minimum for user-chosen ones).
pub const MIN_PASSWORD_LEN: usize = 8;

pub fn validate_username(name: &str) -> Result<(), super::AppError> {
    let ok = (3..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.@-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(super::AppError::invalid(
            "username",
            "3 to 64 characters: letters, digits, _ . @ -",
        ))
    }
}

pub fn validate_password(pw: &str) -> Result<(), super::AppError> {
    if pw.chars().count() < MIN_PASSWORD_LEN {
        return Err(super::AppError::invalid(
            "password",
            format!("at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    if pw.len() > 1024 {
        return Err(super::AppError::invalid("password", "at most 1024 bytes"));
    }
    Ok(())
}

/// An API token as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TokenView {
    pub id: i64,
    pub name: String,
    /// The secret's first characters.
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked: bool,
}

/// A token just created: the only time its secret is shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewToken {
    pub token: TokenView,
    /// Send as `Authorization: Bearer <secret>`.
    pub secret: String,
}
