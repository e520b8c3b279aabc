//! Pages, one module per route.

pub mod data;
