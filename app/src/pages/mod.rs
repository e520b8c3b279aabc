//! Pages, one module per route.

pub mod admin;
pub mod data;
pub mod login;
pub mod notify;
pub mod paper;
pub mod settings;
pub mod signals;
pub mod simulator;
