//! `/admin/users` — create users, change roles, disable and enable.

use crate::types::{AppError, Role, UserPatch, UserView, format_utc};
use crate::{csrf_token, use_viewer};
use leptos::prelude::*;

#[server]
pub async fn list_users() -> Result<Vec<UserView>, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(None)?;
            b.users(&v).await
        }
        .await,
    )
}

#[server]
pub async fn create_user(
    csrf: String,
    username: String,
    password: String,
    role: Role,
) -> Result<UserView, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(Some(&csrf))?;
            b.create_user(
                &v,
                crate::types::NewUser {
                    username,
                    password,
                    role,
                },
            )
            .await
        }
        .await,
    )
}

#[server]
pub async fn update_user(csrf: String, id: i64, patch: UserPatch) -> Result<UserView, AppError> {
    crate::backend::answer(
        async move {
            let (b, v) = crate::backend::caller(Some(&csrf))?;
            b.update_user(&v, id, patch).await
        }
        .await,
    )
}

#[component]
pub fn UsersPage() -> impl IntoView {
    let viewer = use_viewer();
    let csrf = move || viewer.get().map(|v| csrf_token(&v)).unwrap_or_default();
    let create = ServerAction::<CreateUser>::new();
    let update = ServerAction::<UpdateUser>::new();
    let users = Resource::new(
        move || (create.version().get(), update.version().get()),
        |_| list_users(),
    );
    let change = move |id: i64, patch: UserPatch| {
        update.dispatch(UpdateUser {
            csrf: csrf(),
            id,
            patch,
        });
    };
    view! {
        <section class="panel" id="users">
            <div class="panel-head"><h1>"Users"</h1></div>
            <ActionForm action=create attr:class="row-form" attr:id="new-user">
                <input type="hidden" name="csrf" value=csrf />
                <input name="username" id="nu-name" placeholder="user name" autocomplete="off" required />
                <input name="password" id="nu-pass" type="password" placeholder="password (8+)" autocomplete="new-password" required />
                <select name="role" id="nu-role">
                    <option value="user" selected>"user"</option>
                    <option value="admin">"admin"</option>
                </select>
                <button type="submit" id="nu-create">"Create user"</button>
            </ActionForm>
            {move || create.value().get().and_then(|r| r.err()).or_else(|| update.value().get().and_then(|r| r.err()))
                .map(|e| view! { <p class="error" id="users-error">{e.message}{e.field.map(|f| format!(" ({f})"))}</p> })}
            <Transition fallback=|| view! { <p class="empty">"Loading users…"</p> }>
                {move || users.get().map(|r| match r {
                    Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                    Ok(list) => view! {
                        <table class="grid" id="users-table">
                            <thead><tr><th>"User"</th><th>"Role"</th><th>"State"</th><th>"Profile"</th><th class="num">"Capital"</th><th>"Last sign-in"</th><th></th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|u| {
                                    let (id, role, disabled) = (u.id, u.role, u.disabled);
                                    let other = if role == Role::Admin { Role::User } else { Role::Admin };
                                    view! {
                                        <tr class="user-row" data-user=u.username.clone()>
                                            <td class="sym">{u.username.clone()}</td>
                                            <td>{role.as_str()}</td>
                                            <td>{if disabled { "disabled" } else { "active" }}</td>
                                            <td>{u.settings.risk_profile.as_str()}</td>
                                            <td class="num">{format!("{:.2}", u.settings.capital)}</td>
                                            <td>{u.last_login_at.map(format_utc).unwrap_or_else(|| "never".into())}</td>
                                            <td class="actions">
                                                <button class="link" on:click=move |_| change(id, UserPatch { role: Some(other), ..Default::default() })>
                                                    {format!("make {}", other.as_str())}
                                                </button>
                                                <button class="link danger" on:click=move |_| change(id, UserPatch { disabled: Some(!disabled), ..Default::default() })>
                                                    {if disabled { "enable" } else { "disable" }}
                                                </button>
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
