#!/usr/bin/env bash
# Installs what is missing to build, run and test TraderAI on Debian 12.
# Idempotent: each step checks first and skips what is already there.
source "$(dirname "$0")/common.sh"

apt_missing=()
# A command that is on PATH counts, however it was installed.
need() { command -v "$1" >/dev/null 2>&1 || apt_missing+=("$2"); }
need cc build-essential
need pkg-config pkg-config
need curl curl
need git git
need node nodejs
need npm npm
need chromium chromium
need psql postgresql-client
need python3 python3
python3 -c "import ensurepip" 2>/dev/null || apt_missing+=(python3-venv)
# LightGBM (models' boosted trees) is built from source: bindgen needs libclang.
ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1 || apt_missing+=(libclang-dev)
# A PostgreSQL server only when none is reachable and none can be started locally.
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && [ -z "${DATABASE_URL:-}" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  apt_missing+=(postgresql)
fi
if [ ${#apt_missing[@]} -gt 0 ]; then
  log "apt: installing ${apt_missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${apt_missing[@]}"
fi

if ! command -v cargo >/dev/null; then
  log "installing Rust (rustup)"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
fi
rustup target list --installed 2>/dev/null | grep -q wasm32-unknown-unknown || { log "adding wasm32 target"; rustup target add wasm32-unknown-unknown; }
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt clippy

# The browser bundle is built by `cargo run -p xtask -- site` (wasm-bindgen
# as a library), so neither cargo-leptos nor wasm-bindgen-cli is installed:
# together they were 16.5 min of a cold start. People who have cargo-leptos
# can still use it (`[[workspace.metadata.leptos]]` in Cargo.toml).

# Playwright test runner and wasm-opt (Debian's binaryen 108 breaks hydration; npm's 132 works).
if [ ! -x end2end/node_modules/.bin/playwright ] || [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
  log "npm: installing end2end tools"
  (cd end2end && npm ci --no-audit --no-fund)
fi
# libtorch from PyPI (tch 0.22 wants exactly torch 2.9.0); the CUDA wheel also runs without a GPU.
if ! "$TRADERAI_VENV/bin/python" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.9.0')" 2>/dev/null; then
  log "installing PyTorch 2.9.0 into $TRADERAI_VENV (first time: ~3 min, 6.7 GB)"
  python3 -m venv "$TRADERAI_VENV"
  "$TRADERAI_VENV/bin/python" -m pip install -q torch==2.9.0
fi
# LightGBM's CMakeLists wants CMake >= 3.28; Debian 12 ships 3.25, PyPI has it.
if ! "$TRADERAI_VENV/bin/cmake" --version 2>/dev/null | grep -qE 'version 3\.(2[89]|3[0-9])'; then
  log "installing CMake 3.x into $TRADERAI_VENV (LightGBM needs >= 3.28)"
  "$TRADERAI_VENV/bin/python" -m pip install -q "cmake>=3.28,<4"
fi
# The test command's Python tools: the Compose schema check and the API fuzzer.
if ! "$TRADERAI_VENV/bin/python" -c "import jsonschema, yaml" 2>/dev/null || ! "$TRADERAI_VENV/bin/schemathesis" --version 2>/dev/null | grep -q "4.32.5"; then
  log "installing schemathesis 4.32.5 and jsonschema into $TRADERAI_VENV"
  "$TRADERAI_VENV/bin/python" -m pip install -q "schemathesis==4.32.5" "jsonschema>=4.20" pyyaml
fi
log "setup complete"
