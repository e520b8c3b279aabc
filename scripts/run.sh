#!/usr/bin/env bash
# `make run`: install what is missing, start PostgreSQL, build, import the
# bundled data on first start, serve on http://127.0.0.1:3000.
source "$(dirname "$0")/common.sh"
"$ROOT/scripts/setup.sh"
server=$("$ROOT/scripts/db.sh")
export DATABASE_URL="${DATABASE_URL:-$server/traderai}"
log "building (release)"
cargo leptos build --release
bin="$CARGO_TARGET_DIR/release/traderai"
"$bin" migrate
"$bin" seed --dir "$ROOT/data"
log "serving on http://127.0.0.1:3000 (Ctrl-C stops)"
LEPTOS_SITE_ROOT="$ROOT/target/site" exec "$bin" serve --addr "${TRADERAI_ADDR:-127.0.0.1:3000}"
