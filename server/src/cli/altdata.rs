//! `traderai altdata`: import, fetch and list alternative data.

use super::{Cli, connect, print_json};
use crate::altdata::{fetch, import};
use crate::config::Settings;
use crate::db;
use crate::time::{iso, parse_instant};
use anyhow::Context;
use clap::{Args, Subcommand};
use engine::TimeMs;
use std::collections::HashSet;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum AltdataCommand {
    /// Import sentiment (CSV/Parquet of time, symbol, text or score) or macro
    /// series (FRED's graph or vintage CSV) into the store.
    Import(ImportArgs),
    /// Fetch news (NewsAPI), Reddit posts and FRED series into the store.
    Fetch(FetchArgs),
    /// What is stored: items per ticker and source, values per macro series.
    Status,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    Sentiment,
    Macro,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[arg(value_enum)]
    pub kind: Kind,
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Sentiment: every row is about this ticker (a file without a symbol column).
    #[arg(long)]
    pub ticker: Option<String>,
    /// Sentiment: the source name stored with the rows (default `import`).
    #[arg(long)]
    pub source: Option<String>,
    /// Sentiment: tickers searched for in text that names no symbol (default: us-stocks).
    #[arg(long, default_value = "us-stocks")]
    pub universe: String,
    /// Macro: the series id when the file does not name it.
    #[arg(long)]
    pub series: Option<String>,
    /// Macro: days after a period ends that its value counts from, for a
    /// file without release dates (default: the series' known lag).
    #[arg(long)]
    pub release_lag_days: Option<i64>,
    /// Read and report, store nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    #[arg(long)]
    pub news: bool,
    #[arg(long)]
    pub reddit: bool,
    #[arg(long)]
    pub fred: bool,
    /// News tickers and the tickers looked for in posts (default: us-stocks).
    #[arg(long, default_value = "us-stocks")]
    pub universe: String,
    /// News for these tickers only.
    #[arg(long, num_args = 1..)]
    pub ticker: Vec<String>,
    /// FRED series (default: the macro group's CPIAUCSL DFF DGS10 VIXCLS UNRATE).
    #[arg(long, num_args = 1..)]
    pub series: Vec<String>,
    /// Items published from (default: after the newest stored).
    #[arg(long, value_parser = parse_instant)]
    pub from: Option<TimeMs>,
    #[arg(long, value_parser = parse_instant)]
    pub to: Option<TimeMs>,
}

fn universe_tickers(name: &str) -> anyhow::Result<HashSet<String>> {
    let u = crate::universes::get(name).map_err(anyhow::Error::msg)?;
    Ok(u.symbols().iter().map(|s| s.base().to_string()).collect())
}

pub(super) async fn run(cli: &Cli, settings: &Settings, c: &AltdataCommand) -> anyhow::Result<()> {
    match c {
        AltdataCommand::Import(a) => import_cmd(cli, a).await,
        AltdataCommand::Fetch(a) => fetch_cmd(cli, settings, a).await,
        AltdataCommand::Status => {
            let pool = connect(cli).await?;
            let s = db::altdata::stored(&pool).await?;
            if cli.json {
                return print_json(&s);
            }
            println!("sentiment: {} ticker/source pairs", s.sentiment.len());
            for r in &s.sentiment {
                println!(
                    "  {:<6} {:<8} {:>7} items  {} → {}  mean score {:+.3}",
                    r.ticker,
                    r.source,
                    r.items,
                    iso(r.first_ms),
                    iso(r.last_ms),
                    r.mean_score
                );
            }
            println!("macro: {} series", s.macro_series.len());
            for m in &s.macro_series {
                println!(
                    "  {:<9} {:>6} periods, {:>5} revisions, from {}, last release {}",
                    m.series,
                    m.periods,
                    m.revisions,
                    iso(m.first_period_ms),
                    iso(m.last_release_ms)
                );
            }
            Ok(())
        }
    }
}

async fn import_cmd(cli: &Cli, a: &ImportArgs) -> anyhow::Result<()> {
    let pool = if a.dry_run {
        None
    } else {
        Some(connect(cli).await?)
    };
    let mut reports = Vec::new();
    let mut failed = 0usize;
    for f in &a.files {
        // A bad file is reported by name; the others are still imported.
        let result: anyhow::Result<(import::ReadReport, u64, usize)> = async {
            match a.kind {
                Kind::Sentiment => {
                    let opts = import::SentimentOptions {
                        source: a.source.clone(),
                        ticker: a.ticker.clone(),
                        universe: universe_tickers(&a.universe)?,
                    };
                    let (rows, r) =
                        tokio::task::block_in_place(|| import::read_sentiment(f, &opts))?;
                    let stored = match &pool {
                        Some(p) => db::altdata::insert_sentiment(p, &rows).await?,
                        None => 0,
                    };
                    Ok((r, stored, rows.len()))
                }
                Kind::Macro => {
                    let opts = import::MacroOptions {
                        series: a.series.clone(),
                        release_lag_days: a.release_lag_days,
                    };
                    let (rows, r) = import::read_macro(f, &opts)?;
                    let stored = match &pool {
                        Some(p) => db::altdata::insert_macro(p, &rows).await?,
                        None => 0,
                    };
                    Ok((r, stored, rows.len()))
                }
            }
        }
        .await;
        match result {
            Ok((r, stored, rows)) => {
                if !cli.json {
                    println!(
                        "{}: {} rows read ({}), {rows} usable, {stored} new stored, {} rejected{}{}",
                        r.path,
                        r.rows_read,
                        r.columns,
                        r.rejected,
                        if r.no_ticker > 0 {
                            format!(", {} naming no ticker of the universe", r.no_ticker)
                        } else {
                            String::new()
                        },
                        r.release_rule
                            .as_ref()
                            .map(|x| format!("; released: {x}"))
                            .unwrap_or_default()
                    );
                    for j in &r.first_rejections {
                        println!("  line {}: {}", j.line, j.reason);
                    }
                }
                reports.push(serde_json::json!({"report": r, "usable": rows, "stored": stored}));
            }
            Err(e) => {
                failed += 1;
                eprintln!("{e:#}");
                reports.push(serde_json::json!({"path": f, "error": format!("{e:#}")}));
            }
        }
    }
    if cli.json {
        print_json(&reports)?;
    }
    if failed > 0 {
        anyhow::bail!(
            "{failed} of {} file(s) could not be imported",
            a.files.len()
        );
    }
    Ok(())
}

async fn fetch_cmd(cli: &Cli, settings: &Settings, a: &FetchArgs) -> anyhow::Result<()> {
    let pool = connect(cli).await?;
    let cfg = settings.altdata.clone().with_env();
    let (all, news, reddit, fred) = (!a.news && !a.reddit && !a.fred, a.news, a.reddit, a.fred);
    let until =
        a.to.unwrap_or_else(|| chrono::Utc::now().timestamp_millis());
    let universe = universe_tickers(&a.universe)?;
    let mut outcomes = Vec::new();
    if all || news {
        let mut tickers: Vec<String> = if a.ticker.is_empty() {
            universe.iter().cloned().collect()
        } else {
            a.ticker.iter().map(|t| t.to_ascii_uppercase()).collect()
        };
        tickers.sort();
        outcomes.extend(
            fetch::news(&pool, &cfg, &tickers, a.from, until)
                .await
                .context("news")?,
        );
    }
    if all || reddit {
        outcomes.extend(
            fetch::reddit(&pool, &cfg, &universe, a.from, until)
                .await
                .context("reddit")?,
        );
    }
    if all || fred {
        let series: Vec<String> = if a.series.is_empty() {
            engine::altdata::MACRO_SERIES.map(String::from).to_vec()
        } else {
            a.series.clone()
        };
        outcomes.extend(fetch::fred(&pool, &cfg, &series).await.context("fred")?);
    }
    let failed = outcomes.iter().filter(|o| o.error.is_some()).count();
    if cli.json {
        print_json(&outcomes)?;
    } else {
        for o in &outcomes {
            match &o.error {
                None => println!(
                    "{:<8} {:<18} {:>5} fetched, {:>5} new",
                    o.source, o.what, o.fetched, o.stored
                ),
                Some(e) => println!("{:<8} {:<18} failed: {e}", o.source, o.what),
            }
        }
    }
    if failed == outcomes.len() && failed > 0 {
        anyhow::bail!("every fetch failed ({failed})");
    }
    Ok(())
}
