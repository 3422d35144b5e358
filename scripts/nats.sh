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
. "$(dirname "$0")/lib/daemon-package.sh"

log() { echo "nats.sh: $*" >&2; }

# The server lives in /usr/sbin, which a normal user's PATH often lacks.
installed() { command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ]; }

install_nats() {
  installed && return
  log "nats-server is not installed; installing it from Debian's packages"
  install_without_starting nats-server.service "" nats-server
  installed || { log "nats-server is still missing after installing it"; exit 1; }
}

case "${1:-}" in
  install) install_nats ;;
  *) echo "nats.sh: usage: nats.sh install" >&2; exit 2 ;;
esac
