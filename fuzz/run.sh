#!/usr/bin/env bash
# Runs one fuzz target for a while (then fuzz/minimize.sh <target> refreshes the committed corpus).
#   fuzz/run.sh <target> [seconds]      (default 600; one target at a time, one job)
# New inputs accumulate in fuzz/work/<target> (git-ignored); findings in fuzz/artifacts/<target>;
# the libFuzzer log in fuzz/logs/<target>.log. Needs the nightly toolchain and cargo-fuzz.
set -euo pipefail
cd "$(dirname "$0")"
t=$1
secs=${2:-600}
declare -A max_len=([flush_parse]=16384 [ledger]=4096 [collector_config]=8192 [filter_config]=4096 [route]=4096 [discord_message]=8192)
dict=()
[ -f "dicts/$t.dict" ] && dict=("-dict=dicts/$t.dict")
mkdir -p "work/$t" logs
cargo +nightly fuzz run "$t" "work/$t" "corpus/$t" -- \
  -max_total_time="$secs" -rss_limit_mb=512 -timeout=10 -max_len="${max_len[$t]}" \
  -jobs=1 -print_final_stats=1 "${dict[@]}" 2>&1 | tail -n 40 > "logs/$t.run.log" || true
# libFuzzer with -jobs writes the job's output to fuzz-0.log in the current directory.
[ -f fuzz-0.log ] && mv fuzz-0.log "logs/$t.log"
grep -E "DONE|Done|stat::|ERROR|panicked" "logs/$t.log" | tail -n 12 || true
