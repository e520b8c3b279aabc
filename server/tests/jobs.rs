//! The jobs table as a queue shared by many workers.

mod common;

use common::fresh_db;
use server::db::jobs::{self, JobStatus};
use std::collections::HashSet;

#[tokio::test]
async fn concurrent_claimers_never_share_a_job() {
    let (pool, _) = fresh_db().await;
    for i in 0..40 {
        jobs::enqueue(&pool, "backfill", &serde_json::json!({ "n": i }))
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for w in 0..4 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(j) = jobs::claim_next(&pool, &format!("w{w}"), &["backfill"], 30.0)
                .await
                .unwrap()
            {
                mine.push(j.id);
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    assert_eq!(all.len(), 40);
    assert_eq!(
        all.iter().collect::<HashSet<_>>().len(),
        40,
        "each job claimed exactly once"
    );
}

#[tokio::test]
async fn silent_owners_lose_their_claim_and_cancel_works() {
    let (pool, _) = fresh_db().await;
    let a = jobs::enqueue(&pool, "backfill", &serde_json::json!({}))
        .await
        .unwrap();
    let claimed = jobs::claim_next(&pool, "dead-worker", &["backfill"], 30.0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (claimed.id, claimed.status, claimed.attempts),
        (a.id, JobStatus::Running, 1)
    );
    assert!(
        jobs::claim_next(&pool, "other", &["backfill"], 30.0)
            .await
            .unwrap()
            .is_none(),
        "a live claim is respected"
    );
    sqlx::query("UPDATE jobs SET heartbeat_at = now() - interval '1 minute' WHERE id = $1")
        .bind(a.id)
        .execute(&pool)
        .await
        .unwrap();
    let taken = jobs::claim_next(&pool, "other", &["backfill"], 30.0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (taken.id, taken.owner.as_deref(), taken.attempts),
        (a.id, Some("other"), 2)
    );

    // The old owner can no longer checkpoint.
    let mut tx = pool.begin().await.unwrap();
    assert!(
        jobs::checkpoint(
            &mut tx,
            a.id,
            "dead-worker",
            0.5,
            &serde_json::json!({}),
            &serde_json::json!({})
        )
        .await
        .is_err()
    );
    drop(tx);

    // Cancel: a queued job ends at once; a running one is flagged for its owner.
    let b = jobs::enqueue(&pool, "backfill", &serde_json::json!({}))
        .await
        .unwrap();
    assert_eq!(
        jobs::request_cancel(&pool, b.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        JobStatus::Cancelled
    );
    let running = jobs::request_cancel(&pool, a.id).await.unwrap().unwrap();
    assert_eq!(
        (running.status, running.cancel_requested),
        (JobStatus::Running, true)
    );
    assert!(
        jobs::heartbeat(&pool, a.id, "other").await.unwrap(),
        "the owner learns of the cancel"
    );
    jobs::finish(&pool, a.id, "other", JobStatus::Cancelled, None, None)
        .await
        .unwrap();
    assert_eq!(
        jobs::requeue(&pool, a.id).await.unwrap().unwrap().status,
        JobStatus::Queued
    );
    assert!(
        jobs::requeue(&pool, a.id).await.unwrap().is_none(),
        "only stopped jobs requeue"
    );
}
