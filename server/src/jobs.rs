//! Running jobs: who owns a claim, dispatch by kind, the worker loop.

use crate::backfill::{self, BackfillParams};
use crate::config::Settings;
use crate::db::{self, jobs::Job, jobs::JobStatus};
use crate::training;
use anyhow::Context;
use sqlx::PgPool;
use std::time::Duration;

/// Set when this process is shutting down: running jobs stop at their next
/// checkpoint (as for a cancel) and go back to the queue instead of ending.
static RELEASING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Asks this process's running jobs to stop at their next checkpoint and be
/// released to the queue (SIGTERM).
pub fn release_running() {
    RELEASING.store(true, std::sync::atomic::Ordering::SeqCst);
}

pub fn releasing() -> bool {
    RELEASING.load(std::sync::atomic::Ordering::SeqCst)
}

/// Sleeps `d`, waking early when the process starts shutting down; true if it did.
pub async fn sleep_unless_releasing(d: Duration) -> bool {
    let end = tokio::time::Instant::now() + d;
    while tokio::time::Instant::now() < end {
        if releasing() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100).min(end - tokio::time::Instant::now())).await;
    }
    releasing()
}

/// Kinds of job this build can run.
pub const KINDS: &[&str] = &[
    backfill::KIND,
    training::KIND,
    crate::drift::KIND,
    crate::simulate::KIND,
    crate::tune::KIND,
    crate::evaluate::KIND,
];

/// `host:pid:nonce`: who holds a claim. The pid lets a process on the same
/// host see at once that the owner died; the nonce tells two lives of one
/// pid apart.
pub fn owner_id() -> String {
    format!(
        "{}:{}:{:08x}",
        hostname(),
        std::process::id(),
        rand::random::<u32>()
    )
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into())
}

/// True when `owner` ran on this host under a pid that no longer exists.
pub fn owner_is_dead_here(owner: &str) -> bool {
    let mut parts = owner.split(':');
    match (
        parts.next(),
        parts.next().and_then(|p| p.parse::<u32>().ok()),
    ) {
        (Some(host), Some(pid)) if host == hostname() => {
            !std::path::Path::new(&format!("/proc/{pid}")).exists()
        }
        _ => false,
    }
}

/// Takes job `id` for this process: queued, failed and cancelled jobs at
/// once; a running one only when its owner is dead or silent.
pub async fn take_over(
    pool: &PgPool,
    id: i64,
    owner: &str,
    stale_after_s: f64,
) -> anyhow::Result<Job> {
    let job = db::jobs::get(pool, id)
        .await?
        .with_context(|| format!("no job {id}"))?;
    if job.status == JobStatus::Succeeded {
        anyhow::bail!("job {id} already succeeded; start a new one to fetch more");
    }
    let expected = if job.status == JobStatus::Running {
        let prev = job.owner.clone().unwrap_or_default();
        let silent_s = job.heartbeat_at.map_or(f64::INFINITY, |t| {
            (chrono::Utc::now() - t).num_milliseconds() as f64 / 1000.0
        });
        if !owner_is_dead_here(&prev) && silent_s < stale_after_s {
            anyhow::bail!(
                "job {id} is running under {prev} (heartbeat {silent_s:.0}s ago); cancel it first or wait {stale_after_s:.0}s"
            );
        }
        Some(prev)
    } else {
        None
    };
    db::jobs::claim(pool, id, owner, expected.as_deref())
        .await?
        .with_context(|| format!("job {id} was taken by another worker"))
}

/// Runs a claimed job to its end and records the outcome on its row.
/// `on_progress` sees (done, total) units of the job's own kind.
pub async fn run_claimed(
    pool: &PgPool,
    settings: &Settings,
    job: &Job,
    owner: &str,
    on_progress: &(dyn Fn(u64, i64) + Send + Sync),
) -> anyhow::Result<JobStatus> {
    let started = std::time::Instant::now();
    let outcome = match job.kind.as_str() {
        backfill::KIND => run_backfill(pool, settings, job, owner, on_progress).await,
        training::KIND => training::run_job(pool, settings, job, owner).await,
        crate::drift::KIND => crate::drift::run_job(pool, job, &settings.drift).await,
        crate::simulate::KIND => crate::simulate::run_job(pool, settings, job).await,
        crate::tune::KIND => crate::tune::run_job(pool, settings, job, owner).await,
        crate::evaluate::KIND => crate::evaluate::run_job(pool, settings, job, owner).await,
        other => Err(anyhow::anyhow!(
            "this build cannot run jobs of kind {other:?}"
        )),
    };
    // Stopped for the shutdown, not by a person: back to the queue.
    if releasing()
        && matches!(outcome, Ok((JobStatus::Cancelled, _)))
        && !db::jobs::get(pool, job.id)
            .await?
            .is_some_and(|j| j.cancel_requested)
    {
        let released = db::jobs::release(pool, job.id, owner).await?;
        tracing::info!(job = job.id, kind = %job.kind, released, "job released to the queue at its checkpoint (shutting down)");
        return Ok(JobStatus::Queued);
    }
    let (status, detail, error) = match outcome {
        Ok((status, detail)) => (status, Some(detail), None),
        Err(e) => (JobStatus::Failed, None, Some(format!("{e:#}"))),
    };
    db::jobs::finish(
        pool,
        job.id,
        owner,
        status,
        detail.as_ref(),
        error.as_deref(),
    )
    .await?;
    metrics::histogram!("traderai_job_duration_seconds", "kind" => job.kind.clone(), "status" => status.as_str())
        .record(started.elapsed().as_secs_f64());
    if let Some(e) = &error {
        tracing::error!(job = job.id, error = %e, "job failed");
    } else {
        tracing::info!(job = job.id, status = status.as_str(), "job finished");
    }
    Ok(status)
}

async fn run_backfill(
    pool: &PgPool,
    settings: &Settings,
    job: &Job,
    owner: &str,
    on_progress: &(dyn Fn(u64, i64) + Send + Sync),
) -> anyhow::Result<(JobStatus, serde_json::Value)> {
    let params: BackfillParams =
        serde_json::from_value(job.params.clone()).context("reading backfill parameters")?;
    let summary = if params.is_stocks() {
        let chain = backfill::stock_chain(&params, settings)?;
        backfill::run(
            pool,
            job,
            owner,
            &chain,
            settings.backfill_concurrency,
            on_progress,
        )
        .await?
    } else {
        let client =
            backfill::client_for(&params, settings, backfill::budget_for(&params, settings))?;
        backfill::run(
            pool,
            job,
            owner,
            &client,
            settings.backfill_concurrency,
            on_progress,
        )
        .await?
    };
    let status = if summary.cancelled {
        JobStatus::Cancelled
    } else if summary.failed.is_empty() {
        JobStatus::Succeeded
    } else {
        JobStatus::Failed
    };
    Ok((status, serde_json::to_value(&summary)?))
}

/// Claims and runs jobs until `stop` resolves (or, with `once`, the queue is
/// empty). A long-running worker outlives database outages: it logs the
/// error and tries again a little later; the job it held is taken over once
/// its heartbeat goes stale. With `once` the error is returned.
pub async fn worker(
    pool: PgPool,
    settings: Settings,
    once: bool,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<u64> {
    let owner = owner_id();
    tracing::info!(owner = %owner, "worker started");
    let mut done = 0;
    tokio::pin!(stop);
    let mut next_schedule = std::time::Instant::now();
    loop {
        // Daily drift checks of active models (once an hour is often enough
        // to notice one is due).
        if !once && std::time::Instant::now() >= next_schedule {
            next_schedule = std::time::Instant::now() + Duration::from_secs(3600);
            match crate::drift::schedule(&pool, settings.drift.check_every_hours).await {
                Ok(ids) if !ids.is_empty() => tracing::info!(jobs = ?ids, "drift checks queued"),
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "scheduling drift checks failed")
                }
            }
        }
        let step = async {
            match db::jobs::claim_next(&pool, &owner, KINDS, settings.job_stale_after_s).await? {
                Some(job) => {
                    tracing::info!(job = job.id, kind = %job.kind, attempt = job.attempts, "claimed job");
                    run_claimed(&pool, &settings, &job, &owner, &|_, _| {}).await?;
                    anyhow::Ok(true)
                }
                None => Ok(false),
            }
        };
        tokio::pin!(step);
        // A stop while a job runs: the job is asked to stop at its next
        // checkpoint and is released to the queue; the step is awaited, not
        // dropped (a dropped job would leave its row "running").
        let r = tokio::select! {
            r = &mut step => r,
            _ = &mut stop => {
                release_running();
                tracing::info!(owner = %owner, "worker stopping: no new jobs; the running one is released at its checkpoint");
                let r = step.await;
                if let Err(e) = &r {
                    tracing::error!(error = %format!("{e:#}"), "worker step failed while stopping");
                }
                return Ok(done + u64::from(matches!(r, Ok(true))));
            }
        };
        let pause = match r {
            Ok(true) => {
                done += 1;
                Duration::ZERO
            }
            Ok(false) if once => return Ok(done),
            Ok(false) => Duration::from_secs(1),
            Err(e) if once => return Err(e),
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "worker step failed; retrying in 5 s");
                Duration::from_secs(5)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = &mut stop => return Ok(done),
        }
    }
}
