//! `cargo run -p xtask -- site [--release] [--site-root DIR] [--target-dir DIR]`:
//! the browser bundle that `traderai serve` hands out, built without
//! cargo-leptos.
//!
//! 1. `cargo build -p frontend --lib --target wasm32-unknown-unknown
//!    --features hydrate` (dev profile, or `wasm-release` with `--release`);
//! 2. wasm-bindgen (the library, not the CLI) → `pkg/traderai.js` and
//!    `pkg/traderai_bg.wasm`, the names leptos's `HydrationScripts` asks for
//!    in a server built without cargo-leptos;
//! 3. with `--release`, `wasm-opt -Oz` (binaryen from npm: Debian's 108
//!    breaks hydration);
//! 4. `style/main.css` → `pkg/traderai.css`, `public/` → the site root.

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The name leptos's config gives the bundle (`output-name` in
/// `server/src/web/mod.rs`).
const OUTPUT_NAME: &str = "traderai";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("site") => site(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo run -p xtask -- site [--release] [--site-root DIR] [--target-dir DIR]"
            );
            std::process::exit(2)
        }
    }
}

/// The checkout that ran `cargo run -p xtask`: cargo sets CARGO_MANIFEST_DIR
/// for the program it runs. Not the compile-time value: checkouts sharing one
/// target folder (CI clones) share the xtask binary too, and a baked-in path
/// built another checkout's stale bundle, reported as fresh.
fn workspace_root() -> PathBuf {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    Path::new(&dir)
        .parent()
        .expect("xtask sits inside the workspace")
        .to_path_buf()
}

fn site(args: &[String]) -> anyhow::Result<()> {
    let root = workspace_root();
    let mut release = false;
    let mut site_root = root.join("target/site");
    // The browser build gets a target folder of its own (as cargo-leptos's
    // `target/front`): cargo locks a target folder per build, and with its
    // own the bundle builds while the server does, filling the cores each
    // build leaves idle in its single-threaded stretches (links, LTO).
    let mut target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_absolute() { p } else { root.join(p) })
        .unwrap_or_else(|| root.join("target"))
        .join("front");
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--release" => release = true,
            "--site-root" => {
                site_root = PathBuf::from(it.next().context("--site-root needs a folder")?)
            }
            "--target-dir" => {
                target_dir = PathBuf::from(it.next().context("--target-dir needs a folder")?)
            }
            other => bail!("site: unknown argument {other:?}"),
        }
    }
    let profile = if release { "wasm-release" } else { "dev" };
    let pkg = site_root.join("pkg");

    let t = Instant::now();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&root)
        .args([
            "build",
            "-p",
            "frontend",
            "--lib",
            "--target",
            "wasm32-unknown-unknown",
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .args([
            "--no-default-features",
            "--features",
            "hydrate",
            "--profile",
            profile,
        ])
        .status()
        .context("running cargo build for the browser bundle")?;
    if !status.success() {
        bail!("the browser bundle did not build (cargo exited with {status})");
    }
    let wasm = target_dir
        .join("wasm32-unknown-unknown")
        .join(if release { "wasm-release" } else { "debug" })
        .join("frontend.wasm");
    eprintln!(
        "xtask: frontend.wasm built in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    std::fs::create_dir_all(&pkg).with_context(|| format!("creating {}", pkg.display()))?;
    wasm_bindgen_cli_support::Bindgen::new()
        .input_path(&wasm)
        .out_name(OUTPUT_NAME)
        .web(true)?
        .typescript(false)
        .generate(&pkg)
        .with_context(|| format!("wasm-bindgen on {}", wasm.display()))?;
    let out_wasm = pkg.join(format!("{OUTPUT_NAME}_bg.wasm"));
    eprintln!("xtask: wasm-bindgen in {:.1} s", t.elapsed().as_secs_f64());

    if release {
        let t = Instant::now();
        let status = Command::new("wasm-opt")
            .args(["-Oz", "--enable-bulk-memory", "--enable-nontrapping-float-to-int"])
            .arg(&out_wasm)
            .arg("-o")
            .arg(&out_wasm)
            .status()
            .context(
                "running wasm-opt (binaryen; scripts/setup.sh installs it under end2end/node_modules/.bin)",
            )?;
        if !status.success() {
            bail!("wasm-opt failed on {} ({status})", out_wasm.display());
        }
        eprintln!("xtask: wasm-opt in {:.1} s", t.elapsed().as_secs_f64());
    }

    std::fs::copy(
        root.join("style/main.css"),
        pkg.join(format!("{OUTPUT_NAME}.css")),
    )
    .context("copying style/main.css")?;
    copy_dir(&root.join("public"), &site_root)?;
    let size = std::fs::metadata(&out_wasm)?.len();
    eprintln!(
        "xtask: site in {} ({} profile, {OUTPUT_NAME}_bg.wasm {} KB)",
        site_root.display(),
        profile,
        size / 1024
    );
    Ok(())
}

/// Copies the files under `from` into `to`, keeping the folder structure.
fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    if !from.exists() {
        return Ok(());
    }
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            std::fs::create_dir_all(&dest)?;
            copy_dir(&entry.path(), &dest)?;
        } else {
            std::fs::copy(entry.path(), &dest)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}
