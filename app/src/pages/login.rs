//! `/login` — a plain form posted to `/auth/login`, so signing in works
//! before (and without) the WASM bundle.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let error = move || query.read().get("error");
    let next = move || query.read().get("next").unwrap_or_default();
    view! {
        <section class="panel narrow" id="login">
            <h1>"Sign in"</h1>
            <form method="post" action="/auth/login" class="stack">
                <label>
                    "User name"
                    <input name="username" id="username" autocomplete="username" required />
                </label>
                <label>
                    "Password"
                    <input type="password" name="password" id="password" autocomplete="current-password" required />
                </label>
                <input type="hidden" name="next" value=next />
                {move || error().map(|e| view! { <p class="error" id="login-error" role="alert">{e}</p> })}
                <button type="submit" id="sign-in">"Sign in"</button>
            </form>
        </section>
    }
}
