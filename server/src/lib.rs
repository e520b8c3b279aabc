//! TraderAI server: the candle store, import/export, exchange backfill, the
//! job runner and the web app. Quant logic lives in `engine`; this crate does
//! the I/O around it.

pub mod auth;
pub mod backfill;
pub mod cli;
pub mod config;
pub mod db;
pub mod drift;
pub mod exchange;
pub mod export;
pub mod import;
pub mod jobs;
pub mod progress;
pub mod registry;
pub mod research;
pub mod seed;
pub mod signals;
pub mod simulate;
pub mod time;
pub mod training;
pub mod web;
