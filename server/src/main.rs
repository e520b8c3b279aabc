//! `traderai`: see `traderai --help`.

use clap::Parser;
use std::io::IsTerminal;
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = server::cli::Cli::parse();
    let _flush = init_logs(&cli);
    match server::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Logs. `serve` and `worker` write to stdout, as JSON unless stdout is a
/// terminal; other commands (and any with --json) write text to stderr
/// (their output is stdout).
/// TRADERAI_LOG_FORMAT=json|text overrides the format; TRADERAI_LOG_DIR adds
/// daily-rotated JSON files there, the newest TRADERAI_LOG_RETENTION_DAYS
/// (default 14) kept. The guard flushes the file writer at exit.
fn init_logs(cli: &server::cli::Cli) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    use server::cli::Command;
    // With --json a command's stdout is its JSON answer: logs go to stderr.
    let daemon = !cli.json
        && matches!(
            cli.command,
            None | Some(Command::Serve(_)) | Some(Command::Worker(_))
        );
    let filter = || {
        EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| EnvFilter::new(if cli.json { "warn" } else { "info,sqlx=warn" }))
    };
    let json = match std::env::var("TRADERAI_LOG_FORMAT").as_deref() {
        Ok("json") => true,
        Ok("text") => false,
        _ => daemon && !std::io::stdout().is_terminal(),
    };
    let console = match (daemon, json) {
        (true, true) => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_writer(std::io::stdout)
            .boxed(),
        (true, false) => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stdout)
            .boxed(),
        (false, true) => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_writer(std::io::stderr)
            .boxed(),
        (false, false) => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed(),
    };
    let mut guard = None;
    let file = std::env::var("TRADERAI_LOG_DIR")
        .ok()
        .filter(|d| !d.is_empty())
        .and_then(|dir| {
            let keep = std::env::var("TRADERAI_LOG_RETENTION_DAYS")
                .ok()
                .and_then(|d| d.parse::<usize>().ok())
                .unwrap_or(14)
                .max(1);
            let appender = tracing_appender::rolling::Builder::new()
                .rotation(tracing_appender::rolling::Rotation::DAILY)
                .filename_prefix("traderai")
                .filename_suffix("log")
                .max_log_files(keep)
                .build(&dir)
                .map_err(|e| {
                    eprintln!("warning: TRADERAI_LOG_DIR={dir}: {e}; logging to the console only")
                })
                .ok()?;
            let (writer, g) = tracing_appender::non_blocking(appender);
            guard = Some(g);
            Some(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_writer(writer)
                    .with_filter(filter()),
            )
        });
    tracing_subscriber::registry()
        .with(console.with_filter(filter()))
        .with(file)
        .init();
    guard
}
