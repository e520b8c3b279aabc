//! `/admin/training` — start a training run and watch its epochs stream in
//! (loss and accuracy curves of the current stage), cancel it.

// The form's server function takes one argument per field (so the form
// also works before hydration); the browser build's generated client
// function has them too.
#![allow(clippy::too_many_arguments)]

use super::jobs::{CancelJob, ProgressBar, apply, epoch_line, registry_line, train_line};
use crate::chart::LineChart;
use crate::live::use_live;
use crate::types::{AppError, JobView, SeriesCoverage, format_utc};
use crate::{csrf_token, use_viewer};
use leptos::prelude::*;

#[server]
pub async fn start_training(
    csrf: String,
    symbols: String,
    timeframe: String,
    max_epochs: Option<usize>,
    folds: Option<usize>,
    backend: String,
    promote: String,
    sentiment: Option<String>,
    macro_series: Option<String>,
    context: Option<String>,
    transformer: Option<String>,
    universe: Option<String>,
    barrier: Option<String>,
) -> Result<JobView, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(Some(&csrf))?;
            let r = crate::types::TrainRequest {
                symbols: symbols
                    .split([',', ' '])
                    .filter(|s| !s.trim().is_empty())
                    .map(str::to_owned)
                    .collect(),
                timeframe,
                max_epochs,
                folds,
                backend: Some(backend),
                promote: Some(promote),
                universe: universe.filter(|u| !u.trim().is_empty()),
                groups: [
                    ("sentiment", sentiment),
                    ("macro", macro_series),
                    ("context", context),
                ]
                .into_iter()
                .filter(|(_, on)| on.is_some())
                .map(|(g, _)| g.to_string())
                .collect(),
                transformer: transformer.is_some(),
                // "2, 1" as typed reads as 2,1 (the API itself takes no spaces).
                barrier: barrier.map(|b| b.replace(' ', "")),
            };
            b.start_training(&v, r).await
        }
        .await,
    )
}

#[server]
pub async fn list_trainings() -> Result<(Vec<JobView>, Vec<SeriesCoverage>), AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(None)?;
            let mut jobs = b.jobs(&v, 200).await?;
            jobs.retain(|j| j.kind == "train");
            Ok((jobs, b.coverage().await?))
        }
        .await,
    )
}

#[server]
pub async fn load_training(id: i64) -> Result<JobView, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(None)?;
            b.job(&v, id).await
        }
        .await,
    )
}

/// The stage's curves from the job detail: (epoch, train loss, val loss, train acc, val acc).
fn curve(d: &serde_json::Value) -> Vec<[f64; 5]> {
    d.get("curve")
        .and_then(|c| serde_json::from_value(c.clone()).ok())
        .unwrap_or_default()
}

#[component]
pub fn TrainingPage() -> impl IntoView {
    let live = use_live();
    let viewer = use_viewer();
    let csrf = move || viewer.get().map(|v| csrf_token(&v)).unwrap_or_default();
    let start = ServerAction::<StartTraining>::new();
    let cancel = ServerAction::<CancelJob>::new();
    // Reload after a run was queued, not after a refused one: the reload
    // redraws the form (it lives in the list's Transition) and would wipe
    // what the user is correcting.
    let started = RwSignal::new(0u32);
    let runs = Resource::new(
        move || (started.get(), cancel.version().get(), live.resync.get()),
        |_| list_trainings(),
    );
    let selected = RwSignal::new(None::<i64>);
    Effect::new(move |_| {
        if let Some(Ok(j)) = start.value().get() {
            selected.set(Some(j.id));
            started.update(|n| *n += 1);
        }
    });
    view! {
        <section class="panel" id="training">
            <div class="panel-head"><h1>"Training"</h1></div>
            <p class="summary">"One universal BiGRU-attention network (with boosted trees beside it) over the chosen stored series: purged walk-forward evaluation, then the final model, registered; it serves only if its walk-forward log loss is at least as good as the active model's (unless told otherwise)."</p>
            <Transition fallback=|| view! { <p class="empty">"Loading…"</p> }>
                {move || runs.get().map(|r| match r {
                    Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                    Ok((jobs, coverage)) => {
                        let daily: Vec<String> = coverage.iter().filter(|c| c.timeframe == "1d").map(|c| c.symbol.clone()).collect();
                        view! {
                            <ActionForm action=start attr:class="grid-form" attr:id="train-form">
                                <input type="hidden" name="csrf" value=csrf />
                                <label>"Symbols"<input name="symbols" id="train-symbols" value=daily.join(", ") /></label>
                                <label>"And a universe"
                                    <select name="universe" id="train-universe">
                                        <option value="" selected>"— the symbols only —"</option>
                                        {crate::types::SHIPPED_UNIVERSES.into_iter().map(|(n, d)| view! { <option value=n>{format!("{n}: {d}")}</option> }).collect_view()}
                                    </select>
                                </label>
                                <label>"Timeframe"
                                    <select name="timeframe" id="train-timeframe">
                                        {["15m", "1h", "4h", "1d"].into_iter().map(|t| view! { <option value=t selected=t == "1d">{t}</option> }).collect_view()}
                                    </select>
                                </label>
                                <label>"Max epochs"<input type="number" name="max_epochs" id="train-epochs" min="1" max="500" value="80" /></label>
                                <label>"Walk-forward folds"<input type="number" name="folds" id="train-folds" min="0" max="10" value="3" /></label>
                                <label>"Backend"
                                    <select name="backend" id="train-backend">
                                        <option value="libtorch" selected>"libtorch"</option>
                                        <option value="flex">"flex (pure Rust)"</option>
                                    </select>
                                </label>
                                <label>"Promote"
                                    <select name="promote" id="train-promote">
                                        <option value="if_better" selected>"if better"</option>
                                        <option value="always">"always"</option>
                                        <option value="never">"never"</option>
                                    </select>
                                </label>
                                <label><input type="checkbox" name="sentiment" id="train-sentiment" value="on" />"News and social sentiment"</label>
                                <label><input type="checkbox" name="macro_series" id="train-macro" value="on" />"Macro series (CPI, rates, VIX, unemployment)"</label>
                                <label><input type="checkbox" name="context" id="train-context" value="on" />"Context (higher timeframes' trend and RSI, the regime)"</label>
                                <label><input type="checkbox" name="transformer" id="train-transformer" value="on" />"Sequence transformer as a third member"</label>
                                <label>"Triple-barrier labels"<input type="text" name="barrier" id="train-barrier" placeholder="upper,lower ATRs, e.g. 2,1 (empty: direction labels)" /></label>
                                <button type="submit" id="train-start" disabled=move || start.pending().get()>"Start training"</button>
                            </ActionForm>
                            {if jobs.is_empty() {
                                view! { <p class="empty">"No training runs yet."</p> }.into_any()
                            } else {
                                view! {
                                    <table class="grid" id="train-runs">
                                        <thead><tr><th class="num">"#"</th><th>"Symbols"</th><th>"Status"</th><th>"Progress"</th><th>"Detail"</th><th>"Created (UTC)"</th><th></th></tr></thead>
                                        <tbody>
                                            {jobs.into_iter().map(|j| {
                                                let id = j.id;
                                                let base = j.clone();
                                                let current = Memo::new(move |_| apply(base.clone(), live.job.read().as_ref().filter(|e| e.id == id)));
                                                let symbols = j.params["symbols"].as_array().map(|a| a.iter().filter_map(|s| s.as_str()).collect::<Vec<_>>().join(", ")).unwrap_or_default();
                                                view! {
                                                    <tr class="train-run" data-job=id data-status=move || current.read().status.clone() on:click=move |_| selected.set(Some(id))>
                                                        <td class="num">{id}</td>
                                                        <td>{symbols}</td>
                                                        <td class="status">{move || current.read().status.clone()}</td>
                                                        <td><ProgressBar progress=Signal::derive(move || current.read().progress) status=Signal::derive(move || current.read().status.clone()) /></td>
                                                        <td class="detail">{move || train_line(&current.read().detail)}{j.error.clone().map(|e| view! { <div class="error small">{e}</div> })}</td>
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
                                }.into_any()
                            }}
                        }.into_any()
                    }
                })}
            </Transition>
            {move || start.value().get().and_then(|r| r.err()).map(|e| view! {
                <p class="error" id="train-error">{e.message}{e.field.map(|f| format!(" ({f})"))}</p>
            })}
        </section>
        {move || selected.get().map(|id| view! { <Curves id /> })}
    }
}

/// Loss and accuracy of the stage in progress, redrawn at every epoch.
#[component]
fn Curves(id: i64) -> impl IntoView {
    let live = use_live();
    let job = Resource::new(move || (id, live.resync.get()), |(id, _)| load_training(id));
    // The newest detail: pushed with each epoch, or read from the row when
    // the notification had to leave it out.
    let detail = RwSignal::new(None::<serde_json::Value>);
    Effect::new(move |_| {
        if let Some(Ok(j)) = job.get() {
            detail.set(Some(j.detail));
        }
    });
    Effect::new(move |_| {
        if let Some(ev) = live.job.get().filter(|e| e.id == id) {
            match ev.detail {
                Some(d) => detail.set(Some(d)),
                None => job.refetch(),
            }
        }
    });
    view! {
        <section class="panel" id="train-curves" data-job=id>
            <div class="panel-head"><h1>{format!("Training #{id}")}</h1></div>
            {move || {
                let d = detail.get().unwrap_or_default();
                let c = curve(&d);
                if c.is_empty() {
                    return view! { <p class="empty" id="no-epochs">{if d.get("registry").is_some() { train_line(&d) } else { "Waiting for the first epoch…".to_string() }}</p> }.into_any();
                }
                let t = |k: usize| c.iter().map(|r| (r[0] as i64, r[k])).collect::<Vec<_>>();
                let loss = vec![
                    ("train loss".to_string(), "equity", t(1)),
                    ("validation loss".to_string(), "drawdown", t(2)),
                ];
                let acc = vec![
                    ("train accuracy".to_string(), "equity", t(3)),
                    ("validation accuracy".to_string(), "drawdown", t(4)),
                ];
                view! {
                    <p class="summary" id="epoch-line" data-epochs=c.len()>{epoch_line(&d)}</p>
                    {registry_line(&d).map(|r| view! { <p class="ok" id="train-result">{r}</p> })}
                    <h2>"Loss"</h2>
                    <LineChart series=loss height=180.0 id="loss-chart" />
                    <h2>"Accuracy"</h2>
                    <LineChart series=acc height=180.0 id="acc-chart" />
                }.into_any()
            }}
        </section>
    }
}
