//! `/admin/evaluate` — does the edge survive? Queue `traderai evaluate` as a
//! job, watch its folds train, then read the held-out answer: each
//! strategy's trades, TP1 hit rate with its interval, win rate, profit
//! factor, Sharpe, deflated Sharpe and drawdown beside buy-and-hold and
//! random entries, PBO, and the verdict in sentences.

// One argument per form field (the form works before hydration).
#![allow(clippy::too_many_arguments)]

use super::jobs::{CancelJob, ProgressBar, apply, epoch_line};
use crate::live::use_live;
use crate::types::{AppError, JobView, format_utc};
use crate::{csrf_token, use_viewer};
use leptos::prelude::*;
use serde_json::Value;

#[server]
pub async fn start_evaluation(
    csrf: String,
    symbols: String,
    timeframe: String,
    max_epochs: Option<usize>,
    folds: Option<usize>,
    backend: String,
    universe: Option<String>,
    transformer: Option<String>,
    barrier: Option<String>,
) -> Result<JobView, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(Some(&csrf))?;
            let r = crate::types::EvaluateRequest {
                symbols: symbols
                    .split([',', ' '])
                    .filter(|s| !s.trim().is_empty())
                    .map(str::to_owned)
                    .collect(),
                timeframe,
                max_epochs,
                folds,
                backend: Some(backend),
                universe: universe.filter(|u| !u.trim().is_empty()),
                transformer: transformer.is_some(),
                // "2, 1" as typed reads as 2,1 (the API itself takes no spaces).
                barrier: barrier.map(|b| b.replace(' ', "")),
            };
            b.start_evaluation(&v, r).await
        }
        .await,
    )
}

#[server]
pub async fn list_evaluations() -> Result<Vec<JobView>, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(None)?;
            let mut jobs = b.jobs(&v, 200).await?;
            jobs.retain(|j| j.kind == "evaluate");
            Ok(jobs)
        }
        .await,
    )
}

#[server]
pub async fn load_evaluation(id: i64) -> Result<JobView, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(None)?;
            b.job(&v, id).await
        }
        .await,
    )
}

fn num(v: &Value, digits: usize) -> String {
    v.as_f64()
        .map_or("–".to_string(), |x| format!("{x:.digits$}"))
}

/// A finished evaluation's one-line summary (the runs table).
fn summary_line(d: &Value) -> String {
    let Some(strategies) = d.get("strategies").and_then(|s| s.as_array()) else {
        return epoch_line(d);
    };
    strategies
        .iter()
        .map(|s| {
            format!(
                "{} {} trades",
                s["name"].as_str().unwrap_or("?"),
                s["metrics"]["trades"].as_u64().unwrap_or(0)
            )
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

#[component]
pub fn EvaluatePage() -> impl IntoView {
    let live = use_live();
    let viewer = use_viewer();
    let csrf = move || viewer.get().map(|v| csrf_token(&v)).unwrap_or_default();
    let start = ServerAction::<StartEvaluation>::new();
    let cancel = ServerAction::<CancelJob>::new();
    let runs = Resource::new(
        move || {
            (
                start.version().get(),
                cancel.version().get(),
                live.resync.get(),
            )
        },
        |_| list_evaluations(),
    );
    let selected = RwSignal::new(None::<i64>);
    Effect::new(move |_| {
        if let Some(Ok(j)) = start.value().get() {
            selected.set(Some(j.id));
        }
    });
    view! {
        <section class="panel" id="evaluate">
            <div class="panel-head"><h1>"Evaluate"</h1></div>
            <p class="summary">"Does the edge survive? The walk-forward trains on each fold's past; only the held-out windows are then traded — by the model, the hybrid and the calibrated technical rule, with the configured costs and the product's gates — beside buy-and-hold and random entries at each strategy's rate. Deflated Sharpe counts every configuration tried on the data; PBO ranks the strategies' returns."</p>
            <ActionForm action=start attr:class="grid-form" attr:id="eval-form">
                <input type="hidden" name="csrf" value=csrf />
                <label>"Symbols"<input name="symbols" id="eval-symbols" value="BTC/USD" /></label>
                <label>"And a universe"
                    <select name="universe" id="eval-universe">
                        <option value="" selected>"— the symbols only —"</option>
                        {crate::types::SHIPPED_UNIVERSES.into_iter().map(|(n, d)| view! { <option value=n>{format!("{n}: {d}")}</option> }).collect_view()}
                    </select>
                </label>
                <label>"Timeframe"
                    <select name="timeframe" id="eval-timeframe">
                        {["15m", "1h", "4h", "1d"].into_iter().map(|t| view! { <option value=t selected=t == "1d">{t}</option> }).collect_view()}
                    </select>
                </label>
                <label>"Max epochs"<input type="number" name="max_epochs" id="eval-epochs" min="1" max="500" value="80" /></label>
                <label>"Walk-forward folds"<input type="number" name="folds" id="eval-folds" min="1" max="10" value="3" /></label>
                <label>"Backend"
                    <select name="backend" id="eval-backend">
                        <option value="libtorch" selected>"libtorch"</option>
                        <option value="flex">"flex (pure Rust)"</option>
                    </select>
                </label>
                <label><input type="checkbox" name="transformer" id="eval-transformer" value="on" />"Sequence transformer as a third member"</label>
                <label>"Triple-barrier labels"<input type="text" name="barrier" id="eval-barrier" placeholder="upper,lower ATRs, e.g. 2,1 (empty: direction labels)" /></label>
                <button type="submit" id="eval-start" disabled=move || start.pending().get()>"Evaluate"</button>
            </ActionForm>
            {move || start.value().get().and_then(|r| r.err()).map(|e| view! {
                <p class="error" id="eval-error">{e.message}{e.field.map(|f| format!(" ({f})"))}</p>
            })}
            <Transition fallback=|| view! { <p class="empty">"Loading…"</p> }>
                {move || runs.get().map(|r| match r {
                    Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                    Ok(jobs) if jobs.is_empty() => view! { <p class="empty">"No evaluations yet."</p> }.into_any(),
                    Ok(jobs) => view! {
                        <table class="grid" id="eval-runs">
                            <thead><tr><th class="num">"#"</th><th>"Symbols"</th><th>"Timeframe"</th><th>"Status"</th><th>"Progress"</th><th>"Detail"</th><th>"Created (UTC)"</th><th></th></tr></thead>
                            <tbody>
                                {jobs.into_iter().map(|j| {
                                    let id = j.id;
                                    let base = j.clone();
                                    let current = Memo::new(move |_| apply(base.clone(), live.job.read().as_ref().filter(|e| e.id == id)));
                                    let symbols = j.params["symbols"].as_array().map(|a| a.iter().filter_map(|s| s.as_str()).collect::<Vec<_>>().join(", ")).unwrap_or_default();
                                    let tf = j.params["timeframe"].as_str().unwrap_or("").to_string();
                                    view! {
                                        <tr class="eval-run" data-job=id data-status=move || current.read().status.clone() on:click=move |_| selected.set(Some(id))>
                                            <td class="num">{id}</td>
                                            <td>{symbols}</td>
                                            <td>{tf}</td>
                                            <td class="status">{move || current.read().status.clone()}</td>
                                            <td><ProgressBar progress=Signal::derive(move || current.read().progress) status=Signal::derive(move || current.read().status.clone()) /></td>
                                            <td class="detail">{move || summary_line(&current.read().detail)}{j.error.clone().map(|e| view! { <div class="error small">{e}</div> })}</td>
                                            <td>{format_utc(j.created_at)}</td>
                                            <td>
                                                <Show when=move || !current.read().is_finished()>
                                                    <button class="link danger" on:click=move |ev| { ev.stop_propagation(); cancel.dispatch(CancelJob { csrf: csrf(), id }); }>"Cancel"</button>
                                                </Show>
                                            </td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                })}
            </Transition>
        </section>
        {move || selected.get().map(|id| view! { <Answer id /> })}
    }
}

/// One evaluation: its epochs while it trains, the held-out answer once done.
#[component]
fn Answer(id: i64) -> impl IntoView {
    let live = use_live();
    let job = Resource::new(
        move || (id, live.resync.get()),
        |(id, _)| load_evaluation(id),
    );
    let detail = RwSignal::new(None::<Value>);
    Effect::new(move |_| {
        if let Some(Ok(j)) = job.get() {
            detail.set(Some(j.detail));
        }
    });
    Effect::new(move |_| {
        if let Some(ev) = live.job.get().filter(|e| e.id == id) {
            match ev.detail {
                Some(d) => detail.set(Some(d)),
                // Too large for the notification (a finished evaluation): read the row.
                None => job.refetch(),
            }
        }
    });
    view! {
        <section class="panel" id="eval-answer" data-job=id>
            <div class="panel-head"><h1>{format!("Evaluation #{id}")}</h1></div>
            {move || {
                let d = detail.get().unwrap_or_default();
                let Some(strategies) = d.get("strategies").and_then(|s| s.as_array()).cloned() else {
                    let line = epoch_line(&d);
                    return view! { <p class="empty" id="eval-waiting">{if line.is_empty() { "Waiting for the first epoch…".to_string() } else { line }}</p> }.into_any();
                };
                let held = &d["held_out"];
                let c = &d["classification"];
                let t = &d["target"];
                let labels = match t["barrier"].as_object() {
                    Some(b) => {
                        let w = |k: &str| b.get(k).and_then(Value::as_f64).map_or("?".into(), |x| x.to_string());
                        format!("triple-barrier labels (+{} / −{} ATR, {} bars)", w("upper_atr"), w("lower_atr"), t["horizon"])
                    },
                    None => format!("direction labels (±{} % in {} bars)", num(&t["threshold_pct"], 2), t["horizon"]),
                };
                let head = format!(
                    "{} {}, {labels}: {} held-out bars, {} predictions; accuracy {}, balanced {}, log loss {} (class prior {}); {} trials counted",
                    d["symbols"].as_array().map(|a| a.iter().filter_map(|s| s.as_str()).collect::<Vec<_>>().join(", ")).unwrap_or_default(),
                    d["timeframe"].as_str().unwrap_or(""),
                    held["bars"], held["predictions"],
                    num(&c["accuracy"], 3), num(&c["balanced_accuracy"], 3), num(&c["log_loss"], 3),
                    num(&d["prior_baseline"]["log_loss"], 3),
                    d["trials"],
                );
                let row = |name: String, m: &Value, interval: Option<String>| view! {
                    <tr class="eval-strategy" data-name=name.clone()>
                        <td>{name.clone()}</td>
                        <td class="num">{m["trades"].as_u64().unwrap_or(0)}</td>
                        <td class="num">{num(&m["tp1_hit_rate"], 3)}</td>
                        <td class="num">{interval.unwrap_or_default()}</td>
                        <td class="num">{num(&m["win_rate"], 3)}</td>
                        <td class="num">{num(&m["profit_factor"], 2)}</td>
                        <td class="num">{num(&m["sharpe"], 2)}</td>
                        <td class="num">{num(&m["deflated_sharpe"], 3)}</td>
                        <td class="num">{format!("{} %", num(&m["total_return_pct"], 2))}</td>
                        <td class="num">{format!("{} %", num(&m["max_drawdown_pct"], 2))}</td>
                    </tr>
                };
                let mut rows = Vec::new();
                for s in &strategies {
                    let name = s["name"].as_str().unwrap_or("?").to_string();
                    let interval = s["tp1_hit_interval"].as_array().map(|a| format!("{}–{}", num(&a[0], 2), num(&a[1], 2)));
                    rows.push(row(name.clone(), &s["metrics"], interval));
                    if s["metrics"]["trades"].as_u64().unwrap_or(0) > 0 {
                        rows.push(row(format!("random at {name}'s rate"), &s["random"], None));
                    }
                }
                rows.push(row("buy & hold".to_string(), &d["buy_and_hold"], None));
                let pbo = match (d["pbo"]["pbo"].as_f64(), d["pbo_error"].as_str()) {
                    (Some(p), _) => format!("PBO {p:.2} over {} strategies", d["pbo"]["trials"]),
                    (None, Some(e)) => format!("No PBO: {e}"),
                    _ => String::new(),
                };
                let verdict: Vec<String> = d["verdict"].as_array().map(|v| v.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect()).unwrap_or_default();
                let hashes = format!(
                    "data {} · predictions {} · code {}",
                    d["data_sha256"].as_str().map(|s| &s[..12.min(s.len())]).unwrap_or(""),
                    d["predictions_sha256"].as_str().map(|s| &s[..12.min(s.len())]).unwrap_or(""),
                    d["code_version"].as_str().unwrap_or("")
                );
                view! {
                    <p class="summary" id="eval-head">{head}</p>
                    <table class="grid" id="eval-result">
                        <thead><tr><th>"Strategy"</th><th class="num">"Trades"</th><th class="num">"TP1 hit"</th><th class="num">"95 % interval"</th><th class="num">"Win"</th><th class="num">"PF"</th><th class="num">"Sharpe"</th><th class="num">"DSR"</th><th class="num">"Return"</th><th class="num">"Max DD"</th></tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                    <p class="summary" id="eval-pbo">{pbo}</p>
                    <ul id="eval-verdict">{verdict.into_iter().map(|v| view! { <li>{v}</li> }).collect_view()}</ul>
                    <p class="small muted" id="eval-hashes">{hashes}</p>
                }.into_any()
            }}
        </section>
    }
}
