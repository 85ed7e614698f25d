#!/usr/bin/env bash
# Installs what lockclaw and its tests need on a fresh Debian machine (run as root), then builds.
# Idempotent and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: sshd + sudo for the integration tests (a real server on loopback, a sudo user),
# nspawn + debootstrap + apt-utils for the lab, docker.io for the image tests (a private dockerd), tmux
# for the live view's terminal tests (util-linux gives `script`), vagrant + vagrant-lxc + lxc +
# dnsmasq-base for the Vagrant leg (LXC boxes on lockclaw's own bridge).
APT_PACKAGES=(openssh-server openssh-client sudo procps util-linux systemd-container debootstrap iproute2 apt-utils
  docker.io ca-certificates tmux vagrant vagrant-lxc lxc dnsmasq-base)

# lxc ships lxc-net, which makes lxcbr0, adds a MASQUERADE rule and turns on ip_forward: this machine
# must route nothing, and the Vagrant boxes use lockclaw's bridge instead. Masked before lxc is
# installed (its postinst starts lxc-net on a systemd host; it keeps an admin's mask) and told to make
# no bridge (for a sysvinit boot). Done on every run: cheap, and it repairs an lxc installed by hand.
quiet_lxc_net() {
  [ "$(id -u)" -eq 0 ] || return 0
  mkdir -p /etc/systemd/system
  [ -e /etc/systemd/system/lxc-net.service ] || ln -s /dev/null /etc/systemd/system/lxc-net.service
  if [ -f /etc/default/lxc-net ] && grep -q '^USE_LXC_BRIDGE="true"' /etc/default/lxc-net; then
    sed -i 's/^USE_LXC_BRIDGE="true"/USE_LXC_BRIDGE="false"/' /etc/default/lxc-net
  fi
  if ip link show lxcbr0 >/dev/null 2>&1; then
    echo "setup: lxcbr0 exists (lxc-net ran): stop it with /usr/libexec/lxc/lxc-net stop" >&2
    exit 1
  fi
}
quiet_lxc_net
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]} (run as root, or install them)" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  quiet_lxc_net
fi

# npm dependencies at the locked versions; skipped when node_modules already matches the lock file.
# `npm install`, not `npm ci`: npm 11's ci insists on lock entries for every platform's optional
# native package (rollup's), and the registry this is built from does not serve the foreign ones.
stamp=node_modules/.lockclaw-lock-hash
want=$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  npm install --no-audit --no-fund
  want=$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)
  echo "$want" >"$stamp"
fi

npm run --silent build
