#!/usr/bin/env bash
# What the lab suites need on the machine: iproute2 (ip netns), nftables (the NAT routers),
# openssl (the test CA), curl (the app backend), pebble (the lab's ACME CA and DNS server,
# test/lab/acme.ts), docker-compose (the compose path, test/lab/compose.test.ts) and the Coturn
# root of test/coturn/ensure-coturn.sh. Idempotent; needs root.
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
  echo "ensure-lab: needs root (network namespaces); run as root or with sudo" >&2
  exit 1
fi
missing=()
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v nft >/dev/null 2>&1 || missing+=(nftables)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v curl >/dev/null 2>&1 || missing+=(curl ca-certificates)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
{ command -v pebble && command -v pebble-challtestsrv; } >/dev/null 2>&1 || missing+=(pebble)
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
bash "$(dirname "$0")/../coturn/ensure-coturn.sh"
