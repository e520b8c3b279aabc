//! `traderai import`: CSV and Parquet files into the candle store, with a
//! report that accounts for every row.

pub mod csv;
pub mod layout;
pub mod parquet;
pub mod rows;
pub mod timestamp;

use crate::db::{self, DbError};
use crate::time::iso;
use engine::quality::{self, Session};
use engine::{SeriesKey, Timeframe};
use layout::ColumnOverrides;
use rows::{OffGrid, Parsed, Rejection};
use serde::Serialize;
use sqlx::PgPool;
use std::path::{Path, PathBuf};

/// How a file is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceFormat {
    /// CSV with a header row naming the columns.
    Csv,
    /// Binance kline CSV: no header, 12 columns, ms or µs open times.
    BinanceKlines,
    Parquet,
}

/// What was detected (or forced) for the file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Layout {
    pub format: SourceFormat,
    pub columns: String,
    pub time_format: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: line {line}: {message}", path.display())]
    Csv {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("{}: {message}", path.display())]
    Parquet { path: PathBuf, message: String },
    #[error("{}: {message}", path.display())]
    Layout { path: PathBuf, message: String },
    #[error("{}: the file is empty", path.display())]
    Empty { path: PathBuf },
    #[error("{}: no usable rows ({rejected} rejected, {off_grid} off the {timeframe} grid); first problem: {first}", path.display())]
    NothingUsable {
        path: PathBuf,
        rejected: u64,
        off_grid: u64,
        timeframe: Timeframe,
        first: String,
    },
    #[error("{}: --strict and {bad} row(s) were rejected or off-grid; nothing stored; first problem: {first}", path.display())]
    Strict {
        path: PathBuf,
        bad: u64,
        first: String,
    },
    #[error("storing {series}: {source}")]
    Db { series: String, source: DbError },
}

#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub key: SeriesKey,
    pub format: Option<SourceFormat>,
    pub columns: ColumnOverrides,
    pub strict: bool,
    pub dry_run: bool,
    /// Hide progress bars (JSON output, tests).
    pub quiet: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GapOut {
    pub from: String,
    pub to: String,
    pub missing: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InconsistencyOut {
    pub line: u64,
    pub time: String,
    pub problem: String,
}

/// Everything an import found. `rows_read = stored + already_stored +
/// duplicates_in_file + rejected + off_grid` always holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportReport {
    pub file: String,
    pub series: String,
    pub layout: Layout,
    pub dry_run: bool,
    pub rows_read: u64,
    pub stored: u64,
    pub already_stored: u64,
    pub duplicates_in_file: u64,
    /// Dropped lines: a later row of the file has the same open time.
    pub duplicate_lines: Vec<u64>,
    /// Dropped rows whose values differ from the row kept.
    pub conflicting_duplicates: u64,
    pub rejected: u64,
    pub rejections: Vec<Rejection>,
    pub off_grid: u64,
    pub off_grid_rows: Vec<OffGrid>,
    /// Daily rows stamped with a time of day, keyed by their calendar date.
    pub date_keyed: u64,
    pub first: Option<String>,
    pub last: Option<String>,
    pub session: Session,
    pub gaps: u64,
    pub missing_bars: i64,
    pub gap_list: Vec<GapOut>,
    pub zero_volume: u64,
    pub inconsistent: u64,
    pub inconsistencies: Vec<InconsistencyOut>,
}

/// Reads and validates a file without touching the database.
pub fn parse_file(
    path: &Path,
    tf: Timeframe,
    format: Option<SourceFormat>,
    columns: &ColumnOverrides,
    quiet: bool,
) -> Result<(Parsed, Layout), ImportError> {
    let is_parquet = match format {
        Some(f) => f == SourceFormat::Parquet,
        None => path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "parquet" | "pq")),
    };
    let size = std::fs::metadata(path)
        .map_err(|source| ImportError::Io {
            path: path.to_path_buf(),
            source,
        })?
        .len();
    let pb = crate::progress::bytes(size, quiet);
    pb.set_message("reading");
    let out = if is_parquet {
        parquet::read(path, tf, columns, |_| {})
    } else {
        csv::read(path, tf, format, columns, |b| pb.set_position(b))
    };
    pb.finish_and_clear();
    out
}

fn report_for(
    path: &Path,
    key: &SeriesKey,
    parsed: &Parsed,
    layout: Layout,
    stored: u64,
    dry_run: bool,
) -> ImportReport {
    let session = Session::detect(&parsed.candles);
    let q = quality::analyze(&parsed.candles, key.timeframe, session);
    let cap = rows::LIST_CAP;
    ImportReport {
        file: path.display().to_string(),
        series: key.to_string(),
        layout,
        dry_run,
        rows_read: parsed.rows_read,
        stored,
        already_stored: if dry_run {
            0
        } else {
            parsed.candles.len() as u64 - stored
        },
        duplicates_in_file: parsed.duplicate_count,
        duplicate_lines: parsed.duplicate_lines.clone(),
        conflicting_duplicates: parsed.conflicting_duplicates,
        rejected: parsed.rejected_count,
        rejections: parsed.rejected.clone(),
        off_grid: parsed.off_grid_count,
        off_grid_rows: parsed.off_grid.clone(),
        date_keyed: parsed.date_keyed,
        first: q.first.map(iso),
        last: q.last.map(iso),
        session,
        gaps: q.gaps.len() as u64,
        missing_bars: q.missing_bars,
        gap_list: q
            .gaps
            .iter()
            .take(cap)
            .map(|g| GapOut {
                from: iso(g.from),
                to: iso(g.to),
                missing: g.missing,
            })
            .collect(),
        zero_volume: q.zero_volume as u64,
        inconsistent: q.inconsistencies.len() as u64,
        inconsistencies: q
            .inconsistencies
            .iter()
            .take(cap)
            .map(|i| InconsistencyOut {
                line: parsed.lines[i.index],
                time: iso(i.open_time),
                problem: i.problem.to_string(),
            })
            .collect(),
    }
}

fn first_problem(p: &Parsed) -> String {
    p.rejected
        .first()
        .map(|r| format!("line {}: {}", r.line, r.message))
        .or_else(|| {
            p.off_grid
                .first()
                .map(|o| format!("line {}: {} is off the grid", o.line, o.time))
        })
        .unwrap_or_else(|| "no data rows".into())
}

/// Rows per transaction: big enough for COPY to shine, small enough that a
/// crash loses little and the progress bar moves.
const CHUNK: usize = 100_000;

/// Parses off the async runtime, then applies the usability and `--strict` rules.
async fn parse_checked(path: &Path, opts: &ImportOptions) -> Result<(Parsed, Layout), ImportError> {
    let (tf, fmt, cols, quiet) = (
        opts.key.timeframe,
        opts.format,
        opts.columns.clone(),
        opts.quiet,
    );
    let owned = path.to_path_buf();
    let (parsed, layout) =
        tokio::task::spawn_blocking(move || parse_file(&owned, tf, fmt, &cols, quiet))
            .await
            .map_err(|e| ImportError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::other(e),
            })??;
    if parsed.candles.is_empty() {
        return Err(ImportError::NothingUsable {
            path: path.to_path_buf(),
            rejected: parsed.rejected_count,
            off_grid: parsed.off_grid_count,
            timeframe: tf,
            first: first_problem(&parsed),
        });
    }
    let bad = parsed.rejected_count + parsed.off_grid_count;
    if opts.strict && bad > 0 {
        return Err(ImportError::Strict {
            path: path.to_path_buf(),
            bad,
            first: first_problem(&parsed),
        });
    }
    Ok((parsed, layout))
}

/// Reads a file and reports what an import would do, touching no database.
pub async fn inspect_file(path: &Path, opts: &ImportOptions) -> Result<ImportReport, ImportError> {
    let (parsed, layout) = parse_checked(path, opts).await?;
    Ok(report_for(path, &opts.key, &parsed, layout, 0, true))
}

/// Imports one file into the store and reports what happened.
pub async fn import_file(
    pool: &PgPool,
    path: &Path,
    opts: &ImportOptions,
) -> Result<ImportReport, ImportError> {
    if opts.dry_run {
        return inspect_file(path, opts).await;
    }
    let (parsed, layout) = parse_checked(path, opts).await?;
    let stored = store(pool, &opts.key, &parsed.candles, opts.quiet)
        .await
        .map_err(|source| ImportError::Db {
            series: opts.key.to_string(),
            source,
        })?;
    Ok(report_for(path, &opts.key, &parsed, layout, stored, false))
}

/// Writes candles in chunked transactions; returns how many were new.
///
/// Two chunks are in flight at once: PostgreSQL's COPY and index upkeep are
/// the bottleneck, and two backends use both cores. Chunks of a sorted,
/// de-duplicated batch are disjoint, so they never contend for a key.
pub async fn store(
    pool: &PgPool,
    key: &SeriesKey,
    candles: &[engine::Candle],
    quiet: bool,
) -> Result<u64, DbError> {
    use futures::StreamExt;
    let pb = crate::progress::bar(candles.len() as u64, "candles", quiet);
    pb.set_message("storing");
    let mut conn = pool.acquire().await?;
    let series_id = db::candles::ensure_series(&mut conn, key).await?;
    drop(conn);
    let results: Vec<Result<u64, DbError>> = futures::stream::iter(candles.chunks(CHUNK))
        .map(|chunk| async {
            let mut tx = pool.begin().await?;
            let n = db::candles::insert_candles(&mut tx, series_id, chunk).await?;
            tx.commit().await?;
            pb.inc(chunk.len() as u64);
            Ok(n)
        })
        .buffer_unordered(2)
        .collect()
        .await;
    pb.finish_and_clear();
    results.into_iter().sum()
}

/// The report for people: counts first, then the first few of each list.
pub fn render(r: &ImportReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} → {}{}",
        r.file,
        r.series,
        if r.dry_run {
            " (dry run, nothing stored)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        s,
        "  layout       {:?}: {}{}",
        r.layout.format,
        r.layout.columns,
        r.layout
            .time_format
            .as_deref()
            .map(|f| format!("; time as {f}"))
            .unwrap_or_default()
    );
    let _ = writeln!(s, "  rows read    {}", r.rows_read);
    let _ = writeln!(s, "  stored       {} new", r.stored);
    let _ = writeln!(
        s,
        "  duplicates   {} already stored, {} repeated in file ({} with other values; the later row wins)",
        r.already_stored, r.duplicates_in_file, r.conflicting_duplicates
    );
    let _ = writeln!(s, "  rejected     {}", r.rejected);
    for x in r.rejections.iter().take(10) {
        let _ = writeln!(s, "               line {}: {}", x.line, x.message);
    }
    let _ = writeln!(s, "  off-grid     {} (not stored)", r.off_grid);
    for x in r.off_grid_rows.iter().take(10) {
        let _ = writeln!(s, "               line {}: {}", x.line, x.time);
    }
    if r.date_keyed > 0 {
        let _ = writeln!(
            s,
            "  date-keyed   {} daily rows carried a time of day and were keyed by their date",
            r.date_keyed
        );
    }
    let _ = writeln!(
        s,
        "  range        {} .. {} ({:?} session)",
        r.first.as_deref().unwrap_or("-"),
        r.last.as_deref().unwrap_or("-"),
        r.session
    );
    let _ = writeln!(
        s,
        "  gaps         {} ({} missing bars)",
        r.gaps, r.missing_bars
    );
    for g in r.gap_list.iter().take(10) {
        let _ = writeln!(
            s,
            "               {} .. {}: {} missing",
            g.from, g.to, g.missing
        );
    }
    if r.gaps > 10 {
        let _ = writeln!(
            s,
            "               … {} more (--json lists them)",
            r.gaps - 10
        );
    }
    let _ = writeln!(s, "  zero volume  {} bars", r.zero_volume);
    let _ = writeln!(
        s,
        "  inconsistent {} bars (stored as published)",
        r.inconsistent
    );
    for x in r.inconsistencies.iter().take(10) {
        let _ = writeln!(
            s,
            "               line {} ({}): {}",
            x.line, x.time, x.problem
        );
    }
    s
}
