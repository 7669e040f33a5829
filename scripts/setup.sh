#!/usr/bin/env bash
# Everything a fresh machine needs before Faultline builds, tests or runs its demo:
# the wasm32-wasip1 target and Envoy. Idempotent; safe to run again.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
rustup target add wasm32-wasip1 >/dev/null 2>&1 || rustup target add wasm32-wasip1
"$root/scripts/install-envoy.sh" >/dev/null

# Status page and Prometheus tests (issue 6): Debian's chromium (headless browser test),
# prometheus (with promtool) and prometheus-alertmanager. Installed only when missing; their
# packaged services are not used (the tests run the binaries with their own configs).
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
{ command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; } || missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
