//! The bundled demo data: `data/manifest.toml` lists files and the series
//! they become. Importing is idempotent, so seeding twice stores nothing new.

use crate::import::{self, ImportOptions, ImportReport, layout::ColumnOverrides};
use anyhow::Context;
use engine::{Market, SeriesKey, Symbol, Timeframe};
use serde::Deserialize;
use sqlx::PgPool;
use std::path::Path;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    file: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    path: String,
    symbol: Symbol,
    timeframe: Timeframe,
    exchange: String,
    #[serde(default = "spot")]
    market: Market,
}

fn spot() -> Market {
    Market::Spot
}

pub async fn run(pool: &PgPool, dir: &Path, quiet: bool) -> anyhow::Result<Vec<ImportReport>> {
    let manifest_path = dir.join("manifest.toml");
    let text = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("reading {}", manifest_path.display()))?;
    let manifest: Manifest =
        toml::from_str(&text).with_context(|| format!("parsing {}", manifest_path.display()))?;
    let mut reports = Vec::new();
    for e in manifest.file {
        let key = SeriesKey::new(&e.exchange, e.market, e.symbol, e.timeframe)
            .with_context(|| format!("{}: entry for {}", manifest_path.display(), e.path))?;
        let opts = ImportOptions {
            key,
            format: None,
            columns: ColumnOverrides::default(),
            strict: false,
            dry_run: false,
            quiet,
        };
        reports.push(import::import_file(pool, &dir.join(&e.path), &opts).await?);
    }
    Ok(reports)
}
