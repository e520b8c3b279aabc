#!/usr/bin/env bash
# The API against its own OpenAPI document: schemathesis (PyPI) with every
# check, a fixed seed and a time budget, as an admin, on a database of its
# own. Any finding fails. Part of `make test`; alone: scripts/fuzz-api.sh
#   TRADERAI_FUZZ_SECONDS (default 120)   TRADERAI_BIN (default: the test build)
source "$(dirname "$0")/common.sh"
server=$("$ROOT/scripts/db.sh")
db=traderai_fuzz
psql "$server/postgres" -qc "drop database if exists $db with (force)" >/dev/null
export DATABASE_URL="$server/$db"
export ADMIN_USER=admin ADMIN_PASS=fuzz-admin-pass-0123
export TRADERAI_SECRET_KEY=f0220000000000000000000000000000000000000000000000000000000000ff
export TRADERAI_MODEL_DIR="$ROOT/target/fuzz-models" TRADERAI_WORKERS=0
bin="${TRADERAI_BIN:-$CARGO_TARGET_DIR/debug/traderai}"
[ -x "$bin" ] || die "no server binary at $bin (cargo test --no-run builds it)"
addr=127.0.0.1:3097
curl -s -o /dev/null "http://$addr/" && die "something already listens on $addr"
cfg="$ROOT/target/fuzz.toml"
mkdir -p "$ROOT/target"
# Nothing followed (no venue to reach); the bundled data seeds the store;
# stock prices asked of a closed local port (no provider is reached).
printf '[follow]\nenabled = false\n[stocks]\nchain = ["yahoo"]\n[stocks.yahoo]\nbase_url = "http://127.0.0.1:9"\nrequests_per_min = 0\nmax_retries = 0\nbackoff_base_ms = 1\nbackoff_max_ms = 1\nrequest_timeout_ms = 500\nmax_wait_ms = 0\n[web]\n# Schema-valid sign-ins must not meet the throttle (it has its own tests).\nlogin_attempts_per_minute = 1000000\n' >"$cfg"
TRADERAI_SEED_DIR="$ROOT/data" "$bin" --config "$cfg" serve --addr "$addr" --site-root "$ROOT/target/site" >"$ROOT/target/fuzz-server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
for _ in $(seq 600); do
  curl -sf "http://$addr/health/ready" >/dev/null && break
  kill -0 $pid 2>/dev/null || { tail -30 "$ROOT/target/fuzz-server.log"; die "the server exited"; }
  sleep 0.2
done
jar=$(mktemp)
csrf=$(curl -sf -c "$jar" -H 'content-type: application/json' -d "{\"username\":\"admin\",\"password\":\"$ADMIN_PASS\"}" "http://$addr/api/v1/auth/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["csrf"])')
token=$(curl -sf -b "$jar" -H "x-csrf-token: $csrf" -H 'content-type: application/json' -d '{"name":"fuzz"}' "http://$addr/api/v1/tokens" | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
rm -f "$jar"
log "schemathesis: all checks, seed 1, ${TRADERAI_FUZZ_SECONDS:-120} s"
# Signing out and revoking tokens would end the run's own credentials. One
# worker: hypothesis's lambda descriptions are not thread-safe on Python 3.11
# ("AST constructor recursion depth mismatch" with two).
"$TRADERAI_VENV/bin/schemathesis" --config-file "$ROOT/scripts/schemathesis.toml" run "http://$addr/api-docs/openapi.json" \
  --checks all --seed 1 --max-time "${TRADERAI_FUZZ_SECONDS:-120}" --workers 1 \
  --header "Authorization: Bearer $token" \
  --exclude-path /api/v1/auth/logout --exclude-path-regex '^/api/v1/tokens/' \
  --report junit --report-dir "$ROOT/target/fuzz-report" \
  --no-color
