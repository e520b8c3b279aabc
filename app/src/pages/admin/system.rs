//! `/admin/system` — CPU, memory, database size, queue depth, uptime, version.

use crate::types::{AppError, FollowConfigView, SystemStatus, TradingHaltView, format_utc};
use crate::{csrf_token, human_bytes, human_duration, use_viewer};
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

#[server]
pub async fn load_follow() -> Result<FollowConfigView, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(None)?;
            b.follow_config(&v).await
        }
        .await,
    )
}

#[server]
pub async fn save_follow(
    csrf: String,
    enabled: Option<String>,
    market: String,
    symbols: String,
    timeframe: String,
    confirm: String,
) -> Result<FollowConfigView, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(Some(&csrf))?;
            // "BTC/USDT, ETH/USDT\nSOL/USDT" → entries.
            let entries = |s: &str| -> Vec<String> {
                s.split([',', ' ', '\n', '\t'])
                    .map(str::trim)
                    .filter(|x| !x.is_empty())
                    .map(str::to_owned)
                    .collect()
            };
            let e = crate::types::FollowEdit {
                enabled: enabled.is_some(),
                market,
                symbols: entries(&symbols),
                timeframe,
                confirm: entries(&confirm),
            };
            b.save_follow_config(&v, e).await
        }
        .await,
    )
}

/// The followed universe, editable: saving restarts the followers.
#[component]
fn FollowForm() -> impl IntoView {
    let viewer = use_viewer();
    let csrf = move || viewer.get().map(|v| csrf_token(&v)).unwrap_or_default();
    let save = ServerAction::<SaveFollow>::new();
    let config = Resource::new(move || save.version().get(), |_| load_follow());
    view! {
        <section class="panel" id="follow-config">
            <div class="panel-head"><h2>"Followed universe"</h2></div>
            <Transition fallback=|| view! { <p class="empty">"Loading…"</p> }>
                {move || config.get().map(|r| match r {
                    Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                    Ok(c) => {
                        let e = c.edit.clone();
                        view! {
                            <p class="muted small" id="follow-source">{match &c.updated_at {
                                Some(at) => format!("{} · edited here ({at}) · {} series", c.venue, c.series),
                                None => format!("{} · from the config file · {} series", c.venue, c.series),
                            }}</p>
                            <ActionForm action=save attr:class="grid-form" attr:id="follow-form">
                                <input type="hidden" name="csrf" value=csrf />
                                <label>"Follow"<input type="checkbox" name="enabled" id="fo-enabled" checked=e.enabled /></label>
                                <label>"Market"<select name="market" id="fo-market">
                                    <option value="futures" selected=e.market == "futures">"USDⓈ-M futures"</option>
                                    <option value="spot" selected=e.market == "spot">"spot"</option>
                                </select></label>
                                <label>"Symbols"<textarea name="symbols" id="fo-symbols" rows="3">{e.symbols.join(", ")}</textarea></label>
                                <label>"Timeframe"<input name="timeframe" id="fo-timeframe" value=e.timeframe.clone() /></label>
                                <label>"Confirmation"<input name="confirm" id="fo-confirm" value=e.confirm.join(", ") /></label>
                                <button type="submit" id="fo-save">"Save and restart followers"</button>
                            </ActionForm>
                        }.into_any()
                    }
                })}
            </Transition>
            {move || save.value().get().map(|r| match r {
                Err(e) => view! { <p class="error" id="follow-error">{e.message}{e.field.map(|f| format!(" ({f})"))}</p> }.into_any(),
                Ok(c) => view! { <p class="muted small" id="follow-saved">{format!("Saved: {} series; the follower restarts within seconds.", c.series)}</p> }.into_any(),
            })}
        </section>
    }
}

#[server]
pub async fn load_kill_switch() -> Result<TradingHaltView, AppError> {
    crate::backend::answer(
        async move {
            let (b, _) = crate::backend::caller(None)?;
            b.trading_halt().await
        }
        .await,
    )
}

/// Engages the global kill switch (a reason given) or lifts it (none).
#[server]
pub async fn set_kill_switch(
    csrf: String,
    reason: String,
    #[server(default)] flatten: Option<String>,
) -> Result<TradingHaltView, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(Some(&csrf))?;
            let h = (!reason.trim().is_empty()).then(|| crate::types::HaltRequest {
                reason,
                flatten: flatten.is_some(),
            });
            b.set_trading_halt(&v, h).await
        }
        .await,
    )
}

/// The global kill switch: every paper account halts at once.
#[component]
fn KillSwitch() -> impl IntoView {
    let viewer = use_viewer();
    let csrf = move || viewer.get().map(|v| csrf_token(&v)).unwrap_or_default();
    let set = ServerAction::<SetKillSwitch>::new();
    let state = Resource::new(move || set.version().get(), |_| load_kill_switch());
    view! {
        <section class="panel" id="kill-switch">
            <div class="panel-head"><h1>"Kill switch"</h1></div>
            <Transition fallback=|| ()>
                {move || state.get().map(|r| match r {
                    Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                    Ok(k) if k.halted => view! {
                        <p class="warn" id="kill-state" data-halted="true">{format!("All trading is halted since {}: {}{}{}",
                            k.since.clone().unwrap_or_default(), k.reason.clone().unwrap_or_default(),
                            k.by.clone().map(|b| format!(" (by {b})")).unwrap_or_default(),
                            if k.flatten { "; positions were closed" } else { "" })}</p>
                        <ActionForm action=set attr:class="inline-form" attr:id="kill-form">
                            <input type="hidden" name="csrf" value=csrf />
                            <input type="hidden" name="reason" value="" />
                            <button type="submit" id="kill-resume">"Resume all trading"</button>
                        </ActionForm>
                    }.into_any(),
                    Ok(_) => view! {
                        <p class="muted" id="kill-state" data-halted="false">"Trading is active. Halting stops every paper account from opening anything; resting exits stay."</p>
                        <ActionForm action=set attr:class="inline-form" attr:id="kill-form">
                            <input type="hidden" name="csrf" value=csrf />
                            <input name="reason" id="kill-reason" placeholder="why" required maxlength="500" />
                            <label class="check"><input type="checkbox" name="flatten" id="kill-flatten" />"close every open position"</label>
                            <button type="submit" class="danger" id="kill-halt">"Halt all trading"</button>
                        </ActionForm>
                    }.into_any(),
                })}
            </Transition>
            {move || set.value().get().and_then(|r| r.err()).map(|e| view! { <p class="error">{e.message}</p> })}
        </section>
    }
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
                                                <td class="reason">{match (&f.detail, f.since) {
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
        <KillSwitch />
        <crate::pages::notify::DeliveryTroubles />
        <FollowForm />
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
