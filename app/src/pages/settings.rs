//! `/settings` — the risk profile and capital signals are sized for, and API tokens.

use crate::types::{AppError, NewToken, TokenView, UserSettings, format_utc};
use crate::{csrf_token, use_viewer};
use engine::risk::RiskProfile;
use leptos::prelude::*;

#[server]
pub async fn load_settings() -> Result<UserSettings, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(None)?;
            b.settings(&v).await
        }
        .await,
    )
}

#[server]
pub async fn save_settings(
    csrf: String,
    risk_profile: RiskProfile,
    capital: f64,
) -> Result<UserSettings, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(Some(&csrf))?;
            b.save_settings(
                &v,
                UserSettings {
                    risk_profile,
                    capital,
                },
            )
            .await
        }
        .await,
    )
}

#[server]
pub async fn list_tokens() -> Result<Vec<TokenView>, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(None)?;
            b.tokens(&v).await
        }
        .await,
    )
}

#[server]
pub async fn create_token(csrf: String, name: String) -> Result<NewToken, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(Some(&csrf))?;
            b.create_token(&v, name).await
        }
        .await,
    )
}

#[server]
pub async fn revoke_token(csrf: String, id: i64) -> Result<TokenView, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(Some(&csrf))?;
            b.revoke_token(&v, id).await
        }
        .await,
    )
}

#[component]
pub fn SettingsPage() -> impl IntoView {
    let viewer = use_viewer();
    let save = ServerAction::<SaveSettings>::new();
    let settings = Resource::new(move || save.version().get(), |_| load_settings());
    let csrf = move || viewer.get().map(|v| csrf_token(&v)).unwrap_or_default();
    view! {
        <section class="panel" id="settings">
            <div class="panel-head"><h1>"Risk profile and capital"</h1></div>
            <p class="summary">"Signals are sized for these: risk per trade and leverage cap come from the profile, position size from the capital."</p>
            <Transition fallback=|| view! { <p class="empty">"Loading settings…"</p> }>
                {move || settings.get().map(|r| match r {
                    Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                    Ok(s) => view! {
                        <RiskForm action=save s csrf=csrf() ids=["settings-form", "risk-profile", "capital", "save-settings"] button="Save" />
                    }.into_any(),
                })}
            </Transition>
            {move || save.value().get().map(|r| match r {
                Ok(s) => view! { <p class="ok" id="settings-saved">{format!("Saved: {} profile, ${:.2}", s.risk_profile.as_str(), s.capital)}</p> }.into_any(),
                Err(e) => view! { <p class="error" id="settings-error">{e.message}{e.field.map(|f| format!(" ({f})"))}</p> }.into_any(),
            })}
        </section>
        <crate::pages::notify::Notifications />
        <Tokens />
    }
}

/// The profile and capital form (settings page and dashboard): element ids
/// are [form, profile, capital, submit].
#[component]
pub fn RiskForm(
    action: ServerAction<SaveSettings>,
    s: UserSettings,
    csrf: String,
    ids: [&'static str; 4],
    button: &'static str,
) -> impl IntoView {
    view! {
        <ActionForm action attr:class="row-form" attr:id=ids[0]>
            <input type="hidden" name="csrf" value=csrf />
            <label>
                "Profile"
                <select name="risk_profile" id=ids[1]>
                    {RiskProfile::ALL.into_iter().map(|p| {
                        let l = p.limits();
                        view! {
                            <option value=p.as_str() selected=s.risk_profile == p>
                                {format!("{} — {} % risk, ≤ {}×", p.as_str(), l.risk_per_trade_pct, l.max_leverage)}
                            </option>
                        }
                    }).collect_view()}
                </select>
            </label>
            <label>
                "Capital (USD)"
                <input type="number" name="capital" id=ids[2] min="1" step="any" value=s.capital.to_string() required />
            </label>
            <button type="submit" id=ids[3] disabled=move || action.pending().get()>{button}</button>
        </ActionForm>
    }
}

#[component]
fn Tokens() -> impl IntoView {
    let viewer = use_viewer();
    let csrf = move || viewer.get().map(|v| csrf_token(&v)).unwrap_or_default();
    let create = ServerAction::<CreateToken>::new();
    let revoke = ServerAction::<RevokeToken>::new();
    let tokens = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_tokens(),
    );
    view! {
        <section class="panel" id="tokens">
            <div class="panel-head"><h1>"API tokens"</h1></div>
            <p class="summary">"For scripts: send "<code>"Authorization: Bearer <token>"</code>" to "<a href="/docs">"the REST API"</a>". The secret is shown once."</p>
            <ActionForm action=create attr:class="row-form">
                <input type="hidden" name="csrf" value=csrf />
                <input name="name" id="token-name" placeholder="What is it for?" required />
                <button type="submit" id="create-token">"Create token"</button>
            </ActionForm>
            {move || create.value().get().map(|r| match r {
                Ok(t) => view! { <p class="ok">"New token (copy it now): "<code id="token-secret">{t.secret}</code></p> }.into_any(),
                Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
            })}
            <Transition fallback=|| view! { <p class="empty">"Loading tokens…"</p> }>
                {move || tokens.get().map(|r| match r {
                    Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <p class="empty">"No tokens yet."</p> }.into_any(),
                    Ok(list) => view! {
                        <table class="grid">
                            <thead><tr><th>"Name"</th><th>"Prefix"</th><th>"Created"</th><th>"Last used"</th><th></th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|t| {
                                    let id = t.id;
                                    view! {
                                        <tr>
                                            <td>{t.name}</td>
                                            <td><code>{t.prefix}"…"</code></td>
                                            <td>{format_utc(t.created_at)}</td>
                                            <td>{t.last_used_at.map(format_utc).unwrap_or_else(|| "never".into())}</td>
                                            <td>
                                                {if t.revoked {
                                                    view! { <span class="muted">"revoked"</span> }.into_any()
                                                } else {
                                                    view! {
                                                        <button class="link danger" on:click=move |_| {
                                                            revoke.dispatch(RevokeToken { csrf: csrf(), id });
                                                        }>"Revoke"</button>
                                                    }.into_any()
                                                }}
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
    }
}
