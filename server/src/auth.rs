//! Passwords (argon2id), API token secrets, and the first admin account.

use crate::db;
use crate::db::users::UserRecord;
use app::types::{Role, validate_password, validate_username};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::Rng;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

/// argon2id with the crate's defaults (OWASP's m=19 MiB, t=2, p=1).
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt_bytes: [u8; 16] = rand::rng().random();
    let salt =
        SaltString::encode_b64(&salt_bytes).map_err(|e| anyhow::anyhow!("password salt: {e}"))?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing the password failed: {e}"))?
        .to_string())
}

/// Whether `password` matches `hash`. A malformed stored hash never matches.
pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(e) => {
            tracing::error!(error = %e, "stored password hash is malformed");
            false
        }
    }
}

/// Hashing is deliberately slow (~50 ms): keep it off the async workers.
pub async fn hash_password_blocking(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || hash_password(&password)).await?
}

/// Checks a sign-in. Unknown names are verified against a fixed hash too, so
/// the answer takes as long whether the user exists or not.
pub async fn check_login(
    pool: &PgPool,
    username: &str,
    password: &str,
) -> Result<Option<UserRecord>, db::DbError> {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let user = db::users::by_name(pool, username).await?;
    let hash = match &user {
        Some(u) => u.password_hash.clone(),
        None => DUMMY
            .get_or_init(|| hash_password("not a real password").unwrap_or_default())
            .clone(),
    };
    let pw = password.to_owned();
    let ok = tokio::task::spawn_blocking(move || verify_password(&pw, &hash))
        .await
        .unwrap_or(false);
    Ok(user.filter(|u| ok && !u.view.disabled))
}

/// A new API token secret: `tai_` and 32 random bytes in hex.
pub fn new_token_secret() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    format!("tai_{}", hex::encode(bytes))
}

pub fn token_sha256(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A random password for the first admin when none was given.
fn random_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..20)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// What `ensure_first_admin` did.
#[derive(Debug, Clone, PartialEq)]
pub enum FirstAdmin {
    /// An admin exists already; nothing changed.
    Exists,
    /// Created from ADMIN_USER / ADMIN_PASS.
    Created { username: String },
    /// Created with a generated password, to be shown once.
    Generated { username: String, password: String },
}

/// Creates the first admin when the users table has no admin: the name from
/// `ADMIN_USER` (default `admin`), the password from `ADMIN_PASS` or a
/// random one the caller prints once.
pub async fn ensure_first_admin(
    pool: &PgPool,
    user: Option<&str>,
    pass: Option<&str>,
) -> anyhow::Result<FirstAdmin> {
    if db::users::count_admins(pool).await? > 0 {
        return Ok(FirstAdmin::Exists);
    }
    let username = user.unwrap_or("admin").to_owned();
    validate_username(&username).map_err(|e| anyhow::anyhow!("ADMIN_USER: {}", e.message))?;
    let (password, generated) = match pass {
        Some(p) => {
            validate_password(p).map_err(|e| anyhow::anyhow!("ADMIN_PASS: {}", e.message))?;
            (p.to_owned(), false)
        }
        None => (random_password(), true),
    };
    let hash = hash_password_blocking(password.clone()).await?;
    match db::users::create(pool, &username, &hash, Role::Admin).await {
        Ok(_) => {}
        // A disabled or demoted account of that name: make it the admin again.
        Err(e) if db::users::is_unique_violation(&e, "users_username_key") => {
            let existing = db::users::by_name(pool, &username)
                .await?
                .ok_or_else(|| anyhow::anyhow!("user {username} vanished"))?;
            db::users::update(
                pool,
                existing.view.id,
                Some(Role::Admin),
                Some(false),
                Some(&hash),
            )
            .await?
            .map_err(|_| anyhow::anyhow!("cannot restore admin {username}"))?;
        }
        Err(e) => return Err(e.into()),
    }
    Ok(if generated {
        FirstAdmin::Generated { username, password }
    } else {
        FirstAdmin::Created { username }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_themselves() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct horsE", &h));
        assert!(!verify_password("correct horse", "not a hash"));
        // Salted: the same password hashes differently each time.
        assert_ne!(h, hash_password("correct horse").unwrap());
    }

    #[test]
    fn token_secrets_are_random_and_hash_stably() {
        let a = new_token_secret();
        let b = new_token_secret();
        assert_ne!(a, b);
        assert!(a.starts_with("tai_") && a.len() == 68, "{a}");
        assert_eq!(token_sha256(&a), token_sha256(&a));
        assert_ne!(token_sha256(&a), token_sha256(&b));
        assert_eq!(token_sha256(&a).len(), 64);
    }

    #[test]
    fn generated_passwords_pass_validation() {
        let p = random_password();
        assert_eq!(p.len(), 20);
        assert!(validate_password(&p).is_ok());
    }
}
