//! `traderai backup` / `restore`: the database as a `pg_dump` custom-format
//! archive plus the model directory as a tar, with a manifest of sizes,
//! SHA-256 hashes and every table's row count; restoring checks the hashes
//! first and the row counts after. Old backups beyond `keep` are removed.

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupSettings {
    /// Where backups go (TRADERAI_BACKUP_DIR overrides it).
    pub dir: PathBuf,
    /// Backups kept; older ones are removed after each new one.
    pub keep: usize,
    /// Workers take a backup when the newest is older than this; 0: never
    /// (then only `traderai backup` makes them).
    pub every_hours: f64,
}

impl Default for BackupSettings {
    fn default() -> Self {
        BackupSettings {
            dir: PathBuf::from("var/backups"),
            keep: 7,
            every_hours: 0.0,
        }
    }
}

impl BackupSettings {
    pub fn dir(&self) -> PathBuf {
        std::env::var_os("TRADERAI_BACKUP_DIR")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| self.dir.clone())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Part {
    pub file: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub version: String,
    pub database: Part,
    pub models: Part,
    /// The model directory it was taken from (restored there by default).
    pub model_dir: String,
    /// Rows per table at the time of the dump.
    pub tables: BTreeMap<String, i64>,
}

const MANIFEST: &str = "manifest.json";

fn sha256_of(path: &Path) -> anyhow::Result<(u64, String)> {
    let mut f = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    let mut h = sha2::Sha256::new();
    let n = std::io::copy(&mut f, &mut h)?;
    Ok((n, hex::encode(h.finalize())))
}

/// Every table of the public schema with its row count, exactly.
pub async fn table_counts(pool: &PgPool) -> anyhow::Result<BTreeMap<String, i64>> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
    )
    .fetch_all(pool)
    .await?;
    let mut out = BTreeMap::new();
    for t in tables {
        let n: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM \"{}\"",
            t.replace('"', "\"\"")
        ))
        .fetch_one(pool)
        .await?;
        out.insert(t, n);
    }
    Ok(out)
}

async fn run(cmd: &mut tokio::process::Command, what: &str) -> anyhow::Result<()> {
    let out = cmd
        .output()
        .await
        .with_context(|| format!("{what}: cannot run it (is postgresql-client installed?)"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Takes a backup under `dir/traderai-<UTC time>/`; returns its folder and manifest.
pub async fn backup(
    pool: &PgPool,
    database_url: &str,
    dir: &Path,
    model_dir: &Path,
    keep: usize,
) -> anyhow::Result<(PathBuf, Manifest)> {
    let now = chrono::Utc::now();
    let target = dir.join(format!("traderai-{}", now.format("%Y%m%dT%H%M%S%.3fZ")));
    // Written under a temporary name and renamed at the end: a half-made
    // backup is never mistaken for one.
    let partial = dir.join(format!(".partial-{}", now.timestamp_micros()));
    std::fs::create_dir_all(&partial).with_context(|| format!("{}", partial.display()))?;
    let result = async {
        let tables = table_counts(pool).await?;
        let dump = partial.join("database.dump");
        run(
            tokio::process::Command::new("pg_dump")
                .args(["--format=custom", "--no-owner", "--no-privileges", "--file"])
                .arg(&dump)
                .arg("--dbname")
                .arg(database_url),
            "pg_dump",
        )
        .await?;
        let tar_path = partial.join("models.tar");
        {
            let (model_dir, tar_path) = (model_dir.to_path_buf(), tar_path.clone());
            tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
                let mut b = tar::Builder::new(std::fs::File::create(&tar_path)?);
                b.follow_symlinks(false);
                if model_dir.is_dir() {
                    b.append_dir_all(".", &model_dir)
                        .with_context(|| format!("archiving {}", model_dir.display()))?;
                }
                b.finish()?;
                Ok(())
            })
            .await??;
        }
        let part = |p: &Path| -> anyhow::Result<Part> {
            let (bytes, sha256) = sha256_of(p)?;
            Ok(Part {
                file: p
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                bytes,
                sha256,
            })
        };
        let m = Manifest {
            created_at: now,
            version: env!("CARGO_PKG_VERSION").into(),
            database: part(&dump)?,
            models: part(&tar_path)?,
            model_dir: model_dir.display().to_string(),
            tables,
        };
        std::fs::write(partial.join(MANIFEST), serde_json::to_vec_pretty(&m)?)?;
        std::fs::rename(&partial, &target)?;
        anyhow::Ok(m)
    }
    .await;
    let m = match result {
        Ok(m) => m,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&partial);
            return Err(e);
        }
    };
    prune(dir, keep)?;
    Ok((target, m))
}

/// Backups in `dir`, newest first.
pub fn list(dir: &Path) -> anyhow::Result<Vec<(PathBuf, Manifest)>> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(out);
    };
    for e in entries.flatten() {
        let p = e.path();
        if let Ok(text) = std::fs::read(p.join(MANIFEST))
            && let Ok(m) = serde_json::from_slice::<Manifest>(&text)
        {
            out.push((p, m));
        }
    }
    out.sort_by_key(|(_, m)| std::cmp::Reverse(m.created_at));
    Ok(out)
}

fn prune(dir: &Path, keep: usize) -> anyhow::Result<()> {
    for (p, _) in list(dir)?.into_iter().skip(keep.max(1)) {
        std::fs::remove_dir_all(&p)
            .with_context(|| format!("removing old backup {}", p.display()))?;
        tracing::info!(backup = %p.display(), "old backup removed");
    }
    Ok(())
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Restored {
    pub backup: String,
    pub tables: usize,
    pub rows: i64,
    pub model_dir: String,
}

/// Restores `backup` into the database at `database_url` (replacing what
/// is there) and its models into `model_dir` (default: where they were).
/// Hashes are checked before anything is touched, row counts after.
pub async fn restore(
    database_url: &str,
    backup: &Path,
    model_dir: Option<&Path>,
) -> anyhow::Result<Restored> {
    let m: Manifest = serde_json::from_slice(
        &std::fs::read(backup.join(MANIFEST))
            .with_context(|| format!("{}: no {MANIFEST}: not a backup", backup.display()))?,
    )
    .with_context(|| format!("{}: unreadable", backup.join(MANIFEST).display()))?;
    for part in [&m.database, &m.models] {
        let (bytes, sha) = sha256_of(&backup.join(&part.file))?;
        if bytes != part.bytes || sha != part.sha256 {
            bail!(
                "{}: {} bytes with SHA-256 {sha}, the manifest says {} bytes with {}: the backup is damaged; nothing was restored",
                backup.join(&part.file).display(),
                bytes,
                part.bytes,
                part.sha256
            );
        }
    }
    run(
        tokio::process::Command::new("pg_restore")
            .args([
                "--clean",
                "--if-exists",
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--single-transaction",
                "--dbname",
            ])
            .arg(database_url)
            .arg(backup.join(&m.database.file)),
        "pg_restore",
    )
    .await?;
    let to = model_dir.map_or_else(|| PathBuf::from(&m.model_dir), Path::to_path_buf);
    {
        let (tar_path, to) = (backup.join(&m.models.file), to.clone());
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            std::fs::create_dir_all(&to)?;
            tar::Archive::new(std::fs::File::open(&tar_path)?)
                .unpack(&to)
                .with_context(|| format!("unpacking models into {}", to.display()))
        })
        .await??;
    }
    let pool = crate::db::connect(database_url, 2).await?;
    let now = table_counts(&pool).await?;
    for (t, n) in &m.tables {
        let got = now.get(t).copied();
        if got != Some(*n) {
            bail!("restored table {t} has {got:?} rows, the backup recorded {n}");
        }
    }
    Ok(Restored {
        backup: backup.display().to_string(),
        tables: m.tables.len(),
        rows: m.tables.values().sum(),
        model_dir: to.display().to_string(),
    })
}

/// A worker's scheduled backup: when the newest is older than `every_hours`
/// (one worker at a time: an advisory lock).
pub async fn scheduled(
    pool: &PgPool,
    database_url: &str,
    s: &BackupSettings,
) -> anyhow::Result<Option<PathBuf>> {
    if s.every_hours <= 0.0 {
        return Ok(None);
    }
    let dir = s.dir();
    let due = list(&dir)?.first().is_none_or(|(_, m)| {
        (chrono::Utc::now() - m.created_at).num_seconds() as f64 >= s.every_hours * 3600.0
    });
    if !due {
        return Ok(None);
    }
    let mut conn = pool.acquire().await?;
    const LOCK: i64 = 0x7472_6164_6572_0002;
    let held: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(LOCK)
        .fetch_one(&mut *conn)
        .await?;
    if !held {
        return Ok(None);
    }
    let r = backup(
        pool,
        database_url,
        &dir,
        &crate::training::default_model_dir(),
        s.keep,
    )
    .await;
    let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(LOCK)
        .execute(&mut *conn)
        .await;
    Ok(Some(r?.0))
}
