//! Secrets at rest: a venue's API key and secret are sealed with
//! AES-256-GCM under a key from the environment (`TRADERAI_SECRET_KEY`,
//! 64 hex characters: `openssl rand -hex 32`, or a file named by
//! `TRADERAI_SECRET_KEY_FILE`; `make run` makes one), a fresh nonce each time,
//! and the row they belong to as associated data — a sealed value copied
//! to another row, or altered, does not open. Without the key nothing is
//! sealed or opened, and the error says how to set it.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

pub const KEY_VAR: &str = "TRADERAI_SECRET_KEY";
pub const FILE_VAR: &str = "TRADERAI_SECRET_KEY_FILE";

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SecretError {
    #[error(
        "{KEY_VAR} is not set: venue API keys are stored encrypted under it (generate one with `openssl rand -hex 32`)"
    )]
    NoKey,
    #[error("{FILE_VAR} {0}: {1}")]
    File(String, String),
    #[error("{KEY_VAR} must be 64 hex characters (32 bytes), got {0} characters")]
    BadKey(usize),
    #[error("a stored secret did not open: {KEY_VAR} changed, or the row was altered")]
    Open,
}

/// Seals and opens secrets under one key.
pub struct Sealer(Aes256Gcm);

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(<key>)")
    }
}

const NONCE: usize = 12;

impl Sealer {
    /// `TRADERAI_SECRET_KEY`, else the file named by `TRADERAI_SECRET_KEY_FILE`.
    pub fn from_env() -> Result<Sealer, SecretError> {
        if let Ok(v) = std::env::var(KEY_VAR) {
            return Sealer::new(v.trim());
        }
        let file = std::env::var(FILE_VAR).map_err(|_| SecretError::NoKey)?;
        let v = std::fs::read_to_string(&file)
            .map_err(|e| SecretError::File(file.clone(), e.to_string()))?;
        Sealer::new(v.trim())
    }

    pub fn new(key_hex: &str) -> Result<Sealer, SecretError> {
        let bytes = hex::decode(key_hex).map_err(|_| SecretError::BadKey(key_hex.len()))?;
        let cipher =
            Aes256Gcm::new_from_slice(&bytes).map_err(|_| SecretError::BadKey(key_hex.len()))?;
        Ok(Sealer(cipher))
    }

    /// `nonce ‖ ciphertext+tag` of `plain`, bound to `context`.
    pub fn seal(&self, plain: &str, context: &str) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let payload = Payload {
            msg: plain.as_bytes(),
            aad: context.as_bytes(),
        };
        // Encryption of an in-memory buffer under a valid key cannot fail.
        let ct = self.0.encrypt(&nonce, payload).unwrap_or_default();
        [nonce.as_slice(), &ct].concat()
    }

    pub fn open(&self, sealed: &[u8], context: &str) -> Result<String, SecretError> {
        if sealed.len() <= NONCE {
            return Err(SecretError::Open);
        }
        let (nonce, ct) = sealed.split_at(NONCE);
        let payload = Payload {
            msg: ct,
            aad: context.as_bytes(),
        };
        let plain = self
            .0
            .decrypt(Nonce::from_slice(nonce), payload)
            .map_err(|_| SecretError::Open)?;
        String::from_utf8(plain).map_err(|_| SecretError::Open)
    }
}

static SEALER: std::sync::OnceLock<Result<Sealer, SecretError>> = std::sync::OnceLock::new();

/// The process's sealer: from `TRADERAI_SECRET_KEY` on first use.
pub fn sealer() -> Result<&'static Sealer, SecretError> {
    SEALER
        .get_or_init(Sealer::from_env)
        .as_ref()
        .map_err(Clone::clone)
}

/// Sets the process's key before first use (tests, or a key read from a
/// file); false when a key was already in use.
pub fn install(key_hex: &str) -> Result<bool, SecretError> {
    let s = Sealer::new(key_hex)?;
    Ok(SEALER.set(Ok(s)).is_ok())
}

/// What may be shown of an API key: its first four characters.
pub fn hint(key: &str) -> String {
    format!("{}…", key.chars().take(4).collect::<String>())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_row() {
        let s = Sealer::new(KEY).unwrap();
        let sealed = s.seal(
            "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j",
            "venue:7:secret",
        );
        assert!(!String::from_utf8_lossy(&sealed).contains("NhqPtmdSJYdK"));
        assert_eq!(
            s.open(&sealed, "venue:7:secret").unwrap(),
            "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
        );
        // Another row's context, another key, a flipped bit: none opens.
        assert_eq!(s.open(&sealed, "venue:8:secret"), Err(SecretError::Open));
        let other = Sealer::new(&KEY.replace("00", "ff")).unwrap();
        assert_eq!(
            other.open(&sealed, "venue:7:secret"),
            Err(SecretError::Open)
        );
        let mut bad = sealed.clone();
        bad[20] ^= 1;
        assert_eq!(s.open(&bad, "venue:7:secret"), Err(SecretError::Open));
        // Two seals of one secret differ (fresh nonces).
        assert_ne!(s.seal("x", "c"), s.seal("x", "c"));
        assert_eq!(Sealer::new("abc").err(), Some(SecretError::BadKey(3)));
        assert_eq!(hint("vmPUZE6mv9SD5VNHk4Hl"), "vmPU…");
    }
}
