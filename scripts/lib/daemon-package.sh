# Sourced by the scripts that install a server from Debian's packages only
# for its binary (scripts/mosquitto.sh, haproxy.sh, nats.sh): tests start
# their own instances on free loopback ports.

# install_without_starting UNIT PIDFILE PACKAGE… installs the packages
# without leaving the system-wide server running: a policy-rc.d that
# refuses every action keeps the package from starting it (an existing
# policy is left alone, and respected), and under systemd the unit, still
# enabled for the next boot, is disabled and stopped should anything have
# started it. PIDFILE ('' for none) names the server's pid where there is
# no systemd. The package lists are updated when the install fails.
install_without_starting() {
  local unit=$1 pidfile=$2
  shift 2
  local sudo=
  [ "$(id -u)" = 0 ] || sudo=sudo
  local policy=/usr/sbin/policy-rc.d ours=
  if [ ! -e $policy ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee $policy >/dev/null
    $sudo chmod 755 $policy
    ours=1
    trap "$sudo rm -f $policy" EXIT
  fi
  local apt=($sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@")
  if ! "${apt[@]}" >&2; then
    log "installing failed; updating the package lists and trying again"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    "${apt[@]}" >&2
  fi
  if [ -n "$ours" ]; then
    $sudo rm -f $policy
    trap - EXIT
  fi
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    $sudo systemctl disable --now "$unit" >&2 2>/dev/null || true
  elif [ -n "$pidfile" ] && [ -f "$pidfile" ]; then
    $sudo kill "$(cat "$pidfile")" 2>/dev/null || true
  fi
}
