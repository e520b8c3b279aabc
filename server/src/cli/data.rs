//! Data commands: import, export, backfill, resample, coverage.

use super::jobs::run_in_foreground;
use super::{Cli, connect, print_json};
use crate::config::Settings;
use crate::import::{self, ImportOptions, SourceFormat, layout::ColumnOverrides};
use crate::{backfill, db, export, time};
use anyhow::bail;
use clap::{Args, ValueEnum};
use engine::resample::{Completeness, resample};
use engine::{Market, SeriesKey, Symbol, TimeMs, Timeframe};
use std::path::PathBuf;

/// How an input file is laid out (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// CSV with a header row naming the columns.
    Csv,
    /// Binance kline CSV: no header, 12 columns, ms or µs open times.
    Binance,
    Parquet,
}

impl From<FormatArg> for SourceFormat {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Csv => SourceFormat::Csv,
            FormatArg::Binance => SourceFormat::BinanceKlines,
            FormatArg::Parquet => SourceFormat::Parquet,
        }
    }
}

/// Output format of written tables (`--format`); default from the file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormatArg {
    Csv,
    Parquet,
}

impl From<ExportFormatArg> for export::ExportFormat {
    fn from(f: ExportFormatArg) -> Self {
        match f {
            ExportFormatArg::Csv => export::ExportFormat::Csv,
            ExportFormatArg::Parquet => export::ExportFormat::Parquet,
        }
    }
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
    pub format: Option<FormatArg>,
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
    pub format: Option<ExportFormatArg>,
}

#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// Comma-separated pairs: BTC/USDT,ETH/USDT
    #[arg(long, value_delimiter = ',', required_unless_present = "universe")]
    pub symbols: Vec<Symbol>,
    /// A shipped universe instead of --symbols (us-stocks: the 62 stocks,
    /// through the stock provider chain).
    #[arg(long, conflicts_with = "symbols")]
    pub universe: Option<String>,
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

#[derive(Debug, Args)]
pub struct CoverageArgs {
    /// Also list gaps of each series (reads every bar).
    #[arg(long)]
    pub gaps: bool,
}

pub(super) async fn import_files(cli: &Cli, a: &ImportArgs) -> anyhow::Result<()> {
    let pool = if a.dry_run {
        None
    } else {
        Some(connect(cli).await?)
    };
    let opts = ImportOptions {
        key: a.series.key()?,
        format: a.format.map(SourceFormat::from),
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

pub(super) async fn export_series(cli: &Cli, a: &ExportArgs) -> anyhow::Result<()> {
    let pool = connect(cli).await?;
    let key = a.series.key()?;
    let candles = db::candles::stored_candles(
        &pool,
        &key,
        a.from.unwrap_or(i64::MIN),
        a.to.unwrap_or(i64::MAX),
    )
    .await?;
    let format = a
        .format
        .map(export::ExportFormat::from)
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

pub(super) async fn backfill_cmd(
    cli: &Cli,
    settings: &Settings,
    a: &BackfillArgs,
) -> anyhow::Result<()> {
    let (exchange, symbols) = match &a.universe {
        Some(name) => {
            let u = crate::universes::get(name).map_err(anyhow::Error::msg)?;
            (u.exchange.clone(), u.symbols())
        }
        None => (
            engine::market::parse_exchange(&a.exchange)?,
            a.symbols.clone(),
        ),
    };
    let params = backfill::BackfillParams {
        exchange,
        market: a.market,
        symbols,
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

pub(super) async fn resample_cmd(cli: &Cli, a: &ResampleArgs) -> anyhow::Result<()> {
    let pool = connect(cli).await?;
    let base_key = SeriesKey::new(&a.exchange, a.market, a.symbol.clone(), a.base)?;
    let candles = db::candles::stored_candles(&pool, &base_key, i64::MIN, i64::MAX).await?;
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

pub(super) async fn coverage_cmd(cli: &Cli, a: &CoverageArgs) -> anyhow::Result<()> {
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
