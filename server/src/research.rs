//! Candles for research commands and jobs, from files or stored series,
//! and the research file formats: per-bar predictions (what `backtest
//! --signals` reads and `predict` writes) and trades.

use crate::import::{self, layout::ColumnOverrides};
use crate::time;
use anyhow::{Context, bail};
use engine::signals::Prediction;
use engine::{Candle, Market, Symbol, TimeMs, Timeframe};
use models::artifact::LoadedModel;
use sqlx::PgPool;
use std::path::{Path, PathBuf};

/// Where candles come from: files (one symbol each), or stored series.
#[derive(Debug, Clone)]
pub struct Source {
    /// CSV or Parquet files; when empty, the stored series of `symbols`.
    pub input: Vec<PathBuf>,
    /// Symbols of stored series; with `input`, the names of the files' symbols.
    pub symbols: Vec<Symbol>,
    pub timeframe: Timeframe,
    /// Where the stored series came from; when `None`, each symbol's one
    /// stored series at the timeframe (bundled data mixes yahoo and kaggle).
    pub exchange: Option<String>,
    pub market: Option<Market>,
    /// The files' layout when not detected (`--format`).
    pub format: Option<import::SourceFormat>,
    /// The files' column map (`--columns`).
    pub columns: ColumnOverrides,
    /// The symbols are a universe's: a member with nothing stored is
    /// skipped and named instead of loaded empty.
    pub skip_missing: bool,
}

impl Source {
    /// Whether loading reads the store (and so needs a database).
    pub fn needs_store(&self) -> bool {
        self.input.is_empty()
    }
}

/// The data a trial ledger entry is about: `what` (a command and scope),
/// the timeframe and the loaded series as sorted `exchange:symbol`.
pub fn trial_subject(what: &str, tf: engine::Timeframe, series: &[Loaded]) -> String {
    subject_of(
        what,
        tf,
        series
            .iter()
            .map(|s| (s.exchange.as_deref().unwrap_or("file"), s.symbol.as_str())),
    )
}

/// [`trial_subject`] of `(exchange, symbol)` pairs.
pub fn subject_of<'a>(
    what: &str,
    tf: engine::Timeframe,
    series: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    let mut names: Vec<String> = series
        .into_iter()
        .map(|(exchange, symbol)| format!("{exchange}:{symbol}"))
        .collect();
    names.sort();
    format!("{what} {tf} {}", names.join(","))
}

/// A backtest's equity curve as the trial ledger keeps it: (bar open time,
/// equity) at the simulator's thinned points (runs over the same bars are
/// thinned alike, so they share their points).
pub fn ledger_curve(
    points: &[engine::backtest::EquityPoint],
    bar_ms: i64,
) -> Vec<(engine::TimeMs, f64)> {
    crate::simulate::thin(points, bar_ms)
        .into_iter()
        .map(|p| (p.t, p.equity))
        .collect()
}

/// CSCV blocks over the shared curve points: 70 splits.
const PBO_BLOCKS: usize = 8;

/// A backtest's place in the trial ledger: its configuration recorded on
/// the series it ran on, with the other configurations' curves to rank it
/// among ([`Ledger::compare`]); [`Ledger::keep`] stores its own curve.
#[derive(Debug)]
pub struct Ledger {
    subject: String,
    hash: String,
    /// Configurations tried on the subject, this one included.
    pub trials: usize,
    others: Vec<Vec<(engine::TimeMs, f64)>>,
}

/// PBO over a backtest and the other configurations tried on its data, or why there is none.
#[derive(Debug, Clone)]
pub struct Compared {
    pub pbo: Option<engine::backtest::pbo::Pbo>,
    pub pbo_error: Option<String>,
}

impl Ledger {
    pub async fn open(
        pool: &sqlx::PgPool,
        subject: String,
        strategy: &engine::backtest::strategy::Strategy,
        config: &engine::backtest::BacktestConfig,
    ) -> anyhow::Result<Ledger> {
        let hash = backtest_trial_hash(strategy, config);
        let trials = crate::db::trials::record(pool, &subject, &hash).await?;
        let others = crate::db::trials::other_curves(pool, &subject, &hash).await?;
        Ok(Ledger {
            subject,
            hash,
            trials,
            others,
        })
    }

    /// PBO of `curve` among the others (none when it is the first with a curve).
    pub fn compare(&self, curve: &[(engine::TimeMs, f64)]) -> Compared {
        if self.others.is_empty() {
            return Compared {
                pbo: None,
                pbo_error: Some(
                    "the first configuration tried on this data: nothing to rank".into(),
                ),
            };
        }
        let curves: Vec<&[(engine::TimeMs, f64)]> = std::iter::once(curve)
            .chain(self.others.iter().map(Vec::as_slice))
            .collect();
        match engine::backtest::pbo::cscv_over_curves(&curves, PBO_BLOCKS) {
            Ok(p) => Compared {
                pbo: Some(p),
                pbo_error: None,
            },
            Err(e) => Compared {
                pbo: None,
                pbo_error: Some(e.to_string()),
            },
        }
    }

    /// Keeps `curve` as this configuration's latest on the subject.
    pub async fn keep(
        &self,
        pool: &sqlx::PgPool,
        curve: &[(engine::TimeMs, f64)],
    ) -> anyhow::Result<()> {
        crate::db::trials::store_curve(pool, &self.subject, &self.hash, curve).await?;
        Ok(())
    }
}

/// The trial ledger's key of one backtest configuration: `traderai
/// backtest` and the simulator job hash it alike, so one configuration
/// tried on the same stored series by either counts once.
pub fn backtest_trial_hash(
    strategy: &engine::backtest::strategy::Strategy,
    config: &engine::backtest::BacktestConfig,
) -> String {
    // `trade_from` twice (also inside `config`): the key the CLI hashed
    // before the simulator shared the ledger, so its entries still match.
    let tried = serde_json::json!({ "strategy": strategy, "config": config, "trade_from": config.trade_from });
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(tried.to_string()))
}

/// One series as loaded.
#[derive(Debug)]
pub struct Loaded {
    pub symbol: String,
    /// Where a stored series came from (its costs); for files, `--exchange` if given.
    pub exchange: Option<String>,
    pub candles: Vec<Candle>,
    /// Rows of a file left out (rejected, off-grid, duplicates).
    pub skipped: u64,
    /// Alternative data for a model's feature groups (empty without groups).
    pub alt: models::data::AltInputs,
}

/// Loads every series named by `src`; `pool` is needed for stored series.
/// `quiet` keeps skipped-row notes off stderr (JSON output).
pub async fn load(src: &Source, pool: Option<&PgPool>, quiet: bool) -> anyhow::Result<Vec<Loaded>> {
    let mut out = Vec::new();
    if !src.input.is_empty() {
        if !src.symbols.is_empty() && src.symbols.len() != src.input.len() {
            bail!(
                "--symbol names the --input files' symbols: give one per file ({} files, {} symbols)",
                src.input.len(),
                src.symbols.len()
            );
        }
        for (k, file) in src.input.iter().enumerate() {
            out.push(load_file(file, src, src.symbols.get(k), quiet)?);
        }
        return Ok(out);
    }
    let pool = pool.context("stored series need the database")?;
    let mut missing = Vec::new();
    for symbol in &src.symbols {
        let series = crate::db::candles::stored_series_of(
            pool,
            symbol.as_str(),
            src.timeframe,
            src.exchange.as_deref(),
            src.market,
        )
        .await;
        let (key, candles) = match series {
            Ok((_, c)) if c.is_empty() && src.skip_missing => {
                missing.push(symbol.to_string());
                continue;
            }
            Err(crate::db::DbError::NoSeries(_)) if src.skip_missing => {
                missing.push(symbol.to_string());
                continue;
            }
            r => r?,
        };
        out.push(Loaded {
            symbol: symbol.to_string(),
            exchange: Some(key.exchange),
            candles,
            skipped: 0,
            alt: Default::default(),
        });
    }
    if !missing.is_empty() && !quiet {
        eprintln!(
            "skipped {} universe member(s) with nothing stored at {}: {}",
            missing.len(),
            src.timeframe,
            missing.join(", ")
        );
    }
    if out.is_empty() && !missing.is_empty() {
        bail!(
            "nothing stored at {} for {}",
            src.timeframe,
            missing.join(", ")
        );
    }
    Ok(out)
}

/// The engine configuration of a backtest of `series` for `trader`, charging
/// the costs of the series' exchange (one model for all of them), on the
/// trading calendar the first series' bars show.
pub fn backtest_config(
    settings: &crate::config::Settings,
    trader: &crate::config::Trader,
    series: &[Loaded],
) -> anyhow::Result<engine::backtest::BacktestConfig> {
    let exchange = settings.cost_exchange(
        series
            .iter()
            .map(|s| s.exchange.as_deref().unwrap_or("default")),
    )?;
    let mut cfg = settings.backtest_config(trader, exchange);
    cfg.calendar = series
        .first()
        .map_or(engine::calendar::Calendar::AlwaysOpen, |s| {
            engine::quality::Session::calendar_of(&s.candles)
        });
    Ok(cfg)
}

/// The one series of `all`; an error when there are more or none.
pub fn only_one(mut all: Vec<Loaded>) -> anyhow::Result<Loaded> {
    if all.len() != 1 {
        bail!("this command takes one series; {} given", all.len());
    }
    Ok(all.remove(0))
}

fn load_file(
    file: &Path,
    src: &Source,
    symbol: Option<&Symbol>,
    quiet: bool,
) -> anyhow::Result<Loaded> {
    let (parsed, _) = import::parse_file(file, src.timeframe, src.format, &src.columns, quiet)?;
    let skipped = parsed.rejected_count + parsed.off_grid_count + parsed.duplicate_count;
    if skipped > 0 && !quiet {
        eprintln!(
            "{}: {skipped} row(s) skipped (see `traderai import --dry-run` for which and why)",
            file.display()
        );
    }
    if parsed.candles.is_empty() {
        bail!("{}: no usable candles", file.display());
    }
    let symbol = match symbol {
        Some(s) => s.to_string(),
        None => file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "FILE".into()),
    };
    Ok(Loaded {
        symbol,
        exchange: src.exchange.clone(),
        candles: parsed.candles,
        skipped,
        alt: Default::default(),
    })
}

/// Trades as CSV, one row per trade with its fills (the CLI's trades.csv).
pub fn write_trades_to(
    out: impl std::io::Write,
    trades: &[engine::backtest::Trade],
) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "symbol",
        "side",
        "signal_time",
        "entry_time",
        "entry_price",
        "qty",
        "leverage",
        "stop_loss",
        "tp1",
        "tp2",
        "tp3",
        "exit_time",
        "exit_reason",
        "tp1_hit",
        "gross_pnl",
        "fees",
        "funding",
        "pnl",
        "return_pct",
        "fills",
    ])?;
    for t in trades {
        let fills: Vec<String> = t
            .exits
            .iter()
            .map(|f| format!("{:?}@{}x{}", f.reason, f.price, f.qty))
            .collect();
        w.write_record([
            t.symbol.clone(),
            format!("{:?}", t.side).to_lowercase(),
            time::iso(t.signal_time),
            time::iso(t.entry_time),
            t.entry_price.to_string(),
            t.qty.to_string(),
            t.leverage.to_string(),
            t.initial_stop.to_string(),
            t.take_profit[0].to_string(),
            t.take_profit[1].to_string(),
            t.take_profit[2].to_string(),
            time::iso(t.exit_time),
            serde_json::to_value(t.exit_reason)?
                .as_str()
                .unwrap_or_default()
                .to_string(),
            t.tp1_hit.to_string(),
            t.gross_pnl.to_string(),
            t.fees.to_string(),
            t.funding.to_string(),
            t.pnl.to_string(),
            t.return_pct.to_string(),
            fills.join(" "),
        ])?;
    }
    w.flush()?;
    Ok(())
}

/// A model's predictions joined onto `candles` by open time. Every row is
/// checked; a bad one names its line and field.
/// The columns `--signals` files need (others are ignored).
pub const PREDICTION_COLUMNS: [&str; 6] = [
    "open_time",
    "p_up",
    "p_neutral",
    "p_down",
    "expected_move_pct",
    "confidence",
];

pub fn read_predictions(
    path: &Path,
    candles: &[Candle],
) -> anyhow::Result<Vec<Option<Prediction>>> {
    let mut r =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let headers = r.headers()?.clone();
    let idx: Vec<usize> = PREDICTION_COLUMNS
        .iter()
        .map(|w| {
            headers
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case(w))
                .with_context(|| {
                    format!(
                        "{}: no column {w:?} (need {})",
                        path.display(),
                        PREDICTION_COLUMNS.join(",")
                    )
                })
        })
        .collect::<anyhow::Result<_>>()?;
    let by_time: std::collections::HashMap<TimeMs, usize> = candles
        .iter()
        .enumerate()
        .map(|(i, c)| (c.open_time, i))
        .collect();
    let mut out = vec![None; candles.len()];
    for (n, rec) in r.records().enumerate() {
        let line = n + 2;
        let rec = rec.with_context(|| format!("{}:{line}", path.display()))?;
        let field = |k: usize| rec.get(idx[k]).unwrap_or("").trim();
        let t = time::parse_instant(field(0))
            .map_err(|e| anyhow::anyhow!("{}:{line}: open_time: {e}", path.display()))?;
        let mut v = [0.0; 5];
        for (k, slot) in v.iter_mut().enumerate() {
            let raw = field(k + 1);
            *slot = raw
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .with_context(|| {
                    format!(
                        "{}:{line}: {} {raw:?} is not a finite number",
                        path.display(),
                        PREDICTION_COLUMNS[k + 1]
                    )
                })?;
        }
        let Some(&i) = by_time.get(&t) else { continue };
        out[i] = Some(Prediction {
            p_up: v[0],
            p_neutral: v[1],
            p_down: v[2],
            expected_move_pct: v[3],
            confidence: v[4],
        });
    }
    Ok(out)
}

/// Per-bar predictions of `model` with its conformal set and move interval,
/// in the columns `backtest --signals` reads (plus set, move_low, move_high).
pub fn write_predictions(
    path: &Path,
    candles: &[Candle],
    preds: &[Option<Prediction>],
    model: &LoadedModel,
) -> anyhow::Result<()> {
    let mut w =
        csv::Writer::from_path(path).with_context(|| format!("writing {}", path.display()))?;
    let extra = ["set", "move_low", "move_high"];
    w.write_record(PREDICTION_COLUMNS.iter().chain(&extra))?;
    for (c, p) in candles.iter().zip(preds) {
        let Some(p) = p else { continue };
        let probs = [p.p_up as f32, p.p_neutral as f32, p.p_down as f32];
        let set = model.calibrator.set_names(&probs);
        let (lo, hi) = model.calibrator.interval(p.expected_move_pct as f32);
        w.write_record([
            crate::time::iso(c.open_time),
            format!("{:.6}", p.p_up),
            format!("{:.6}", p.p_neutral),
            format!("{:.6}", p.p_down),
            format!("{:.4}", p.expected_move_pct),
            format!("{:.6}", p.confidence),
            set.join("|"),
            format!("{lo:.4}"),
            format!("{hi:.4}"),
        ])?;
    }
    w.flush()?;
    Ok(())
}
