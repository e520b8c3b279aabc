//! `/admin/system` — CPU, memory, database size, queue depth, uptime, version.

use crate::types::{AppError, SystemStatus, format_utc};
use crate::{human_bytes, human_duration};
use leptos::prelude::*;

#[server]
pub async fn load_system() -> Result<SystemStatus, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(None)?;
            b.system(&v).await
        }
        .await,
    )
}

#[component]
pub fn SystemPage() -> impl IntoView {
    let tick = RwSignal::new(0u64);
    // Refresh every 5 s while the page is open (browser only).
    #[cfg(feature = "hydrate")]
    {
        let handle = set_interval_with_handle(
            move || tick.update(|t| *t += 1),
            std::time::Duration::from_secs(5),
        );
        on_cleanup(move || {
            if let Ok(h) = handle {
                h.clear();
            }
        });
    }
    let status = Resource::new(move || tick.get(), |_| load_system());
    view! {
        <section class="panel" id="system">
            <div class="panel-head"><h1>"System"</h1></div>
            <Transition fallback=|| view! { <p class="empty">"Measuring…"</p> }>
                {move || status.get().map(|r| match r {
                    Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                    Ok(s) => view! {
                        <div class="cards">
                            <Card label="Version" value=s.version.clone() />
                            <Card label="Uptime" value=human_duration(s.uptime_s as f64) />
                            <Card label="CPU" value=format!("{:.0} % of {} cores", s.cpu_pct, s.cpus) />
                            <Card label="Memory" value=format!("{} / {}", human_bytes(s.memory_used_bytes as f64), human_bytes(s.memory_total_bytes as f64)) />
                            <Card label="Server RSS" value=human_bytes(s.process_rss_bytes as f64) />
                            <Card label="Database" value=human_bytes(s.database_bytes as f64) />
                            <Card label="Candles" value=format!("{} in {} series", s.candles, s.series) />
                            <Card label="Queue" value=format!("{} queued · {} running", s.queued_jobs, s.running_jobs) />
                            <Card label="Users" value=s.users.to_string() />
                            <Card label="Live clients" value=s.ws_clients.to_string() />
                        </div>
                        <h2>"Followed series"</h2>
                        {if s.follow.is_empty() {
                            view! { <p class="empty" id="follow-empty">"Nothing is followed ([follow] in the config)."</p> }.into_any()
                        } else {
                            view! {
                                <div class="table-wrap"><table class="grid" id="follow-table">
                                    <thead><tr><th>"Series"</th><th>"Role"</th><th>"State"</th><th>"Newest bar (UTC)"</th><th>"Why"</th></tr></thead>
                                    <tbody>
                                        {s.follow.iter().map(|f| view! {
                                            <tr class="follow-row" data-state=f.state.clone()>
                                                <td class="sym">{f.series.clone()}{f.demo.then_some(" (demo)")}</td>
                                                <td>{f.role.clone()}</td>
                                                <td class="state">{f.state.replace('_', " ")}</td>
                                                <td>{f.newest.map(format_utc).unwrap_or_else(|| "–".into())}</td>
                                                <td class="reason">{match (&f.reason, f.since) {
                                                    (Some(r), Some(t)) => format!("{r} (since {})", format_utc(t)),
                                                    (Some(r), None) => r.clone(),
                                                    _ => String::new(),
                                                }}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table></div>
                            }.into_any()
                        }}
                    }.into_any(),
                })}
            </Transition>
        </section>
    }
}

#[component]
fn Card(label: &'static str, value: String) -> impl IntoView {
    view! {
        <div class="card">
            <div class="card-label">{label}</div>
            <div class="card-value">{value}</div>
        </div>
    }
}
