#!/usr/bin/env bash
# Replaces fuzz/corpus/<target> by a minimal set of inputs with the same edge coverage as
# everything found so far (fuzz/work/<target> + fuzz/corpus/<target>), keeping the
# hand-written seed-* files. Run after fuzz/run.sh <target>.
set -euo pipefail
cd "$(dirname "$0")"
t=$1
cargo +nightly fuzz build "$t" >/dev/null
bin=target/x86_64-unknown-linux-gnu/release/$t
tmp=$(mktemp -d)
mkdir -p "work/$t"
# Edges only (no hit counts): every edge kept, a few hundred files instead of thousands.
"$bin" -merge=1 -set_cover_merge=1 -use_counters=0 -rss_limit_mb=1024 "$tmp" "work/$t" "corpus/$t" 2>&1 | tail -n 1
find "corpus/$t" -maxdepth 1 -type f ! -name 'seed-*' -delete
for f in "$tmp"/*; do
  dup=0
  for s in "corpus/$t"/seed-*; do [ -f "$s" ] && cmp -s "$f" "$s" && dup=1 && break; done
  [ $dup = 1 ] || cp "$f" "corpus/$t/$(basename "$f")"
done
rm -rf "$tmp"
"$bin" -runs=0 "corpus/$t" 2>&1 | grep INITED
echo "corpus/$t: $(find "corpus/$t" -type f | wc -l) files"
