#!/usr/bin/env bash
# Faultline's benchmarks (issue 5), in one script anyone can run; loopback only, bounded in time.
#
#   bench/run.sh            full run, about 65 minutes with the build; writes bench/results/<stamp>/ and
#                           updates BENCHMARKS.md
#   bench/run.sh --quick    about 8 minutes, rough figures; writes bench/results/<stamp>/ only
#   bench/run.sh --only overhead|alert|collector|fast|count|peer [--quick]   one part (BENCHMARKS.md untouched)
#   bench/run.sh --only soak [--minutes 30]                  the soak alone (not in the full run: 30 min)
#   bench/run.sh --no-update                                  full run without touching BENCHMARKS.md
#   bench/run.sh --wait-quiet MIN   first wait up to MIN minutes for a quiet machine (CPUs ≥ 90% idle over
#                                   10 s and no other cargo/rustc/envoy/collector process), then run anyway
#
# Installs what it needs: wrk (apt-get), Envoy 1.40 (scripts/install-envoy.sh), the release builds
# (scripts/build.sh --release) and the no-op filter. Needs 2 CPUs to pin Envoy / the collector apart from the
# load (CPU 0 for the measured process, CPU 1 for the load); on one CPU it still runs, unpinned and noisier.
#
# The figures are only worth something on a quiet machine: the script records the load average and any
# other cargo / envoy processes it sees in the report, so a noisy run says so.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

quick=""
only=""
update=1
wait_quiet=0
minutes=30
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick="--quick"; update=0 ;;
    --only) only="$2"; update=0; shift ;;
    --no-update) update=0 ;;
    --wait-quiet) wait_quiet="$2"; shift ;;
    --minutes) minutes="$2"; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "bench/run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

case "$only" in
  ""|overhead|collector|count|alert|fast|peer|soak) ;;
  *) echo "bench: --only takes overhead, collector, count, alert, fast, peer or soak" >&2; exit 2 ;;
esac

target=${CARGO_TARGET_DIR:-$root/target}
case "$target" in /*) ;; *) target=$root/$target ;; esac

# --- what the benchmarks need -------------------------------------------------------------------------------
apt_install() {
  # Installs a Debian package (as root, or with sudo), updating the package lists once if needed.
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  echo "bench: installing $1" >&2
  $sudo apt-get install -y "$1" >/dev/null \
    || { $sudo apt-get update >/dev/null && $sudo apt-get install -y "$1" >/dev/null; }
}
command -v wrk >/dev/null 2>&1 || apt_install wrk
command -v taskset >/dev/null 2>&1 || { echo "bench: taskset (util-linux) is required" >&2; exit 1; }
# The peer pipeline (variant f) needs mtail; Prometheus and Alertmanager come with scripts/setup.sh.
if [ -z "$only" ] || [ "$only" = peer ]; then command -v mtail >/dev/null 2>&1 || apt_install mtail; fi
"$root/scripts/setup.sh"
"$root/scripts/build.sh" --release
cargo build --quiet -p faultline-noop-filter --target wasm32-wasip1 --profile wasm
export FAULTLINE_BIN_PROFILE=release
bench="$target/release/faultline-bench"
[ -x "$bench" ] || { echo "bench: $bench missing after the build" >&2; exit 1; }

cpus=$(nproc)
if [ "$cpus" -ge 2 ]; then
  measured_cpu=0; load_cpu=1
  pin_load=(taskset -c "$load_cpu")
else
  measured_cpu=0; load_cpu=0
  pin_load=()
  echo "bench: only one CPU: nothing can be pinned apart; figures will be noisier" >&2
fi

stamp=$(date -u +%Y%m%dT%H%M%SZ)
out="$root/bench/results/$stamp${quick:+-quick}"
mkdir -p "$out"
echo "bench: results go to $out" >&2

# --- the machine and its load ---------------------------------------------------------------------------------
others() {
  # Other build or proxy processes than ours (their CPU use makes figures noisy).
  ps -eo pid=,comm= | awk -v me="$$" '$2 ~ /^(cargo|rustc|envoy|cc1|cc1plus|ld|faultline-colle)/ && $1 != me {print $2}' \
    | sort | uniq -c | awk '{printf "%s%s x%s", sep, $2, $1; sep=", "}'
}
idle_percent() {
  # Share of CPU time spent idle over the next 10 s, all CPUs (from /proc/stat).
  local a b
  a=($(head -1 /proc/stat)); sleep 10; b=($(head -1 /proc/stat))
  local total=0 i
  for i in 1 2 3 4 5 6 7 8; do total=$(( total + b[i] - a[i] )); done
  echo $(( 100 * (b[4] - a[4] + b[5] - a[5]) / (total > 0 ? total : 1) ))
}
if [ "$wait_quiet" -gt 0 ]; then
  deadline=$(( SECONDS + wait_quiet * 60 ))
  while :; do
    idle=$(idle_percent); busy=$(others)
    if [ "$idle" -ge 90 ] && [ -z "$busy" ]; then echo "bench: machine quiet (${idle}% idle)" >&2; break; fi
    if [ "$SECONDS" -ge "$deadline" ]; then echo "bench: still busy after $wait_quiet min (${idle}% idle; $busy): running anyway" >&2; break; fi
    echo "bench: waiting for a quiet machine (${idle}% idle; ${busy:-no other processes})" >&2
    sleep 20
  done
fi
quiet_note="CPUs $(idle_percent)% idle over the 10 s before the run"
before_others=$(others)
{
  echo "- CPU: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p'), $(nproc) CPUs ($(lscpu | sed -n 's/^Hypervisor vendor:[[:space:]]*//p' | sed 's/^$/bare metal/;s/^\(.\+\)$/virtual machine, \1/'))"
  echo "- Memory: $(free -m | awk '/^Mem:/{print $2}') MiB; kernel $(uname -r)"
  echo "- $("$target/envoy/bin/envoy" --version 2>/dev/null | sed -n 's/.*version: *//p' | head -1 | sed 's/^/Envoy /')"
  echo "- $(rustc --version); $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2); $(taskset --version)"
  echo "- Load before the run: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min), $quiet_note; other build/proxy processes: ${before_others:-none}"
} > "$out/machine.md"
cat "$out/machine.md" >&2

run_part() {
  local part=$1; shift
  local began=$SECONDS
  echo "bench: --- $part ---" >&2
  "${pin_load[@]}" "$bench" "$part" --out "$out" $quick "$@"
  echo "- $part took $(( (SECONDS - began) / 60 )) min $(( (SECONDS - began) % 60 )) s" >> "$out/durations.md"
}

started=$SECONDS
: > "$out/durations.md"
case "$only" in
  ""|overhead) run_part overhead --envoy-cpus "$measured_cpu" --with-reads ;;&
  ""|collector) run_part collector --collector-cpus "$measured_cpu" ;;&
  ""|count)
    # A second build of the filter that keeps its name section, for the per-function profile by fuel.
    CARGO_TARGET_DIR="$target/wasm-names" cargo build --quiet -p faultline-filter --target wasm32-wasip1 \
      --profile wasm --config profile.wasm.strip=false
    run_part count --profile-wasm "$target/wasm-names/wasm32-wasip1/wasm/faultline_filter.wasm" ;;&
  ""|alert) run_part alert ;;&
  ""|fast) run_part fast ;;&
  ""|peer) run_part peer ;;
  soak) run_part soak --minutes "$minutes" ;;
  overhead|collector|count|alert|fast) ;;
  *) echo "bench: --only takes overhead, collector, count, alert, fast, peer or soak" >&2; exit 2 ;;
esac
total=$(( SECONDS - started ))
after_others=$(others); echo "- Load after the run: $(cut -d' ' -f1-3 /proc/loadavg); other build/proxy processes: ${after_others:-none}" >> "$out/machine.md"

# --- the report ------------------------------------------------------------------------------------------------
cmd="bench/run.sh${quick:+ --quick}${only:+ --only $only}"; [ "$only" = soak ] && cmd="$cmd --minutes $minutes"
{
  echo "<!-- bench:begin (written by bench/run.sh: edit the text around it, not inside) -->"
  echo "Run of $(date -u '+%Y-%m-%d %H:%M UTC'), \`$cmd\`, $(( total / 60 )) min $(( total % 60 )) s in all; every figure as JSON in \`bench/results/$stamp${quick:+-quick}/\` on the machine that ran it (not committed)."
  echo
  echo "**Machine**"
  echo
  cat "$out/machine.md"
  cat "$out/durations.md"
  for part in overhead count alert fast soak peer collector; do
    [ -f "$out/$part.md" ] || continue
    case "$part" in
      overhead) echo; echo "### Filter overhead" ;;
      alert) echo; echo "### Alert delay" ;;
      collector) echo; echo "### Collector cost" ;;
      count) echo; echo "### Wasm instructions per response" ;;
      fast) echo; echo "### Time to page on the product defaults" ;;
      soak) echo; echo "### Soak: nothing may page" ;;
      peer) echo; echo "### Against the log pipeline (f)" ;;
    esac
    echo
    sed 's/^### /#### /' "$out/$part.md"
  done
  echo "<!-- bench:end -->"
} > "$out/report.md"
rm -rf "$out/work"

if [ "$update" = 1 ] && [ -f "$root/BENCHMARKS.md" ] && grep -q '<!-- bench:begin' "$root/BENCHMARKS.md"; then
  python3 - "$root/BENCHMARKS.md" "$out/report.md" <<'EOF'
import re, sys
doc, new = open(sys.argv[1]).read(), open(sys.argv[2]).read().rstrip("\n")
doc = re.sub(r"<!-- bench:begin.*?<!-- bench:end -->", lambda _: new, doc, count=1, flags=re.S)
open(sys.argv[1], "w").write(doc)
EOF
  echo "bench: BENCHMARKS.md updated" >&2
fi
echo "bench: report in $out/report.md ($(( total / 60 )) min $(( total % 60 )) s)" >&2
