#!/usr/bin/env bash
# The libvirt leg's host side (opt-in; CI's scripts/setup.sh does not run this): installs vagrant-libvirt
# and libvirtd with the QEMU driver, makes sure libvirt's NAT'ed "default" network can never start, and
# starts/stops the daemons on a host whose PID 1 is not systemd. Run as root.
#   bash scripts/setup-libvirt.sh          # install (once) and start libvirtd
#   bash scripts/setup-libvirt.sh stop     # stop the daemons this script started, drop libvirt's chains
#   bash scripts/setup-libvirt.sh drop-chains  # only the LIBVIRT_* chains (libvirtd stopped)
#   bash scripts/setup-libvirt.sh check    # ip_forward 0, no NAT rule, no libvirt chain, no default network
set -euo pipefail
cd "$(dirname "$0")/.."

# Not libvirt-daemon-system: it pulls libvirt-daemon-config-network, whose "default" network NATs the
# guests out through this machine (MASQUERADE, ip_forward=1). The VMs here use an isolated network only.
APT_PACKAGES=(vagrant vagrant-libvirt libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86
  qemu-utils dnsmasq-base iptables nftables)

[ "$(id -u)" -eq 0 ] || { echo "setup-libvirt: run as root" >&2; exit 1; }

systemd_pid1() { [ "$(ps -p 1 -o comm= 2>/dev/null)" = systemd ]; }

# The "default" network, if some package defined it, is undefined before libvirtd can autostart it.
drop_default_network() {
  rm -f /etc/libvirt/qemu/networks/autostart/default.xml /etc/libvirt/qemu/networks/default.xml
  if virsh -c qemu:///system net-info default >/dev/null 2>&1; then
    virsh -c qemu:///system net-destroy default >/dev/null 2>&1 || true
    virsh -c qemu:///system net-undefine default >/dev/null
  fi
}

# libvirt adds LIBVIRT_INP/OUT/FWI/FWO/FWX/PRT chains (IPv4 and IPv6) when it starts a network and never
# removes them.
drop_libvirt_chains() {
  local cmd table chain
  for cmd in iptables ip6tables; do
    for table in filter nat mangle; do
      for chain in $($cmd -t "$table" -S 2>/dev/null | awk '/^-N LIBVIRT_/{print $2}'); do
        # the jumps from the built-in chains first, then the chain itself
        $cmd -t "$table" -S | awk -v c="$chain" '$1 == "-A" && $0 ~ "-j " c "$" {sub("^-A", "-D"); print}' |
          while read -r rule; do eval "$cmd -t $table $rule"; done
        $cmd -t "$table" -F "$chain"
        $cmd -t "$table" -X "$chain"
      done
    done
  done
}

check() {
  local bad=0
  [ "$(sysctl -n net.ipv4.ip_forward)" = 0 ] || { echo "check: net.ipv4.ip_forward is not 0" >&2; bad=1; }
  local save
  for save in iptables-save ip6tables-save; do
    if $save 2>/dev/null | grep -Eq 'MASQUERADE|SNAT|DNAT|LIBVIRT_'; then
      echo "check: $save has NAT or LIBVIRT_ rules:" >&2
      $save | grep -E 'MASQUERADE|SNAT|DNAT|LIBVIRT_' >&2
      bad=1
    fi
  done
  # rules, not the "priority srcnat" of an empty nat chain
  if command -v nft >/dev/null && nft list ruleset | grep -Eiq 'masquerade|snat to|dnat to|LIBVIRT_'; then
    echo "check: nft ruleset has NAT or LIBVIRT_ rules:" >&2
    nft list ruleset | grep -Ei 'masquerade|snat to|dnat to|LIBVIRT_' >&2
    bad=1
  fi
  if pgrep -x libvirtd >/dev/null && virsh -c qemu:///system net-list --all --name | grep -qx default; then
    echo "check: libvirt has a \"default\" network" >&2
    bad=1
  fi
  return "$bad"
}

case "${1:-start}" in
  start) ;;
  drop-chains)
    # libvirtd makes its chains once per daemon run: with them gone it cannot start a network again
    if pgrep -x libvirtd >/dev/null; then
      echo "setup-libvirt: libvirtd is running: use \"$0 stop\" (it stops libvirtd, then drops the chains)" >&2
      exit 1
    fi
    drop_libvirt_chains
    exit 0
    ;;
  stop)
    if pgrep -x libvirtd >/dev/null; then
      if [ -n "$(virsh -c qemu:///system list --name | grep -v '^$' || true)" ]; then
        echo "setup-libvirt: domains are running; vagrant destroy them first" >&2
        exit 1
      fi
      for net in $(virsh -c qemu:///system net-list --name); do
        echo "setup-libvirt: network $net is still active; vagrant destroy its box first" >&2
        exit 1
      done
    fi
    if systemd_pid1; then
      systemctl stop libvirtd.service virtlogd.service libvirtd.socket virtlogd.socket 2>/dev/null || true
    fi
    for d in libvirtd virtlogd; do
      if [ -f "/run/$d.pid" ]; then
        pid=$(cat "/run/$d.pid")
        if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$d" ]; then
          kill "$pid"
          for _ in $(seq 50); do [ -e "/proc/$pid" ] || break; sleep 0.1; done
        fi
      fi
    done
    drop_libvirt_chains
    check
    exit $?
    ;;
  check)
    check
    exit $?
    ;;
  *)
    echo "usage: $0 [start|stop|check]" >&2
    exit 2
    ;;
esac

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup-libvirt: installing ${missing[*]}"
  apt-get update -qq
  # no service starts from the maintainer scripts: libvirtd starts below, after the checks
  policy=/usr/sbin/policy-rc.d
  added=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && added=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ -z "$added" ] || rm -f "$policy"
fi
if dpkg-query -W -f '${db:Status-Status}' libvirt-daemon-config-network 2>/dev/null | grep -qx installed; then
  echo "setup-libvirt: libvirt-daemon-config-network is installed (its default network NATs): its network is removed" >&2
fi
drop_default_network

# libvirtd parses its compiled-in QEMU user before it reads qemu.conf: the user and group
# libvirt-daemon-system would make must exist (system account, no login), though QEMU runs as root below
getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
getent passwd libvirt-qemu >/dev/null ||
  useradd --system --gid libvirt-qemu --home-dir /var/lib/libvirt --no-create-home --shell /usr/sbin/nologin libvirt-qemu
# QEMU runs as root here (no libvirt-qemu user without libvirt-daemon-system; the kernel and initrd the
# box boots are read from the box's directory under root's ~/.vagrant.d)
mkdir -p /etc/libvirt /var/log/libvirt
conf=/etc/libvirt/qemu.conf
touch "$conf"
grep -q '^user = "root"' "$conf" || echo 'user = "root"' >>"$conf"
grep -q '^group = "root"' "$conf" || echo 'group = "root"' >>"$conf"

if ! pgrep -x libvirtd >/dev/null; then
  if systemd_pid1; then
    systemctl start virtlogd.socket libvirtd.service
  else
    pgrep -x virtlogd >/dev/null || virtlogd -d
    libvirtd -d
  fi
  for _ in $(seq 50); do virsh -c qemu:///system version >/dev/null 2>&1 && break; sleep 0.2; done
fi
drop_default_network
virsh -c qemu:///system version
check
