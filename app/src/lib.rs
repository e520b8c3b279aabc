//! TraderAI's web pages, rendered on the server and hydrated in the browser.
//!
//! Server-only pieces sit behind the `ssr` feature; the browser build
//! (`hydrate`) compiles the same components without them.

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

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Effects run only in the browser: the flag flips once hydration is done,
    // which end-to-end tests wait for before interacting.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    view! {
        <Stylesheet id="leptos" href="/pkg/traderai.css" />
        <Title text="TraderAI" />
        <Router>
            <header class="topbar">
                <a class="brand" href="/">"TraderAI"</a>
                <span class="tagline">"market data → signals, honestly measured"</span>
            </header>
            <main data-hydrated=move || hydrated.get().to_string()>
                <Routes fallback=|| view! { <p class="empty">"Page not found."</p> }>
                    <Route path=StaticSegment("") view=pages::data::DataPage />
                </Routes>
            </main>
        </Router>
    }
}
