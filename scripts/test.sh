#!/usr/bin/env bash
# `make test`: every test. Unit and integration tests (each integration test
# gets a fresh PostgreSQL database), then the browser end-to-end suite
# against a real server and a freshly seeded database.
source "$(dirname "$0")/common.sh"
"$ROOT/scripts/setup.sh"
server=$("$ROOT/scripts/db.sh")
export TEST_DATABASE_URL="$server/postgres"

# Databases left by earlier runs.
for db in $(psql "$TEST_DATABASE_URL" -qAtc "select datname from pg_database where datname like 'traderai_test_%' "); do
  psql "$TEST_DATABASE_URL" -qc "drop database if exists \"$db\" with (force)" >/dev/null
done

# The browser bundle for the end-to-end suite builds beside everything
# below, in its own target folder (see build_site in common.sh).
mkdir -p "$ROOT/target"
build_site --site-root "$ROOT/target/site" >"$ROOT/target/site-build.log" 2>&1 &
site_pid=$!
trap 'kill $site_pid 2>/dev/null || true' EXIT

log "format check"
cargo fmt --all --check

log "deployment files (Compose Specification schema; no Docker engine here)"
"$TRADERAI_VENV/bin/python" "$ROOT/scripts/check-deploy.py"

log "clippy, server and browser targets (-D warnings)"
cargo clippy --workspace --exclude frontend --all-targets -- -D warnings
cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings

log "unit and integration tests"
cargo test --workspace --exclude frontend

log "API contract: schemathesis against /api-docs/openapi.json (all checks, seed 1, 120 s)"
TRADERAI_BIN="$CARGO_TARGET_DIR/debug/traderai" "$ROOT/scripts/fuzz-api.sh"

log "end-to-end tests (Chromium)"
wait $site_pid || { cat "$ROOT/target/site-build.log" >&2; die "the browser bundle did not build"; }
grep '^xtask:' "$ROOT/target/site-build.log" >&2 || true
TRADERAI_SITE_BUILT=1 "$ROOT/scripts/e2e.sh"
