#!/usr/bin/env bash
# Everything a fresh machine needs before Faultline builds, tests or runs its demo:
# the wasm32-wasip1 target and Envoy. Idempotent; safe to run again.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
rustup target add wasm32-wasip1 >/dev/null 2>&1 || rustup target add wasm32-wasip1
"$root/scripts/install-envoy.sh" >/dev/null
