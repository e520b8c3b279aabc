//! `/admin/jobs` — every job with status, progress, errors and retries,
//! updated live over the WebSocket.

use crate::live::use_live;
use crate::types::{AppError, JobEvent, JobView, format_utc};
use crate::{csrf_token, human_duration, use_viewer};
use leptos::prelude::*;
use std::collections::HashMap;

#[server]
pub async fn list_jobs(limit: i64) -> Result<Vec<JobView>, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(None)?;
            b.jobs(&v, limit).await
        }
        .await,
    )
}

#[server]
pub async fn cancel_job(csrf: String, id: i64) -> Result<JobView, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(Some(&csrf))?;
            b.cancel_job(&v, id).await
        }
        .await,
    )
}

#[server]
pub async fn resume_job(csrf: String, id: i64) -> Result<JobView, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(Some(&csrf))?;
            b.resume_job(&v, id).await
        }
        .await,
    )
}

/// A job with the newest live event applied.
pub fn apply(mut j: JobView, ev: Option<&JobEvent>) -> JobView {
    if let Some(ev) = ev {
        j.status = ev.status.clone();
        j.progress = ev.progress;
        if let Some(d) = &ev.detail {
            j.detail = d.clone();
        }
    }
    j
}

/// The job's own numbers in a line: a backfill's candles, rate and ETA, a
/// training's epoch and losses.
pub fn detail_line(j: &JobView) -> String {
    let d = &j.detail;
    let num = |k: &str| d.get(k).and_then(|v| v.as_f64());
    match j.kind.as_str() {
        "backfill" => {
            let mut parts = Vec::new();
            // Running: done of planned; finished: the summary's counts.
            if let (Some(done), Some(planned)) = (num("done"), num("planned")) {
                parts.push(format!("{done:.0} / {planned:.0} candles"));
            } else if let Some(stored) = num("stored") {
                parts.push(format!("{stored:.0} candles stored"));
                if let Some(fetched) = num("fetched") {
                    parts.push(format!("{fetched:.0} fetched"));
                }
            }
            if let Some(rate) = num("candles_per_s") {
                parts.push(format!("{rate:.0} /s"));
            }
            if !j.is_finished()
                && let Some(eta) = num("eta_s")
            {
                parts.push(format!("ETA {}", human_duration(eta)));
            }
            parts.join(" · ")
        }
        "train" => train_line(d),
        "tune" => tune_line(d),
        "evaluate" => d
            .get("verdict")
            .and_then(|v| v.as_array())
            .and_then(|v| v.first())
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| epoch_line(d)),
        "backtest" => d
            .pointer("/report/metrics")
            .map(|m| {
                let f = |k: &str| m.get(k).and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
                format!(
                    "{:.0} trades · return {:+.2} % · max DD {:.2} %",
                    f("trades"),
                    f("total_return_pct"),
                    f("max_drawdown_pct")
                )
            })
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// A training job's line: the stage and epoch with its validation numbers
/// while it runs; what the registry decided once it is done.
pub fn train_line(d: &serde_json::Value) -> String {
    registry_line(d).unwrap_or_else(|| epoch_line(d))
}

/// A tune job's line: the trial in hand and its epoch while it runs; the
/// best trial, PBO and the registry's decision once the study is done.
pub fn tune_line(d: &serde_json::Value) -> String {
    if let Some(best) = d.get("best") {
        let mut parts = vec![format!(
            "best trial {} of {} · skill {:.4}",
            best.get("number").and_then(|v| v.as_u64()).unwrap_or(0),
            d.pointer("/trials/total")
                .and_then(|v| v.as_u64())
                .unwrap_or(0),
            best.get("objective")
                .and_then(|v| v.as_f64())
                .unwrap_or(f64::NAN)
        )];
        if let Some(p) = d.pointer("/pbo/pbo").and_then(|v| v.as_f64()) {
            parts.push(format!("PBO {p:.2}"));
        }
        if let Some(r) = d.pointer("/registry/reason").and_then(|v| v.as_str()) {
            parts.push(r.to_owned());
        }
        return parts.join(" · ");
    }
    let phase = match d.pointer("/phase/phase").and_then(|v| v.as_str()) {
        Some("trial") => format!(
            "trial {} of {}",
            d.pointer("/phase/trial")
                .and_then(|v| v.as_u64())
                .unwrap_or(0)
                + 1,
            d.get("trials").and_then(|v| v.as_u64()).unwrap_or(0)
        ),
        Some("best") => "training the best".to_owned(),
        _ => return String::new(),
    };
    format!("{phase} · {}", epoch_line(d))
}

/// What the registry decided about a finished run's models.
pub fn registry_line(d: &serde_json::Value) -> Option<String> {
    let reg = d.get("registry")?.as_array()?;
    Some(
        reg.iter()
            .map(|r| {
                let v = r
                    .pointer("/model/version")
                    .and_then(|v| v.as_i64())
                    .unwrap_or(0);
                let reason = r.get("reason").and_then(|v| v.as_str()).unwrap_or("");
                format!("v{v}: {reason}")
            })
            .collect::<Vec<_>>()
            .join(" · "),
    )
}

/// The newest epoch: stage, epoch of max, validation loss and accuracy.
pub fn epoch_line(d: &serde_json::Value) -> String {
    let Some(e) = d.get("epoch").filter(|e| e.is_object()) else {
        return String::new();
    };
    let n = |k: &str| e.get(k).and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
    let stage = match d.pointer("/stage/stage").and_then(|v| v.as_str()) {
        Some("fold") => format!(
            "fold {}",
            d.pointer("/stage/fold")
                .and_then(|v| v.as_u64())
                .unwrap_or(0)
                + 1
        ),
        Some(s) => s.to_owned(),
        None => String::new(),
    };
    format!(
        "{stage} · epoch {:.0}/{:.0} · val loss {:.4} · val acc {:.3}",
        n("epoch"),
        n("max_epochs"),
        n("val_loss"),
        n("val_accuracy")
    )
}

#[component]
pub fn ProgressBar(progress: Signal<f64>, status: Signal<String>) -> impl IntoView {
    view! {
        <div class="bar" data-status=move || status.get()>
            <div class="fill" style:width=move || format!("{:.1}%", progress.get().clamp(0.0, 1.0) * 100.0)></div>
            <span class="bar-label">{move || format!("{:.0} %", progress.get().clamp(0.0, 1.0) * 100.0)}</span>
        </div>
    }
}

#[component]
pub fn JobsPage() -> impl IntoView {
    let live = use_live();
    let viewer = use_viewer();
    let csrf = move || viewer.get().map(|v| csrf_token(&v)).unwrap_or_default();
    let cancel = ServerAction::<CancelJob>::new();
    let resume = ServerAction::<ResumeJob>::new();
    // Refetch on (re)connect, after lost events, and after our own actions.
    let jobs = Resource::new(
        move || {
            (
                live.resync.get(),
                cancel.version().get(),
                resume.version().get(),
            )
        },
        |_| list_jobs(200),
    );
    let events = RwSignal::new(HashMap::<i64, JobEvent>::new());
    Effect::new(move |_| {
        if let Some(ev) = live.job.get() {
            let known = jobs
                .get_untracked()
                .and_then(|r| r.ok())
                .is_some_and(|l| l.iter().any(|j| j.id == ev.id));
            if known {
                events.update(|m| {
                    m.insert(ev.id, ev);
                });
            } else {
                jobs.refetch();
            }
        }
    });
    view! {
        <section class="panel" id="jobs">
            <div class="panel-head"><h1>"Jobs"</h1></div>
            <Transition fallback=|| view! { <p class="empty">"Loading jobs…"</p> }>
                {move || jobs.get().map(|r| match r {
                    Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <p class="empty">"No jobs yet. Start a backfill or a training run."</p> }.into_any(),
                    Ok(list) => view! {
                        <table class="grid" id="jobs-table">
                            <thead><tr>
                                <th class="num">"#"</th><th>"Kind"</th><th>"Status"</th><th>"Progress"</th>
                                <th>"Detail"</th><th class="num">"Tries"</th><th>"Created (UTC)"</th><th></th>
                            </tr></thead>
                            <tbody>
                                {list.into_iter().map(|j| {
                                    let id = j.id;
                                    let base = j.clone();
                                    let current = Memo::new(move |_| apply(base.clone(), events.read().get(&id)));
                                    view! {
                                        <tr class="job-row" data-job=id data-status=move || current.read().status.clone()>
                                            <td class="num">{id}</td>
                                            <td>{j.kind.clone()}</td>
                                            <td class="status">{move || current.read().status.clone()}</td>
                                            <td><ProgressBar progress=Signal::derive(move || current.read().progress) status=Signal::derive(move || current.read().status.clone()) /></td>
                                            <td class="detail">
                                                {move || detail_line(&current.read())}
                                                {j.error.clone().map(|e| view! { <div class="error small">{e}</div> })}
                                            </td>
                                            <td class="num">{j.attempts}</td>
                                            <td>{format_utc(j.created_at)}</td>
                                            <td class="actions">
                                                <Show when=move || !current.read().is_finished()>
                                                    <button class="link danger" on:click=move |_| { cancel.dispatch(CancelJob { csrf: csrf(), id }); }>"Cancel"</button>
                                                </Show>
                                                <Show when=move || matches!(current.read().status.as_str(), "failed" | "cancelled")>
                                                    <button class="link" on:click=move |_| { resume.dispatch(ResumeJob { csrf: csrf(), id }); }>"Resume"</button>
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
            {move || cancel.value().get().and_then(|r| r.err()).or_else(|| resume.value().get().and_then(|r| r.err()))
                .map(|e| view! { <p class="error">{e.message}</p> })}
        </section>
    }
}
