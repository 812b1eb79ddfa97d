#!/usr/bin/env bash
# Makes the Coturn the tests run: Debian forky's coturn package (4.18, the version
# Dockerfile.coturn pins) in a minbase forky root under .cache/, run with chroot as a host
# process. Bookworm's own coturn is 4.6.1, whose options and defaults differ from what we ship,
# and forky's package needs a newer libc than bookworm has, hence the separate root.
# Idempotent; prints the turnserver version. Needs root (debootstrap, chroot).
set -euo pipefail

root=${TURNKEY_COTURN_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)/.cache/coturn-forky}
mirror=http://deb.debian.org/debian

if [ "$(id -u)" != 0 ]; then
  echo "ensure-coturn: needs root (debootstrap and chroot); run as root or with sudo" >&2
  exit 1
fi

if [ ! -x "$root/usr/bin/turnserver" ]; then
  if ! command -v debootstrap >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  fi
  rm -rf "$root.tmp"
  mkdir -p "$(dirname "$root")"
  echo "ensure-coturn: debootstrap forky into $root (about a minute, once)" >&2
  # Testing suites share sid's script; bookworm's debootstrap has no entry named forky.
  debootstrap --variant=minbase forky "$root.tmp" "$mirror" /usr/share/debootstrap/scripts/sid \
    >"$root.log" 2>&1 || { tail -20 "$root.log" >&2; exit 1; }
  # Keep package scripts from trying to start services inside the root.
  printf '#!/bin/sh\nexit 101\n' >"$root.tmp/usr/sbin/policy-rc.d"
  chmod +x "$root.tmp/usr/sbin/policy-rc.d"
  # The mirror is a snapshot whose Release file has passed its Valid-Until date.
  chroot "$root.tmp" sh -c 'apt-get -o Acquire::Check-Valid-Until=false update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends coturn sqlite3 openssl' \
    >>"$root.log" 2>&1 || { tail -20 "$root.log" >&2; exit 1; }
  rm -f "$root.tmp/etc/turnserver.conf"
  mv "$root.tmp" "$root"
fi
# What the relay's entrypoint uses besides turnserver, as in the image: sqlite3 writes the
# secrets to Coturn's database; openssl (the official image has it) checks a new key matches.
if [ ! -x "$root/usr/bin/sqlite3" ] || [ ! -x "$root/usr/bin/openssl" ]; then
  chroot "$root" sh -c 'apt-get -o Acquire::Check-Valid-Until=false update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends sqlite3 openssl' \
    >>"$root.log" 2>&1 || { tail -20 "$root.log" >&2; exit 1; }
fi
# The tests copy their files here and start turnserver as nobody.
mkdir -p "$root/turnkey-test"
chmod 755 "$root/turnkey-test"
chroot "$root" turnserver --version
