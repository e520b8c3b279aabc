#!/usr/bin/env bash
# The browser end-to-end suite alone: a fresh seeded database, the real
# server built by cargo-leptos, Playwright driving Debian's Chromium.
source "$(dirname "$0")/common.sh"
server=$("$ROOT/scripts/db.sh")
psql "$server/postgres" -qc "drop database if exists traderai_e2e with (force)" >/dev/null
export DATABASE_URL="$server/traderai_e2e" TRADERAI_SEED_DIR="$ROOT/data"
# The first admin the tests sign in as; the mock exchange runs from the same binary.
export ADMIN_USER=admin ADMIN_PASS=e2e-admin-pass TRADERAI_BIN="$CARGO_TARGET_DIR/debug/traderai"
# Models trained by the suite, fresh each run: job ids restart with the
# database, and a job resumes from its id's epoch checkpoints.
export TRADERAI_MODEL_DIR="$ROOT/var/e2e-models"
rm -rf "$TRADERAI_MODEL_DIR"
# cargo-leptos 0.3.10's end-to-end exits 0 when the build fails and no test
# ran: build first (that exit code is honest), then require Playwright's own
# report to show tests that ran and none that failed.
report="$ROOT/end2end/playwright-report/results.json"
rm -f "$report"
cargo leptos build
cargo leptos end-to-end
python3 - "$report" <<'PY'
import json, sys
try:
    stats = json.load(open(sys.argv[1]))["stats"]
except (OSError, ValueError, KeyError) as e:
    sys.exit(f"end-to-end: no Playwright report ({e}): the suite did not run")
print(f"end-to-end: {stats['expected']} passed, {stats['unexpected']} failed, {stats['flaky']} flaky, {stats['skipped']} skipped")
sys.exit(1 if stats["unexpected"] or stats["expected"] == 0 else 0)
PY
