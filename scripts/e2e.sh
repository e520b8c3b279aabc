#!/usr/bin/env bash
# The browser end-to-end suite alone: a fresh seeded database, the real
# server built by cargo-leptos, Playwright driving Debian's Chromium.
source "$(dirname "$0")/common.sh"
server=$("$ROOT/scripts/db.sh")
psql "$server/postgres" -qc "drop database if exists traderai_e2e with (force)" >/dev/null
export DATABASE_URL="$server/traderai_e2e" TRADERAI_SEED_DIR="$ROOT/data"
# The first admin the tests sign in as; the mock exchange runs from the same binary.
export ADMIN_USER=admin ADMIN_PASS=e2e-admin-pass TRADERAI_BIN="$CARGO_TARGET_DIR/debug/traderai"
cargo leptos end-to-end
