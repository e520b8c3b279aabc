//! Stored market data.

use super::ApiError;
use crate::web::AppState;
use app::backend::Backend;
use app::types::{AppError, PricesView, SeriesCoverage};
use axum::Json;
use axum::extract::State;
use serde::Deserialize;

/// Every stored candle series with its bar count and time range.
#[utoipa::path(get, path = "/api/v1/series", tag = "market",
    responses((status = 200, body = Vec<SeriesCoverage>), (status = 401, body = super::ErrorBody)))]
pub async fn series(State(st): State<AppState>) -> Result<Json<Vec<SeriesCoverage>>, ApiError> {
    Ok(Json(st.backend.coverage().await?))
}

/// Which stocks to price: a comma-separated list, a shipped universe, or
/// both (their union); neither prices the default universe (`us-stocks`).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PricesQuery {
    /// TICKER/USD, comma-separated (at most 200): `AAPL/USD,MSFT/USD`.
    #[param(pattern = "^[A-Z0-9]{1,20}/USD(,[A-Z0-9]{1,20}/USD){0,199}$")]
    pub symbols: Option<String>,
    /// A shipped universe (`us-stocks`).
    #[param(pattern = "^us-stocks$")]
    pub universe: Option<String>,
}

/// Latest prices of US stocks through the provider chain (Alpaca → Finnhub
/// → Yahoo), served from a cache within `[stocks] quote_ttl_s`; a universe
/// is collected with `[stocks] concurrency` requests in flight. A ticker no
/// provider prices has its row's `error`; the others are priced.
#[utoipa::path(get, path = "/api/v1/prices", tag = "market", params(PricesQuery),
    responses((status = 200, body = PricesView), (status = 401, body = super::ErrorBody),
              (status = 422, body = super::ErrorBody), (status = 503, body = super::ErrorBody)))]
pub async fn prices(
    State(st): State<AppState>,
    super::ApiQuery(q): super::ApiQuery<PricesQuery>,
) -> Result<Json<PricesView>, ApiError> {
    let mut symbols = Vec::new();
    if let Some(list) = &q.symbols {
        for (i, s) in list.split(',').enumerate() {
            let sym = engine::Symbol::parse(s.trim())
                .map_err(|e| AppError::invalid("symbols", format!("entry {i} ({s:?}): {e}")))?;
            if sym.quote() != "USD" {
                return Err(AppError::invalid(
                    "symbols",
                    format!("entry {i} ({s:?}): a US stock is TICKER/USD"),
                )
                .into());
            }
            if !symbols.contains(&sym) {
                symbols.push(sym);
            }
        }
        if symbols.len() > 200 {
            return Err(AppError::invalid("symbols", "at most 200 symbols").into());
        }
    }
    let universe = match (&q.universe, &q.symbols) {
        (Some(u), _) => Some(u.as_str()),
        (None, None) => Some("us-stocks"),
        (None, Some(_)) => None,
    };
    if let Some(u) = universe {
        for s in crate::universes::get(u)
            .map_err(|e| AppError::invalid("universe", e))?
            .symbols()
        {
            if !symbols.contains(&s) {
                symbols.push(s);
            }
        }
    }
    Ok(Json(st.backend.prices(&symbols).await?))
}
