#!/usr/bin/env bash
# Builds what the tests and the demo run: the release filter (.wasm) and the workspace binaries.
# Usage: scripts/build.sh [--release]   (binaries in target/debug, or target/release with --release)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build --quiet -p faultline-filter -p faultline-noop-filter --target wasm32-wasip1 --profile wasm
cargo build --quiet --workspace --bins "$@"
