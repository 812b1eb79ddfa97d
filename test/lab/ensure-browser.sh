#!/usr/bin/env bash
# Debian's Chromium for the lab's browsers (playwright-core drives it; no browser download),
# and certutil (libnss3-tools) to trust the test CA in each browser's own NSS database.
set -euo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v certutil >/dev/null 2>&1 || missing+=(libnss3-tools)
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
/usr/bin/chromium --version
