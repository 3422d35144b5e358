#!/usr/bin/env bash
# Starts (or reuses) a private PostgreSQL cluster under .data/ on a loopback
# port and prints its connection URL on stdout. Installs PostgreSQL from
# Debian's packages when it is missing. Loads TimescaleDB when installed.
#
#   scripts/pg.sh [dev|test]   ensure the cluster runs; print its URL
#   scripts/pg.sh stop [dev|test]
#   scripts/pg.sh scratch DIR PORT    ensure a throwaway cluster in DIR runs
#                                     on PORT; print its URL
#   scripts/pg.sh stop scratch DIR    stop it (fast shutdown)
#   scripts/pg.sh crash scratch DIR   stop it as a power cut would
#                                     (immediate shutdown), for fault tests
#   scripts/pg.sh standby DIR PORT PRIMARY_PORT
#                                     ensure a streaming standby of the cluster
#                                     on PRIMARY_PORT runs in DIR on PORT
#                                     (pg_basebackup -R when DIR is new); print
#                                     its URL. stop|crash standby DIR stop it.
#
# dev     — .data/pg,     port $GRIDMETRICS_PG_PORT (54329), durable settings
# test    — .data/pgtest, port $GRIDMETRICS_TEST_PG_PORT (54330), fsync off
# scratch — DIR (e.g. under .data/), PORT fixed when DIR is created; fsync off but
#           synchronous commit, so an immediate shutdown loses no committed
#           transaction. Never installs PostgreSQL: exits 3 without it.
# standby — DIR, PORT as scratch; a hot standby streaming from 127.0.0.1:PRIMARY_PORT
#           (whose wal_level, max_wal_senders and pg_hba initdb's defaults allow),
#           with hot_standby_feedback on so that the primary's vacuum does not
#           cancel its queries. Never installs PostgreSQL: exits 3 without it.
#
# As root the cluster runs as the system user gridmetrics-pg; when that user
# cannot search the checkout's folders, the cluster lives in
# /var/lib/gridmetrics/PROFILE-HASH and its folder is a link there.
set -euo pipefail

cmd=start
case ${1:-} in
  stop|crash) cmd=$1; shift ;;
esac
profile=${1:-dev}
root=$(cd "$(dirname "$0")/.." && pwd)
lock=$root/.data/pg-$profile.lock
case $profile in
  dev)  dir=$root/.data/pg;     port=${GRIDMETRICS_PG_PORT:-54329} ;;
  test) dir=$root/.data/pgtest; port=${GRIDMETRICS_TEST_PG_PORT:-54330} ;;
  scratch|standby)
    if [ -z "${2:-}" ] || { [ $cmd = start ] && [ -z "${3:-}" ]; } ||
      { [ $profile = standby ] && [ $cmd = start ] && [ -z "${4:-}" ]; }; then
      echo "pg.sh: usage: pg.sh scratch DIR PORT | pg.sh standby DIR PORT PRIMARY_PORT | pg.sh stop|crash scratch|standby DIR" >&2; exit 2
    fi
    primary_port=${4:-}
    mkdir -p "$(dirname "$2")"
    dir=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); port=${3:-0} ;;
  *) echo "pg.sh: unknown profile $profile (want dev, test or scratch)" >&2; exit 2 ;;
esac
if [ $cmd = crash ] && [ "$profile" != scratch ] && [ "$profile" != standby ]; then
  echo "pg.sh: crash stops scratch and standby clusters only" >&2; exit 2
fi
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
  # From /: the owner may not be allowed into the current folder.
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u "$owner" -- "$@"); else "$@"; fi
}

# Root's checkouts often sit in folders the owner cannot search (/root is
# mode 700). Rather than open them up, such a cluster lives under
# /var/lib/gridmetrics, keyed by its folder's path, and its folder is a link
# there; later runs follow the link.
relocate() {
  [ "$(id -u)" = 0 ] && [ ! -L "$dir" ] || return 0
  as_owner test -x "$(dirname "$dir")" && return 0
  [ $cmd = start ] || return 0
  rmdir "$dir" 2>/dev/null || true # left empty by a failed earlier run
  [ -e "$dir" ] && return 0
  local home
  home=/var/lib/gridmetrics/$profile-$(printf %s "$dir" | sha256sum | cut -c1-12)
  mkdir -p "$home"
  chown "$owner" "$home"
  chmod 700 "$home"
  ln -s "$home" "$dir" 2>/dev/null || [ -L "$dir" ] # a concurrent run made it
}

mkdir -p "$root/.data" "$(dirname "$dir")"
relocate
[ -L "$dir" ] && dir=$(readlink -f "$dir")
data=$dir/data
case $profile in scratch|standby) lock=$dir/pg.lock && mkdir -p "$dir" ;; esac
exec 9>"$lock"
flock 9

if [ $cmd = stop ] || [ $cmd = crash ]; then
  mode=fast
  [ $cmd = crash ] && mode=immediate
  bindir=$(find_bindir)
  if [ -n "$bindir" ] && [ -f "$data/postmaster.pid" ]; then
    as_owner "$bindir/pg_ctl" -D "$data" -m $mode -w stop >&2 || true
  fi
  exit 0
fi

if [ "$profile" = scratch ] || [ "$profile" = standby ]; then
  if [ -z "$(find_bindir)" ]; then log "PostgreSQL is not installed"; exit 3; fi
else
  install_postgres
fi
bindir=$(find_bindir)

if [ "$profile" = standby ] && [ ! -f "$data/PG_VERSION" ]; then
  log "copying the cluster on port $primary_port into $data (pg_basebackup)"
  rm -rf "$data" # left by a copy that failed half-way
  mkdir -p "$dir"
  chown "$owner" "$dir"
  # -R writes primary_conninfo and standby.signal; -X stream copies the WAL
  # written meanwhile, so the copy starts consistent.
  as_owner "$bindir/pg_basebackup" -h 127.0.0.1 -p "$primary_port" -U gridmetrics -D "$data" \
    -R -X stream --checkpoint=fast --no-sync >&2
  {
    echo "port = $port"
    echo "hot_standby = on"
    echo "hot_standby_feedback = on"
  } | as_owner tee -a "$data/postgresql.conf" >/dev/null
fi

if [ ! -f "$data/PG_VERSION" ]; then
  log "creating cluster in $data"
  mkdir -p "$dir"
  chown "$owner" "$dir"
  if ! as_owner test -w "$dir"; then
    log "user $owner cannot reach $dir; make its parent folders searchable (chmod o+x)"
    exit 1
  fi
  nosync=()
  [ "$profile" = scratch ] && nosync=(--no-sync) # a throwaway: no need to flush it
  as_owner "$bindir/initdb" -D "$data" --username=gridmetrics --auth=trust \
    --encoding=UTF8 --locale=C.UTF-8 "${nosync[@]}" >/dev/null
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
    if [ "$profile" = scratch ]; then
      # Fault tests stop the postmaster, never the machine: what reached the
      # kernel survives, so fsync may go; a commit must still reach it.
      echo "fsync = off"
      echo "full_page_writes = off"
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

if [ "$profile" = standby ]; then
  # Read-only: the primary's databases arrive by replication.
  echo "$url"
  exit 0
fi

psql() { "$bindir/psql" -X -q -h 127.0.0.1 -p "$port" -U gridmetrics "$@"; }
if [ "$(psql -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
  psql -d postgres -c "CREATE DATABASE $db" >/dev/null
fi
echo "$url"
