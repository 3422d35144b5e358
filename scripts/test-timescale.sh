#!/usr/bin/env bash
# Runs Go tests against a real TimescaleDB: PostgreSQL 17 + TimescaleDB
# compiled to WASM (PGlite), served on a loopback port by
# test/timescale/server.mjs. The server takes one connection at a time, so
# the tests run serially (-p 1) and isolate themselves by schema.
#
#   scripts/test-timescale.sh                   every package with a store
#   scripts/test-timescale.sh ./rollups/... -run TestRetention
#
# Arguments go to `go test` as they are. The port is
# $GRIDMETRICS_TIMESCALE_PORT (54331); the server's log is
# .data/timescale-harness.log. Installs Node.js and npm from Debian's
# packages when they are missing. Exits with go test's status.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

port=${GRIDMETRICS_TIMESCALE_PORT:-54331}
harness=test/timescale
log=.data/timescale-harness.log
ready_timeout=60 # seconds

say() { echo "test-timescale: $*" >&2; }

ensure_node() {
  if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    return
  fi
  say "node or npm is missing; installing them from Debian's packages"
  local sudo=
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >&2
}

ensure_modules() {
  if [ -d "$harness/node_modules" ] && [ ! "$harness/package.json" -nt "$harness/node_modules" ]; then
    return
  fi
  say "installing the harness's npm packages"
  # The TimescaleDB build of PGlite does not satisfy pglite-socket's peer
  # dependency on @electric-sql/pglite by name, hence --legacy-peer-deps.
  (cd "$harness" && npm install --legacy-peer-deps --no-audit --no-fund >&2)
  # npm leaves node_modules' mtime alone when nothing changed; mark it fresh
  # so an edited package.json is not reinstalled on every run.
  touch "$harness/node_modules"
}

server_pid=
stop_server() {
  [ -n "$server_pid" ] || return 0
  if kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    local i
    for i in $(seq 1 50); do # up to 5 s for a clean stop
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  wait "$server_pid" 2>/dev/null || true
  server_pid=
}
trap stop_server EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

show_log() {
  say "last lines of $log:"
  tail -n 40 "$log" >&2 || true
}

ensure_node
ensure_modules

mkdir -p .data
PORT=$port node "$harness/server.mjs" >"$log" 2>&1 &
server_pid=$!

# Poll for the "ready" line, bounded; give up early if the server died.
deadline=$((SECONDS + ready_timeout))
until grep -q '^ready ' "$log" 2>/dev/null; do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    say "the TimescaleDB harness exited before it was ready"
    show_log
    exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    say "the TimescaleDB harness was not ready within ${ready_timeout}s"
    show_log
    exit 1
  fi
  sleep 0.2
done
say "TimescaleDB harness ready on 127.0.0.1:$port (pid $server_pid)"

if [ "$#" -eq 0 ]; then
  set -- ./schema/... ./auth/... ./sources/... ./sites/... ./ingest/... ./rollups/... ./query/... ./tariffs/... ./sessions/... ./availability/... ./idtags/... ./mqtt/ ./deploy/grafana/
fi

status=0
GRIDMETRICS_TEST_DATABASE_URL="postgres://postgres:harness@127.0.0.1:$port/template1?sslmode=disable" \
GRIDMETRICS_TEST_ISOLATION=schema \
GRIDMETRICS_TEST_BACKEND=timescaledb \
  go test -p 1 -count=1 "$@" || status=$?
exit "$status"
