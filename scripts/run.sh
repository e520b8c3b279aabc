#!/usr/bin/env bash
# `make run`: install what is missing, start PostgreSQL, build, import the
# bundled data on first start, serve on http://127.0.0.1:3000.
source "$(dirname "$0")/common.sh"
"$ROOT/scripts/setup.sh"
server=$("$ROOT/scripts/db.sh")
export DATABASE_URL="${DATABASE_URL:-$server/traderai}"
log "building (release): the server and, beside it, the browser bundle"
mkdir -p "$ROOT/target"
build_site --release --site-root "$ROOT/target/site" >"$ROOT/target/site-build.log" 2>&1 &
site_pid=$!
cargo build --release -p server --bin traderai
wait $site_pid || { cat "$ROOT/target/site-build.log" >&2; die "the browser bundle did not build"; }
grep '^xtask:' "$ROOT/target/site-build.log" >&2 || true
bin="$CARGO_TARGET_DIR/release/traderai"
# Brokers' API keys are stored encrypted under this key: made once, kept
# outside the clone, readable by this user only.
if [ -z "${TRADERAI_SECRET_KEY:-}" ] && [ -z "${TRADERAI_SECRET_KEY_FILE:-}" ]; then
  key_file="$HOME/.config/traderai/secret.key"
  if [ ! -s "$key_file" ]; then
    mkdir -p "$(dirname "$key_file")"
    (umask 077; od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$key_file")
    log "made the key that encrypts broker API keys: $key_file (back it up)"
  fi
  export TRADERAI_SECRET_KEY_FILE="$key_file"
fi
"$bin" migrate
"$bin" seed --dir "$ROOT/data"
log "serving on http://127.0.0.1:3000 (Ctrl-C stops)"
LEPTOS_SITE_ROOT="$ROOT/target/site" exec "$bin" serve --addr "${TRADERAI_ADDR:-127.0.0.1:3000}"
