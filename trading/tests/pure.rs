//! `trading` stays pure: nothing in its dependency tree runs an async
//! runtime or does network or database I/O. Paper and live accounts share
//! this core with the backtester only while that holds.

use std::process::Command;

/// Crates whose presence means I/O or an async runtime.
const FORBIDDEN: &[&str] = &[
    "tokio",
    "async-std",
    "smol",
    "mio",
    "futures",
    "sqlx",
    "reqwest",
    "hyper",
    "axum",
    "tungstenite",
];

fn tree(package: &str) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    let out = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "--manifest-path",
            manifest,
            "-p",
            package,
        ])
        .args(["-e", "normal,build", "--prefix", "none", "--format", "{p}"])
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree -p {package} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

fn forbidden_in(crates: &[String]) -> Vec<&String> {
    crates
        .iter()
        .filter(|c| {
            FORBIDDEN
                .iter()
                .any(|f| c.as_str() == *f || c.starts_with(&format!("{f}-")))
        })
        .collect()
}

#[test]
fn trading_depends_on_no_async_runtime_or_io() {
    let crates = tree("trading");
    assert!(
        crates.iter().any(|c| c == "engine"),
        "tree read: {crates:?}"
    );
    assert!(
        crates.iter().any(|c| c == "rust_decimal"),
        "tree read: {crates:?}"
    );
    let bad = forbidden_in(&crates);
    assert!(
        bad.is_empty(),
        "trading pulls in I/O or async crates: {bad:?}"
    );
}

#[test]
fn the_check_sees_io_where_it_is() {
    // The same check on `venues` (which does I/O) must find it, or the
    // test above proves nothing.
    let venues = tree("venues");
    let bad = forbidden_in(&venues);
    assert!(bad.iter().any(|c| c.as_str() == "tokio"), "{bad:?}");
    assert!(bad.iter().any(|c| c.as_str() == "reqwest"), "{bad:?}");
}
