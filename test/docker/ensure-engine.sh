#!/usr/bin/env bash
# Makes sure a Docker engine answers: reuses a running one, else installs Debian's docker.io
# (when dockerd is missing) and starts dockerd in the background.
set -euo pipefail

if docker info >/dev/null 2>&1; then exit 0; fi

if ! command -v dockerd >/dev/null 2>&1; then
  echo "ensure-engine: installing docker.io" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi

echo "ensure-engine: starting dockerd" >&2
nohup dockerd >/var/log/turnkey-dockerd.log 2>&1 &
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then exit 0; fi
  sleep 1
done
echo "ensure-engine: dockerd did not come up in 60 s; see /var/log/turnkey-dockerd.log" >&2
exit 1
