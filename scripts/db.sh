#!/usr/bin/env bash
# Makes sure a PostgreSQL answers and prints its server URL (no database part):
#   1. $DATABASE_URL if set (its server part),
#   2. the local server on 127.0.0.1:5432,
#   3. else a project-local cluster in .pgdata on port 5433 (initdb + pg_ctl).
source "$(dirname "$0")/common.sh"

if [ -n "${DATABASE_URL:-}" ]; then
  server="${DATABASE_URL%/*}"
  pg_isready -q -d "$DATABASE_URL" 2>/dev/null || psql "$server/postgres" -qAtc 'select 1' >/dev/null 2>&1 || die "DATABASE_URL is set but its server does not answer"
  echo "$server"; exit 0
fi
if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && psql -h 127.0.0.1 -p 5432 -U postgres -qAtc 'select 1' postgres >/dev/null 2>&1; then
  echo "postgres://postgres@127.0.0.1:5432"; exit 0
fi

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bindir" ] || die "no PostgreSQL server binaries; run scripts/setup.sh"
data="$ROOT/.pgdata"
run_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ ! -f "$data/PG_VERSION" ]; then
  log "initialising a project-local PostgreSQL cluster in .pgdata"
  mkdir -p "$data"
  [ "$(id -u)" -eq 0 ] && chown postgres "$data"
  run_pg "$bindir/initdb" -D "$data" -U postgres --auth=trust -E UTF8 >/dev/null
fi
if ! pg_isready -q -h 127.0.0.1 -p 5433 2>/dev/null; then
  log "starting project-local PostgreSQL on 127.0.0.1:5433"
  run_pg "$bindir/pg_ctl" -D "$data" -l "$data/server.log" -o "-p 5433 -k /tmp -c listen_addresses=127.0.0.1" -w start >/dev/null
fi
echo "postgres://postgres@127.0.0.1:5433"
