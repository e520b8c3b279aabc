//! `traderai tune` through the real binary on the stored BTC daily bars
//! (a shrunken network on flex): a study killed with SIGKILL mid-trial
//! resumes — as a worker's job — without rerunning a finished trial, ends
//! with every trial stored, the trials counted in the ledger and in the
//! best model's deflated Sharpe, PBO over them, and the best registered.

mod common;

use common::{ok, traderai};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A small space around the tiny pipeline (the trees read 10 bars back).
fn space(dir: &Path) -> String {
    let path = dir.join("space.json");
    let s = serde_json::json!({
        "ensemble": { "kind": "bool" },
        "width": { "kind": "int", "low": 4, "high": 12, "log": true },
        "window": { "kind": "int", "low": 14, "high": 24 },
        "learning_rate": { "kind": "float", "low": 5e-4, "high": 5e-3, "log": true },
        "threshold_scale": { "kind": "float", "low": 0.5, "high": 2.0, "log": true },
        "tree_leaves": { "kind": "int", "low": 4, "high": 15 }
    });
    std::fs::write(&path, s.to_string()).unwrap();
    path.to_str().unwrap().to_string()
}

async fn states(pool: &sqlx::PgPool) -> Vec<(i32, String)> {
    sqlx::query_as("SELECT number, state FROM tune_trials ORDER BY number")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_study_resumes_as_a_job_and_promotes_its_best_trial() {
    let (pool, url) = common::fresh_db().await;
    common::import_btc_1d(&url);
    let dir = tempfile::tempdir().unwrap();
    let pipeline = common::tiny_pipeline(dir.path(), 2);
    let space = space(dir.path());
    let out = dir.path().join("models");
    let args = |trials: &'static str| -> Vec<String> {
        [
            "tune",
            "--study",
            "btc-small",
            "--symbol",
            "BTC/USD",
            "--timeframe",
            "1d",
            "--exchange",
            "yahoo",
            "--backend",
            "flex",
            "--pipeline",
            &pipeline,
            "--space",
            &space,
            "--trials",
            trials,
            "--startup",
            "2",
            "-o",
            out.to_str().unwrap(),
        ]
        .map(String::from)
        .to_vec()
    };

    // A bad space is refused before anything trains or is stored.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"widht": {"kind": "bool"}}"#).unwrap();
    let mut a = args("4");
    let at = a.iter().position(|x| x == "--space").unwrap();
    a[at + 1] = bad.to_str().unwrap().to_string();
    let refused = traderai(
        Some(&url),
        &a.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("bad.json") && err.contains("widht"), "{err}");

    let mut child = Command::new(env!("CARGO_BIN_EXE_traderai"))
        .env("DATABASE_URL", &url)
        .env("RUST_LOG", "warn")
        .args(args("4"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let s = states(&pool).await;
        if s.len() >= 2 && s[1].1 == "running" {
            break;
        }
        assert!(Instant::now() < deadline, "no second trial started: {s:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let (first_done, second_params): (chrono::DateTime<chrono::Utc>, serde_json::Value) =
        sqlx::query_as(
            "SELECT (SELECT finished_at FROM tune_trials WHERE number = 0),
                    (SELECT params FROM tune_trials WHERE number = 1)",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        states(&pool).await[1].1,
        "running",
        "left as the kill found it"
    );

    // Another definition is refused: the study is named by what it searches.
    let mut other = args("4");
    let at = other.iter().position(|x| x == "--startup").unwrap();
    other[at + 1] = "3".into();
    let other = traderai(
        Some(&url),
        &other.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert!(!other.status.success());
    let err = String::from_utf8_lossy(&other.stderr);
    assert!(
        err.contains("btc-small") && err.contains("startup"),
        "{err}"
    );

    // Resumed by a worker, as a tune job with the same arguments.
    let mut enqueue = args("4");
    enqueue.insert(0, "--json".into());
    enqueue.push("--enqueue".into());
    let job = ok(&traderai(
        Some(&url),
        &enqueue.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    assert_eq!(job["kind"], "tune");
    let id = job["id"].as_i64().unwrap().to_string();
    let done = traderai(Some(&url), &["jobs", "resume", &id]);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let row = server::db::jobs::get(&pool, id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.status,
        server::db::jobs::JobStatus::Succeeded,
        "{:?}",
        row.error
    );
    let r = &row.detail;

    // Every trial stored and finished; the finished one was not rerun, the
    // killed one ran again with the assignment it had.
    let s = states(&pool).await;
    assert_eq!(s.len(), 4, "{s:?}");
    assert!(s.iter().all(|(_, st)| st != "running"), "{s:?}");
    let (again, params): (chrono::DateTime<chrono::Utc>, serde_json::Value) = sqlx::query_as(
        "SELECT (SELECT finished_at FROM tune_trials WHERE number = 0),
                (SELECT params FROM tune_trials WHERE number = 1)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(again, first_done, "trial 0 kept, not trained again");
    assert_eq!(params, second_params);
    let count = |state: &str| s.iter().filter(|(_, x)| x == state).count() as u64;
    assert_eq!(r["trials"]["total"], 4);
    assert_eq!(r["trials"]["complete"], count("complete"));
    assert_eq!(r["trials"]["pruned"], count("pruned"));
    assert!(count("complete") >= 2, "{s:?}");

    // Each trial within the space, with its walk-forward numbers.
    for t in r["trials"]["all"].as_array().unwrap() {
        let p = &t["params"];
        let w = p["width"].as_i64().unwrap();
        assert!((4..=12).contains(&w), "{p}");
        let lr = p["learning_rate"].as_f64().unwrap();
        assert!((5e-4..=5e-3).contains(&lr), "{p}");
        assert_eq!(p.get("tree_leaves").is_some(), p["ensemble"] == true, "{p}");
        if t["state"] == "complete" {
            assert_eq!(t["folds"].as_array().unwrap().len(), 2, "{t}");
            assert!(t["backtest"]["trades"].is_u64(), "{t}");
        }
    }
    let best = &r["best"];
    let best_skill = best["objective"].as_f64().unwrap();
    for t in r["trials"]["all"].as_array().unwrap() {
        if t["state"] == "complete" {
            assert!(
                t["objective"].as_f64().unwrap() <= best_skill,
                "{t} beats the best"
            );
        }
    }

    // The ledger counts every configuration tried, and the best model's
    // deflated Sharpe counts them.
    let ledger: i64 = sqlx::query_scalar("SELECT count(*) FROM research_trials")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(r["ledger_trials"], ledger);
    assert!(ledger >= 4, "{ledger}");
    assert_eq!(r["model"]["backtest"]["trials"], ledger);

    // PBO over the complete trials, or why not.
    match r["pbo"].as_object() {
        Some(p) => assert_eq!(p["trials"], r["trials"]["complete"]),
        None => assert!(r["pbo_error"].is_string(), "{r}"),
    }

    // The best is the first model of its scope: registered and serving.
    assert_eq!(r["registry"]["promoted"], true, "{}", r["registry"]);
    assert_eq!(r["registry"]["model"]["status"], "active");
    assert!(
        Path::new(r["model"]["dir"].as_str().unwrap())
            .join("manifest.json")
            .exists()
    );

    // A done study answers from its stored report.
    let mut rerun = args("4");
    rerun.insert(0, "--json".into());
    let again = ok(&traderai(
        Some(&url),
        &rerun.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    assert_eq!(again["best"], r["best"]);
    assert_eq!(states(&pool).await.len(), 4);

    // More trials asked of the done study extend it: the stored four are
    // kept (not trained again) and told to the sampler, the fifth runs.
    let before: Vec<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT finished_at FROM tune_trials ORDER BY number")
            .fetch_all(&pool)
            .await
            .unwrap();
    let mut more = args("5");
    more.insert(0, "--json".into());
    let extended = ok(&traderai(
        Some(&url),
        &more.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    let s = states(&pool).await;
    assert_eq!(s.len(), 5, "{s:?}");
    assert!(s.iter().all(|(_, st)| st != "running"), "{s:?}");
    assert_eq!(extended["trials"]["total"], 5);
    let after: Vec<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT finished_at FROM tune_trials WHERE number < 4 ORDER BY number")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(after, before, "the first four were not run again");
    assert!(
        extended["best"]["objective"].as_f64().unwrap() >= best_skill,
        "the best can only improve"
    );
    let status: String = sqlx::query_scalar("SELECT status FROM tune_studies")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(status, "done");
}
