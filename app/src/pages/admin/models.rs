//! `/admin/models` — the registry: every model with its walk-forward
//! numbers, promote, roll back, download; registry decisions and drift
//! reports with their numbers.

use crate::types::{AppError, ModelEventView, ModelView, RegistryDecision, format_utc};
use crate::{csrf_token, human_bytes, use_viewer};
use leptos::prelude::*;

#[server]
pub async fn load_registry() -> Result<(Vec<ModelView>, Vec<ModelEventView>), AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(None)?;
            Ok((b.models(&v).await?, b.model_events(&v, 100).await?))
        }
        .await,
    )
}

#[server]
pub async fn promote_model(csrf: String, id: i64) -> Result<RegistryDecision, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(Some(&csrf))?;
            b.promote_model(&v, id).await
        }
        .await,
    )
}

#[server]
pub async fn rollback_model(
    csrf: String,
    scope: String,
    timeframe: String,
) -> Result<RegistryDecision, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(Some(&csrf))?;
            b.rollback_model(&v, crate::types::RollbackRequest { scope, timeframe })
                .await
        }
        .await,
    )
}

fn opt(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.4}"))
}

/// A drift check's or decision's numbers in a line.
fn event_line(e: &ModelEventView) -> String {
    let d = &e.detail;
    let f = |p: &str| d.pointer(p).and_then(|v| v.as_f64());
    match e.action.as_str() {
        "drift_check" => {
            let worst = |k: &str| {
                let col = d
                    .pointer(&format!("/{k}/column"))
                    .and_then(|v| v.as_str())
                    .unwrap_or("?");
                f(&format!("/{k}/value")).map_or("–".into(), |v| format!("{v:.3} ({col})"))
            };
            let drifted = d
                .get("columns")
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            let retrain = d.get("retrain_job").and_then(|v| v.as_i64());
            format!(
                "max PSI {} · max KS {}{}{}",
                worst("max_psi"),
                worst("max_ks"),
                if drifted.is_empty() {
                    " · no drift".to_string()
                } else {
                    format!(" · drifted: {drifted}")
                },
                retrain
                    .map(|j| format!(" · retraining job {j}"))
                    .unwrap_or_default()
            )
        }
        _ if d.get("reason").is_some() => d["reason"].as_str().unwrap_or_default().to_owned(),
        "registered" => format!(
            "v{} · walk-forward log loss {}",
            d["version"],
            f("/wf_log_loss").map_or("– (no folds)".into(), |v| format!("{v:.4}"))
        ),
        "rolled_back" => format!(
            "v{} → v{}",
            d.pointer("/from/version").unwrap_or(&d["from"]),
            d.pointer("/to/version").unwrap_or(&d["to"])
        ),
        "pruned" => format!(
            "v{}: files removed (the newest {} are kept)",
            d["version"], d["keep"]
        ),
        _ => {
            let text = d.to_string();
            if text.chars().count() > 160 {
                text.chars().take(157).chain(['…']).collect()
            } else {
                text
            }
        }
    }
}

#[component]
pub fn ModelsPage() -> impl IntoView {
    let viewer = use_viewer();
    let csrf = move || viewer.get().map(|v| csrf_token(&v)).unwrap_or_default();
    let promote = ServerAction::<PromoteModel>::new();
    let rollback = ServerAction::<RollbackModel>::new();
    let registry = Resource::new(
        move || (promote.version().get(), rollback.version().get()),
        |_| load_registry(),
    );
    view! {
        <section class="panel" id="models">
            <div class="panel-head"><h1>"Models"</h1></div>
            <p class="summary">"One active model per scope and timeframe serves the signals. Walk-forward numbers are pooled over the out-of-sample folds; lower log loss is better."</p>
            {move || promote.value().get().or_else(|| rollback.value().get()).map(|r| match r {
                Ok(d) => view! { <p class="ok" id="registry-result">{format!("v{} {}: {}", d.model.version, d.model.status, d.reason)}</p> }.into_any(),
                Err(e) => view! { <p class="error" id="registry-error">{e.message}</p> }.into_any(),
            })}
            <Transition fallback=|| view! { <p class="empty">"Loading the registry…"</p> }>
                {move || registry.get().map(|r| match r {
                    Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                    Ok((models, events)) => view! {
                        {if models.is_empty() {
                            view! { <p class="empty">"No models yet: start a training run."</p> }.into_any()
                        } else {
                            view! {
                                <table class="grid" id="models-table">
                                    <thead><tr><th class="num">"#"</th><th>"Scope"</th><th>"TF"</th><th class="num">"Version"</th><th>"Status"</th><th class="num">"WF log loss"</th><th class="num">"WF bal. acc."</th><th class="num">"ZIP"</th><th>"Created (UTC)"</th><th></th></tr></thead>
                                    <tbody>
                                        {models.into_iter().map(|m| {
                                            let id = m.id;
                                            let (scope, tf) = (m.scope.clone(), m.timeframe.clone());
                                            let active = m.status == "active";
                                            let servable = !matches!(m.status.as_str(), "active" | "pruned");
                                            view! {
                                                <tr class="model-row" data-model=id data-status=m.status.clone()>
                                                    <td class="num">{id}</td>
                                                    <td class="sym">{m.scope.clone()}</td>
                                                    <td>{m.timeframe.clone()}</td>
                                                    <td class="num">{format!("v{}", m.version)}</td>
                                                    <td class="status">{m.status.clone()}</td>
                                                    <td class="num">{opt(m.wf_log_loss)}</td>
                                                    <td class="num">{opt(m.wf_balanced_accuracy)}</td>
                                                    <td class="num" title=m.zip_sha256.clone()>{human_bytes(m.zip_bytes as f64)}</td>
                                                    <td>{format_utc(m.created_at)}</td>
                                                    <td class="actions">
                                                        {servable.then(|| view! {
                                                            <button class="link" on:click=move |_| { promote.dispatch(PromoteModel { csrf: csrf(), id }); }>"Promote"</button>
                                                        })}
                                                        {active.then(|| view! {
                                                            <button class="link danger" on:click=move |_| { rollback.dispatch(RollbackModel { csrf: csrf(), scope: scope.clone(), timeframe: tf.clone() }); }>"Roll back"</button>
                                                        })}
                                                        {(m.status != "pruned").then(|| view! {
                                                            <a href=format!("/api/v1/models/{id}/download") download>"Download"</a>
                                                        })}
                                                    </td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            }.into_any()
                        }}
                        <h2>"Decisions and drift reports"</h2>
                        {if events.is_empty() {
                            view! { <p class="empty">"Nothing decided yet."</p> }.into_any()
                        } else {
                            view! {
                                <table class="grid" id="model-events">
                                    <thead><tr><th>"When (UTC)"</th><th>"Scope"</th><th>"TF"</th><th class="num">"Model"</th><th>"Action"</th><th>"Numbers"</th></tr></thead>
                                    <tbody>
                                        {events.into_iter().map(|e| view! {
                                            <tr class="model-event" data-action=e.action.clone()>
                                                <td>{format_utc(e.at)}</td>
                                                <td>{e.scope.clone()}</td>
                                                <td>{e.timeframe.clone()}</td>
                                                <td class="num">{e.model_id.map(|m| m.to_string()).unwrap_or_default()}</td>
                                                <td>{e.action.clone()}</td>
                                                <td class="detail">{event_line(&e)}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            }.into_any()
                        }}
                    }.into_any(),
                })}
            </Transition>
        </section>
    }
}
