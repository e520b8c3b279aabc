//! With libtorch (feature `tch`): record where it lives in `traderai` and
//! the test binaries (rpath): the binary finds libtorch with nothing exported.
//! `sqlx::migrate!` embeds `migrations/`: a new file there must rebuild us.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
