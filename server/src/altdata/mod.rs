//! Alternative data for the models: news and social sentiment and macro
//! series — imported from files ([`import`]) or fetched from their sources
//! ([`fetch`]), stored in PostgreSQL, and read back as a model's feature
//! groups ([`inputs_for`]).

pub mod fetch;
pub mod import;

use crate::db::{self, DbError};
use engine::altdata::MACRO_SERIES;
use engine::{Candle, TimeMs};
use models::data::{AltInputs, FeatureGroup};
use sqlx::PgPool;

/// The ticker sentiment is stored under for a symbol: its base asset
/// (`NVDA/USD` → `NVDA`, `BTC/USDT` → `BTC`).
pub fn ticker_of(symbol: &str) -> &str {
    symbol.split('/').next().unwrap_or(symbol)
}

/// What the groups need for one series spanning `candles`: the symbol's
/// items over the span and every macro series (whole: a value released long
/// before the first bar is still the one in force).
pub async fn inputs_for(
    pool: &PgPool,
    symbol: &str,
    candles: &[Candle],
    groups: &[FeatureGroup],
) -> Result<AltInputs, DbError> {
    let mut alt = AltInputs::default();
    let Some(first) = candles.first() else {
        return Ok(alt);
    };
    if groups.contains(&FeatureGroup::Sentiment) {
        // Items after the last bar's open may still fall inside it.
        alt.sentiment =
            db::altdata::sentiment_of(pool, ticker_of(symbol), first.open_time, TimeMs::MAX)
                .await?;
    }
    if groups.contains(&FeatureGroup::Macro) {
        for id in MACRO_SERIES {
            let obs = db::altdata::macro_of(pool, id).await?;
            if !obs.is_empty() {
                alt.macro_series.push((id.to_string(), obs));
            }
        }
    }
    Ok(alt)
}

/// Loads each series' inputs for `groups` (nothing when there are none).
pub async fn attach(
    pool: &PgPool,
    series: &mut [crate::research::Loaded],
    groups: &[FeatureGroup],
) -> Result<(), DbError> {
    if groups.is_empty() {
        return Ok(());
    }
    for s in series.iter_mut() {
        s.alt = inputs_for(pool, &s.symbol, &s.candles, groups).await?;
        if groups.contains(&FeatureGroup::Sentiment) && s.alt.sentiment.is_empty() {
            tracing::warn!(symbol = %s.symbol, "no sentiment stored for this symbol; its sentiment columns read 0 (import or fetch some: traderai altdata)");
        }
    }
    if groups.contains(&FeatureGroup::Macro)
        && series
            .first()
            .is_some_and(|s| s.alt.macro_series.is_empty())
    {
        tracing::warn!(
            "no macro series stored; the macro columns read 0 (traderai altdata fetch --fred, or import)"
        );
    }
    Ok(())
}

/// `base` extended with the SHA-256 of every input of the groups, in order.
pub fn digest<'a>(base: &str, alt: impl Iterator<Item = &'a AltInputs>) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(base.as_bytes());
    for a in alt {
        for i in &a.sentiment {
            h.update(i.time.to_le_bytes());
            h.update(i.score.to_le_bytes());
        }
        h.update(b"|");
        for (id, obs) in &a.macro_series {
            h.update(id.as_bytes());
            for o in obs {
                h.update(o.period.to_le_bytes());
                h.update(o.released.to_le_bytes());
                h.update(o.value.to_le_bytes());
            }
        }
        h.update(b"#");
    }
    format!("{:x}", h.finalize())
}
