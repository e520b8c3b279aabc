//! Users and API tokens (users, api_tokens).

use super::DbError;
use app::types::{Role, TokenView, UserSettings, UserView};
use chrono::{DateTime, Utc};
use engine::risk::RiskProfile;
use sqlx::PgPool;

/// A stored user with the hash, for sign-in.
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub view: UserView,
    pub password_hash: String,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    username: String,
    password_hash: String,
    role: String,
    disabled: bool,
    risk_profile: String,
    capital: f64,
    created_at: DateTime<Utc>,
    last_login_at: Option<DateTime<Utc>>,
}

const USER_COLUMNS: &str =
    "id, username, password_hash, role, disabled, risk_profile, capital, created_at, last_login_at";

impl TryFrom<UserRow> for UserRecord {
    type Error = DbError;
    fn try_from(r: UserRow) -> Result<Self, DbError> {
        let role = r.role.parse::<Role>().map_err(DbError::Corrupt)?;
        let risk_profile = r
            .risk_profile
            .parse::<RiskProfile>()
            .map_err(DbError::Corrupt)?;
        Ok(UserRecord {
            view: UserView {
                id: r.id,
                username: r.username,
                role,
                disabled: r.disabled,
                settings: UserSettings {
                    risk_profile,
                    capital: r.capital,
                },
                created_at: r.created_at.timestamp_millis(),
                last_login_at: r.last_login_at.map(|t| t.timestamp_millis()),
            },
            password_hash: r.password_hash,
        })
    }
}

/// Whether `e` is the unique violation of `constraint`.
pub fn is_unique_violation(e: &DbError, constraint: &str) -> bool {
    matches!(e, DbError::Sql(sqlx::Error::Database(d)) if d.is_unique_violation() && d.constraint() == Some(constraint))
}

pub async fn create(
    pool: &PgPool,
    username: &str,
    password_hash: &str,
    role: Role,
) -> Result<UserRecord, DbError> {
    let row: UserRow = sqlx::query_as(&format!(
        "INSERT INTO users (username, password_hash, role) VALUES ($1, $2, $3) RETURNING {USER_COLUMNS}"
    ))
    .bind(username)
    .bind(password_hash)
    .bind(role.as_str())
    .fetch_one(pool)
    .await?;
    UserRecord::try_from(row)
}

pub async fn by_name(pool: &PgPool, username: &str) -> Result<Option<UserRecord>, DbError> {
    let row: Option<UserRow> = sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE username = $1"
    ))
    .bind(username)
    .fetch_optional(pool)
    .await?;
    row.map(UserRecord::try_from).transpose()
}

pub async fn by_id(pool: &PgPool, id: i64) -> Result<Option<UserRecord>, DbError> {
    let row: Option<UserRow> =
        sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(pool)
            .await?;
    row.map(UserRecord::try_from).transpose()
}

pub async fn list(pool: &PgPool) -> Result<Vec<UserView>, DbError> {
    let rows: Vec<UserRow> =
        sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY id"))
            .fetch_all(pool)
            .await?;
    rows.into_iter()
        .map(|r| UserRecord::try_from(r).map(|u| u.view))
        .collect()
}

pub async fn count_admins(pool: &PgPool) -> Result<i64, DbError> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM users WHERE role = 'admin' AND NOT disabled")
            .fetch_one(pool)
            .await?,
    )
}

pub async fn count(pool: &PgPool) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(pool)
        .await?)
}

pub async fn touch_login(pool: &PgPool, id: i64) -> Result<(), DbError> {
    sqlx::query("UPDATE users SET last_login_at = now() WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

pub async fn save_settings(
    pool: &PgPool,
    id: i64,
    s: &UserSettings,
) -> Result<Option<UserView>, DbError> {
    let row: Option<UserRow> = sqlx::query_as(&format!(
        "UPDATE users SET risk_profile = $2, capital = $3 WHERE id = $1 RETURNING {USER_COLUMNS}"
    ))
    .bind(id)
    .bind(s.risk_profile.as_str())
    .bind(s.capital)
    .fetch_optional(pool)
    .await?;
    row.map(|r| UserRecord::try_from(r).map(|u| u.view))
        .transpose()
}

/// Applies an admin's change: `Ok(None)` for an unknown id, `Err(LastAdmin)`
/// (nothing changed) when no enabled admin would be left — checked in the
/// same transaction, under a lock that serialises admin changes.
pub async fn update(
    pool: &PgPool,
    id: i64,
    role: Option<Role>,
    disabled: Option<bool>,
    password_hash: Option<&str>,
) -> Result<Result<Option<UserView>, LastAdmin>, DbError> {
    let mut tx = pool.begin().await?;
    // Serialise admin changes so two requests cannot each remove "another" admin.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('traderai.users.admins'))")
        .execute(&mut *tx)
        .await?;
    let row: Option<UserRow> = sqlx::query_as(&format!(
        "UPDATE users SET role = COALESCE($2, role), disabled = COALESCE($3, disabled),
                password_hash = COALESCE($4, password_hash)
         WHERE id = $1 RETURNING {USER_COLUMNS}"
    ))
    .bind(id)
    .bind(role.map(Role::as_str))
    .bind(disabled)
    .bind(password_hash)
    .fetch_optional(&mut *tx)
    .await?;
    let admins: i64 =
        sqlx::query_scalar("SELECT count(*) FROM users WHERE role = 'admin' AND NOT disabled")
            .fetch_one(&mut *tx)
            .await?;
    if admins == 0 {
        tx.rollback().await?;
        return Ok(Err(LastAdmin));
    }
    tx.commit().await?;
    Ok(Ok(row
        .map(|r| UserRecord::try_from(r).map(|u| u.view))
        .transpose()?))
}

/// The change would leave no enabled admin.
#[derive(Debug, Clone, Copy)]
pub struct LastAdmin;

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: i64,
    name: String,
    prefix: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<TokenRow> for TokenView {
    fn from(r: TokenRow) -> Self {
        TokenView {
            id: r.id,
            name: r.name,
            prefix: r.prefix,
            created_at: r.created_at.timestamp_millis(),
            last_used_at: r.last_used_at.map(|t| t.timestamp_millis()),
            revoked: r.revoked_at.is_some(),
        }
    }
}

const TOKEN_COLUMNS: &str = "id, name, prefix, created_at, last_used_at, revoked_at";

pub async fn create_token(
    pool: &PgPool,
    user_id: i64,
    name: &str,
    sha256: &str,
    prefix: &str,
) -> Result<TokenView, DbError> {
    let row: TokenRow = sqlx::query_as(&format!(
        "INSERT INTO api_tokens (user_id, name, token_sha256, prefix) VALUES ($1, $2, $3, $4) RETURNING {TOKEN_COLUMNS}"
    ))
    .bind(user_id)
    .bind(name)
    .bind(sha256)
    .bind(prefix)
    .fetch_one(pool)
    .await?;
    Ok(row.into())
}

pub async fn tokens_of(pool: &PgPool, user_id: i64) -> Result<Vec<TokenView>, DbError> {
    let rows: Vec<TokenRow> = sqlx::query_as(&format!(
        "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE user_id = $1 ORDER BY id"
    ))
    .bind(user_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub async fn revoke_token(
    pool: &PgPool,
    user_id: i64,
    id: i64,
) -> Result<Option<TokenView>, DbError> {
    let row: Option<TokenRow> = sqlx::query_as(&format!(
        "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, now())
         WHERE id = $1 AND user_id = $2 RETURNING {TOKEN_COLUMNS}"
    ))
    .bind(id)
    .bind(user_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(Into::into))
}

/// The enabled user owning a live token. Marks the token used at most once
/// a minute, so a busy script does not turn every read into a write.
pub async fn user_of_token(pool: &PgPool, sha256: &str) -> Result<Option<UserView>, DbError> {
    let cols = USER_COLUMNS
        .split(", ")
        .map(|c| format!("u.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let found: Option<UserRow> = sqlx::query_as(&format!(
        "SELECT {cols} FROM users u JOIN api_tokens t ON t.user_id = u.id
         WHERE t.token_sha256 = $1 AND t.revoked_at IS NULL AND NOT u.disabled"
    ))
    .bind(sha256)
    .fetch_optional(pool)
    .await?;
    if found.is_some() {
        sqlx::query(
            "UPDATE api_tokens SET last_used_at = now() WHERE token_sha256 = $1
             AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
        )
        .bind(sha256)
        .execute(pool)
        .await?;
    }
    found
        .map(|r| UserRecord::try_from(r).map(|u| u.view))
        .transpose()
}
