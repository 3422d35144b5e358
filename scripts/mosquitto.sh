#!/usr/bin/env bash
# Installs the mosquitto MQTT broker from Debian's packages, and starts (or
# reuses) a private broker for development under .data/mosquitto.
#
#   scripts/mosquitto.sh install   install mosquitto and mosquitto-clients
#                                  when missing; never leaves a system-wide
#                                  broker running
#   scripts/mosquitto.sh dev       ensure the development broker runs on
#                                  127.0.0.1:$GRIDMETRICS_MQTT_PORT (18830);
#                                  print its URL. Never installs mosquitto:
#                                  exits 3, printing nothing, without it.
#   scripts/mosquitto.sh stop dev  stop it (cleanly: it saves its queues)
#
# Tests start their own brokers (package mqtt/mqtttest); they need only the
# binaries that `install` provides.
set -euo pipefail
. "$(dirname "$0")/lib/daemon-package.sh"

root=$(cd "$(dirname "$0")/.." && pwd)
dir=$root/.data/mosquitto
port=${GRIDMETRICS_MQTT_PORT:-18830}
url="mqtt://127.0.0.1:$port"

log() { echo "mosquitto.sh: $*" >&2; }

# The broker lives in /usr/sbin, which a normal user's PATH often lacks.
find_broker() {
  command -v mosquitto 2>/dev/null && return
  [ -x /usr/sbin/mosquitto ] && echo /usr/sbin/mosquitto && return
  return 0
}

installed() { [ -n "$(find_broker)" ] && command -v mosquitto_pub >/dev/null 2>&1; }

install_mosquitto() {
  installed && return
  log "mosquitto is not installed; installing it from Debian's packages"
  install_without_starting mosquitto.service "/run/mosquitto/mosquitto.pid" mosquitto mosquitto-clients
  installed || { log "mosquitto is still missing after installing it"; exit 1; }
}

# running reports whether the pid file names a live mosquitto.
running() {
  local pid
  pid=$(cat "$dir/mosquitto.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = mosquitto ]
}

accepts() { (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; }

case "${1:-} ${2:-}" in
  "install ")
    install_mosquitto
    exit 0 ;;
  "stop dev")
    if running; then
      pid=$(cat "$dir/mosquitto.pid")
      log "stopping the broker (pid $pid)"
      kill "$pid"
      # It writes its persistence file on the way out: wait for it.
      for _ in $(seq 100); do
        [ -d /proc/"$pid" ] || exit 0
        sleep 0.1
      done
      log "the broker did not stop within 10 s"; exit 1
    fi
    exit 0 ;;
  "dev ") ;;
  *) echo "mosquitto.sh: usage: mosquitto.sh install | dev | stop dev" >&2; exit 2 ;;
esac

broker=$(find_broker)
if [ -z "$broker" ]; then
  log "mosquitto is not installed (scripts/mosquitto.sh install installs it)"
  exit 3
fi

mkdir -p "$dir"
exec 9>"$dir/lock"
flock 9

if ! running; then
  # Rewritten on every start, so a changed port takes effect.
  cat >"$dir/mosquitto.conf" <<EOF
# Development broker of scripts/mosquitto.sh; rewritten on every start.
listener $port 127.0.0.1
# Anonymous clients: the listener is on loopback and for development only.
allow_anonymous true
# As root, mosquitto would switch to the account "mosquitto", which cannot
# write here: it stays the user that started it.
user $(id -un)
persistence true
persistence_location $dir/
log_dest file $dir/mosquitto.log
log_type error
log_type warning
log_type notice
log_type information
connection_messages true
log_timestamp_format %Y-%m-%dT%H:%M:%S
pid_file $dir/mosquitto.pid
# A stopped service must lose nothing: the default keeps 1000 QoS 1
# messages per offline session and drops the rest. 0 ("no maximum") has
# been mishandled by some 2.0 releases, so the bound is explicit and large.
max_queued_messages 1000000
EOF
  log "starting the broker on 127.0.0.1:$port"
  if ! "$broker" -d -c "$dir/mosquitto.conf" 9>&-; then
    tail -n 5 "$dir/mosquitto.log" >&2 || true
    log "could not start the broker; if port $port is taken, choose another (GRIDMETRICS_MQTT_PORT)"
    exit 1
  fi
fi

for _ in $(seq 100); do
  if accepts; then
    echo "$url"
    exit 0
  fi
  sleep 0.1
done
tail -n 5 "$dir/mosquitto.log" >&2 || true
log "the broker does not accept connections on 127.0.0.1:$port"
exit 1
