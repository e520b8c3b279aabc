//! Research commands: indicators, features, labels, walk-forward folds and
//! backtests over stored series or files.

use super::data::{ExportFormatArg, FormatArg};
use super::{Cli, connect, print_json};
use crate::config::{Settings, Trader, check_capital};
use crate::export::{self, ExportFormat};
use crate::import::{SourceFormat, layout::ColumnOverrides};
use crate::research::{self, Loaded, Source};
use crate::time;
use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use engine::backtest::report::{self, ReportSpec, SeriesData};
use engine::backtest::strategy::Strategy;
use engine::backtest::{BacktestConfig, IntrabarPolicy};
use engine::labels::{self, BarrierConfig, BarrierWidth, Direction};
use engine::risk::RiskProfile;
use engine::risk::sizing::SizingMode;
use engine::signals::{StopRule, TechnicalRule};
use engine::walkforward::{self, Scheme, WalkForwardConfig};
use engine::{Candle, Market, Symbol, TimeMs, Timeframe, features};
use std::path::{Path, PathBuf};

/// Where candles come from: files, or stored series.
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// CSV or Parquet files of candles, one symbol each; without them, the
    /// stored series named by --symbol, --timeframe, --exchange and --market.
    #[arg(long, num_args = 1..)]
    pub input: Vec<PathBuf>,
    /// Symbols of stored series (BASE/QUOTE); with --input, the names of the files' symbols.
    #[arg(long, num_args = 1.., required_unless_present_any = ["input", "universe"])]
    pub symbol: Vec<Symbol>,
    /// Every series of a shipped universe (us-stocks) instead of --symbol.
    #[arg(long, conflicts_with_all = ["symbol", "input"])]
    pub universe: Option<String>,
    #[arg(long)]
    pub timeframe: Timeframe,
    /// Where the stored series came from; when omitted, each symbol's one
    /// stored series at the timeframe (bundled data mixes yahoo and kaggle).
    #[arg(long)]
    pub exchange: Option<String>,
    #[arg(long)]
    pub market: Option<Market>,
    /// How the --input files are laid out, as for `import` (detected when omitted).
    #[arg(long, value_enum, requires = "input")]
    pub format: Option<FormatArg>,
    /// Map fields to the --input files' columns by header name or 0-based index, as for `import`: time=Date,volume=Vol
    #[arg(long, value_parser = ColumnOverrides::parse, requires = "input")]
    pub columns: Option<ColumnOverrides>,
}

impl SourceArgs {
    /// The service's view of these flags.
    pub(super) fn source(&self) -> anyhow::Result<Source> {
        let (symbols, exchange) = match &self.universe {
            Some(name) => {
                let u = crate::universes::get(name).map_err(anyhow::Error::msg)?;
                (
                    u.symbols(),
                    Some(self.exchange.clone().unwrap_or(u.exchange)),
                )
            }
            None => (self.symbol.clone(), self.exchange.clone()),
        };
        Ok(Source {
            input: self.input.clone(),
            symbols,
            timeframe: self.timeframe,
            exchange,
            market: self.market,
            format: self.format.map(SourceFormat::from),
            columns: self.columns.clone().unwrap_or_default(),
            skip_missing: self.universe.is_some(),
        })
    }
}

/// Loads every series the flags name; connects only for stored series.
pub(super) async fn load(cli: &Cli, src: &SourceArgs) -> anyhow::Result<Vec<Loaded>> {
    let source = src.source()?;
    let pool = if source.needs_store() {
        Some(connect(cli).await?)
    } else {
        None
    };
    research::load(&source, pool.as_ref(), cli.json).await
}

/// The single series a per-series command works on.
pub(super) async fn load_one(cli: &Cli, src: &SourceArgs) -> anyhow::Result<Loaded> {
    research::only_one(load(cli, src).await?)
}

/// A per-bar table command: one series in, one file out.
#[derive(Debug, Args)]
pub struct TableArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Output file; .parquet writes Parquet, anything else CSV.
    #[arg(long, short)]
    pub output: PathBuf,
    /// Output format when the extension does not say.
    #[arg(long, value_enum)]
    pub output_format: Option<ExportFormatArg>,
}

impl TableArgs {
    /// Writes `cols` keyed by the candles' open times.
    pub fn write<S: AsRef<str>>(
        &self,
        candles: &[Candle],
        cols: &[(S, Vec<Option<f64>>)],
    ) -> anyhow::Result<()> {
        let times: Vec<i64> = candles.iter().map(|c| c.open_time).collect();
        let borrowed: Vec<(&str, Vec<Option<f64>>)> =
            cols.iter().map(|(n, v)| (n.as_ref(), v.clone())).collect();
        let format = self
            .output_format
            .map(ExportFormat::from)
            .unwrap_or_else(|| ExportFormat::from_path(&self.output));
        export::write_columns(&self.output, format, &times, &borrowed)?;
        Ok(())
    }
}

pub(super) async fn indicators_cmd(cli: &Cli, a: &TableArgs) -> anyhow::Result<()> {
    let loaded = load_one(cli, &a.source).await?;
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

pub(super) async fn features_cmd(cli: &Cli, a: &TableArgs) -> anyhow::Result<()> {
    let s = load_one(cli, &a.source).await?;
    let set = features::compute(&s.symbol, a.source.timeframe, &s.candles);
    let cols = set.columns();
    a.write(&s.candles, &cols)?;
    let bad: Vec<_> = set
        .bad
        .iter()
        .map(|b| serde_json::json!({ "symbol": b.symbol, "time": time::iso(b.open_time), "feature": b.feature, "value": b.value.to_string() }))
        .collect();
    let summary = serde_json::json!({
        "symbol": s.symbol, "rows": s.candles.len(), "usable": set.usable().count(), "warmup_dropped": set.warmup,
        "bad_values": bad, "skipped_rows": s.skipped, "columns": cols.iter().map(|c| &c.0).collect::<Vec<_>>(),
        "output": a.output.display().to_string(),
    });
    if cli.json {
        return print_json(&summary);
    }
    println!(
        "{}: {} bars, {} usable; {} warm-up rows dropped, {} bad values; {} columns to {}",
        s.symbol,
        s.candles.len(),
        set.usable().count(),
        set.warmup,
        set.bad.len(),
        cols.len(),
        a.output.display()
    );
    for b in set.bad.iter().take(20) {
        println!(
            "  bad value: {} {} {} = {}",
            b.symbol,
            time::iso(b.open_time),
            b.feature,
            b.value
        );
    }
    Ok(())
}

fn parse_barrier(s: &str) -> Result<BarrierWidth, String> {
    let (kind, v) = s
        .split_once(':')
        .ok_or_else(|| format!("{s:?}: expected atr:K or pct:P"))?;
    let v: f64 = v
        .parse()
        .map_err(|_| format!("{s:?}: {v:?} is not a number"))?;
    if !(v > 0.0 && v.is_finite()) {
        return Err(format!("{s:?}: the width must be positive"));
    }
    match kind.to_ascii_lowercase().as_str() {
        "atr" => Ok(BarrierWidth::Atr(v)),
        "pct" => Ok(BarrierWidth::Pct(v)),
        _ => Err(format!("{s:?}: expected atr:K or pct:P")),
    }
}

#[derive(Debug, Args)]
pub struct LabelsArgs {
    #[command(flatten)]
    pub table: TableArgs,
    /// Vertical barrier and forward-return horizon, in bars.
    #[arg(long, default_value_t = 48)]
    pub horizon: usize,
    /// Upper barrier: atr:K (K × ATR-14) or pct:P.
    #[arg(long, default_value = "atr:2", value_parser = parse_barrier)]
    pub upper: BarrierWidth,
    /// Lower barrier: atr:K or pct:P.
    #[arg(long, default_value = "atr:1", value_parser = parse_barrier)]
    pub lower: BarrierWidth,
    /// UP/DOWN threshold on the forward return, percent.
    #[arg(long, default_value_t = labels::DIRECTION_THRESHOLD_PCT)]
    pub threshold: f64,
}

pub(super) async fn labels_cmd(cli: &Cli, a: &LabelsArgs) -> anyhow::Result<()> {
    if a.horizon == 0 {
        bail!("--horizon must be at least 1 bar");
    }
    let s = load_one(cli, &a.table.source).await?;
    let mut atr_ind = engine::indicators::Atr::new(14)?;
    let atr = engine::indicators::batch(
        &mut atr_ind,
        s.candles.iter().map(|c| engine::indicators::Hlc::from(*c)),
    );
    let cfg = BarrierConfig {
        upper: a.upper,
        lower: a.lower,
        horizon: a.horizon,
    };
    let tb = labels::triple_barrier(&s.candles, &atr, &cfg);
    let fwd = labels::forward_return(&s.candles, a.horizon);
    let dir: Vec<Option<Direction>> = fwd
        .iter()
        .map(|r| r.map(|r| Direction::from_return(r, a.threshold)))
        .collect();
    let barrier_code = |b: labels::Barrier| match b {
        labels::Barrier::Upper => 1.0,
        labels::Barrier::Lower => -1.0,
        labels::Barrier::Vertical => 0.0,
    };
    let cols = vec![
        (
            "tb_label".to_string(),
            tb.iter().map(|l| l.map(|l| l.label as f64)).collect(),
        ),
        (
            "tb_barrier".to_string(),
            tb.iter()
                .map(|l| l.map(|l| barrier_code(l.barrier)))
                .collect(),
        ),
        (
            "tb_bars".to_string(),
            tb.iter()
                .enumerate()
                .map(|(i, l)| l.map(|l| (l.exit_index - i) as f64))
                .collect(),
        ),
        (
            "tb_return_pct".to_string(),
            tb.iter().map(|l| l.map(|l| l.return_pct)).collect(),
        ),
        ("fwd_return_pct".to_string(), fwd.clone()),
        (
            "direction".to_string(),
            dir.iter()
                .map(|d| {
                    d.map(|d| match d {
                        Direction::Up => 1.0,
                        Direction::Neutral => 0.0,
                        Direction::Down => -1.0,
                    })
                })
                .collect(),
        ),
    ];
    a.table.write(&s.candles, &cols)?;
    let count = |d: Direction| dir.iter().filter(|x| **x == Some(d)).count();
    let tb_count = |b: labels::Barrier| tb.iter().flatten().filter(|l| l.barrier == b).count();
    let summary = serde_json::json!({
        "symbol": s.symbol, "rows": s.candles.len(), "labelled": tb.iter().flatten().count(),
        "triple_barrier": { "upper": tb_count(labels::Barrier::Upper), "lower": tb_count(labels::Barrier::Lower), "vertical": tb_count(labels::Barrier::Vertical) },
        "direction": { "up": count(Direction::Up), "neutral": count(Direction::Neutral), "down": count(Direction::Down) },
        "config": cfg, "threshold_pct": a.threshold, "output": a.table.output.display().to_string(),
    });
    if cli.json {
        return print_json(&summary);
    }
    println!(
        "{}: {} bars, {} labelled (upper {}, lower {}, vertical {}); UP {} NEUTRAL {} DOWN {}; written to {}",
        s.symbol,
        s.candles.len(),
        summary["labelled"],
        summary["triple_barrier"]["upper"],
        summary["triple_barrier"]["lower"],
        summary["triple_barrier"]["vertical"],
        count(Direction::Up),
        count(Direction::Neutral),
        count(Direction::Down),
        a.table.output.display()
    );
    Ok(())
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SchemeArg {
    Expanding,
    Rolling,
}

#[derive(Debug, Args)]
pub struct WalkforwardArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[arg(long, value_enum, default_value = "expanding")]
    pub scheme: SchemeArg,
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// Bars of the first (rolling: every) training window; 0 = bars / (folds + 1).
    #[arg(long, default_value_t = 0)]
    pub train_bars: usize,
    /// Bars per test window; 0 = the rest split evenly.
    #[arg(long, default_value_t = 0)]
    pub test_bars: usize,
    /// Label horizon in bars: training samples whose labels reach a test window are purged.
    #[arg(long, default_value_t = 48)]
    pub horizon: usize,
    /// Fraction of all bars embargoed after each test window.
    #[arg(long, default_value_t = 0.01)]
    pub embargo: f64,
    /// Also write the folds as JSON here.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

pub(super) async fn walkforward_cmd(cli: &Cli, a: &WalkforwardArgs) -> anyhow::Result<()> {
    let s = load_one(cli, &a.source).await?;
    let cfg = WalkForwardConfig {
        scheme: match a.scheme {
            SchemeArg::Expanding => Scheme::Expanding,
            SchemeArg::Rolling => Scheme::Rolling,
        },
        folds: a.folds,
        test_bars: a.test_bars,
        train_bars: a.train_bars,
        label_horizon: a.horizon,
        embargo_frac: a.embargo,
    };
    let folds = walkforward::split(s.candles.len(), &cfg)?;
    let t = |i: usize| time::iso(s.candles[i].open_time);
    let rows: Vec<_> = folds
        .iter()
        .map(|f| {
            serde_json::json!({
                "fold": f.index,
                "train": f.train.iter().map(|r| serde_json::json!({"start": r.start, "end": r.end, "from": t(r.start), "to": t(r.end - 1)})).collect::<Vec<_>>(),
                "train_bars": f.train_len(),
                "test": {"start": f.test.start, "end": f.test.end, "from": t(f.test.start), "to": t(f.test.end - 1)},
                "purged": f.purged, "embargoed": f.embargoed,
            })
        })
        .collect();
    let doc = serde_json::json!({ "symbol": s.symbol, "bars": s.candles.len(), "config": cfg, "folds": rows });
    if let Some(path) = &a.output {
        std::fs::write(path, serde_json::to_vec_pretty(&doc)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if cli.json {
        return print_json(&doc);
    }
    println!(
        "{}: {} bars, {} folds ({:?}), horizon {}, embargo {}",
        s.symbol,
        s.candles.len(),
        folds.len(),
        cfg.scheme,
        a.horizon,
        a.embargo
    );
    for f in &folds {
        let train: Vec<String> = f
            .train
            .iter()
            .map(|r| format!("[{}, {})", r.start, r.end))
            .collect();
        println!(
            "  fold {}: train {} ({} bars) | test [{}, {}) {} .. {} | purged {}, embargoed {}",
            f.index,
            train.join(" "),
            f.train_len(),
            f.test.start,
            f.test.end,
            t(f.test.start),
            t(f.test.end - 1),
            f.purged,
            f.embargoed
        );
    }
    Ok(())
}

fn parse_sizing(s: &str) -> Result<SizingMode, String> {
    SizingMode::parse(s)
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StrategyArg {
    /// The plain technical rule (SMA/EMA/MACD/RSI votes, ATR targets).
    Technical,
    /// Predictions from --signals files (a model's output).
    Model,
    /// The technical rule, confidence adjusted by --signals.
    Hybrid,
    /// SMA crossover with a percentage stop and target (the benchmark's strategy).
    SmaCross,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum IntrabarArg {
    WorstCase,
    LowerTimeframe,
}

/// Who the simulated trader is: risk profile, capital, profit gate.
#[derive(Debug, Clone, Args)]
pub struct RiskArgs {
    #[arg(long, default_value = "medium")]
    pub profile: RiskProfile,
    #[arg(long, default_value_t = 100.0, value_parser = parse_capital)]
    pub capital: f64,
    /// Override the 2 % expected-net-profit gate.
    #[arg(long)]
    pub min_net_profit: Option<f64>,
}

fn parse_capital(s: &str) -> Result<f64, String> {
    check_capital(s.parse().map_err(|_| format!("{s:?}: not a number"))?)
}

impl RiskArgs {
    pub(super) fn trader(&self) -> Trader {
        Trader {
            profile: self.profile,
            capital: self.capital,
            min_net_profit: self.min_net_profit,
        }
    }
}

#[derive(Debug, Args)]
pub struct BacktestArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[arg(long, value_enum, default_value = "technical")]
    pub strategy: StrategyArg,
    /// Per-bar predictions, one CSV per series: open_time,p_up,p_neutral,p_down,expected_move_pct,confidence.
    #[arg(long, num_args = 1..)]
    pub signals: Vec<PathBuf>,
    #[command(flatten)]
    pub risk: RiskArgs,
    /// Override the confidence gate (`[signals] min_confidence`, 0.55 by default).
    #[arg(long)]
    pub min_confidence: Option<f64>,
    /// Position sizing: fixed-risk (default), atr, or kelly:F (fraction F of the Kelly stake).
    #[arg(long, default_value = "fixed-risk", value_parser = parse_sizing)]
    pub sizing: SizingMode,
    /// Stop as a percentage of entry instead of 1.5 ATR.
    #[arg(long)]
    pub stop_pct: Option<f64>,
    /// SMA cross: fast and slow periods, and the promised move (target) in percent.
    #[arg(long, default_value_t = 10)]
    pub fast: usize,
    #[arg(long, default_value_t = 20)]
    pub slow: usize,
    #[arg(long, default_value_t = 2.0)]
    pub target_pct: f64,
    /// Hybrid: the model's weight in the confidence.
    #[arg(long, default_value_t = 0.5)]
    pub model_weight: f64,
    #[arg(long, value_enum, default_value = "worst-case")]
    pub intrabar: IntrabarArg,
    /// Lower-timeframe bars for --intrabar lower-timeframe: stored series of this timeframe.
    #[arg(long)]
    pub lower_timeframe: Option<Timeframe>,
    /// Close what is left after this many hours.
    #[arg(long, default_value_t = 48.0)]
    pub time_stop_hours: f64,
    /// Decide only at closes from this time on (ISO or epoch ms); earlier
    /// bars still warm up the indicators: the period a paper account ran.
    #[arg(long, value_parser = time::parse_instant)]
    pub trade_from: Option<TimeMs>,
    /// Configurations tried so far (deflates the Sharpe ratio), at least:
    /// on stored series every configuration `backtest` has run on the same
    /// series counts too (the trial ledger).
    #[arg(long, default_value_t = 1)]
    pub trials: usize,
    /// Seed of the random-entry baseline.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Directory for equity.csv (or .parquet), trades.csv and report.json.
    #[arg(long, short, default_value = "backtest-out")]
    pub out: PathBuf,
    /// The equity curve's format (CSV by default).
    #[arg(long, value_enum)]
    pub output_format: Option<ExportFormatArg>,
}

pub(super) async fn backtest_cmd(
    cli: &Cli,
    settings: &Settings,
    a: &BacktestArgs,
) -> anyhow::Result<()> {
    let series = load(cli, &a.source).await?;
    let base = crate::research::backtest_config(settings, &a.risk.trader(), &series)?;
    let subject = research::trial_subject("backtest", a.source.timeframe, &series);
    // Stored funding settlements of stored perpetuals (files carry none).
    let source = a.source.source()?;
    let store = if source.needs_store() && source.market != Some(engine::Market::Spot) {
        Some(connect(cli).await?)
    } else {
        None
    };
    let mut funding = Vec::with_capacity(series.len());
    for s in &series {
        funding.push(match &store {
            Some(pool) => {
                crate::db::funding::for_candles(pool, s.exchange.as_deref(), &s.symbol, &s.candles)
                    .await?
            }
            None => None,
        });
    }
    let needs_signals = matches!(a.strategy, StrategyArg::Model | StrategyArg::Hybrid);
    if needs_signals && a.signals.len() != series.len() {
        bail!(
            "--strategy model/hybrid needs one --signals file per series ({} series, {} files)",
            series.len(),
            a.signals.len()
        );
    }
    // Lower-timeframe bars of the same stored series, for the intrabar policy.
    let mut lower: Vec<Option<Vec<Candle>>> = match (a.intrabar, a.lower_timeframe) {
        (IntrabarArg::WorstCase, _) => series.iter().map(|_| None).collect(),
        (IntrabarArg::LowerTimeframe, None) => {
            bail!("--intrabar lower-timeframe needs --lower-timeframe")
        }
        (IntrabarArg::LowerTimeframe, Some(_)) if !a.source.input.is_empty() => {
            bail!("--lower-timeframe reads stored series; use --symbol rather than --input")
        }
        (IntrabarArg::LowerTimeframe, Some(timeframe)) => {
            let src = SourceArgs {
                timeframe,
                ..a.source.clone()
            };
            load(cli, &src)
                .await?
                .into_iter()
                .map(|l| Some(l.candles))
                .collect()
        }
    };
    let mut data = Vec::new();
    for (k, s) in series.into_iter().enumerate() {
        let predictions = if needs_signals {
            Some(research::read_predictions(&a.signals[k], &s.candles)?)
        } else {
            None
        };
        let lower = lower[k].take();
        data.push(SeriesData {
            symbol: s.symbol,
            candles: s.candles,
            predictions,
            lower,
            funding: funding[k].take(),
        });
    }
    // `base` is on the series' calendar: the time stop counts the hours the market is open.
    let mut config = BacktestConfig {
        time_stop_hours: a.time_stop_hours,
        trade_from: a.trade_from,
        ..base
    };
    if let Some(v) = a.min_confidence {
        config.plan.min_confidence = v;
    }
    config.plan.sizing = a.sizing;
    if let Some(p) = a.stop_pct {
        config.plan.stop = StopRule::Pct(p);
    }
    config.intrabar = match a.intrabar {
        IntrabarArg::WorstCase => IntrabarPolicy::WorstCase,
        IntrabarArg::LowerTimeframe => IntrabarPolicy::LowerTimeframe,
    };
    let strategy = match a.strategy {
        StrategyArg::Technical => Strategy::Technical(TechnicalRule::default()),
        StrategyArg::Model => Strategy::Model,
        StrategyArg::Hybrid => Strategy::Hybrid {
            rule: TechnicalRule::default(),
            weight: a.model_weight,
        },
        StrategyArg::SmaCross => {
            // One target at the promised move: TP1 = TP2 = TP3.
            config.plan.tp_fractions = [1.0; 3];
            Strategy::SmaCross {
                fast: a.fast,
                slow: a.slow,
                move_pct: a.target_pct,
            }
        }
    };
    // On stored series the trial ledger counts the configurations tried
    // (here and in the simulator) and keeps their curves for PBO.
    let ledger = match source.needs_store() {
        true => {
            let pool = connect(cli).await?;
            let ledger = research::Ledger::open(&pool, subject, &strategy, &config).await?;
            Some((pool, ledger))
        }
        false => None,
    };
    let trials = ledger.as_ref().map_or(1, |(_, l)| l.trials);
    let spec = ReportSpec {
        timeframe: a.source.timeframe,
        config,
        strategy,
        trials: trials.max(a.trials),
        random_seed: a.seed,
        code_version: crate::code_version(),
    };
    let (rep, result) = report::run_report(&data, &spec);
    let bar_ms = a.source.timeframe.duration_ms();
    let compared = match &ledger {
        Some((pool, ledger)) => {
            let curve = research::ledger_curve(&result.equity, bar_ms);
            let compared = ledger.compare(&curve);
            ledger.keep(pool, &curve).await?;
            compared
        }
        None => research::Compared {
            pbo: None,
            pbo_error: Some("series read from files: no trial ledger to rank among".into()),
        },
    };

    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let ext = match a.output_format {
        Some(ExportFormatArg::Parquet) => "parquet",
        _ => "csv",
    };
    let equity_path = a.out.join(format!("equity.{ext}"));
    let times: Vec<TimeMs> = result.equity.iter().map(|p| p.time - bar_ms).collect();
    let col = |f: fn(&engine::backtest::EquityPoint) -> f64| {
        result.equity.iter().map(|p| Some(f(p))).collect::<Vec<_>>()
    };
    export::write_columns(
        &equity_path,
        a.output_format
            .map_or(ExportFormat::Csv, ExportFormat::from),
        &times,
        &[
            ("equity", col(|p| p.equity)),
            ("drawdown_pct", col(|p| p.drawdown_pct)),
            ("buy_and_hold", col(|p| p.buy_and_hold)),
            ("open_positions", col(|p| p.open_positions as f64)),
        ],
    )?;
    let trades_path = a.out.join("trades.csv");
    write_trades(&trades_path, &result.trades)?;
    let report_path = a.out.join("report.json");
    std::fs::write(&report_path, serde_json::to_vec_pretty(&rep)?)
        .with_context(|| format!("writing {}", report_path.display()))?;
    if cli.json {
        return print_json(
            &serde_json::json!({ "report": rep, "pbo": compared.pbo, "pbo_error": compared.pbo_error, "equity": equity_path, "trades": trades_path, "report_file": report_path }),
        );
    }
    let m = &rep.metrics;
    let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
    println!(
        "{} on {} series, {} profile, ${:.2} → ${:.2}",
        rep.strategy.name(),
        rep.data.len(),
        a.risk.profile.as_str(),
        m.initial_equity,
        m.final_equity
    );
    println!(
        "  trades {} | TP1 hit {} | win {} | PF {} | return {:.2} % | CAGR {:.2} % | Sharpe {} | Sortino {} | {} {} | max DD {:.2} % | Calmar {} | exposure {:.1} % | fees ${:.2}",
        m.trades,
        f(m.tp1_hit_rate),
        f(m.win_rate),
        f(m.profit_factor),
        m.total_return_pct,
        m.cagr_pct,
        f(m.sharpe),
        f(m.sortino),
        m.sharpe_test_name(),
        f(m.deflated_sharpe),
        m.max_drawdown_pct,
        f(m.calmar),
        m.exposure_pct,
        m.fees_paid
    );
    for (name, b) in [
        ("buy & hold", &rep.baselines.buy_and_hold),
        ("technical", &rep.baselines.technical),
        ("random", &rep.baselines.random),
    ] {
        println!(
            "  baseline {name:<10} trades {:>5} | return {:>8.2} % | Sharpe {} | max DD {:.2} %",
            b.trades,
            b.total_return_pct,
            f(b.sharpe),
            b.max_drawdown_pct
        );
    }
    if let Some(c) = &rep.rule_calibration {
        println!(
            "  rule calibration: {} fires ({} uncalibrated) | mean confidence {} vs hit rate {} | {} at ≥ {} | move interval coverage {} at {:.0} %",
            c.fires,
            c.uncalibrated,
            f(c.mean_confidence),
            f(c.hit_rate),
            c.passing,
            c.gate,
            f(c.interval_coverage),
            c.level * 100.0
        );
    }
    if !rep.rejections.is_empty() {
        println!(
            "  rejected: {}",
            rep.rejections
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    match (&compared.pbo, &compared.pbo_error) {
        (Some(p), _) => println!(
            "  PBO {:.2} over the {} configurations with a curve in the trial ledger ({} splits)",
            p.pbo, p.trials, p.splits
        ),
        (None, Some(why)) => println!("  no PBO: {why}"),
        (None, None) => {}
    }
    println!(
        "  input hash {}; wrote {}, {}, {}",
        rep.input_hash,
        equity_path.display(),
        trades_path.display(),
        report_path.display()
    );
    Ok(())
}

fn write_trades(path: &Path, trades: &[engine::backtest::Trade]) -> anyhow::Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("writing {}", path.display()))?;
    research::write_trades_to(file, trades).with_context(|| format!("writing {}", path.display()))
}
