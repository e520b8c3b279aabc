//! The SQL layer: every query the server runs lives under this module.

pub mod altdata;
pub mod candles;
pub mod follow;
pub mod funding;
pub mod jobs;
pub mod models;
pub mod paper;
pub mod signals;
pub mod trials;
pub mod tune;
pub mod users;
pub mod venue;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};
use std::str::FromStr;
use std::time::Duration;

pub use sqlx::migrate::MigrateError;

/// Migrations embedded at compile time from `migrations/`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database url {url:?} is invalid: {source}")]
    Url { url: String, source: sqlx::Error },
    #[error("cannot connect to PostgreSQL at {target}: {source}")]
    Connect { target: String, source: sqlx::Error },
    #[error("applying migrations failed: {0}")]
    Migrate(#[from] MigrateError),
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// Nothing stored matches what was asked for (the text says what).
    #[error("no stored {0}; see `traderai coverage`")]
    NoSeries(String),
    /// Several stored series match; the caller must say which.
    #[error(
        "{what} is stored from several sources ({sources}); choose one with --exchange/--market"
    )]
    AmbiguousSeries { what: String, sources: String },
}

/// Host, port and database of a URL, without the password, for messages.
fn describe(opts: &PgConnectOptions) -> String {
    format!(
        "{}:{}/{}",
        opts.get_host(),
        opts.get_port(),
        opts.get_database().unwrap_or("?")
    )
}

fn parse_url(url: &str) -> Result<PgConnectOptions, DbError> {
    PgConnectOptions::from_str(url)
        .map(|o| {
            o.log_statements(tracing::log::LevelFilter::Trace)
                .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(2))
                // "relation already exists, skipping" from the staging table is noise.
                // JIT compiles each large range read for ~10-30 ms and saves nothing on
                // queries this simple (measured in BENCHMARKS.md).
                .options([("client_min_messages", "warning"), ("jit", "off")])
        })
        .map_err(|source| DbError::Url {
            url: redact(url),
            source,
        })
}

/// Drops the password from a URL before it reaches a log or an error.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Creates the database named in `url` when it does not exist yet, by
/// connecting to the server's `postgres` database.
pub async fn ensure_database(url: &str) -> Result<(), DbError> {
    let opts = parse_url(url)?;
    let name = opts.get_database().unwrap_or("postgres").to_owned();
    let admin = opts.clone().database("postgres");
    let mut conn = sqlx::PgConnection::connect_with(&admin)
        .await
        .map_err(|source| DbError::Connect {
            target: describe(&admin),
            source,
        })?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        // Identifiers cannot be bound; quote it ourselves.
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        match sqlx::query(&format!("CREATE DATABASE {quoted}"))
            .execute(&mut conn)
            .await
        {
            Ok(_) => tracing::info!(database = %name, "created database"),
            // Another process created it between our check and our create.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
            Err(e) => return Err(e.into()),
        }
    }
    conn.close().await.ok();
    Ok(())
}

/// Connects a pool (creating the database if needed) and applies migrations.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, DbError> {
    ensure_database(url).await?;
    let opts = parse_url(url)?;
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(opts.clone())
        .await
        .map_err(|source| DbError::Connect {
            target: describe(&opts),
            source,
        })?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("postgres:///db"), "postgres:///db");
    }
}
