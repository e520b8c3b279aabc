//! `traderai serve`: the web app, its job workers, and the first admin.

use super::{Cli, connect};
use crate::config::Settings;
use crate::{jobs, seed};
use clap::{Args, Parser};
use sqlx::PgPool;
use std::net::SocketAddr;
use std::path::PathBuf;

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

impl ServeArgs {
    pub(super) fn parse_default() -> ServeArgs {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            a: ServeArgs,
        }
        Only::parse_from(["traderai"]).a
    }
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

pub(super) async fn serve(cli: &Cli, settings: &Settings, a: &ServeArgs) -> anyhow::Result<()> {
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
    // The follower and the scanner, each in its own task (never behind a job).
    let demo_data = a.seed.clone().unwrap_or_else(|| PathBuf::from("data"));
    let background = crate::live::start(&pool, settings, Some(&demo_data), &stop_rx).await;
    announce_first_admin(&pool).await?;
    let opts = crate::web::leptos_options(a.addr, &a.site_root)?;
    let result = crate::web::serve(pool, opts, settings, async {
        shutdown_signal().await;
        // Running jobs stop at their next checkpoint and go back to the queue.
        jobs::release_running();
    })
    .await;
    // Background tasks stop (the notifier finishes the send in hand).
    let _ = stop_tx.send(true);
    for w in workers {
        let _ = w.await;
    }
    for t in background {
        let _ = t.await;
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
