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

log "format check"
cargo fmt --all --check

log "unit and integration tests"
cargo test --workspace --exclude frontend

log "end-to-end tests (Chromium)"
"$ROOT/scripts/e2e.sh"
