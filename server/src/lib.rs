//! TraderAI server: the candle store, import/export, exchange backfill, the
//! job runner and the web app. Quant logic lives in `engine` and `models`,
//! venue I/O in `venues`; this crate wires them to PostgreSQL and people.
//!
//! Layers, top to bottom (`tests/layers.rs` checks the first two rules):
//! - [`cli`] — every clap type and command's glue; nothing imports it;
//! - [`web`] — axum routes, REST, WebSocket, server functions' backend;
//!   only `cli` (its `serve`) reaches it;
//! - services — [`backfill`], [`research`], [`training`], [`signals`],
//!   [`drift`], [`registry`], [`paper`], [`follow`], [`simulate`], [`import`], [`export`],
//!   [`seed`], [`jobs`], [`auth`]: plain option structs and a pool in,
//!   results out;
//! - [`db`] — all SQL; [`config`] — settings and their defaults.

// Command line and web on top.
pub mod cli;
pub mod web;

// Services.
pub mod altdata;
pub mod auth;
pub mod backfill;
pub mod backup;
pub mod drift;
pub mod evaluate;
pub mod export;
pub mod follow;
pub mod import;
pub mod jobs;
pub mod live;
pub mod metrics;
pub mod notify;
pub mod paper;
pub mod registry;
pub mod research;
pub mod secrets;
pub mod seed;
pub mod signals;
pub mod simulate;
pub mod training;
pub mod tune;
pub mod universes;
pub mod venue;

// Storage, settings and small shared pieces.
pub mod config;
pub mod db;
pub mod progress;
pub mod time;

/// What produced a report or a model: this binary's version and the git
/// commit HEAD was at when it was built (`server/build.rs`; `unknown`
/// outside git without `TRADERAI_GIT_SHA`).
pub fn code_version() -> String {
    format!(
        "{} ({})",
        env!("CARGO_PKG_VERSION"),
        env!("TRADERAI_GIT_SHA")
    )
}
