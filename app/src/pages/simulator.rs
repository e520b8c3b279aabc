//! `/simulator` — backtest stored series for a risk profile and capital:
//! metrics beside the baselines, equity and drawdown, every trade, CSV.

// The form's server function takes one argument per field (so the form
// also works before hydration); the browser build's generated client
// function has them too.
#![allow(clippy::too_many_arguments)]

use super::admin::jobs::{ProgressBar, apply};
use super::settings::load_settings;
use crate::chart::{LineChart, price};
use crate::live::use_live;
use crate::types::{AppError, BacktestOutcome, JobView, format_utc};
use crate::{csrf_token, use_viewer};
use engine::backtest::metrics::Metrics;
use engine::risk::RiskProfile;
use leptos::prelude::*;

#[server]
pub async fn start_backtest(
    csrf: String,
    symbols: String,
    timeframe: String,
    from: String,
    to: String,
    risk_profile: RiskProfile,
    capital: f64,
    strategy: String,
    sizing: String,
    model_weight: f64,
) -> Result<JobView, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(Some(&csrf))?;
            let r = crate::types::BacktestRequest {
                symbols: symbols
                    .split([',', ' '])
                    .filter(|s| !s.trim().is_empty())
                    .map(str::to_owned)
                    .collect(),
                timeframe,
                from: Some(from),
                to: Some(to),
                risk_profile,
                capital,
                strategy,
                min_net_profit: None,
                sizing: Some(sizing),
                model_weight: Some(model_weight),
            };
            b.start_backtest(&v, r).await
        }
        .await,
    )
}

/// The viewer's backtests, newest first.
#[server]
pub async fn list_backtests() -> Result<Vec<JobView>, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(None)?;
            let mut jobs = b.jobs(&v, 200).await?;
            jobs.retain(|j| j.kind == "backtest" && (j.created_by == Some(v.id)));
            Ok(jobs)
        }
        .await,
    )
}

#[server]
pub async fn load_backtest(id: i64) -> Result<JobView, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(None)?;
            b.job(&v, id).await
        }
        .await,
    )
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("–".into(), |v| format!("{v:.digits$}"))
}

fn rate(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{:.1} %", v * 100.0))
}

fn symbols_of(j: &JobView) -> String {
    j.params["symbols"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

#[component]
pub fn SimulatorPage() -> impl IntoView {
    let live = use_live();
    let viewer = use_viewer();
    let csrf = move || viewer.get().map(|v| csrf_token(&v)).unwrap_or_default();
    let start = ServerAction::<StartBacktest>::new();
    let settings = Resource::new(|| (), |_| load_settings());
    let runs = Resource::new(
        move || (start.version().get(), live.resync.get()),
        |_| list_backtests(),
    );
    let selected = RwSignal::new(None::<i64>);
    // A new run is shown as soon as it is queued.
    Effect::new(move |_| {
        if let Some(Ok(j)) = start.value().get() {
            selected.set(Some(j.id));
        }
    });
    // Progress of runs we list arrives over the WebSocket.
    Effect::new(move |_| {
        if let Some(ev) = live.job.get()
            && ev.kind == "backtest"
            && ev.status != "running"
        {
            runs.refetch();
        }
    });
    view! {
        <section class="panel" id="simulator">
            <div class="panel-head"><h1>"Simulator"</h1></div>
            <p class="summary">"Backtest stored series with your profile and capital: next-open fills, TP1/TP2/TP3 at 30/40/30 %, break-even and ATR trail, 48 h time stop; fees, slippage and funding charged; beside buy-and-hold, the plain technical rule and random entries with the same exits."</p>
            <Transition fallback=|| view! { <p class="empty">"Loading…"</p> }>
                {move || settings.get().map(|r| {
                    let s = r.ok();
                    let profile = s.map(|s| s.risk_profile).unwrap_or(RiskProfile::Medium);
                    let capital = s.map(|s| s.capital).unwrap_or(100.0);
                    view! {
                        <ActionForm action=start attr:class="grid-form" attr:id="backtest-form">
                            <input type="hidden" name="csrf" value=csrf />
                            <label>"Symbols"<input name="symbols" id="bt-symbols" value="BTC/USD" placeholder="BTC/USD, NVDA/USD" required /></label>
                            <label>"Timeframe"
                                <select name="timeframe" id="bt-timeframe">
                                    {["15m", "1h", "4h", "1d"].into_iter().map(|t| view! { <option value=t selected=t == "1d">{t}</option> }).collect_view()}
                                </select>
                            </label>
                            <label>"From (UTC)"<input type="date" name="from" id="bt-from" /></label>
                            <label>"To (UTC, exclusive)"<input type="date" name="to" id="bt-to" /></label>
                            <label>"Profile"
                                <select name="risk_profile" id="bt-profile">
                                    {RiskProfile::ALL.into_iter().map(|p| view! { <option value=p.as_str() selected=p == profile>{p.as_str()}</option> }).collect_view()}
                                </select>
                            </label>
                            <label>"Capital (USD)"<input type="number" name="capital" id="bt-capital" min="1" step="any" value=capital.to_string() required /></label>
                            <label>"Strategy"
                                <select name="strategy" id="bt-strategy">
                                    <option value="technical" selected>"technical rule"</option>
                                    <option value="model">"serving model"</option>
                                    <option value="hybrid">"hybrid (rule's side, model-boosted confidence)"</option>
                                </select>
                            </label>
                            <label>"Sizing"
                                <select name="sizing" id="bt-sizing">
                                    <option value="fixed-risk" selected>"fixed risk"</option>
                                    <option value="atr">"ATR (volatility target)"</option>
                                    <option value="kelly:0.5">"half Kelly"</option>
                                    <option value="kelly:0.25">"quarter Kelly"</option>
                                </select>
                            </label>
                            <label>"Model weight (hybrid)"<input type="number" name="model_weight" id="bt-model-weight" min="0" max="1" step="0.05" value="0.5" required /></label>
                            <button type="submit" id="bt-run" disabled=move || start.pending().get()>"Run backtest"</button>
                        </ActionForm>
                    }
                })}
            </Transition>
            {move || start.value().get().and_then(|r| r.err()).map(|e| view! {
                <p class="error" id="bt-error">{e.message}{e.field.map(|f| format!(" ({f})"))}</p>
            })}
            <Transition fallback=|| ()>
                {move || runs.get().map(|r| match r {
                    Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <p class="empty">"No backtests yet."</p> }.into_any(),
                    Ok(list) => view! {
                        <table class="grid" id="bt-runs">
                            <thead><tr><th class="num">"#"</th><th>"Symbols"</th><th>"TF"</th><th>"Profile"</th><th class="num">"Capital"</th><th>"Status"</th><th>"Created (UTC)"</th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|j| {
                                    let id = j.id;
                                    view! {
                                        <tr class="bt-run" data-job=id data-status=j.status.clone() on:click=move |_| selected.set(Some(id))>
                                            <td class="num">{id}</td>
                                            <td>{symbols_of(&j)}</td>
                                            <td>{j.params["timeframe"].as_str().unwrap_or_default().to_owned()}</td>
                                            <td>{j.params["profile"].as_str().unwrap_or_default().to_owned()}</td>
                                            <td class="num">{j.params["capital"].as_f64().map(|c| format!("${c:.0}")).unwrap_or_default()}</td>
                                            <td class="status">{j.status.clone()}</td>
                                            <td>{format_utc(j.created_at)}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                })}
            </Transition>
        </section>
        {move || selected.get().map(|id| view! { <BacktestResult id /> })}
    }
}

#[component]
fn BacktestResult(id: i64) -> impl IntoView {
    let live = use_live();
    // Refetched when this job finishes (its detail is too large to push).
    let finished = Memo::new(move |_| {
        live.job
            .get()
            .filter(|e| {
                e.id == id && matches!(e.status.as_str(), "succeeded" | "failed" | "cancelled")
            })
            .map(|e| e.status)
    });
    let job = Resource::new(
        move || (id, finished.get(), live.resync.get()),
        |(id, _, _)| load_backtest(id),
    );
    view! {
        <section class="panel" id="bt-result" data-job=id>
            <div class="panel-head"><h1>{format!("Backtest #{id}")}</h1></div>
            <Transition fallback=|| view! { <p class="empty">"Loading…"</p> }>
                {move || job.get().map(|r| match r {
                    Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                    Ok(j) if j.status == "succeeded" => match serde_json::from_value::<BacktestOutcome>(j.detail.clone()) {
                        Ok(o) => view! { <Outcome id o /> }.into_any(),
                        Err(e) => view! { <p class="error">{format!("unreadable result: {e}")}</p> }.into_any(),
                    },
                    Ok(j) if j.status == "failed" => view! { <p class="error" id="bt-failed">{j.error.clone().unwrap_or_else(|| "failed".into())}</p> }.into_any(),
                    Ok(j) => {
                        let base = j.clone();
                        let current = Memo::new(move |_| apply(base.clone(), live.job.read().as_ref().filter(|e| e.id == id)));
                        view! {
                            <p class="muted">{move || format!("{} …", current.read().status)}</p>
                            <ProgressBar progress=Signal::derive(move || current.read().progress) status=Signal::derive(move || current.read().status.clone()) />
                        }.into_any()
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn MetricsRow(name: &'static str, m: Metrics, #[prop(optional)] id: &'static str) -> impl IntoView {
    view! {
        <tr id=id>
            <td>{name}</td>
            <td class="num">{m.trades}</td>
            <td class="num">{rate(m.tp1_hit_rate)}</td>
            <td class="num">{rate(m.win_rate)}</td>
            <td class="num">{opt(m.profit_factor, 2)}</td>
            <td class="num">{format!("{:+.2} %", m.total_return_pct)}</td>
            <td class="num">{opt(m.sharpe, 2)}</td>
            <td class="num">{opt(m.deflated_sharpe, 2)}</td>
            <td class="num">{format!("{:.2} %", m.max_drawdown_pct)}</td>
            <td class="num">{opt(m.calmar, 2)}</td>
            <td class="num">{format!("${:.2}", m.final_equity)}</td>
        </tr>
    }
}

#[component]
fn Outcome(id: i64, o: BacktestOutcome) -> impl IntoView {
    let m = o.report.metrics;
    let b = o.report.baselines;
    let pbo = o.pbo.as_ref().map(|p| {
        (
            format!("PBO ({} configurations)", p.trials),
            format!("{:.0} %", p.pbo * 100.0),
        )
    });
    let cards = [
        (
            "Return".to_string(),
            format!("{:+.2} %", m.total_return_pct),
        ),
        (
            "Final equity".to_string(),
            format!("${:.2}", m.final_equity),
        ),
        ("Trades".to_string(), m.trades.to_string()),
        ("TP1 hit rate".to_string(), rate(m.tp1_hit_rate)),
        ("Win rate".to_string(), rate(m.win_rate)),
        ("Profit factor".to_string(), opt(m.profit_factor, 2)),
        ("Sharpe".to_string(), opt(m.sharpe, 2)),
        (m.sharpe_test_name(), opt(m.deflated_sharpe, 2)),
        (
            "Max drawdown".to_string(),
            format!("{:.2} %", m.max_drawdown_pct),
        ),
        ("Calmar".to_string(), opt(m.calmar, 2)),
        (
            "Fees + funding".to_string(),
            format!("${:.2}", m.fees_paid + m.funding_paid),
        ),
        ("Exposure".to_string(), format!("{:.1} %", m.exposure_pct)),
    ];
    let equity = vec![
        (
            "strategy equity".to_string(),
            "equity",
            o.equity.iter().map(|p| (p.t, p.equity)).collect(),
        ),
        (
            "buy & hold".to_string(),
            "benchmark",
            o.equity.iter().map(|p| (p.t, p.buy_and_hold)).collect(),
        ),
    ];
    let drawdown = vec![(
        "drawdown %".to_string(),
        "drawdown",
        o.equity
            .iter()
            .map(|p| (p.t, -p.drawdown_pct.abs()))
            .collect(),
    )];
    let total = o.trades.len();
    let rejections = o
        .report
        .rejections
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ");
    let range = o
        .report
        .data
        .iter()
        .map(|d| {
            format!(
                "{} {} bars {} → {}",
                d.symbol,
                d.bars,
                d.from.map(format_utc).unwrap_or_default(),
                d.to.map(format_utc).unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    view! {
        <p class="summary">{range}</p>
        {(!o.models.is_empty()).then(|| view! { <p class="muted small">{format!("Models: {}", o.models.join("; "))}</p> })}
        <div class="cards" id="bt-metrics">
            {cards.into_iter().chain(pbo).map(|(k, v)| view! {
                <div class="card"><div class="card-label">{k}</div><div class="card-value">{v}</div></div>
            }).collect_view()}
        </div>
        <h2>"Against the baselines"</h2>
        <table class="grid" id="bt-baselines">
            <thead><tr><th></th><th class="num">"Trades"</th><th class="num">"TP1 hit"</th><th class="num">"Win"</th><th class="num">"PF"</th><th class="num">"Return"</th><th class="num">"Sharpe"</th><th class="num" title="Deflated Sharpe ratio; PSR after one trial">"DSR"</th><th class="num">"Max DD"</th><th class="num">"Calmar"</th><th class="num">"Final"</th></tr></thead>
            <tbody>
                <MetricsRow name="this strategy" m=m id="bt-row-strategy" />
                <MetricsRow name="buy & hold" m=b.buy_and_hold />
                <MetricsRow name="technical rule" m=b.technical />
                <MetricsRow name="random entries" m=b.random />
            </tbody>
        </table>
        {(!rejections.is_empty()).then(|| view! { <p class="muted small">{format!("Rejected candidates: {rejections}")}</p> })}
        <h2>"Equity"</h2>
        <LineChart series=equity id="bt-equity" />
        <h2>"Drawdown"</h2>
        <LineChart series=drawdown height=120.0 id="bt-drawdown" />
        <div class="panel-head">
            <h2>{format!("Trades ({total})")}</h2>
            <a href=format!("/api/v1/backtests/{id}/trades.csv") id="bt-csv" download>"Export CSV"</a>
        </div>
        <table class="grid" id="bt-trades">
            <thead><tr><th>"Symbol"</th><th>"Side"</th><th>"Entry (UTC)"</th><th class="num">"Entry"</th><th class="num">"Stop"</th><th class="num">"Lev."</th><th>"Exit (UTC)"</th><th>"Exit"</th><th class="num">"P&L"</th><th class="num">"Return"</th></tr></thead>
            <tbody>
                {o.trades.iter().rev().take(100).map(|t| {
                    let side = format!("{:?}", t.side).to_lowercase();
                    let exit = serde_json::to_value(t.exit_reason).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
                    view! {
                        <tr class="bt-trade">
                            <td>{t.symbol.clone()}</td>
                            <td class=format!("side {side}")>{side.clone()}</td>
                            <td>{format_utc(t.entry_time)}</td>
                            <td class="num">{price(t.entry_price)}</td>
                            <td class="num">{price(t.initial_stop)}</td>
                            <td class="num">{format!("{:.1}×", t.leverage)}</td>
                            <td>{format_utc(t.exit_time)}</td>
                            <td>{exit}</td>
                            <td class={if t.pnl >= 0.0 { "num ok" } else { "num error" }}>{format!("{:+.2}", t.pnl)}</td>
                            <td class="num">{format!("{:+.2} %", t.return_pct)}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        {(total > 100).then(|| view! { <p class="muted small">"The newest 100 are shown; the CSV has them all."</p> })}
    }
}
