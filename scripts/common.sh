# Shared by run.sh, test.sh and bench scripts: paths and small helpers.
# shellcheck shell=bash
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# Compiled dependencies live outside the clone so fresh clones (CI) reuse them.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/traderai-target}"
# cargo-leptos builds debug binaries with this flag; giving cargo test the same
# flags lets both share one set of compiled dependencies instead of two.
export RUSTFLAGS="${RUSTFLAGS:---cfg erase_components}"
export PATH="$HOME/.cargo/bin:$ROOT/end2end/node_modules/.bin:$PATH"
# PyTorch 2.9.0 (libtorch for the `tch` feature, and the reference benchmarks)
# lives in a venv outside the clone, like the target directory: 6.7 GB.
export TRADERAI_VENV="${TRADERAI_VENV:-$HOME/.cache/traderai-venv}"
# torch-sys (the `tch` feature, on by default) asks the venv's python where
# libtorch is; build.rs then bakes that path into the binaries (rpath).
export LIBTORCH_USE_PYTORCH=1 VIRTUAL_ENV="$TRADERAI_VENV"
export PATH="$TRADERAI_VENV/bin:$PATH"

log() { printf '\033[1;36m==> %s\033[0m\n' "$*" >&2; }
die() { printf '\033[1;31merror: %s\033[0m\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "need root for: $*"; fi
}

# The browser bundle (xtask: wasm-bindgen as a library, wasm-opt, assets),
# built in a target folder of its own so it can run beside a server build:
#   build_site [--release] [--site-root DIR]
build_site() { cargo run -q --target-dir "$CARGO_TARGET_DIR/front" -p xtask -- site --target-dir "$CARGO_TARGET_DIR/front" "$@"; }
