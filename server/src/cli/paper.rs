//! Paper accounts and the kill switch from the command line.

use super::serve::shutdown_signal;
use super::{Cli, connect, print_json};
use crate::config::Settings;
use crate::paper::{self, FollowMode, OpenRequest};
use anyhow::Context;
use clap::{Args, Subcommand};
use engine::risk::RiskProfile;
use rust_decimal::Decimal;

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Close every open paper position at the last price as well.
    #[arg(long)]
    pub flatten: bool,
    /// Why (shown on every account and in the log).
    #[arg(long, default_value = "kill switch from the command line")]
    pub reason: String,
}

/// `traderai kill`: engages the global kill switch; every account halts now.
pub(super) async fn kill_cmd(cli: &Cli, a: &KillArgs) -> anyhow::Result<()> {
    let pool = connect(cli).await?;
    let by = std::env::var("USER").ok();
    let h = paper::kill(&pool, &a.reason, a.flatten, by.as_deref()).await?;
    tracing::warn!(reason = %h.reason, flatten = h.flatten, "kill switch engaged");
    if cli.json {
        return print_json(&serde_json::json!({
            "halted": true, "reason": h.reason, "flatten": h.flatten, "since": h.created_at,
        }));
    }
    println!(
        "kill switch engaged since {}: {}{}; `traderai resume` lifts it",
        h.created_at,
        h.reason,
        if h.flatten {
            " (positions flattened)"
        } else {
            ""
        }
    );
    Ok(())
}

/// `traderai resume`: lifts the global kill switch.
pub(super) async fn resume_cmd(cli: &Cli) -> anyhow::Result<()> {
    let pool = connect(cli).await?;
    let lifted = paper::resume(&pool).await?;
    if cli.json {
        return print_json(&serde_json::json!({ "resumed": lifted }));
    }
    println!(
        "{}",
        if lifted {
            "kill switch lifted; accounts trade again from their next close"
        } else {
            "the kill switch was not engaged"
        }
    );
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum PaperCommand {
    /// Open a paper account for a user on the followed series.
    Open(OpenArgs),
    /// Every account: state, equity, open positions.
    List,
    /// Step every account through the closes that are ready; with --once,
    /// exit when none is, else keep following (serve and worker do this too).
    Run {
        #[arg(long)]
        once: bool,
    },
}

#[derive(Debug, Args)]
pub struct OpenArgs {
    /// The owner's username.
    #[arg(long)]
    pub user: String,
    #[arg(long, default_value = "paper")]
    pub name: String,
    #[arg(long, default_value = "100")]
    pub capital: Decimal,
    #[arg(long, default_value = "medium")]
    pub profile: RiskProfile,
    /// Take only these symbols' signals (default: every accepted signal).
    #[arg(long, num_args = 1..)]
    pub symbols: Vec<String>,
    /// Take no signal by itself (manual "Take" from the board).
    #[arg(long, conflicts_with = "symbols")]
    pub manual: bool,
    /// Stored series ids to trade (default: every followed base series).
    #[arg(long, num_args = 1..)]
    pub series: Vec<i32>,
    /// Override the 2 % expected-net-profit gate (research accounts).
    #[arg(long)]
    pub min_net_profit: Option<f64>,
}

pub(super) async fn paper_cmd(
    cli: &Cli,
    settings: &Settings,
    c: &PaperCommand,
) -> anyhow::Result<()> {
    let pool = connect(cli).await?;
    match c {
        PaperCommand::Open(a) => {
            let user = crate::db::users::by_name(&pool, &a.user)
                .await?
                .with_context(|| format!("no user {:?}", a.user))?;
            let follow = if a.manual {
                FollowMode::Manual
            } else if a.symbols.is_empty() {
                FollowMode::All
            } else {
                FollowMode::Symbols(a.symbols.clone())
            };
            let row = paper::open(
                &pool,
                settings,
                &OpenRequest {
                    user_id: user.view.id,
                    name: a.name.clone(),
                    capital: a.capital,
                    profile: a.profile,
                    follow,
                    series: a.series.clone(),
                    min_net_profit: a.min_net_profit,
                },
            )
            .await?;
            if cli.json {
                return print_json(&serde_json::json!({
                    "id": row.id, "name": row.name, "capital": row.capital.to_string(),
                    "symbols": row.symbols, "series_ids": row.series_ids, "timeframe": row.timeframe,
                    "state": row.state,
                }));
            }
            println!(
                "paper account #{} {:?}: {} {} on {} series at {}",
                row.id,
                row.name,
                row.capital,
                row.profile,
                row.series_ids.len(),
                row.timeframe
            );
            Ok(())
        }
        PaperCommand::List => {
            let rows = crate::db::paper::list(&pool, None).await?;
            let mut out = Vec::new();
            for r in &rows {
                let balance = crate::db::paper::balance(&pool, r.id)
                    .await?
                    .unwrap_or_default();
                let open = crate::db::paper::positions(&pool, r.id).await?.len();
                out.push(serde_json::json!({
                    "id": r.id, "name": r.name, "state": r.state, "capital": r.capital.to_string(),
                    "balance": balance.to_string(), "open_positions": open, "applied_until": r.applied_until,
                }));
                if !cli.json {
                    println!(
                        "#{} {:<16} {:<9} capital {} balance {} open {}",
                        r.id, r.name, r.state, r.capital, balance, open
                    );
                }
            }
            if cli.json {
                print_json(&out)?;
            }
            Ok(())
        }
        PaperCommand::Run { once } => {
            if *once {
                let mut steps = 0;
                for a in crate::db::paper::list(&pool, None).await? {
                    steps += paper::advance(&pool, &settings.signals, a.id).await?;
                }
                if cli.json {
                    return print_json(&serde_json::json!({ "steps": steps }));
                }
                println!("{steps} step(s)");
                return Ok(());
            }
            let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
            let task = tokio::spawn(paper::run(pool, settings.signals.clone(), stop_rx));
            shutdown_signal().await;
            let _ = stop_tx.send(true);
            let _ = task.await;
            Ok(())
        }
    }
}
