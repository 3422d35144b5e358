#!/usr/bin/env bash
# Starts (or reuses) a private PostgreSQL cluster under .data/ on a loopback
# port and prints its connection URL on stdout. Installs PostgreSQL from
# Debian's packages when it is missing. Loads TimescaleDB when installed.
#
#   scripts/pg.sh [dev|test]   ensure the cluster runs; print its URL
#   scripts/pg.sh stop [dev|test]
#
# dev  — .data/pg,     port $GRIDMETRICS_PG_PORT (54329), durable settings
# test — .data/pgtest, port $GRIDMETRICS_TEST_PG_PORT (54330), fsync off
set -euo pipefail

cmd=start
if [ "${1:-}" = stop ]; then cmd=stop; shift; fi
profile=${1:-dev}
root=$(cd "$(dirname "$0")/.." && pwd)
case $profile in
  dev)  dir=$root/.data/pg;     port=${GRIDMETRICS_PG_PORT:-54329} ;;
  test) dir=$root/.data/pgtest; port=${GRIDMETRICS_TEST_PG_PORT:-54330} ;;
  *) echo "pg.sh: unknown profile $profile (want dev or test)" >&2; exit 2 ;;
esac
data=$dir/data
db=gridmetrics
url="postgres://gridmetrics@127.0.0.1:$port/$db?sslmode=disable"

log() { echo "pg.sh: $*" >&2; }

find_bindir() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

install_postgres() {
  [ -n "$(find_bindir)" ] && return
  log "PostgreSQL is not installed; installing it from Debian's packages"
  local sudo=
  [ "$(id -u)" = 0 ] || sudo=sudo
  # Only the binaries are wanted: no system-wide cluster.
  $sudo mkdir -p /etc/postgresql-common
  echo "create_main_cluster = false" | $sudo tee /etc/postgresql-common/createcluster.conf >/dev/null
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-contrib >&2
}

# as_owner runs a command as the cluster's owner: initdb and postgres refuse
# to run as root, so root hands the cluster to an unprivileged account.
owner=$(id -un)
if [ "$(id -u)" = 0 ]; then
  owner=gridmetrics-pg
  if ! id "$owner" >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$owner"
  fi
fi
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u "$owner" -- "$@"; else "$@"; fi
}

mkdir -p "$root/.data"
exec 9>"$root/.data/pg-$profile.lock"
flock 9

if [ $cmd = stop ]; then
  bindir=$(find_bindir)
  if [ -n "$bindir" ] && [ -f "$data/postmaster.pid" ]; then
    as_owner "$bindir/pg_ctl" -D "$data" -m fast -w stop >&2 || true
  fi
  exit 0
fi

install_postgres
bindir=$(find_bindir)

if [ ! -f "$data/PG_VERSION" ]; then
  log "creating cluster in $data"
  mkdir -p "$dir"
  chown "$owner" "$dir"
  if ! as_owner test -w "$dir"; then
    log "user $owner cannot reach $dir; make its parent folders searchable (chmod o+x)"
    exit 1
  fi
  as_owner "$bindir/initdb" -D "$data" --username=gridmetrics --auth=trust \
    --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  {
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $port"
    echo "unix_socket_directories = ''"
    if [ -f "$("$bindir/pg_config" --pkglibdir)/timescaledb.so" ]; then
      echo "shared_preload_libraries = 'timescaledb'"
      echo "timescaledb.telemetry_level = off"
    fi
    if [ "$profile" = test ]; then
      # Throwaway data: trade durability for speed.
      echo "fsync = off"
      echo "synchronous_commit = off"
      echo "full_page_writes = off"
      echo "max_connections = 400"
    fi
  } | as_owner tee -a "$data/postgresql.conf" >/dev/null
fi

if ! as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
  log "starting cluster on 127.0.0.1:$port"
  if ! as_owner "$bindir/pg_ctl" -D "$data" -l "$dir/server.log" -o "-p $port" -w -t 60 start >/dev/null 9>&-; then
    tail -n 5 "$dir/server.log" >&2 || true
    log "could not start the cluster; if port $port is taken by another cluster, stop it or choose another port (GRIDMETRICS_PG_PORT, GRIDMETRICS_TEST_PG_PORT)"
    exit 1
  fi
fi

psql() { "$bindir/psql" -X -q -h 127.0.0.1 -p "$port" -U gridmetrics "$@"; }
if [ "$(psql -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
  psql -d postgres -c "CREATE DATABASE $db" >/dev/null
fi
echo "$url"
