#!/usr/bin/env bash
# Counts the system calls and context switches of `coffer server` per GetSecretValue: runs bench/run.sh --get-only
# and attaches `perf stat` to the server for 8 s of the measured phase (needs perf, Debian's linux-perf, with the
# syscalls tracepoints; run as root). Prints each counter per request, from the run's own req/s.
#
# Usage: bench/server-syscalls.sh [--out DIR] [any other bench/run.sh option, e.g. --audit-mode strict --skip-build]
# Environment: as bench/run.sh (COFFER_CMD picks the server command).
set -euo pipefail
cd "$(dirname "$0")/.."
out=""
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) args+=("$1"); shift ;;
  esac
done
[[ -z "$out" ]] && out="$(mktemp -d)"
mkdir -p "$out"
log="$out/run.txt"
bench/run.sh --get-only --duration 14 --warmup 12 --out "$out/run" "${args[@]}" > "$log" 2>&1 &
bench_pid=$!
until grep -q "== GetSecretValue" "$log" 2>/dev/null; do
  kill -0 "$bench_pid" 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.5
done
sleep 15 # the load generator's 12 s warm-up, and a little more
# This run's server (bench/run.sh's child), not another benchmark's.
pid="$(pgrep -P "$bench_pid" -f -- "server --dev" | tail -1 || true)"
[[ -n "$pid" ]] || { echo "bench/server-syscalls.sh: no coffer server under bench/run.sh ($bench_pid)" >&2; exit 1; }
events=context-switches
for s in pwrite64 pread64 write fsync fdatasync fcntl futex sched_yield epoll_wait sendmsg recvfrom; do
  events+=",syscalls:sys_enter_$s"
done
perf stat -x, -e "$events" -p "$pid" -o "$out/perf.csv" -- sleep 8
wait "$bench_pid"
grep -E "^\| (Raw|GetSecretValue)" "$log"
rps="$(grep '^| GetSecretValue' "$log" | awk -F'|' '{gsub(/[ ,]/, "", $4); print $4}')"
echo "per GetSecretValue (server at $rps req/s, 8 s counted):"
awk -F, -v rps="$rps" '/^[0-9]/ { name=$3; sub("syscalls:sys_enter_", "", name); printf "  %-18s %8.3f\n", name, $1 / (rps * 8) }' "$out/perf.csv"
echo "perf output and the run's logs: $out"
