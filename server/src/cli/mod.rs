//! The `traderai` command line: every clap type and the thin glue from each
//! command to the services. Nothing outside this folder imports it (a test
//! in `server/tests/layers.rs` fails if anything does); `connect` and
//! `print_json` are private to it.

mod altdata;
mod data;
mod jobs;
mod live;
mod models;
mod paper;
mod research;
mod serve;
mod tune;

use crate::config::Settings;
use crate::db;
use clap::{Parser, Subcommand};
use serde::Serialize;
use sqlx::PgPool;
use std::path::PathBuf;

pub use serve::shutdown_signal;

#[derive(Debug, Parser)]
#[command(name = "traderai", version, about = "TraderAI: market candles in, trade plans out.", long_about = None)]
pub struct Cli {
    /// PostgreSQL to use; the database is created and migrated if needed.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/traderai",
        global = true,
        hide_env_values = true
    )]
    pub database_url: String,
    /// TOML file overriding built-in settings (exchange limits, concurrency).
    #[arg(long, env = "TRADERAI_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web app and API (default when no command is given); also runs job workers.
    Serve(serve::ServeArgs),
    /// Create the database if needed and apply migrations.
    Migrate,
    /// Back up the database (pg_dump) and the model directory, with a manifest.
    Backup {
        /// Where (default [backup] dir or TRADERAI_BACKUP_DIR).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Backups to keep (default [backup] keep).
        #[arg(long)]
        keep: Option<usize>,
    },
    /// Restore a backup folder into DATABASE_URL (replacing its contents) and
    /// its models into the model directory; hashes are checked first.
    Restore {
        backup: PathBuf,
        /// Where the models go (default: where they were backed up from).
        #[arg(long)]
        model_dir: Option<PathBuf>,
    },
    /// Ask a running server whether it is ready (the container HEALTHCHECK):
    /// exit 0 when `/health/ready` answers 200, 1 otherwise, saying why.
    Health {
        #[arg(
            long,
            env = "TRADERAI_HEALTH_URL",
            default_value = "http://127.0.0.1:3000/health/ready"
        )]
        url: String,
        #[arg(long, default_value_t = 3.0)]
        timeout_s: f64,
    },
    /// Import the bundled demo data set (data/manifest.toml). Idempotent.
    Seed {
        #[arg(long, env = "TRADERAI_DATA_DIR", default_value = "data")]
        dir: PathBuf,
    },
    /// Import a CSV or Parquet file of candles, with a report of every row.
    Import(data::ImportArgs),
    /// Write stored candles to CSV or Parquet.
    Export(data::ExportArgs),
    /// Fetch missing candles from an exchange (a resumable job).
    Backfill(data::BackfillArgs),
    /// Build higher-timeframe bars (1h, 4h, 1d, …) from a stored base series.
    Resample(data::ResampleArgs),
    /// Every indicator (SMA_20 … ADX_14, TA-Lib-exact) over a file or a stored series.
    Indicators(research::TableArgs),
    /// The 18 model features, higher-timeframe trend/RSI and regime (raw, unscaled).
    Features(research::TableArgs),
    /// Triple-barrier labels, UP/NEUTRAL/DOWN classes and the forward return.
    Labels(research::LabelsArgs),
    /// Purged, embargoed walk-forward folds as index ranges and times.
    Walkforward(research::WalkforwardArgs),
    /// Backtest a strategy with costs and risk profile, beside its baselines.
    Backtest(research::BacktestArgs),
    /// Train the BiGRU-attention model with walk-forward evaluation; writes a model directory.
    Train(models::TrainArgs),
    /// Does the edge survive? Walk-forward training, then the held-out
    /// windows traded by the model, the hybrid and the rule beside
    /// buy-and-hold and random entries, with DSR and PBO.
    Evaluate(models::EvaluateArgs),
    /// Hyperparameter search: a TPE study over a declared space, pruned on
    /// the first fold, resumable; the best trained, registered and promoted.
    Tune(tune::TuneArgs),
    /// Per-bar predictions of a trained model (the CSV `backtest --signals` reads).
    Predict(models::PredictArgs),
    /// The model registry: list, register, promote, roll back, download, decisions.
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// Check the active model for drift (PSI, KS); queues retraining on drift.
    Drift(models::DriftArgs),
    /// List, watch, cancel and resume jobs.
    #[command(subcommand)]
    Jobs(jobs::JobsCommand),
    /// Claim and run queued jobs (many workers may share one database).
    Worker(jobs::WorkerArgs),
    /// What the store holds: series, bars, first and last bar, gaps.
    Coverage(data::CoverageArgs),
    /// Serve a local mock of Binance's klines API (tests, demos, benchmarks).
    MockExchange(live::MockArgs),
    /// Alternative data for the models' feature groups: import, fetch, status.
    #[command(subcommand)]
    Altdata(altdata::AltdataCommand),
    /// Keep the followed universe ([follow]) current in the foreground, scanning at every close.
    Follow(live::FollowArgs),
    /// Scan every stored series at its newest closed bar for signal
    /// candidates now (workers do this after every bar close).
    Scan(live::ScanArgs),
    /// Paper accounts: open, list, step.
    #[command(subcommand)]
    Paper(paper::PaperCommand),
    /// The global kill switch: halt every account now (--flatten closes positions).
    Kill(paper::KillArgs),
    /// Lift the kill switch.
    Resume,
}

fn print_json<T: Serialize>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

async fn connect(cli: &Cli) -> anyhow::Result<PgPool> {
    use anyhow::Context;
    db::connect(&cli.database_url, 16)
        .await
        .with_context(|| format!("database {}", db::redact(&cli.database_url)))
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config.as_deref())?;
    match &cli.command {
        None => serve::serve(&cli, &settings, &serve::ServeArgs::parse_default()).await,
        Some(Command::Serve(a)) => serve::serve(&cli, &settings, a).await,
        Some(Command::Health { url, timeout_s }) => health(url, *timeout_s).await,
        Some(Command::Backup { dir, keep }) => {
            let pool = connect(&cli).await?;
            let dir = dir.clone().unwrap_or_else(|| settings.backup.dir());
            let (path, m) = crate::backup::backup(
                &pool,
                &cli.database_url,
                &dir,
                &crate::training::default_model_dir(),
                keep.unwrap_or(settings.backup.keep),
            )
            .await?;
            if cli.json {
                print_json(&serde_json::json!({ "backup": path, "manifest": m }))
            } else {
                println!(
                    "backup {}: database {} bytes, models {} bytes, {} tables ({} rows)",
                    path.display(),
                    m.database.bytes,
                    m.models.bytes,
                    m.tables.len(),
                    m.tables.values().sum::<i64>()
                );
                Ok(())
            }
        }
        Some(Command::Restore { backup, model_dir }) => {
            // The target database is created (and migrated) if it is missing.
            connect(&cli).await?;
            let r = crate::backup::restore(&cli.database_url, backup, model_dir.as_deref()).await?;
            if cli.json {
                print_json(&r)
            } else {
                println!(
                    "restored {} into {}: {} tables, {} rows; models in {}",
                    r.backup,
                    db::redact(&cli.database_url),
                    r.tables,
                    r.rows,
                    r.model_dir
                );
                Ok(())
            }
        }
        Some(Command::Migrate) => {
            connect(&cli).await?;
            if cli.json {
                print_json(&serde_json::json!({"migrated": true}))
            } else {
                println!("database ready: {}", db::redact(&cli.database_url));
                Ok(())
            }
        }
        Some(Command::Seed { dir }) => {
            let pool = connect(&cli).await?;
            let reports = crate::seed::run(&pool, dir, cli.json).await?;
            if cli.json {
                print_json(&reports)
            } else {
                for r in &reports {
                    println!(
                        "{}: {} new of {} rows ({} already stored)",
                        r.series, r.stored, r.rows_read, r.already_stored
                    );
                }
                Ok(())
            }
        }
        Some(Command::Import(a)) => data::import_files(&cli, a).await,
        Some(Command::Altdata(c)) => altdata::run(&cli, &settings, c).await,
        Some(Command::Export(a)) => data::export_series(&cli, a).await,
        Some(Command::Backfill(a)) => data::backfill_cmd(&cli, &settings, a).await,
        Some(Command::Resample(a)) => data::resample_cmd(&cli, a).await,
        Some(Command::Indicators(a)) => research::indicators_cmd(&cli, a).await,
        Some(Command::Features(a)) => research::features_cmd(&cli, a).await,
        Some(Command::Labels(a)) => research::labels_cmd(&cli, a).await,
        Some(Command::Walkforward(a)) => research::walkforward_cmd(&cli, a).await,
        Some(Command::Backtest(a)) => research::backtest_cmd(&cli, &settings, a).await,
        Some(Command::Train(a)) => models::train_cmd(&cli, &settings, a).await,
        Some(Command::Evaluate(a)) => models::evaluate_cmd(&cli, &settings, a).await,
        Some(Command::Tune(a)) => tune::tune_cmd(&cli, &settings, a).await,
        Some(Command::Predict(a)) => models::predict_cmd(&cli, a).await,
        Some(Command::Models(c)) => models::models_cmd(&cli, c).await,
        Some(Command::Drift(a)) => models::drift_cmd(&cli, &settings.drift, a).await,
        Some(Command::Jobs(j)) => jobs::jobs_cmd(&cli, &settings, j).await,
        Some(Command::Worker(a)) => {
            let pool = connect(&cli).await?;
            // A long-running worker also follows (when no other process does) and scans.
            let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
            let mut background = if a.once {
                Vec::new()
            } else {
                crate::live::start(&pool, &settings, None, &stop_rx).await
            };
            if !a.once && settings.backup.every_hours > 0.0 {
                let (pool, url, b, mut stop) = (
                    pool.clone(),
                    cli.database_url.clone(),
                    settings.backup.clone(),
                    stop_rx.clone(),
                );
                background.push(tokio::spawn(async move {
                    loop {
                        match crate::backup::scheduled(&pool, &url, &b).await {
                            Ok(Some(p)) => tracing::info!(backup = %p.display(), "scheduled backup taken"),
                            Ok(None) => {}
                            Err(e) => tracing::error!(error = %format!("{e:#}"), "scheduled backup failed"),
                        }
                        tokio::select! {
                            _ = tokio::time::sleep(std::time::Duration::from_secs(600)) => {}
                            _ = stop.changed() => return,
                        }
                    }
                }));
            }
            let n = crate::jobs::worker(pool, settings, a.once, shutdown_signal()).await;
            let _ = stop_tx.send(true);
            for t in background {
                let _ = t.await;
            }
            let n = n?;
            if cli.json {
                print_json(&serde_json::json!({ "jobs_run": n }))
            } else {
                // A daemon's stdout is its log.
                tracing::info!(jobs = n, "worker stopped");
                Ok(())
            }
        }
        Some(Command::Coverage(a)) => data::coverage_cmd(&cli, a).await,
        Some(Command::MockExchange(a)) => live::mock_cmd(&cli, a).await,
        Some(Command::Scan(a)) => live::scan_cmd(&cli, &settings, a).await,
        Some(Command::Follow(a)) => live::follow_cmd(&cli, &settings, a).await,
        Some(Command::Paper(c)) => paper::paper_cmd(&cli, &settings, c).await,
        Some(Command::Kill(a)) => paper::kill_cmd(&cli, a).await,
        Some(Command::Resume) => paper::resume_cmd(&cli).await,
    }
}

/// `traderai health`: no database connection of its own, only the server's answer.
async fn health(url: &str, timeout_s: f64) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs_f64(timeout_s.max(0.1)))
        .build()?;
    let r = client
        .get(url)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
    let status = r.status();
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    if !status.is_success() {
        anyhow::bail!("{url}: HTTP {status}: {body}");
    }
    println!(
        "{}",
        body.get("status").and_then(|s| s.as_str()).unwrap_or("ok")
    );
    Ok(())
}
