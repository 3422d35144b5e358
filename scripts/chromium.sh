#!/usr/bin/env bash
# Installs Debian's chromium, which the console's browser tests drive
# (Playwright, test/console), when it is missing.
#
#   scripts/chromium.sh install   install chromium from Debian's packages
#                                 when no chromium is on the PATH
set -euo pipefail

log() { echo "chromium.sh: $*" >&2; }

installed() { command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; }

case "${1:-}" in
  install)
    installed && exit 0
    log "chromium is not installed; installing it from Debian's packages"
    sudo=
    [ "$(id -u)" = 0 ] || sudo=sudo
    apt=($sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
    if ! "${apt[@]}" >&2; then
      log "installing failed; updating the package lists and trying again"
      $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
      "${apt[@]}" >&2
    fi
    installed || { log "chromium is still missing after installing it"; exit 1; }
    ;;
  *)
    echo "usage: $0 install" >&2
    exit 2
    ;;
esac
