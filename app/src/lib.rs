//! TraderAI's web pages, rendered on the server and hydrated in the browser.
//!
//! Server-only pieces sit behind the `ssr` feature; the browser build
//! (`hydrate`) compiles the same components without them.

pub mod chart;
pub mod live;
pub mod pages;
pub mod types;

#[cfg(feature = "ssr")]
pub mod backend;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    StaticSegment,
    components::{Route, Router, Routes},
};
use types::{AppError, Viewer};

/// The HTML document around the app (server side only renders this).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link rel="icon" type="image/svg+xml" href="/favicon.svg" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// Who is signed in, or nobody.
#[server]
pub async fn whoami() -> Result<Option<Viewer>, AppError> {
    crate::backend::answer(async move { Ok(backend::viewer()) }.await)
}

/// The signed-in viewer as pages read it (loaded once per page load).
pub type ViewerResource = Resource<Result<Option<Viewer>, AppError>>;

pub fn use_viewer() -> ViewerResource {
    expect_context::<ViewerResource>()
}

/// The session's CSRF token, for forms that change something.
pub fn csrf_token(v: &Result<Option<Viewer>, AppError>) -> String {
    v.as_ref()
        .ok()
        .and_then(|v| v.as_ref())
        .and_then(|v| v.csrf.clone())
        .unwrap_or_default()
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let viewer: ViewerResource = Resource::new_blocking(|| (), |_| whoami());
    provide_context(viewer);
    live::provide();
    // Effects run only in the browser: the flag flips once hydration is done,
    // which end-to-end tests wait for before interacting.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    view! {
        <Stylesheet id="leptos" href="/pkg/traderai.css" />
        <Title text="TraderAI" />
        <Router>
            <TopBar />
            <main data-hydrated=move || hydrated.get().to_string()>
                <Routes fallback=|| view! { <p class="empty">"Page not found."</p> }>
                    <Route path=StaticSegment("login") view=pages::login::LoginPage />
                    <Route path=StaticSegment("") view=pages::signals::SignalsPage />
                    <Route path=StaticSegment("data") view=pages::data::DataPage />
                    <Route path=StaticSegment("simulator") view=pages::simulator::SimulatorPage />
                    <Route path=StaticSegment("paper") view=pages::paper::PaperPage />
                    <Route path=StaticSegment("settings") view=pages::settings::SettingsPage />
                    <Route path=(StaticSegment("admin"), StaticSegment("jobs")) view=pages::admin::jobs::JobsPage />
                    <Route path=(StaticSegment("admin"), StaticSegment("backfill")) view=pages::admin::backfill::BackfillPage />
                    <Route path=(StaticSegment("admin"), StaticSegment("training")) view=pages::admin::training::TrainingPage />
                    <Route path=(StaticSegment("admin"), StaticSegment("evaluate")) view=pages::admin::evaluate::EvaluatePage />
                    <Route path=(StaticSegment("admin"), StaticSegment("models")) view=pages::admin::models::ModelsPage />
                    <Route path=(StaticSegment("admin"), StaticSegment("users")) view=pages::admin::users::UsersPage />
                    <Route path=(StaticSegment("admin"), StaticSegment("system")) view=pages::admin::system::SystemPage />
                </Routes>
            </main>
        </Router>
    }
}

#[component]
fn TopBar() -> impl IntoView {
    let viewer = use_viewer();
    let live = live::use_live();
    view! {
        <header class="topbar">
            <a class="brand" href="/">"TraderAI"</a>
            <Suspense fallback=|| ()>
                {move || viewer.get().map(|v| {
                    let csrf = csrf_token(&v);
                    match v.ok().flatten() {
                        None => view! { <span class="tagline">"market data → signals, honestly measured"</span> }.into_any(),
                        Some(v) => {
                            let admin = v.is_admin();
                            view! {
                                <nav class="nav">
                                    <a href="/">"Signals"</a>
                                    <a href="/paper">"Paper"</a>
                                    <a href="/simulator">"Simulator"</a>
                                    <a href="/data">"Market data"</a>
                                    <a href="/settings">"Settings"</a>
                                    <Show when=move || admin>
                                        <span class="nav-sep">"Admin"</span>
                                        <a href="/admin/jobs">"Jobs"</a>
                                        <a href="/admin/backfill">"Backfill"</a>
                                        <a href="/admin/training">"Training"</a>
                                        <a href="/admin/evaluate">"Evaluate"</a>
                                        <a href="/admin/models">"Models"</a>
                                        <a href="/admin/users">"Users"</a>
                                        <a href="/admin/system">"System"</a>
                                    </Show>
                                </nav>
                                <span class="spacer"></span>
                                <span id="live" class="live" data-state=move || live.state.get().as_str() data-data=move || live.data_state()>
                                    {move || live.label()}
                                </span>
                                <span class="who" id="who">{format!("{} · {}", v.username, v.role.as_str())}</span>
                                <form method="post" action="/auth/logout" class="inline">
                                    <input type="hidden" name="csrf" value=csrf />
                                    <button type="submit" class="link" id="sign-out">"Sign out"</button>
                                </form>
                            }.into_any()
                        }
                    }
                })}
            </Suspense>
        </header>
    }
}

/// Formats a byte count as KiB/MiB/GiB.
pub fn human_bytes(b: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{v:.0} {}", UNITS[i])
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

/// Seconds as "1 h 02 min", "3 min 05 s", "42 s".
pub fn human_duration(s: f64) -> String {
    if !s.is_finite() || s < 0.0 {
        return "–".into();
    }
    let s = s.round() as u64;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humane_units() {
        assert_eq!(human_bytes(512.0), "512 B");
        assert_eq!(human_bytes(1536.0), "1.5 KiB");
        assert_eq!(human_bytes(3.0 * 1024.0 * 1024.0 * 1024.0), "3.0 GiB");
        assert_eq!(human_duration(42.4), "42 s");
        assert_eq!(human_duration(185.0), "3 min 05 s");
        assert_eq!(human_duration(3720.0), "1 h 02 min");
        assert_eq!(human_duration(f64::NAN), "–");
    }
}
