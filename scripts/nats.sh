#!/usr/bin/env bash
# Installs nats-server (NATS with JetStream) from Debian's packages, for the
# ingest log's tests and benchmarks.
#
#   scripts/nats.sh install   install nats-server when missing; never leaves
#                             a system-wide server running
#
# Tests start their own three-node clusters on free loopback ports (package
# ingestlog/natstest); they need only the binary.
set -euo pipefail

log() { echo "nats.sh: $*" >&2; }

# The server lives in /usr/sbin, which a normal user's PATH often lacks.
installed() { command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ]; }

install_nats() {
  installed && return
  log "nats-server is not installed; installing it from Debian's packages"
  local sudo=
  [ "$(id -u)" = 0 ] || sudo=sudo
  # Only the binary is wanted: a policy-rc.d that refuses every action
  # keeps the package from starting its system-wide server on port 4222.
  # An existing policy is left alone (and respected).
  local policy=/usr/sbin/policy-rc.d ours=
  if [ ! -e $policy ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee $policy >/dev/null
    $sudo chmod 755 $policy
    ours=1
    trap "$sudo rm -f $policy" EXIT
  fi
  local apt=($sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server)
  if ! "${apt[@]}" >&2; then
    log "installing failed; updating the package lists and trying again"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    "${apt[@]}" >&2
  fi
  if [ -n "$ours" ]; then
    $sudo rm -f $policy
    trap - EXIT
  fi
  # Under systemd the unit is still enabled for the next boot: disable it,
  # and stop it should anything have started it.
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    $sudo systemctl disable --now nats-server.service >&2 2>/dev/null || true
  fi
  installed || { log "nats-server is still missing after installing it"; exit 1; }
}

case "${1:-}" in
  install) install_nats ;;
  *) echo "nats.sh: usage: nats.sh install" >&2; exit 2 ;;
esac
