#!/usr/bin/env bash
# No image registry is reachable here, so the base images our Dockerfiles name are made
# locally, once, under those exact tags (a real registry pull would replace them):
#   node:20-bookworm-slim   Debian bookworm (debootstrap minbase) + this machine's Node 20,
#                           laid out as the official image has it (/usr/local/bin/node),
#                           plus this machine's CA bundle and npm cafile setting: here the
#                           npm registry is reached through a TLS-intercepting proxy whose
#                           CA only the host trusts (the official image needs neither)
#   coturn/coturn:4.18.0    Debian forky (debootstrap minbase) + Debian's coturn 4.18.0,
#                           with the official image's user (nobody) and capability
# Usage: base-images.sh [--force]
set -euo pipefail

NODE_TAG=node:20-bookworm-slim
COTURN_TAG=coturn/coturn:4.18.0
MIRROR=http://deb.debian.org/debian
here=$(cd "$(dirname "$0")" && pwd)
force=${1:-}

have() { [ "$force" != --force ] && docker image inspect "$1" >/dev/null 2>&1; }

ensure_debootstrap() {
  command -v debootstrap >/dev/null 2>&1 && return
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
}

# debian_rootfs SUITE TAG [EXTRA_PACKAGES]: a minbase Debian imported as TAG.
debian_rootfs() {
  local suite=$1 tag=$2 include=${3:-} dir
  have "$tag" && return
  ensure_debootstrap
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' RETURN
  echo "base-images: debootstrap $suite → $tag" >&2
  # Testing suites share sid's script; bookworm's debootstrap has no entry named forky.
  debootstrap --variant=minbase ${include:+--include=$include} "$suite" "$dir/root" "$MIRROR" \
    /usr/share/debootstrap/scripts/sid >"$dir/log" 2>&1 || { tail -20 "$dir/log" >&2; return 1; }
  rm -rf "$dir/root/var/cache/apt/archives/"*.deb "$dir/root/var/lib/apt/lists/"*
  tar -C "$dir/root" -c . | docker import --change 'CMD ["bash"]' - "$tag" >/dev/null
}

debian_rootfs bookworm turnkey-base/debian:bookworm libstdc++6,ca-certificates
debian_rootfs forky turnkey-base/debian:forky

if ! have "$NODE_TAG"; then
  echo "base-images: $NODE_TAG from $(node --version)" >&2
  ctx=$(mktemp -d)
  trap 'rm -rf "$ctx"' EXIT
  node_bin=$(readlink -f "$(command -v node)")
  npm_dir=$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd)
  cp "$node_bin" "$ctx/node"
  cp -r "$npm_dir" "$ctx/npm"
  cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt"
  docker build -q -t "$NODE_TAG" -f "$here/node-standin.Dockerfile" "$ctx" >/dev/null
fi

if ! have "$COTURN_TAG"; then
  echo "base-images: $COTURN_TAG" >&2
  docker build -q -t "$COTURN_TAG" -f "$here/coturn-standin.Dockerfile" "$here" >/dev/null
fi
