#!/usr/bin/env bash
# Runs every Faultline test on this machine, installing what they need first.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/setup.sh"
"$root/scripts/build.sh"
cargo fmt --all --check
(cd fuzz && cargo fmt --check)
cargo clippy --quiet --workspace --all-targets -- -D warnings
cargo clippy --quiet -p faultline-filter --target wasm32-wasip1 -- -D warnings
cargo test --workspace --no-fail-fast "$@"
