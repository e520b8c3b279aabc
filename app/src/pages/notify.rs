//! Settings → Notifications: channels, "Send a test", the Telegram link,
//! events, quiet hours, daily summary; and the admins' delivery troubles.

use crate::types::{
    AppError, ChannelView, DeliveryView, NotifyPrefsView, NotifySettingsView, TelegramCode,
    TestQueued,
};
use crate::{csrf_token, use_viewer};
use leptos::prelude::*;

#[server]
pub async fn load_notify() -> Result<NotifySettingsView, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(None)?;
            b.notify_settings(&v).await
        }
        .await,
    )
}

/// The preferences as JSON (a list of events travels more plainly so).
#[server]
pub async fn save_notify(csrf: String, prefs: String) -> Result<NotifySettingsView, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(Some(&csrf))?;
            let p: crate::types::NotifyPrefsView = serde_json::from_str(&prefs)
                .map_err(|e| crate::types::AppError::invalid("prefs", e.to_string()))?;
            b.save_notify_prefs(&v, p).await
        }
        .await,
    )
}

#[server]
pub async fn add_notify_channel(
    csrf: String,
    kind: String,
    address: String,
    #[server(default)] secret: String,
) -> Result<ChannelView, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(Some(&csrf))?;
            let c = match kind.as_str() {
                "discord" => crate::types::NewChannel::Discord {
                    webhook_url: address,
                },
                "webhook" => crate::types::NewChannel::Webhook {
                    url: address,
                    secret,
                },
                "sms" => crate::types::NewChannel::Sms { to: address },
                "email" => crate::types::NewChannel::Email { to: address },
                other => {
                    return Err(crate::types::AppError::invalid(
                        "kind",
                        format!("no channel kind {other:?}"),
                    ));
                }
            };
            b.add_channel(&v, c).await
        }
        .await,
    )
}

#[server]
pub async fn remove_notify_channel(csrf: String, id: i64) -> Result<(), AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(Some(&csrf))?;
            b.remove_channel(&v, id).await
        }
        .await,
    )
}

#[server]
pub async fn test_notify_channel(csrf: String, id: i64) -> Result<TestQueued, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(Some(&csrf))?;
            b.test_channel(&v, id).await
        }
        .await,
    )
}

#[server]
pub async fn telegram_link_code(csrf: String) -> Result<TelegramCode, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(Some(&csrf))?;
            b.telegram_code(&v).await
        }
        .await,
    )
}

#[server]
pub async fn load_delivery_troubles() -> Result<Vec<DeliveryView>, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(None)?;
            b.delivery_troubles(&v).await
        }
        .await,
    )
}

fn event_label(k: &str) -> &'static str {
    match k {
        "signal" => "New signals for my profile and capital",
        "paper_fill" => "Paper entries filled",
        "take_profit" => "Take-profits hit",
        "stop_loss" => "Stops hit",
        "paper_close" => "Positions closed",
        "halt" => "Breaker halts and account halts",
        "kill_switch" => "The kill switch",
        "job_failed" => "Job failures (admin)",
        "drift" => "Model drift (admin)",
        "registry" => "Registry decisions (admin)",
        "stale" => "Stale data (admin)",
        _ => "Other",
    }
}

#[component]
pub fn Notifications() -> impl IntoView {
    let viewer = use_viewer();
    let csrf = move || viewer.get().map(|v| csrf_token(&v)).unwrap_or_default();
    let add = ServerAction::<AddNotifyChannel>::new();
    let remove = ServerAction::<RemoveNotifyChannel>::new();
    let test = ServerAction::<TestNotifyChannel>::new();
    let link = ServerAction::<TelegramLinkCode>::new();
    let save = ServerAction::<SaveNotify>::new();
    // Reload after a channel was added, not after a refused one: the reload
    // redraws the form and would wipe what the user is correcting.
    let added = RwSignal::new(0u32);
    Effect::new(move |_| {
        if let Some(Ok(_)) = add.value().get() {
            added.update(|n| *n += 1);
        }
    });
    let data = Resource::new(
        move || {
            (
                added.get(),
                remove.version().get(),
                link.version().get(),
                save.version().get(),
            )
        },
        |_| load_notify(),
    );
    let kind = RwSignal::new("discord".to_string());
    view! {
        <section class="panel" id="notifications">
            <div class="panel-head"><h1>"Notifications"</h1></div>
            <p class="summary">"Where TraderAI tells you what happened. Addresses are stored encrypted and never shown again; each channel gets at most your hourly rate, and quiet hours hold everything but halts and the kill switch."</p>
            <Transition fallback=|| view! { <p class="empty">"Loading…"</p> }>
                {move || data.get().map(|r| match r {
                    Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                    Ok(s) => {
                        let telegram = s.available.iter().any(|k| k == "telegram");
                        let kinds: Vec<String> = s.available.iter().filter(|k| *k != "telegram").cloned().collect();
                        view! {
                            <h2>"Channels"</h2>
                            {if s.channels.is_empty() {
                                view! { <p class="empty" id="channels-empty">"No channels yet."</p> }.into_any()
                            } else {
                                view! {
                                    <table class="grid" id="channels">
                                        <thead><tr><th>"Kind"</th><th>"Where"</th><th>"Added"</th><th></th></tr></thead>
                                        <tbody>
                                            {s.channels.iter().map(|c| {
                                                let id = c.id;
                                                view! {
                                                    <tr class="channel-row" data-kind=c.kind.clone()>
                                                        <td>{c.kind.clone()}</td>
                                                        <td class="hint">{c.hint.clone()}</td>
                                                        <td>{c.created_at.chars().take(16).collect::<String>().replace('T', " ")}</td>
                                                        <td>
                                                            <button class="link channel-test" on:click=move |_| { test.dispatch(TestNotifyChannel { csrf: csrf(), id }); }>"Send a test"</button>
                                                            " "
                                                            <button class="link danger channel-remove" on:click=move |_| { remove.dispatch(RemoveNotifyChannel { csrf: csrf(), id }); }>"Remove"</button>
                                                        </td>
                                                    </tr>
                                                }
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                }.into_any()
                            }}
                            {move || test.value().get().map(|r| match r {
                                Ok(t) => view! { <p class="ok" id="test-queued">{format!("Test queued (event {}); it arrives within seconds.", t.event_id)}</p> }.into_any(),
                                Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                            })}
                            <ActionForm action=add attr:class="row-form" attr:id="channel-form">
                                <input type="hidden" name="csrf" value=csrf />
                                <label>"Kind"
                                    <select name="kind" id="channel-kind" on:change=move |ev| kind.set(event_target_value(&ev))>
                                        {kinds.iter().map(|k| view! { <option value=k.clone()>{k.clone()}</option> }).collect_view()}
                                    </select>
                                </label>
                                <label>{move || match kind.get().as_str() {
                                        "discord" => "Webhook URL",
                                        "webhook" => "URL",
                                        "sms" => "Phone (+E.164)",
                                        _ => "E-mail",
                                    }}
                                    <input name="address" id="channel-address" required />
                                </label>
                                <Show when=move || kind.get() == "webhook">
                                    <label>"Signing secret (≥ 16 chars)"<input name="secret" id="channel-secret" type="password" minlength="16" /></label>
                                </Show>
                                <button type="submit" id="channel-add">"Add channel"</button>
                            </ActionForm>
                            {move || add.value().get().and_then(|r| r.err()).map(|e| view! {
                                <p class="error" id="channel-error">{e.message}{e.field.map(|f| format!(" ({f})"))}</p>
                            })}
                            {telegram.then(|| view! {
                                <h2>"Telegram"</h2>
                                {if s.telegram_linked {
                                    view! { <p class="ok" id="telegram-linked">"A Telegram chat is linked. Send /help to the bot for its commands."</p> }.into_any()
                                } else {
                                    view! {
                                        <p class="muted">"Link a chat to get notifications and send commands (/status, /signals, /halt …)."</p>
                                        <button id="telegram-link" on:click=move |_| { link.dispatch(TelegramLinkCode { csrf: csrf() }); }>"Link Telegram"</button>
                                        {s.telegram_code.clone().map(|c| view! {
                                            <p class="ok">"Send "<code id="telegram-code">{format!("/link {c}")}</code>" to the bot within 15 minutes."</p>
                                        })}
                                    }.into_any()
                                }}
                            })}
                            <Prefs s=s.clone() save csrf=csrf() />
                        }.into_any()
                    }
                })}
            </Transition>
            {move || save.value().get().map(|r| match r {
                Ok(_) => view! { <p class="ok" id="notify-saved">"Saved."</p> }.into_any(),
                Err(e) => view! { <p class="error" id="notify-error">{e.message}{e.field.map(|f| format!(" ({f})"))}</p> }.into_any(),
            })}
        </section>
    }
}

#[component]
fn Prefs(s: NotifySettingsView, save: ServerAction<SaveNotify>, csrf: String) -> impl IntoView {
    let p = s.prefs.clone();
    let events = RwSignal::new(p.events.clone());
    let quiet_from = RwSignal::new(p.quiet_from.clone().unwrap_or_default());
    let quiet_to = RwSignal::new(p.quiet_to.clone().unwrap_or_default());
    let timezone = RwSignal::new(p.timezone.clone());
    let daily_at = RwSignal::new(p.daily_at.clone().unwrap_or_default());
    let rate = RwSignal::new(p.rate_per_hour.to_string());
    let opt = |s: String| (!s.trim().is_empty()).then_some(s);
    let submit = move |_| {
        let prefs = NotifyPrefsView {
            events: events.get(),
            quiet_from: opt(quiet_from.get()),
            quiet_to: opt(quiet_to.get()),
            timezone: timezone.get(),
            daily_at: opt(daily_at.get()),
            rate_per_hour: rate.get().trim().parse().unwrap_or(0),
        };
        save.dispatch(SaveNotify {
            csrf: csrf.clone(),
            prefs: serde_json::to_string(&prefs).unwrap_or_default(),
        });
    };
    view! {
        <h2>"What and when"</h2>
        <div class="checks" id="notify-events">
            {s.event_kinds.iter().map(|k| {
                let k = k.clone();
                let k2 = k.clone();
                let label = event_label(&k);
                let checked = move || events.get().contains(&k);
                view! {
                    <label class="check">
                        <input type="checkbox" class="notify-event" value=k2.clone() prop:checked=checked
                            on:change=move |ev| {
                                let on = event_target_checked(&ev);
                                events.update(|e| {
                                    e.retain(|x| *x != k2);
                                    if on { e.push(k2.clone()); }
                                });
                            } />
                        {label}
                    </label>
                }
            }).collect_view()}
        </div>
        <div class="row-form">
            <label>"Quiet from"<input type="time" id="quiet-from" prop:value=quiet_from on:input=move |ev| quiet_from.set(event_target_value(&ev)) /></label>
            <label>"to"<input type="time" id="quiet-to" prop:value=quiet_to on:input=move |ev| quiet_to.set(event_target_value(&ev)) /></label>
            <label>"Time zone"<input id="notify-tz" prop:value=timezone on:input=move |ev| timezone.set(event_target_value(&ev)) /></label>
            <label>"Daily summary at"<input type="time" id="daily-at" prop:value=daily_at on:input=move |ev| daily_at.set(event_target_value(&ev)) /></label>
            <label>"Per channel per hour"<input type="number" min="1" max="1000" id="notify-rate" prop:value=rate on:input=move |ev| rate.set(event_target_value(&ev)) /></label>
            <button id="notify-save" on:click=submit>"Save"</button>
        </div>
    }
}

/// Admin → System: deliveries that failed or are retrying.
#[component]
pub fn DeliveryTroubles() -> impl IntoView {
    let list = Resource::new(|| (), |_| load_delivery_troubles());
    view! {
        <section class="panel" id="delivery-troubles">
            <div class="panel-head"><h1>"Notification delivery failures"</h1></div>
            <Transition fallback=|| ()>
                {move || list.get().map(|r| match r {
                    Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                    Ok(v) if v.is_empty() => view! { <p class="empty" id="troubles-empty">"Every notification was delivered."</p> }.into_any(),
                    Ok(v) => view! {
                        <div class="table-wrap"><table class="grid" id="troubles">
                            <thead><tr><th>"Event"</th><th>"User"</th><th>"Channel"</th><th>"State"</th><th>"Tries"</th><th>"Error"</th></tr></thead>
                            <tbody>
                                {v.into_iter().map(|d| view! {
                                    <tr class="trouble-row" data-status=d.status.clone()>
                                        <td>{format!("{} #{}", d.event, d.event_id)}</td>
                                        <td>{d.username}</td>
                                        <td>{d.channel}</td>
                                        <td>{if d.status == "failed" { "failed".to_owned() } else { format!("retrying at {}", d.next_at.chars().take(19).collect::<String>().replace('T', " ")) }}</td>
                                        <td>{d.attempts}</td>
                                        <td class="reason">{d.last_error.unwrap_or_default()}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table></div>
                    }.into_any(),
                })}
            </Transition>
        </section>
    }
}
