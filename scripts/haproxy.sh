#!/usr/bin/env bash
# Installs Debian's HAProxy, the load balancer in front of the service
# replicas in the replica tests (cmd/gridmetrics/replicas_test.go), when it
# is missing.
#
#   scripts/haproxy.sh install   install haproxy from Debian's packages when
#                                missing; never leaves a system-wide
#                                haproxy running
#
# Tests start their own HAProxy on free loopback ports, with a
# configuration in a temporary directory; they need only the binary.
set -euo pipefail

log() { echo "haproxy.sh: $*" >&2; }

# The binary lives in /usr/sbin, which a normal user's PATH often lacks.
installed() { command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ]; }

install_haproxy() {
  installed && return
  log "haproxy is not installed; installing it from Debian's packages"
  local sudo=
  [ "$(id -u)" = 0 ] || sudo=sudo
  # Only the binary is wanted: a policy-rc.d that refuses every action
  # keeps the package from starting its system-wide instance. An existing
  # policy is left alone (and respected).
  local policy=/usr/sbin/policy-rc.d ours=
  if [ ! -e $policy ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee $policy >/dev/null
    $sudo chmod 755 $policy
    ours=1
    trap "$sudo rm -f $policy" EXIT
  fi
  local apt=($sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy)
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
    $sudo systemctl disable --now haproxy.service >&2 2>/dev/null || true
  elif [ -f /run/haproxy.pid ]; then
    $sudo kill "$(cat /run/haproxy.pid)" 2>/dev/null || true
  fi
  installed || { log "haproxy is still missing after installing it"; exit 1; }
}

case "${1:-}" in
  install)
    install_haproxy ;;
  *)
    echo "usage: $0 install" >&2
    exit 2 ;;
esac
