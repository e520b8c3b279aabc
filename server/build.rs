//! With libtorch (feature `tch`): record where it lives in `traderai` and
//! the test binaries (rpath): the binary finds libtorch with nothing exported.
fn main() {
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
