//! What the pages need from the server, as a trait the server implements.
//! Keeps SQL in the server crate while server functions live in `app`.

use crate::types::SeriesCoverage;
use futures::future::BoxFuture;
use std::sync::Arc;

pub trait Backend: Send + Sync + 'static {
    fn coverage(&self) -> BoxFuture<'_, Result<Vec<SeriesCoverage>, String>>;
}

/// The handle server functions find in Leptos context.
pub type SharedBackend = Arc<dyn Backend>;
