//! With libtorch (feature `tch`): record where it lives in `traderai` and
//! the test binaries (rpath): the binary finds libtorch with nothing exported.
//! `sqlx::migrate!` embeds `migrations/`: a new file there must rebuild us.
//! Reports and models record the commit they were built from: the
//! `TRADERAI_GIT_SHA` of the build (Docker passes it in: no `.git` there),
//! else what git says of this checkout.
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
    println!("cargo:rerun-if-env-changed=TRADERAI_GIT_SHA");
    let sha = std::env::var("TRADERAI_GIT_SHA")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .or_else(git_sha)
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=TRADERAI_GIT_SHA={}", sha.trim());
}

/// HEAD's commit; `None` outside a git checkout.
fn git_sha() -> Option<String> {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let sha = git(&["rev-parse", "--short=12", "HEAD"])?;
    // A new commit moves the branch ref (or packed-refs), not HEAD itself.
    // Only existing paths: a missing one would rerun this on every build.
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        let head = git(&["symbolic-ref", "-q", "HEAD"]);
        for path in ["HEAD", "packed-refs"].into_iter().chain(head.as_deref()) {
            let path = std::path::Path::new(&dir).join(path);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    Some(sha)
}
