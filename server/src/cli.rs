//! The `traderai` command line: definitions and the thin glue from each
//! command to the library.

use crate::config::Settings;
use crate::db;
use crate::exchange::binance::mock::{MockConfig, MockExchange};
use crate::import::{self, ImportOptions, SourceFormat, layout::ColumnOverrides};
use crate::{backfill, export, jobs, research, seed, time, training};
use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use engine::resample::{Completeness, resample};
use engine::{Market, SeriesKey, Symbol, TimeMs, Timeframe};
use serde::Serialize;
use sqlx::PgPool;
use std::net::SocketAddr;
use std::path::PathBuf;

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
    Serve(ServeArgs),
    /// Create the database if needed and apply migrations.
    Migrate,
    /// Import the bundled demo data set (data/manifest.toml). Idempotent.
    Seed {
        #[arg(long, env = "TRADERAI_DATA_DIR", default_value = "data")]
        dir: PathBuf,
    },
    /// Import a CSV or Parquet file of candles, with a report of every row.
    Import(ImportArgs),
    /// Write stored candles to CSV or Parquet.
    Export(ExportArgs),
    /// Fetch missing candles from an exchange (a resumable job).
    Backfill(BackfillArgs),
    /// Build higher-timeframe bars (1h, 4h, 1d, …) from a stored base series.
    Resample(ResampleArgs),
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
    Train(training::TrainArgs),
    /// Per-bar predictions of a trained model (the CSV `backtest --signals` reads).
    Predict(training::PredictArgs),
    /// The model registry: list, register, promote, roll back, download, decisions.
    #[command(subcommand)]
    Models(crate::registry::ModelsCommand),
    /// Check the active model for drift (PSI, KS); queues retraining on drift.
    Drift(crate::drift::DriftArgs),
    /// List, watch, cancel and resume jobs.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Claim and run queued jobs (many workers may share one database).
    Worker(WorkerArgs),
    /// What the store holds: series, bars, first and last bar, gaps.
    Coverage(CoverageArgs),
    /// Serve a local mock of Binance's klines API (tests, demos, benchmarks).
    MockExchange(MockArgs),
    /// Scan every stored series at its newest closed bar for signal
    /// candidates now (workers do this after every bar close).
    Scan(crate::signals::ScanArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (cargo-leptos sets LEPTOS_SITE_ADDR).
    #[arg(long, env = "LEPTOS_SITE_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,
    /// Where the compiled site (pkg/, CSS, WASM) lives.
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: String,
    /// Import the bundled data from this folder before serving.
    #[arg(long, env = "TRADERAI_SEED_DIR")]
    pub seed: Option<PathBuf>,
    /// Job workers to run inside the server process.
    #[arg(long, env = "TRADERAI_WORKERS", default_value_t = 1)]
    pub workers: usize,
}

#[derive(Debug, Args)]
pub struct SeriesArgs {
    /// Pair in ccxt style, e.g. BTC/USDT.
    #[arg(long)]
    pub symbol: Symbol,
    /// Bar length: 1m 5m 15m 1h 4h 1d.
    #[arg(long)]
    pub timeframe: Timeframe,
    #[arg(long, default_value = "csv")]
    pub exchange: String,
    #[arg(long, default_value = "spot")]
    pub market: Market,
}

impl SeriesArgs {
    fn key(&self) -> anyhow::Result<SeriesKey> {
        Ok(SeriesKey::new(
            &self.exchange,
            self.market,
            self.symbol.clone(),
            self.timeframe,
        )?)
    }
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// CSV or Parquet files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub series: SeriesArgs,
    /// Force the layout instead of detecting it.
    #[arg(long, value_enum)]
    pub format: Option<SourceFormat>,
    /// Map fields to columns by header name or 0-based index: time=Date,volume=Vol
    #[arg(long, value_parser = ColumnOverrides::parse)]
    pub columns: Option<ColumnOverrides>,
    /// Store nothing and fail if any row is rejected or off-grid.
    #[arg(long)]
    pub strict: bool,
    /// Read and report without storing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub series: SeriesArgs,
    #[arg(long, value_parser = time::parse_instant)]
    pub from: Option<TimeMs>,
    #[arg(long, value_parser = time::parse_instant)]
    pub to: Option<TimeMs>,
    /// Output file; .parquet writes Parquet, anything else CSV.
    #[arg(long, short)]
    pub output: PathBuf,
    #[arg(long, value_enum)]
    pub format: Option<export::ExportFormat>,
}

#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// Comma-separated pairs: BTC/USDT,ETH/USDT
    #[arg(long, value_delimiter = ',', required = true)]
    pub symbols: Vec<Symbol>,
    #[arg(long)]
    pub timeframe: Timeframe,
    /// Start (2021-01-01, RFC 3339, or epoch ms).
    #[arg(long, value_parser = time::parse_instant)]
    pub from: TimeMs,
    /// End, exclusive (default: now).
    #[arg(long, value_parser = time::parse_instant)]
    pub to: Option<TimeMs>,
    #[arg(long, default_value = "binance")]
    pub exchange: String,
    #[arg(long, default_value = "spot")]
    pub market: Market,
    /// Exchange base URL (a mock or testnet); default from config.
    #[arg(long, env = "TRADERAI_BINANCE_URL")]
    pub base_url: Option<String>,
    /// Request weight per minute; default from config (Binance: 6000 spot, 2400 futures).
    #[arg(long)]
    pub weight_limit: Option<u32>,
    /// Only queue the job; a worker or the server runs it.
    #[arg(long)]
    pub detach: bool,
}

#[derive(Debug, Args)]
pub struct ResampleArgs {
    #[arg(long)]
    pub symbol: Symbol,
    /// Stored base timeframe.
    #[arg(long = "from-timeframe", default_value = "15m")]
    pub base: Timeframe,
    /// Target timeframes, comma-separated.
    #[arg(long = "to", value_delimiter = ',', default_value = "1h,4h,1d")]
    pub targets: Vec<Timeframe>,
    #[arg(long, default_value = "binance")]
    pub exchange: String,
    #[arg(long, default_value = "spot")]
    pub market: Market,
    /// Also emit windows missing some base bars.
    #[arg(long)]
    pub partial: bool,
}

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

#[derive(Debug, Args)]
pub struct CoverageArgs {
    /// Also list gaps of each series (reads every bar).
    #[arg(long)]
    pub gaps: bool,
}

#[derive(Debug, Args)]
pub struct MockArgs {
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: SocketAddr,
    /// Serve FILE as SYMBOL at TIMEFRAME: data/btc-usd-15m-yahoo.csv=BTC/USDT@15m
    #[arg(long = "serve")]
    pub series: Vec<String>,
    /// Weight per minute before 429s (0 = unlimited).
    #[arg(long, default_value_t = 0)]
    pub weight_limit: u32,
    /// Added latency per request, in ms.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
}

pub(crate) fn print_json<T: Serialize>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

pub(crate) async fn connect(cli: &Cli) -> anyhow::Result<PgPool> {
    db::connect(&cli.database_url, 16)
        .await
        .with_context(|| format!("database {}", db::redact(&cli.database_url)))
}

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config.as_deref())?;
    match &cli.command {
        None => serve(&cli, &settings, &ServeArgs::parse_default()).await,
        Some(Command::Serve(a)) => serve(&cli, &settings, a).await,
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
            let reports = seed::run(&pool, dir, cli.json).await?;
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
        Some(Command::Import(a)) => import_files(&cli, a).await,
        Some(Command::Export(a)) => export_series(&cli, a).await,
        Some(Command::Backfill(a)) => backfill_cmd(&cli, &settings, a).await,
        Some(Command::Resample(a)) => resample_cmd(&cli, a).await,
        Some(Command::Indicators(a)) => indicators_cmd(&cli, a).await,
        Some(Command::Features(a)) => research::features_cmd(&cli, a).await,
        Some(Command::Labels(a)) => research::labels_cmd(&cli, a).await,
        Some(Command::Walkforward(a)) => research::walkforward_cmd(&cli, a).await,
        Some(Command::Backtest(a)) => research::backtest_cmd(&cli, a).await,
        Some(Command::Train(a)) => training::train_cmd(&cli, a).await,
        Some(Command::Predict(a)) => training::predict_cmd(&cli, a).await,
        Some(Command::Models(c)) => crate::registry::models_cmd(&cli, c).await,
        Some(Command::Drift(a)) => crate::drift::drift_cmd(&cli, &settings.drift, a).await,
        Some(Command::Jobs(j)) => jobs_cmd(&cli, &settings, j).await,
        Some(Command::Worker(a)) => {
            let pool = connect(&cli).await?;
            let n = jobs::worker(pool, settings, a.once, shutdown_signal()).await?;
            if cli.json {
                print_json(&serde_json::json!({ "jobs_run": n }))
            } else {
                println!("worker ran {n} job(s)");
                Ok(())
            }
        }
        Some(Command::Coverage(a)) => coverage_cmd(&cli, a).await,
        Some(Command::MockExchange(a)) => mock_cmd(&cli, a).await,
        Some(Command::Scan(a)) => crate::signals::scan_cmd(&cli, a).await,
    }
}

impl ServeArgs {
    fn parse_default() -> ServeArgs {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            a: ServeArgs,
        }
        Only::parse_from(["traderai"]).a
    }
}

async fn serve(cli: &Cli, settings: &Settings, a: &ServeArgs) -> anyhow::Result<()> {
    let pool = connect(cli).await?;
    if let Some(dir) = &a.seed {
        for r in seed::run(&pool, dir, true).await? {
            tracing::info!(series = %r.series, new = r.stored, rows = r.rows_read, "seeded");
        }
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut workers = Vec::new();
    for _ in 0..a.workers {
        let (pool, settings, mut rx) = (pool.clone(), settings.clone(), stop_rx.clone());
        workers.push(tokio::spawn(async move {
            jobs::worker(pool, settings, false, async move {
                let _ = rx.changed().await;
            })
            .await
        }));
    }
    announce_first_admin(&pool).await?;
    let opts = crate::web::leptos_options(a.addr, &a.site_root)?;
    let result = crate::web::serve(pool, opts, settings, shutdown_signal()).await;
    let _ = stop_tx.send(true);
    for w in workers {
        let _ = w.await;
    }
    result
}

/// Creates the first admin from ADMIN_USER / ADMIN_PASS when there is none;
/// a generated password is printed once, here, and never stored in clear.
async fn announce_first_admin(pool: &PgPool) -> anyhow::Result<()> {
    let user = std::env::var("ADMIN_USER").ok().filter(|s| !s.is_empty());
    let pass = std::env::var("ADMIN_PASS").ok().filter(|s| !s.is_empty());
    match crate::auth::ensure_first_admin(pool, user.as_deref(), pass.as_deref()).await? {
        crate::auth::FirstAdmin::Exists => {}
        crate::auth::FirstAdmin::Created { username } => {
            tracing::info!(%username, "first admin created from ADMIN_USER/ADMIN_PASS");
        }
        crate::auth::FirstAdmin::Generated { username, password } => {
            eprintln!(
                "\n  First admin created: user {username:?}, password {password:?}\n  It is shown only this once; change it under Admin → Users.\n"
            );
        }
    }
    Ok(())
}

async fn import_files(cli: &Cli, a: &ImportArgs) -> anyhow::Result<()> {
    let pool = if a.dry_run {
        None
    } else {
        Some(connect(cli).await?)
    };
    let opts = ImportOptions {
        key: a.series.key()?,
        format: a.format,
        columns: a.columns.clone().unwrap_or_default(),
        strict: a.strict,
        dry_run: a.dry_run,
        quiet: cli.json,
    };
    let mut reports = Vec::new();
    let mut failures = Vec::new();
    for f in &a.files {
        let r = match &pool {
            Some(p) => import::import_file(p, f, &opts).await,
            None => import::inspect_file(f, &opts).await,
        };
        match r {
            Ok(r) => {
                if !cli.json {
                    print!("{}", import::render(&r));
                }
                reports.push(r);
            }
            Err(e) => {
                eprintln!("error: {e}");
                failures.push(e.to_string());
            }
        }
    }
    if cli.json {
        print_json(&serde_json::json!({ "reports": reports, "errors": failures }))?;
    }
    if !failures.is_empty() {
        bail!(
            "{} of {} file(s) could not be imported",
            failures.len(),
            a.files.len()
        );
    }
    Ok(())
}

async fn export_series(cli: &Cli, a: &ExportArgs) -> anyhow::Result<()> {
    let pool = connect(cli).await?;
    let key = a.series.key()?;
    let candles = stored_candles(
        &pool,
        &key,
        a.from.unwrap_or(i64::MIN),
        a.to.unwrap_or(i64::MAX),
    )
    .await?;
    let format = a
        .format
        .unwrap_or_else(|| export::ExportFormat::from_path(&a.output));
    export::write(&a.output, format, &candles)?;
    let summary = serde_json::json!({ "series": key.to_string(), "rows": candles.len(), "output": a.output.display().to_string(),
        "first": candles.first().map(|c| time::iso(c.open_time)), "last": candles.last().map(|c| time::iso(c.open_time)) });
    if cli.json {
        print_json(&summary)
    } else {
        println!(
            "wrote {} candles of {key} to {}",
            candles.len(),
            a.output.display()
        );
        Ok(())
    }
}

async fn backfill_cmd(cli: &Cli, settings: &Settings, a: &BackfillArgs) -> anyhow::Result<()> {
    let params = backfill::BackfillParams {
        exchange: engine::market::parse_exchange(&a.exchange)?,
        market: a.market,
        symbols: a.symbols.clone(),
        timeframe: a.timeframe,
        from: a.from,
        to: a.to,
        base_url: a.base_url.clone(),
        weight_limit: a.weight_limit,
    };
    params.validate()?;
    let pool = connect(cli).await?;
    let job = db::jobs::enqueue(&pool, backfill::KIND, &serde_json::to_value(&params)?).await?;
    if a.detach {
        return if cli.json {
            print_json(&job)
        } else {
            println!("queued backfill job {}", job.id);
            Ok(())
        };
    }
    if !cli.json {
        eprintln!(
            "backfill job {} (resume with `traderai jobs resume {}` if interrupted)",
            job.id, job.id
        );
    }
    run_in_foreground(cli, settings, &pool, job.id).await
}

async fn run_in_foreground(
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

async fn resample_cmd(cli: &Cli, a: &ResampleArgs) -> anyhow::Result<()> {
    let pool = connect(cli).await?;
    let base_key = SeriesKey::new(&a.exchange, a.market, a.symbol.clone(), a.base)?;
    let candles = stored_candles(&pool, &base_key, i64::MIN, i64::MAX).await?;
    let mode = if a.partial {
        Completeness::AllowPartial
    } else {
        Completeness::CompleteOnly
    };
    let mut out = Vec::new();
    for &target in &a.targets {
        let bars = resample(&candles, a.base, target, mode)?;
        let windows = target.bars_between(
            a.base.floor(candles.first().map_or(0, |c| c.open_time)),
            candles
                .last()
                .map_or(0, |c| c.open_time + a.base.duration_ms()),
        );
        let key = SeriesKey::new(&a.exchange, a.market, a.symbol.clone(), target)?;
        let built: Vec<_> = bars.iter().map(|b| b.candle).collect();
        let stored = import::store(&pool, &key, &built, true).await?;
        out.push(serde_json::json!({ "series": key.to_string(), "bars": built.len(), "partial": bars.iter().filter(|b| !b.complete).count(),
            "stored": stored, "windows_skipped": (windows - built.len() as i64).max(0) }));
    }
    if cli.json {
        print_json(&out)
    } else {
        for o in &out {
            println!(
                "{}: {} bars ({} new, {} partial, {} incomplete windows skipped)",
                o["series"].as_str().unwrap_or("?"),
                o["bars"],
                o["stored"],
                o["partial"],
                o["windows_skipped"]
            );
        }
        Ok(())
    }
}

async fn jobs_cmd(cli: &Cli, settings: &Settings, j: &JobsCommand) -> anyhow::Result<()> {
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

async fn indicators_cmd(cli: &Cli, a: &research::TableArgs) -> anyhow::Result<()> {
    let loaded = research::load_one(cli, &a.source).await?;
    let (candles, skipped) = (loaded.candles, loaded.skipped);
    let columns = engine::indicators::table::standard(&candles);
    a.write(&candles, &columns)?;
    let summary = serde_json::json!({ "rows": candles.len(), "skipped": skipped, "columns": columns.iter().map(|c| c.0).collect::<Vec<_>>(), "output": a.output.display().to_string() });
    if cli.json {
        print_json(&summary)
    } else {
        println!(
            "wrote {} indicator columns for {} bars to {}",
            columns.len(),
            candles.len(),
            a.output.display()
        );
        Ok(())
    }
}

/// Candles of a stored series in `[from, to)`; a clear error when it does not exist.
pub(crate) async fn stored_candles(
    pool: &PgPool,
    key: &SeriesKey,
    from: TimeMs,
    to: TimeMs,
) -> anyhow::Result<Vec<engine::Candle>> {
    let series = db::candles::find_series(pool, key)
        .await?
        .with_context(|| format!("no stored series {key}; see `traderai coverage`"))?;
    Ok(db::candles::read_range(pool, series.id, from, to).await?)
}

async fn fetch_job(pool: &PgPool, id: i64) -> anyhow::Result<db::jobs::Job> {
    db::jobs::get(pool, id)
        .await?
        .with_context(|| format!("no job {id}"))
}

async fn coverage_cmd(cli: &Cli, a: &CoverageArgs) -> anyhow::Result<()> {
    let pool = connect(cli).await?;
    let mut rows = Vec::new();
    for s in db::candles::list_series(&pool).await? {
        let mut row = serde_json::json!({ "series": s.key.to_string(), "bars": s.bars, "first": s.first_open.map(time::iso), "last": s.last_open.map(time::iso) });
        if a.gaps && s.bars > 0 {
            let candles = db::candles::read_range(&pool, s.id, i64::MIN, i64::MAX).await?;
            let session = engine::quality::Session::detect(&candles);
            let q = engine::quality::analyze(&candles, s.key.timeframe, session);
            row["gaps"] = q.gaps.len().into();
            row["missing_bars"] = q.missing_bars.into();
            row["zero_volume"] = q.zero_volume.into();
            row["gap_list"] = q.gaps.iter().take(50).map(|g| serde_json::json!({"from": time::iso(g.from), "to": time::iso(g.to), "missing": g.missing})).collect();
        }
        rows.push(row);
    }
    if cli.json {
        return print_json(&rows);
    }
    for r in &rows {
        let gaps = r
            .get("gaps")
            .map(|g| format!("  gaps {g} ({} missing)", r["missing_bars"]))
            .unwrap_or_default();
        println!(
            "{:<34} {:>9} bars  {} .. {}{gaps}",
            r["series"].as_str().unwrap_or("?"),
            r["bars"],
            r["first"].as_str().unwrap_or("-"),
            r["last"].as_str().unwrap_or("-")
        );
    }
    Ok(())
}

async fn mock_cmd(cli: &Cli, a: &MockArgs) -> anyhow::Result<()> {
    let mut mock = MockExchange::new(MockConfig {
        weight_limit_per_min: a.weight_limit,
        latency: std::time::Duration::from_millis(a.latency_ms),
        ..Default::default()
    });
    for spec in &a.series {
        let (file, rest) = spec
            .split_once('=')
            .with_context(|| format!("--serve {spec:?}: expected FILE=SYMBOL@TIMEFRAME"))?;
        let (sym, tf) = rest
            .split_once('@')
            .with_context(|| format!("--serve {spec:?}: expected FILE=SYMBOL@TIMEFRAME"))?;
        let (sym, tf) = (Symbol::parse(sym)?, Timeframe::parse(tf)?);
        let (parsed, _) = import::parse_file(
            std::path::Path::new(file),
            tf,
            None,
            &ColumnOverrides::default(),
            true,
        )?;
        mock = mock.with_series(&sym, tf, parsed.candles);
    }
    let (addr, handle) = mock.spawn(a.addr).await?;
    if cli.json {
        print_json(&serde_json::json!({ "url": format!("http://{addr}") }))?;
    } else {
        println!("mock binance on http://{addr}");
    }
    use std::io::Write;
    std::io::stdout().flush()?;
    tokio::select! { _ = handle => {}, _ = shutdown_signal() => {} }
    Ok(())
}
