#!/usr/bin/env bash
# No image registry is reachable here, so stand-ins for the base images our Dockerfiles name
# are made locally, once, under tags of their own (test/docker/stand-ins.json), never the
# official ones: a later real build on this engine must not silently get Debian's stand-in.
# The tests pass them through the Dockerfiles' build args (turnkey:nodeImage, coturnImage).
#   turnkey-test/node:20-bookworm-slim   Debian bookworm (debootstrap minbase) + this
#                           machine's Node 20, laid out as the official node image has it
#                           (/usr/local/bin/node), plus this machine's CA bundle: here TLS
#                           goes through an intercepting proxy whose CA only the host trusts
#   turnkey-test/coturn:4.18.0   Debian forky (debootstrap minbase) + Debian's coturn 4.18.0,
#                           with the official coturn/coturn image's user (nobody) and capability
# Usage: base-images.sh [--force] [--untag-official]
#   --untag-official  removes node:20-bookworm-slim / coturn/coturn:4.18.0 where an older
#                     version of this script made them as stand-ins (it only warns without)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
stand_in() { node -p "require('$here/stand-ins.json').$1"; }
NODE_TAG=$(stand_in nodeImage)
COTURN_TAG=$(stand_in coturnImage)
MIRROR=http://deb.debian.org/debian
force=
untag=
for arg in "$@"; do
  case $arg in
    --force) force=1 ;;
    --untag-official) untag=1 ;;
    *) echo "usage: base-images.sh [--force] [--untag-official]" >&2; exit 64 ;;
  esac
done

have() { [ -z "$force" ] && docker image inspect "$1" >/dev/null 2>&1; }

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

# Stand-ins an older version of this script made under the official tags: their first layer is
# our imported Debian rootfs, which no official image has.
first_layer() { docker image inspect -f '{{index .RootFS.Layers 0}}' "$1" 2>/dev/null || true; }
for pair in node:20-bookworm-slim=turnkey-base/debian:bookworm coturn/coturn:4.18.0=turnkey-base/debian:forky; do
  official=${pair%%=*} base=${pair#*=}
  layer=$(first_layer "$official")
  [ -n "$layer" ] && [ "$layer" = "$(first_layer "$base")" ] || continue
  if [ -n "$untag" ]; then
    docker image rm "$official" >/dev/null && echo "base-images: removed the stand-in tagged $official" >&2
  else
    echo "base-images: warning: $official on this engine is a test stand-in, which a real build would use; remove it: bash $0 --untag-official" >&2
  fi
done
