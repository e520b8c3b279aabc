//! The data behind the choice of booster (BENCHMARKS.md "Gradient
//! boosting"): the bundled daily series, the same purged walk-forward folds
//! and hold-outs as training, tabular rows written per fold for
//! scripts/bench_boost.py, and our LightGBM binding's out-of-sample scores.
//!
//! cargo run --release -p models --example boost_compare -- OUT_DIR

use std::io::Write;
use std::path::{Path, PathBuf};

use engine::walkforward::WalkForwardConfig;
use models::boost::{BoostConfig, Boosted, rows};
use models::data::{Dataset, Sample};
use models::metrics;

// The tests' reader of the bundled series (engine's golden files).
#[path = "../tests/common/mod.rs"]
mod common;

const SERIES: [&str; 5] = ["btc-usd-1d", "amzn-1d", "msft-1d", "nflx-1d", "nvda-1d"];

fn write(path: &Path, ds: &Dataset, samples: &[Sample], cfg: &BoostConfig) {
    let cols = cfg.columns(&ds.names);
    let x = rows(ds, samples, &cfg.lags);
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    writeln!(w, "{},class,move", cols.join(",")).expect("write");
    for (s, row) in samples.iter().zip(x.chunks_exact(cols.len())) {
        let (c, m) = ds.target(s);
        let vals: Vec<String> = row.iter().map(|v| format!("{v:.10e}")).collect();
        writeln!(w, "{},{c},{m}", vals.join(",")).expect("write");
    }
}

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or("boost-compare".into()));
    std::fs::create_dir_all(&out).expect("out dir");
    let ds = common::daily(&SERIES, 60);
    let cfg = BoostConfig::default();
    let pipeline = models::pipeline::PipelineConfig::default();
    let wf = WalkForwardConfig {
        folds: pipeline.folds,
        scheme: pipeline.scheme,
        embargo_frac: pipeline.embargo_frac,
        ..WalkForwardConfig::default()
    };
    let mut results = Vec::new();
    for fold in ds.folds(&wf).expect("folds") {
        let h = ds
            .holdout(&fold.train, pipeline.val_frac, pipeline.calib_frac)
            .expect("holdout");
        let dir = out.join(format!("fold-{}", fold.index));
        std::fs::create_dir_all(&dir).expect("fold dir");
        write(&dir.join("fit.csv"), &ds, &h.fit, &cfg);
        write(&dir.join("val.csv"), &ds, &h.validation, &cfg);
        write(&dir.join("test.csv"), &ds, &fold.test, &cfg);
        let (trees, report) = Boosted::fit(&ds, &h.fit, &h.validation, &cfg).expect("fit");
        let p = trees.predict(&ds, &fold.test).expect("predict");
        let (classes, targets): (Vec<u8>, Vec<f32>) =
            fold.test.iter().map(|s| ds.target(s)).unzip();
        let m = metrics::classification(&p.probs, &classes, &p.moves, &targets);
        results.push(serde_json::json!({
            "fold": fold.index, "fit": h.fit.len(), "validation": h.validation.len(),
            "test": fold.test.len(), "report": report, "metrics": m,
        }));
    }
    let json = serde_json::to_string_pretty(&results).expect("json");
    std::fs::write(out.join("rust_lightgbm.json"), &json).expect("write");
    println!("{json}");
}
