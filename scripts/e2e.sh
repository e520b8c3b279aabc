#!/usr/bin/env bash
# The browser end-to-end suite alone: a fresh seeded database, the real
# server, Playwright driving Debian's Chromium.
#
# The server is the very binary `cargo test` built for the integration
# tests (same command, same features, so nothing is compiled twice); the
# browser bundle comes from the xtask. The gate trusts Playwright's JSON
# report, not an exit code alone: it fails on any error (a spec that does
# not load), any failed test, and when fewer tests ran than the specs hold.
source "$(dirname "$0")/common.sh"
server=$("$ROOT/scripts/db.sh")
psql "$server/postgres" -qc "drop database if exists traderai_e2e with (force)" >/dev/null
export DATABASE_URL="$server/traderai_e2e" TRADERAI_SEED_DIR="$ROOT/data"
# The first admin the tests sign in as; the mock exchange runs from the same binary.
export ADMIN_USER=admin ADMIN_PASS=e2e-admin-pass TRADERAI_BIN="$CARGO_TARGET_DIR/debug/traderai"
# Models trained by the suite, fresh each run: job ids restart with the
# database, and a job resumes from its id's epoch checkpoints.
export TRADERAI_MODEL_DIR="$ROOT/var/e2e-models"
# Broker keys are sealed under it (a test key).
export TRADERAI_SECRET_KEY=e2e0000000000000000000000000000000000000000000000000000000000000
rm -rf "$TRADERAI_MODEL_DIR"
addr=127.0.0.1:3000
site="$ROOT/target/site"

log "e2e: server (the integration tests' build) and browser bundle"
cargo test --workspace --exclude frontend --no-run
# test.sh builds the bundle beside the Rust tests and says so.
[ -n "${TRADERAI_SITE_BUILT:-}" ] || build_site --site-root "$site"
[ -x "$TRADERAI_BIN" ] || die "no server binary at $TRADERAI_BIN"

curl -s -o /dev/null "http://$addr/" && die "something already listens on $addr"
# The followed venue: a mock replaying the bundled BTC 15m bars at 120× (a
# bar every 7.5 s), which the live spec also halts and resumes.
live_mock=127.0.0.1:3101
curl -s -o /dev/null "http://$live_mock/" && die "something already listens on $live_mock"
"$TRADERAI_BIN" mock-exchange --addr "$live_mock" --replay "$ROOT/data/btc-usd-15m-yahoo.csv=BTC/USDT@15m" --speed 120x >"$ROOT/target/e2e-mock.log" 2>&1 &
mock_pid=$!
trap 'kill $mock_pid 2>/dev/null' EXIT
for _ in $(seq 100); do curl -sf "http://$live_mock/mock/clock" >/dev/null && break; sleep 0.1; done
"$TRADERAI_BIN" --config "$ROOT/end2end/traderai-e2e.toml" serve --addr "$addr" --site-root "$site" >"$ROOT/target/e2e-server.log" 2>&1 &
serve_pid=$!
trap 'kill $serve_pid $mock_pid 2>/dev/null; wait $serve_pid 2>/dev/null' EXIT
for _ in $(seq 600); do
  curl -sf "http://$addr/health/ready" >/dev/null && break
  kill -0 $serve_pid 2>/dev/null || { tail -50 "$ROOT/target/e2e-server.log"; die "the server exited before it was ready"; }
  sleep 0.2
done
curl -sf "http://$addr/health/ready" >/dev/null || die "the server did not get ready (target/e2e-server.log)"

report="$ROOT/end2end/playwright-report/results.json"
rm -f "$report"
cd "$ROOT/end2end"
# Every test the specs declare, as Playwright itself counts them (a spec
# that fails to load lists nothing and shows up in the run's errors).
npx playwright test --list --reporter=json >"$ROOT/target/e2e-list.json" 2>/dev/null || true
listed=$(python3 - "$ROOT/target/e2e-list.json" <<'PY'
import json, sys
def walk(s):
    return sum(len(sp.get("tests", [])) for sp in s.get("specs", [])) + sum(walk(c) for c in s.get("suites", []))
try:
    print(sum(walk(s) for s in json.load(open(sys.argv[1])).get("suites", [])))
except (OSError, ValueError):
    print(0)
PY
)
specs=$(find tests -name '*.spec.ts' | wc -l)
set +e
BASE_URL="http://$addr" npx playwright test
rc=$?
set -e
python3 - "$report" "$listed" "$specs" "$rc" <<'PY'
import json, sys
path, listed, specs, rc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
try:
    d = json.load(open(path))
except (OSError, ValueError) as e:
    sys.exit(f"end-to-end: no Playwright report ({e}): the suite did not run")
stats, errors = d.get("stats", {}), d.get("errors", [])
ran = stats.get("expected", 0) + stats.get("unexpected", 0) + stats.get("flaky", 0)
files = {s.get("file") for s in d.get("suites", []) if s.get("specs") or s.get("suites")}
print(f"end-to-end: {stats.get('expected', 0)} passed, {stats.get('unexpected', 0)} failed, "
      f"{stats.get('flaky', 0)} flaky, {stats.get('skipped', 0)} skipped; {len(errors)} errors; "
      f"{ran} of {listed} listed tests ran, {len(files)} of {specs} spec files")
problems = []
if errors:
    problems += [f"error: {e.get('message', e)}"[:500] for e in errors]
if stats.get("unexpected", 0):
    problems.append(f"{stats['unexpected']} test(s) failed")
if ran == 0:
    problems.append("no test ran")
if listed == 0 or ran < listed:
    problems.append(f"only {ran} of {listed} listed tests ran")
if len(files) < specs:
    problems.append(f"only {len(files)} of {specs} spec files ran")
if rc != 0 and not problems:
    problems.append(f"playwright exited with {rc}")
for p in problems:
    print("end-to-end gate:", p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY
