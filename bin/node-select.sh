# Sourced by ./gateway and bin/xnat-gateway: which Node runs the project.
# Node >= 22.18 runs the TypeScript sources directly (type stripping on by default) and loads
# better-sqlite3 13; an older system Node (Debian 12 ships 20) is replaced by the copy that
# ./gateway provisions into .cache/ from the npm registry.
# shellcheck shell=bash
NODE_PIN="24.21.0"   # LTS "Krypton"; keep in step with the Dockerfile's NODE_VERSION (a test checks)

node_ok() { "$1" -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=18)?0:1)' 2>/dev/null; }

# Prints the node binary to use (system Node if recent enough, else the provisioned one), or nothing.
pick_node() {
  local root="$1" sys
  sys="$(command -v node || true)"
  if [ -n "$sys" ] && node_ok "$sys"; then echo "$sys"; return; fi
  if [ -x "$root/.cache/node-v$NODE_PIN/bin/node" ]; then echo "$root/.cache/node-v$NODE_PIN/bin/node"; fi
}
