//! `traderai backup` of a seeded database and model directory, restored
//! into a fresh database: every table equal row for row, the models equal
//! byte for byte; a damaged backup restores nothing; old backups are pruned.

mod common;

use std::path::Path;

async fn digest(pool: &sqlx::PgPool) -> Vec<(String, String)> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut out = Vec::new();
    for t in tables {
        let d: String = sqlx::query_scalar(&format!(
            "SELECT md5(COALESCE(string_agg(x::text, E'\\n' ORDER BY x::text), '')) FROM \"{t}\" x"
        ))
        .fetch_one(pool)
        .await
        .unwrap();
        out.push((t, d));
    }
    out
}

fn run(url: &str, models: &Path, args: &[&str]) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_traderai"))
        .env("DATABASE_URL", url)
        .env("TRADERAI_MODEL_DIR", models)
        .env("RUST_LOG", "warn")
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_restores_into_a_fresh_database_table_for_table() {
    let (pool, url) = common::fresh_db().await;
    common::import_btc_1d(&url);
    for (name, role) in [("ann", "user"), ("root", "admin")] {
        sqlx::query(
            "INSERT INTO users (username, password_hash, role) VALUES ($1, 'argon2-hash', $2)",
        )
        .bind(name)
        .bind(role)
        .execute(&pool)
        .await
        .unwrap();
    }
    server::db::jobs::enqueue(&pool, "backfill", &serde_json::json!({"x": 1}))
        .await
        .unwrap();
    let models = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(models.path().join("universal-1d/v1")).unwrap();
    std::fs::write(
        models.path().join("universal-1d/v1/weights.safetensors"),
        (0..=255u8).cycle().take(100_000).collect::<Vec<_>>(),
    )
    .unwrap();
    std::fs::write(
        models.path().join("universal-1d/v1/manifest.json"),
        b"{\"version\": 1}",
    )
    .unwrap();
    let backups = tempfile::tempdir().unwrap();
    let dir = backups.path().to_str().unwrap();

    let b = run(&url, models.path(), &["backup", "--dir", dir]);
    let folder = b["backup"].as_str().unwrap().to_owned();
    assert!(b["manifest"]["tables"]["candles"].as_i64().unwrap() > 600);
    assert_eq!(b["manifest"]["tables"]["users"], 2);
    assert_eq!(
        b["manifest"]["database"]["sha256"].as_str().unwrap().len(),
        64
    );

    let (fresh, fresh_url) = common::fresh_db().await;
    assert_ne!(digest(&fresh).await, digest(&pool).await);
    let restored_models = tempfile::tempdir().unwrap();
    let r = run(
        &fresh_url,
        models.path(),
        &[
            "restore",
            &folder,
            "--model-dir",
            restored_models.path().to_str().unwrap(),
        ],
    );
    assert_eq!(
        r["tables"],
        b["manifest"]["tables"].as_object().unwrap().len()
    );
    assert_eq!(
        digest(&fresh).await,
        digest(&pool).await,
        "every table equal"
    );
    for f in [
        "universal-1d/v1/weights.safetensors",
        "universal-1d/v1/manifest.json",
    ] {
        assert_eq!(
            std::fs::read(models.path().join(f)).unwrap(),
            std::fs::read(restored_models.path().join(f)).unwrap(),
            "{f}"
        );
    }

    // A damaged archive is refused before anything is touched.
    let dump = Path::new(&folder).join("database.dump");
    let mut bytes = std::fs::read(&dump).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&dump, bytes).unwrap();
    let (other, other_url) = common::fresh_db().await;
    let before = digest(&other).await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_traderai"))
        .env("DATABASE_URL", &other_url)
        .args(["restore", &folder])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("damaged; nothing was restored"), "{err}");
    assert_eq!(digest(&other).await, before);

    // Retention: the newest `keep` stay.
    for _ in 0..3 {
        run(
            &url,
            models.path(),
            &["backup", "--dir", dir, "--keep", "2"],
        );
    }
    let left = server::backup::list(backups.path()).unwrap();
    assert_eq!(left.len(), 2);
    assert!(
        left.iter().all(|(p, _)| p.to_str().unwrap() != folder),
        "the oldest went first"
    );
}
