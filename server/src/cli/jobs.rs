//! `traderai jobs` and `traderai worker`: the job queue from the terminal.

use super::{Cli, connect, print_json};
use crate::config::Settings;
use crate::{db, jobs};
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use sqlx::PgPool;

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// Recent jobs, newest first.
    List {
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// One job with its parameters, progress and checkpoint.
    Show { id: i64 },
    /// Follow a job's progress until it ends.
    Watch { id: i64 },
    /// Ask a job to stop (a running job stops after its current page).
    Cancel { id: i64 },
    /// Run a stopped, failed or orphaned job from its checkpoint in this process.
    Resume {
        id: i64,
        /// Queue it for a worker instead of running it here.
        #[arg(long)]
        detach: bool,
    },
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Exit when the queue is empty.
    #[arg(long)]
    pub once: bool,
}

pub(super) async fn jobs_cmd(
    cli: &Cli,
    settings: &Settings,
    j: &JobsCommand,
) -> anyhow::Result<()> {
    let pool = connect(cli).await?;
    match j {
        JobsCommand::List { limit } => {
            let list = db::jobs::list(&pool, *limit).await?;
            if cli.json {
                return print_json(&list);
            }
            println!(
                "{:>6}  {:<9} {:<10} {:>6}  {:>3}  created",
                "id", "kind", "status", "done", "try"
            );
            for j in list {
                println!(
                    "{:>6}  {:<9} {:<10} {:>5.1}%  {:>3}  {}",
                    j.id,
                    j.kind,
                    j.status.as_str(),
                    j.progress * 100.0,
                    j.attempts,
                    j.created_at.format("%Y-%m-%d %H:%M:%S")
                );
            }
            Ok(())
        }
        JobsCommand::Show { id } => {
            let job = fetch_job(&pool, *id).await?;
            if cli.json {
                print_json(&job)
            } else {
                print_job(&job);
                println!("  params: {}", job.params);
                Ok(())
            }
        }
        JobsCommand::Watch { id } => {
            let pb = crate::progress::bar(1000, "‰", cli.json);
            loop {
                let job = fetch_job(&pool, *id).await?;
                pb.set_message(job.status.as_str());
                pb.set_position((job.progress * 1000.0) as u64);
                if job.status.is_finished() {
                    pb.finish_and_clear();
                    return if cli.json {
                        print_json(&job)
                    } else {
                        print_job(&job);
                        Ok(())
                    };
                }
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
        }
        JobsCommand::Cancel { id } => {
            let job = db::jobs::request_cancel(&pool, *id)
                .await?
                .with_context(|| format!("no job {id}"))?;
            if cli.json {
                print_json(&job)
            } else {
                println!("job {id}: cancel requested (now {})", job.status.as_str());
                Ok(())
            }
        }
        JobsCommand::Resume { id, detach: true } => {
            let job = db::jobs::requeue(&pool, *id)
                .await?
                .with_context(|| format!("job {id} is not failed or cancelled"))?;
            if cli.json {
                print_json(&job)
            } else {
                println!("job {id} queued");
                Ok(())
            }
        }
        JobsCommand::Resume { id, detach: false } => {
            run_in_foreground(cli, settings, &pool, *id).await
        }
    }
}

pub(super) async fn run_in_foreground(
    cli: &Cli,
    settings: &Settings,
    pool: &PgPool,
    id: i64,
) -> anyhow::Result<()> {
    let owner = jobs::owner_id();
    let job = jobs::take_over(pool, id, &owner, settings.job_stale_after_s).await?;
    let pb = crate::progress::bar(0, "candles", cli.json);
    pb.set_message(job.kind.clone());
    let status = jobs::run_claimed(pool, settings, &job, &owner, &|done, total| {
        pb.set_length(total.max(0) as u64);
        pb.set_position(done);
    })
    .await?;
    pb.finish_and_clear();
    let job = db::jobs::get(pool, id).await?.context("job vanished")?;
    if cli.json {
        print_json(&job)?;
    } else {
        print_job(&job);
    }
    match status {
        db::jobs::JobStatus::Succeeded | db::jobs::JobStatus::Cancelled => Ok(()),
        _ => bail!(
            "job {id} {}: {}",
            status.as_str(),
            job.error
                .unwrap_or_else(|| "see `traderai jobs show`".into())
        ),
    }
}

fn print_job(j: &db::jobs::Job) {
    println!(
        "job {} [{}] {} {:.1}%  attempts {}  created {}",
        j.id,
        j.kind,
        j.status.as_str(),
        j.progress * 100.0,
        j.attempts,
        j.created_at.format("%Y-%m-%d %H:%M:%S")
    );
    if let Some(e) = &j.error {
        println!("  error: {e}");
    }
    if let Some(obj) = j.detail.as_object() {
        for k in [
            "fetched",
            "stored",
            "pages",
            "candles_per_s",
            "elapsed_s",
            "failed",
        ] {
            if let Some(v) = obj.get(k) {
                println!("  {k}: {v}");
            }
        }
    }
}

async fn fetch_job(pool: &PgPool, id: i64) -> anyhow::Result<db::jobs::Job> {
    db::jobs::get(pool, id)
        .await?
        .with_context(|| format!("no job {id}"))
}
