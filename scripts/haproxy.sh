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
. "$(dirname "$0")/lib/daemon-package.sh"

log() { echo "haproxy.sh: $*" >&2; }

# The binary lives in /usr/sbin, which a normal user's PATH often lacks.
installed() { command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ]; }

install_haproxy() {
  installed && return
  log "haproxy is not installed; installing it from Debian's packages"
  install_without_starting haproxy.service "/run/haproxy.pid" haproxy
  installed || { log "haproxy is still missing after installing it"; exit 1; }
}

case "${1:-}" in
  install)
    install_haproxy ;;
  *)
    echo "usage: $0 install" >&2
    exit 2 ;;
esac
