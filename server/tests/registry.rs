//! The model registry and drift-driven retraining through the real binary
//! and a fresh PostgreSQL database: promotion by walk-forward result,
//! manual promote and rollback, ZIP download with its published hash, a
//! drift check that queues a retraining job which a worker runs and the
//! registry decides on, and pruning beyond the kept backups.

mod common;

use common::{ok, traderai};
use std::path::Path;

/// Trains on the stored BTC/USD daily series and registers the model.
fn train(url: &str, cfg: &str, out: &Path, seed: u64, promote: &str) -> serde_json::Value {
    let seed = seed.to_string();
    let r = ok(&traderai(
        Some(url),
        &[
            "--json",
            "train",
            "--symbol",
            "BTC/USD",
            "--timeframe",
            "1d",
            "--exchange",
            "yahoo",
            "--backend",
            "flex",
            "--pipeline",
            cfg,
            "--seed",
            &seed,
            "--register",
            "--promote",
            promote,
            "-o",
            out.to_str().unwrap(),
        ],
    ));
    r["registry"][0].clone()
}

fn status(url: &str, id: i64) -> String {
    ok(&traderai(
        Some(url),
        &["--json", "models", "show", &id.to_string()],
    ))["status"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_promotes_rolls_back_downloads_retrains_on_drift_and_prunes() {
    let (pool, url) = common::fresh_db().await;
    let dir = tempfile::tempdir().unwrap();
    common::import_btc_1d(&url);
    let cfg = common::tiny_pipeline(dir.path(), 2);
    let out = dir.path().join("models");

    // The first model of a scope serves.
    let a = train(&url, &cfg, &out, 1, "if-better");
    assert_eq!(a["promoted"], true, "{a}");
    assert_eq!(a["model"]["version"], 1);
    assert_eq!(a["model"]["status"], "active");
    let a_id = a["model"]["id"].as_i64().unwrap();
    let a_ll = a["model"]["wf_log_loss"].as_f64().unwrap();

    // The second serves only if its walk-forward log loss is no worse.
    let b = train(&url, &cfg, &out, 2, "if-better");
    let b_id = b["model"]["id"].as_i64().unwrap();
    let b_ll = b["model"]["wf_log_loss"].as_f64().unwrap();
    assert_eq!(b["model"]["version"], 2);
    assert_eq!(b["promoted"], b_ll <= a_ll, "{b}");
    assert_eq!(b["against"], a_id);
    let (winner, loser) = if b_ll <= a_ll {
        (b_id, a_id)
    } else {
        (a_id, b_id)
    };
    assert_eq!(status(&url, winner), "active");
    assert_eq!(
        status(&url, loser),
        if b_ll <= a_ll { "backup" } else { "rejected" }
    );

    // Manual promote, then roll back to what served before.
    ok(&traderai(
        Some(&url),
        &["--json", "models", "promote", &loser.to_string()],
    ));
    assert_eq!(status(&url, loser), "active");
    assert_eq!(status(&url, winner), "backup");
    let rb = ok(&traderai(
        Some(&url),
        &["--json", "models", "rollback", "--timeframe", "1d"],
    ));
    assert_eq!(rb["model"]["id"], winner, "{rb}");
    assert_eq!(status(&url, winner), "active");
    assert_eq!(status(&url, loser), "rejected");

    // Download: a ZIP whose SHA-256 is the one the registry publishes, the
    // same bytes every time.
    let zip1 = dir.path().join("m1.zip");
    let zip2 = dir.path().join("m2.zip");
    let d = ok(&traderai(
        Some(&url),
        &[
            "--json",
            "models",
            "download",
            &winner.to_string(),
            "-o",
            zip1.to_str().unwrap(),
        ],
    ));
    ok(&traderai(
        Some(&url),
        &[
            "--json",
            "models",
            "download",
            &winner.to_string(),
            "-o",
            zip2.to_str().unwrap(),
        ],
    ));
    let bytes = std::fs::read(&zip1).unwrap();
    assert_eq!(&bytes[..2], b"PK");
    assert_eq!(bytes, std::fs::read(&zip2).unwrap());
    assert_eq!(
        d["sha256"].as_str().unwrap(),
        models::artifact::sha256_hex(&bytes)
    );
    let shown = ok(&traderai(
        Some(&url),
        &["--json", "models", "show", &winner.to_string()],
    ));
    assert_eq!(shown["zip_sha256"], d["sha256"]);

    // Drift (thresholds at zero: every column drifts) queues a retraining
    // job; a worker runs it and the registry decides on its model.
    let drift = ok(&traderai(
        Some(&url),
        &[
            "--json",
            "drift",
            "--timeframe",
            "1d",
            "--psi",
            "0",
            "--ks",
            "0",
        ],
    ));
    assert_eq!(drift["model"], winner);
    let cols = drift["report"]["columns"].as_array().unwrap();
    assert_eq!(cols.len(), 18 + 3);
    assert!(cols.iter().any(|c| c["name"] == "model_p_up"));
    assert_eq!(drift["report"]["recent_rows"], 90);
    assert!(drift["report"]["reference_rows"].as_u64().unwrap() > 400);
    let job = drift["retrain_job"].as_i64().expect("a retraining job");
    ok(&traderai(Some(&url), &["--json", "worker", "--once"]));
    let j = ok(&traderai(
        Some(&url),
        &["--json", "jobs", "show", &job.to_string()],
    ));
    assert_eq!(j["status"], "succeeded", "{j}");
    let decision = &j["detail"]["registry"][0];
    assert_eq!(decision["model"]["version"], 3);
    assert_eq!(decision["against"], winner);
    let c_ll = decision["model"]["wf_log_loss"].as_f64().unwrap();
    let w_ll = if winner == a_id { a_ll } else { b_ll };
    assert_eq!(decision["promoted"], c_ll <= w_ll, "{decision}");

    // With default thresholds on unchanged data the check still runs and logs.
    let calm = ok(&traderai(
        Some(&url),
        &["--json", "drift", "--timeframe", "1d", "--retrain", "false"],
    ));
    assert!(calm["retrain_job"].is_null());

    // Every decision is logged with its numbers.
    let events = ok(&traderai(
        Some(&url),
        &["--json", "models", "events", "--limit", "100"],
    ));
    let actions: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for want in [
        "registered",
        "promoted",
        "rolled_back",
        "withdrawn",
        "drift_check",
    ] {
        assert!(actions.contains(&want), "{want} missing in {actions:?}");
    }
    let check = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "drift_check" && e["detail"]["retrain_job"] == job)
        .unwrap();
    assert!(check["detail"]["max_psi"]["value"].as_f64().is_some());

    // Pruning: beyond 7 non-serving models, the oldest lose their files.
    let cfg0 = common::tiny_pipeline(dir.path(), 0);
    for seed in 10..16 {
        train(&url, &cfg0, &out, seed, "never");
    }
    let all = ok(&traderai(Some(&url), &["--json", "models", "list"]));
    let rows = all.as_array().unwrap();
    assert_eq!(rows.len(), 9);
    let kept = rows
        .iter()
        .filter(|m| m["status"] != "active" && m["status"] != "pruned")
        .count();
    assert_eq!(kept, 7);
    let pruned: Vec<&serde_json::Value> = rows.iter().filter(|m| m["status"] == "pruned").collect();
    assert_eq!(pruned.len(), 1, "{all}");
    assert!(!Path::new(pruned[0]["dir"].as_str().unwrap()).exists());
    let gone = traderai(
        Some(&url),
        &[
            "models",
            "download",
            &pruned[0]["id"].to_string(),
            "-o",
            "/dev/null",
        ],
    );
    assert!(!gone.status.success());

    // The daily schedule queues one check per active model, then none
    // until a day has passed.
    let queued = server::drift::schedule(&pool, 24.0).await.unwrap();
    assert_eq!(queued.len(), 1);
    let job = server::db::jobs::get(&pool, queued[0])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.kind, "drift");
    assert_eq!(job.params["timeframe"], "1d");
    assert!(
        server::drift::schedule(&pool, 24.0)
            .await
            .unwrap()
            .is_empty()
    );

    // A changed file is refused at download, by name.
    let wdir = Path::new(shown["dir"].as_str().unwrap());
    std::fs::write(wdir.join("ensemble.json"), "{}").unwrap();
    let bad = traderai(
        Some(&url),
        &[
            "models",
            "download",
            &winner.to_string(),
            "-o",
            zip1.to_str().unwrap(),
        ],
    );
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("ensemble.json") && err.contains("SHA-256"),
        "{err}"
    );
}
