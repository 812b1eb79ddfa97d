#!/usr/bin/env bash
# Debian's Chromium for the end-to-end tests (playwright-core drives it; no browser download).
set -euo pipefail
if [ ! -x /usr/bin/chromium ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
/usr/bin/chromium --version
