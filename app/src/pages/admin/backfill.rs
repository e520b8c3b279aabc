//! `/admin/backfill` — start a backfill from an exchange and watch it live:
//! candles, rate, ETA; cancel and resume.

// The form's server function takes one argument per field (so the form
// also works before hydration).
#![allow(clippy::too_many_arguments)]

use super::jobs::{CancelJob, ProgressBar, ResumeJob, apply, detail_line};
use crate::live::use_live;
use crate::types::{AppError, JobView};
use crate::{csrf_token, use_viewer};
use leptos::prelude::*;

#[server]
pub async fn start_backfill(
    csrf: String,
    market: String,
    symbols: String,
    timeframe: String,
    from: String,
    to: String,
    base_url: String,
    universe: Option<String>,
) -> Result<JobView, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(Some(&csrf))?;
            let universe = universe.filter(|u| !u.trim().is_empty());
            let req = crate::types::BackfillRequest {
                // A universe's tickers come from the exchange it is stored under.
                exchange: if universe.is_some() {
                    "stocks"
                } else {
                    "binance"
                }
                .into(),
                universe,
                market,
                symbols: symbols
                    .split([',', ' '])
                    .filter(|s| !s.trim().is_empty())
                    .map(str::to_owned)
                    .collect(),
                timeframe,
                from,
                to: Some(to),
                base_url: Some(base_url),
            };
            b.start_backfill(&v, req).await
        }
        .await,
    )
}

#[server]
pub async fn get_job(id: i64) -> Result<JobView, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(None)?;
            b.job(&v, id).await
        }
        .await,
    )
}

#[component]
pub fn BackfillPage() -> impl IntoView {
    let viewer = use_viewer();
    let live = use_live();
    let csrf = move || viewer.get().map(|v| csrf_token(&v)).unwrap_or_default();
    let start = ServerAction::<StartBackfill>::new();
    let cancel = ServerAction::<CancelJob>::new();
    let resume = ServerAction::<ResumeJob>::new();
    let started = move || start.value().get().and_then(|r| r.ok()).map(|j| j.id);
    // The started job, refetched on reconnect and after cancel/resume; live events on top.
    let job = Resource::new(
        move || {
            (
                started(),
                live.resync.get(),
                cancel.version().get(),
                resume.version().get(),
            )
        },
        |(id, ..)| async move {
            match id {
                Some(id) => get_job(id).await.map(Some),
                None => Ok(None),
            }
        },
    );
    let current = Memo::new(move |_| {
        let j = job.get().and_then(|r| r.ok()).flatten()?;
        let ev = live.job.get().filter(|e| e.id == j.id);
        Some(apply(j, ev.as_ref()))
    });
    view! {
        <section class="panel" id="backfill">
            <div class="panel-head"><h1>"Backfill from Binance"</h1></div>
            <p class="summary">"Fetches only the missing ranges, resumable after any interruption; the weight limit of the venue is respected."</p>
            <ActionForm action=start attr:class="grid-form" attr:id="backfill-form">
                <input type="hidden" name="csrf" value=csrf />
                <label>"Market"
                    <select name="market" id="bf-market">
                        <option value="spot" selected>"spot"</option>
                        <option value="futures">"USDⓈ-M futures"</option>
                    </select>
                </label>
                <label>"Symbols" <input name="symbols" id="bf-symbols" placeholder="BTC/USDT, ETH/USDT" /></label>
                <label>"Or a universe"
                    <select name="universe" id="bf-universe">
                        <option value="" selected>"— the symbols, from Binance —"</option>
                        {crate::types::SHIPPED_UNIVERSES.into_iter().map(|(n, d)| view! { <option value=n>{format!("{n}: {d} (stock providers)")}</option> }).collect_view()}
                    </select>
                </label>
                <label>"Timeframe"
                    <select name="timeframe" id="bf-timeframe">
                        {["1m", "5m", "15m", "1h", "4h", "1d"].into_iter().map(|t| view! { <option value=t selected=t == "15m">{t}</option> }).collect_view()}
                    </select>
                </label>
                <label>"From (UTC)" <input name="from" id="bf-from" placeholder="2024-01-01" required /></label>
                <label>"To (UTC, empty = now)" <input name="to" id="bf-to" placeholder="2024-02-01" /></label>
                <label>"Endpoint (optional)" <input name="base_url" id="bf-base-url" placeholder="https://api.binance.com" /></label>
                <button type="submit" id="bf-start" disabled=move || start.pending().get()>"Start backfill"</button>
            </ActionForm>
            {move || start.value().get().and_then(|r| r.err()).map(|e| view! {
                <p class="error" id="bf-error">{e.message}{e.field.map(|f| format!(" (field: {f})"))}</p>
            })}
        </section>
        {move || current.get().map(|j| {
            let id = j.id;
            let finished = j.is_finished();
            let resumable = matches!(j.status.as_str(), "failed" | "cancelled");
            view! {
                <section class="panel" id="bf-job" data-job=id data-status=j.status.clone()>
                    <div class="panel-head">
                        <h1>{format!("Job #{id}")}</h1>
                        <span class="status">{j.status.clone()}</span>
                    </div>
                    <ProgressBar progress=Signal::derive(move || current.get().map(|j| j.progress).unwrap_or(0.0))
                        status=Signal::derive(move || current.get().map(|j| j.status).unwrap_or_default()) />
                    <p class="detail" id="bf-detail">{detail_line(&j)}</p>
                    {j.error.clone().map(|e| view! { <p class="error">{e}</p> })}
                    <div class="actions">
                        <Show when=move || !finished>
                            <button id="bf-cancel" on:click=move |_| { cancel.dispatch(CancelJob { csrf: csrf(), id }); }>"Cancel"</button>
                        </Show>
                        <Show when=move || resumable>
                            <button id="bf-resume" on:click=move |_| { resume.dispatch(ResumeJob { csrf: csrf(), id }); }>"Resume"</button>
                        </Show>
                    </div>
                </section>
            }
        })}
    }
}
