#!/usr/bin/env bash
# Benchmarks of the data layer (numbers go to BENCHMARKS.md). Release build,
# a dedicated database `traderai_bench`, the mock exchange on loopback.
#   scripts/bench.sh [indicators|backtest|ingest|backfill|limits|read|web|live]...   (default: all)
# Synthetic candles (mock `SYN*` symbols, a generated Binance CSV) are used
# only here, for scale; tests use the real data in data/.
source "$(dirname "$0")/common.sh"
server=$("$ROOT/scripts/db.sh")
export DATABASE_URL="$server/traderai_bench"
bin="$CARGO_TARGET_DIR/release/traderai"
out="$ROOT/target/bench"; mkdir -p "$out"
what=("$@"); [ ${#what[@]} -eq 0 ] && what=(indicators backtest ingest backfill limits read web live paper notify)
# `web` builds the binary and the release site (xtask) itself.
if [ "${what[*]}" != "web" ]; then
  cargo build --release -p server --bin traderai --example range_read --example live_latency --example paper_latency >&2
fi
command -v wrk >/dev/null || { [[ " ${what[*]} " == *" web "* ]] && as_root apt-get install -y -qq wrk >&2; }

fresh_db() {
  psql "$server/postgres" -qc "drop database if exists traderai_bench with (force)" >/dev/null
  "$bin" migrate >/dev/null
}
mock() { # mock [weight limit] → sets MOCK_PID, MOCK_URL
  "$bin" mock-exchange --addr 127.0.0.1:18089 --weight-limit "${1:-0}" >"$out/mock.log" 2>&1 &
  MOCK_PID=$!; MOCK_URL=http://127.0.0.1:18089
  for _ in $(seq 50); do curl -sf "$MOCK_URL/api/v3/ping" >/dev/null && return; sleep 0.1; done; die "mock did not start"
}
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

for w in "${what[@]}"; do case "$w" in
indicators)
  log "indicators: the 20 standard columns over 1,000,000 bars, ours vs TA-Lib (C, via Python)"
  cargo run --release -q -p engine --example indicators_bench > "$out/ind-rust.json"
  python3 -c "import talib" 2>/dev/null || pip install -q ta-lib==0.8.2 numpy
  python3 "$ROOT/scripts/bench_indicators.py" > "$out/ind-talib.json"
  python3 - "$out/ind-rust.json" "$out/ind-talib.json" <<'PY'
import json, sys
r, t = (json.load(open(p)) for p in sys.argv[1:3])
print(f"traderai engine: {r['best_of_5_s']:.4f} s ({r['bars_per_s']:,} bars/s); TA-Lib: {t['best_of_5_s']:.4f} s ({t['bars_per_s']:,} bars/s); "
      f"ratio {t['best_of_5_s']/r['best_of_5_s']:.2f}x; checksums {r['checksum']} vs {t['checksum']}")
print(f"features (18 + 1h/4h/1d join + regime, all indicators inside): {r['features_best_of_3_s']:.4f} s for {r['features_rows']:,} rows; "
      f"TA-Lib's indicators alone / our features = {t['best_of_5_s']/r['features_best_of_3_s']:.2f}x")
PY
  ;;
backtest)
  log "backtest: SMA(10/20) cross, 1 % stop, 2 % target over 1,000,000 bars, ours vs backtesting.py 0.6.6"
  cargo run --release -q -p engine --example backtest_bench > "$out/bt-rust.json"
  python3 -c "import backtesting" 2>/dev/null || pip install -q backtesting==0.6.6 pandas numpy
  python3 "$ROOT/scripts/bench_backtest.py" > "$out/bt-py.json"
  python3 - "$out/bt-rust.json" "$out/bt-py.json" <<'PY'
import json, sys
r, p = (json.load(open(x)) for x in sys.argv[1:3])
print(f"traderai backtest: {r['best_of_3_s']:.4f} s ({r['bars_per_s']:,} bars/s, {r['trades']} trades); "
      f"backtesting.py: {p['seconds']:.3f} s ({p['bars_per_s']:,} bars/s, {p['trades']} trades); ratio {p['seconds']/r['best_of_3_s']:.1f}x")
PY
  ;;
ingest)
  log "ingest: import a 2,000,000-row Binance 1m kline CSV (synthetic)"
  python3 - "$out/klines-2m.csv" <<'PY'
import sys, math
t0 = 1577836800000
with open(sys.argv[1], "w") as f:
    for i in range(2_000_000):
        p = 100 + 20 * math.sin(i / 500) + 5 * math.sin(i / 37)
        q = 100 + 20 * math.sin((i + 1) / 500) + 5 * math.sin((i + 1) / 37)
        f.write(f"{t0 + i*60000},{p:.4f},{max(p,q)+0.5:.4f},{min(p,q)-0.5:.4f},{q:.4f},{1000+i%977}.5,{t0+i*60000+59999},0,1,0,0,0\n")
PY
  fresh_db
  start=$(date +%s.%N)
  "$bin" import "$out/klines-2m.csv" --symbol SYN/USDT --timeframe 1m --exchange bench --json > "$out/ingest.json"
  end=$(date +%s.%N)
  stored=$(json "d['reports'][0]['stored']" < "$out/ingest.json")
  python3 -c "print(f'import: {$stored} candles in {$end-$start:.2f} s = {$stored/($end-$start):,.0f} candles/s (parse + COPY + insert)')"
  start=$(date +%s.%N)
  "$bin" import "$out/klines-2m.csv" --symbol SYN/USDT --timeframe 1m --exchange bench --json > "$out/ingest2.json"
  end=$(date +%s.%N)
  python3 -c "print(f're-import (all duplicates): {$end-$start:.2f} s, stored', $(json "d['reports'][0]['stored']" < "$out/ingest2.json"))"
  ;;
backfill)
  log "backfill: 4 symbols x 262,080 1m candles from the mock, rate limits off"
  fresh_db; mock 0
  "$bin" backfill --symbols SYN1/USDT,SYN2/USDT,SYN3/USDT,SYN4/USDT --timeframe 1m --from 2020-01-01 --to 2020-07-01 \
    --base-url "$MOCK_URL" --weight-limit 0 --json > "$out/backfill.json"
  kill $MOCK_PID
  json "f\"backfill (no limits): {d['detail']['stored']:,} candles in {d['detail']['elapsed_s']:.2f} s = {d['detail']['candles_per_s']:,.0f} candles/s, {d['detail']['pages']} requests\"" < "$out/backfill.json"
  ;;
limits)
  log "backfill under Binance spot limits (mock enforces 6000 weight/min): 3 full minutes"
  fresh_db; mock 6000
  # Start on a minute boundary so no window is counted twice.
  sleep $(( 60 - $(date +%-S) ))
  "$bin" backfill --symbols SYN1/USDT,SYN2/USDT,SYN3/USDT,SYN4/USDT --timeframe 1m --from 2020-01-01 --to 2023-06-01T00:00:00Z \
    --base-url "$MOCK_URL" --json > "$out/limits.json" || true
  stats=$(curl -s "$MOCK_URL/mock/stats"); kill $MOCK_PID
  python3 - "$out/limits.json" "$stats" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["detail"]; s = json.loads(sys.argv[2])
per_min = d["fetched"] / d["elapsed_s"] * 60
print(f"backfill under limits: {d['fetched']:,} candles in {d['elapsed_s']:.1f} s; mock: {s['requests']} requests, {s['throttled']} x 429, max {s['max_window_weight']} weight in a window")
# Binance counts weight per calendar minute: only windows the run covered whole say what it sustains.
full = [w for w in s["windows"] if w[1] > 0][:-1]
for start, weight, candles in s["windows"]:
    if weight: print(f"  window {start}: {weight} weight, {candles:,} candles")
if full:
    rate = sum(w[2] for w in full) / len(full)
    print(f"sustained over {len(full)} full window(s): {rate/1e6:.3f} M candles/min = {rate/3e6*100:.1f} % of the 3 M/min ceiling "
          f"(whole run incl. the final partial window: {per_min/1e6:.3f} M/min)")
PY
  ;;
read)
  log "range read: 1 year of 15m bars from a 50 M-row table"
  fresh_db
  psql "$DATABASE_URL" -q -c "ALTER DATABASE traderai_bench SET bench.mode = '${READ_MODE:-pages}'"
  psql "$DATABASE_URL" -q <<'SQL'
INSERT INTO series (exchange, market, symbol, timeframe, tf_ms, bars, first_open, last_open)
SELECT 'bench', 'spot', 'S' || g || '/USDT', '15m', 900000, 1050000, 946684800000, 946684800000 + 1049999::bigint * 900000 FROM generate_series(1, 48) g;
-- 1,000-bar pages of each series in turn, interleaved across series, as
-- concurrent backfills write them (mode=pages, default); mode=bars
-- interleaves single bars across series, as a live scanner appending one
-- bar per symbol per close would (the worst case for this layout).
DO $$
BEGIN
  FOR chunk IN 0..1049 LOOP
    INSERT INTO candles (series_id, open_time, open, high, low, close, volume)
    SELECT s.id, 946684800000 + (chunk * 1000 + i)::bigint * 900000, 100 + i, 101 + i, 99 + i, 100.5 + i, 10
    FROM series s CROSS JOIN generate_series(0, 999) i
    ORDER BY CASE WHEN current_setting('bench.mode', true) = 'bars' THEN i ELSE s.id END, s.id, i;
    COMMIT;
  END LOOP;
END $$;
VACUUM ANALYZE candles;
SQL
  psql "$DATABASE_URL" -qAtc "select 'candles table: ' || count(*) || ' rows, ' || pg_size_pretty(pg_total_relation_size('candles')) from candles"
  "$CARGO_TARGET_DIR/release/examples/range_read" "$DATABASE_URL" 200
  ;;
web)
  log "web: page weight, first paint and hydration, signals API latency (release build, seeded data)"
  site="$ROOT/target/site"
  cargo build --release -p server --bin traderai >&2
  build_site --release --site-root "$site" >&2
  for f in "$site"/pkg/traderai_bg.wasm "$site"/pkg/traderai.js "$site"/pkg/traderai.css; do
    [ -f "$f" ] && printf '%s: %s bytes, %s gzipped\n' "$(basename "$f")" "$(stat -c %s "$f")" "$(gzip -9c "$f" | wc -c)"
  done
  fresh_db
  "$bin" seed --dir data >/dev/null
  # The web alone: no followed universe (and no demo replay) beside it.
  printf '[follow]\nenabled = false\n' > "$out/nofollow.toml"
  ADMIN_USER=bench ADMIN_PASS=bench-pass-1 LEPTOS_SITE_ROOT="$site" "$bin" --config "$out/nofollow.toml" serve --addr 127.0.0.1:18090 --site-root "$site" >"$out/serve.log" 2>&1 &
  SERVE_PID=$!
  for _ in $(seq 100); do curl -sf http://127.0.0.1:18090/health/ready >/dev/null && break; sleep 0.2; done
  cookie=$(mktemp)
  csrf=$(curl -s -c "$cookie" -H 'content-type: application/json' -d '{"username":"bench","password":"bench-pass-1"}' http://127.0.0.1:18090/api/v1/auth/login | json "d['csrf']")
  token=$(curl -s -b "$cookie" -H "x-csrf-token: $csrf" -H 'content-type: application/json' -d '{"name":"bench"}' http://127.0.0.1:18090/api/v1/tokens | json "d['secret']")
  curl -s -X POST -H "authorization: Bearer $token" http://127.0.0.1:18090/api/v1/signals/scan > "$out/scan.json"
  json "f\"scan: {d['new']} candidates over {d['series']} series\"" < "$out/scan.json"
  (cd end2end && node bench/page_timing.mjs http://127.0.0.1:18090 bench bench-pass-1 20)
  cat > "$out/auth.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $token"
LUA
  for c in 4 16; do
    log "wrk: GET /api/v1/signals, $c connections, 20 s"
    wrk -t 2 -c "$c" -d 20s --latency -s "$out/auth.lua" http://127.0.0.1:18090/api/v1/signals
  done
  kill $SERVE_PID
  ;;
live)
  # Mock kline stream publishes a closed bar → the candidate readable at GET
  # /api/v1/signals; in-process (server/examples/live_latency.rs), SYN
  # perpetuals on 15m + 1h + 4h, replay clock at 900× (a 15m close a second).
  train=("$bin" train --input "$ROOT/data/btc-usd-15m-yahoo.csv" --symbol BTC/USD --timeframe 15m --epochs 500 --out "$out/live-train")
  for pairs in 10 100; do
    log "live: $pairs pairs × 3 timeframes, 500 closes"
    speed=$([ "$pairs" -ge 100 ] && echo 90 || echo 900)   # 100 pairs: a burst every 10 s
    "$CARGO_TARGET_DIR/release/examples/live_latency" "$server/postgres" "$pairs" 500 "$speed" | tee "$out/live-$pairs.json"
    log "live: $pairs pairs × 3 timeframes, 500 closes, a training run beside"
    rm -rf "$out/live-train"   # train resumes from its checkpoints: start it afresh
    "$CARGO_TARGET_DIR/release/examples/live_latency" "$server/postgres" "$pairs" 500 "$speed" "${train[@]}" | tee "$out/live-$pairs-train.json"
  done
  for db in $(psql "$server/postgres" -Atc "select datname from pg_database where datname like 'traderai_bench_live_%'"); do
    psql "$server/postgres" -qc "drop database $db with (force)" >/dev/null
  done
  ;;
notify)
  # Event committed → channel received, the outbox under a burst, /metrics
  # scrape cost, the signals endpoint with metrics on and off (dev build).
  log "notify: latency, 2000-event burst, scrape, signals p99 with metrics on/off"
  cargo run -q -p server --example notify_bench -- "$server/postgres" 2000 | tee "$out/notify.json"
  ;;
paper)
  # A closed bar published → the paper account's step committed (follower →
  # scanner → paper runner), one account on every pair; replay throughput.
  for pairs in 1 10; do
    log "paper: $pairs pairs, 200 closes at 900×"
    "$CARGO_TARGET_DIR/release/examples/paper_latency" "$server/postgres" "$pairs" 200 900 | tee "$out/paper-$pairs.json"
  done
  log "paper: 10 pairs, as fast as the path goes (7200×)"
  "$CARGO_TARGET_DIR/release/examples/paper_latency" "$server/postgres" 10 200 7200 | tee "$out/paper-10-fast.json"
  for db in $(psql "$server/postgres" -Atc "select datname from pg_database where datname like 'traderai_bench_paper_%'"); do
    psql "$server/postgres" -qc "drop database $db with (force)" >/dev/null
  done
  ;;
*) die "unknown benchmark $w";;
esac; done
