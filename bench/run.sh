#!/usr/bin/env bash
# Issue-2 performance benchmark, in one run on one machine (figures go to docs/benchmarks.md):
#   1. raw Kestrel endpoint (bench/RawKestrel, fixed ~200-byte JSON body), 64 connections
#   2. signed GetSecretValue against `coffer server --dev`, 64 connections, 1,000 secrets of 4 KiB
#   3. durable PutSecretValue, 1 connection
#   4. durable PutSecretValue, 64 connections
# The load generator (bench/Coffer.LoadGen) sends the raw endpoint the very same signed GetSecretValue
# request it sends Coffer, so the client does identical work in 1 and 2 and the ratio measures the server.
#
# Usage: bench/run.sh [--duration S] [--warmup S] [--connections C] [--pin | --no-pin] [--out DIR]
#                     [--value-size B] [--raw-only] [--skip-build] [--audit-mode default|strict] [--get-only]
#   --audit-mode M  the server's audit durability (issue 4; default: default); "none" passes no option, for a
#                   COFFER_CMD built from a commit before the audit trail (the baseline in docs/benchmarks.md)
#   --get-only      skip the PutSecretValue phases (and their setup)
#   --value-size B  SecretString size for the GetSecretValue secrets and PutSecretValue values (default 4096)
#   --pin      server on CPU 1, load generator on CPU 0 (taskset); the default is --no-pin, see docs/benchmarks.md
#   --out DIR  keep the JSON results and logs there (default: a temporary directory, removed at exit)
# Environment: COFFER_CMD overrides the server command (default: ./coffer at the repository root).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"

duration=20
# 15 s: with tiered compilation and dynamic PGO the server's request path is still being re-jitted for several
# seconds; a 3 s warm-up measured 0.26-0.38x raw where 15 s gave 0.45x on the same build (docs/benchmarks.md).
warmup=15
connections=64
pin=0
out=""
raw_only=0
skip_build=0
audit_mode=default
get_only=0
get_secrets=1000
put1_secrets=1000
put64_secrets=2000
value_size=4096
while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) duration="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    --pin) pin=1; shift ;;
    --no-pin) pin=0; shift ;;
    --out) out="$2"; shift 2 ;;
    --value-size) value_size="$2"; shift 2 ;;
    --raw-only) raw_only=1; shift ;;
    --skip-build) skip_build=1; shift ;;
    --audit-mode) audit_mode="$2"; shift 2 ;;
    --get-only) get_only=1; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

if [[ -z "$out" ]]; then
  out="$(mktemp -d)"
  remove_out=1
else
  mkdir -p "$out"
  out="$(cd "$out" && pwd)"
  remove_out=0
fi

server_pgid=""
stop_group() { # stop a process group we started; SIGTERM first so --dev removes its data directory
  local pgid="$1"
  [[ -z "$pgid" ]] && return 0
  kill -TERM -- "-$pgid" 2>/dev/null || return 0
  for _ in $(seq 1 50); do
    kill -0 -- "-$pgid" 2>/dev/null || return 0
    sleep 0.2
  done
  kill -KILL -- "-$pgid" 2>/dev/null || true
}
cleanup() {
  stop_group "$server_pgid"
  if [[ "$remove_out" == 1 ]]; then rm -rf "$out"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

wait_listening() { # URL PGID SECONDS: any HTTP answer counts
  local url="$1" pgid="$2" seconds="$3"
  for _ in $(seq 1 $((seconds * 5))); do
    # The process itself: its group exists only once setsid has run.
    if ! kill -0 "$pgid" 2>/dev/null; then
      echo "server process exited; its log:" >&2; cat "$out/server.log" >&2; return 1
    fi
    code="$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url" -d '{}' || true)"
    [[ "$code" != "000" ]] && return 0
    sleep 0.2
  done
  echo "no answer from $url after ${seconds}s" >&2; return 1
}

server_cpu=""; client_cpu=""
if [[ "$pin" == 1 ]]; then server_cpu="taskset -c 1"; client_cpu="taskset -c 0"; fi
loadgen() { $client_cpu dotnet "$repo/bench/Coffer.LoadGen/bin/Release/net10.0/coffer-loadgen.dll" "$@"; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

coffer_cmd="${COFFER_CMD:-$repo/coffer}"
if [[ "$raw_only" == 0 && -z "${COFFER_CMD:-}" && ! -x "$repo/coffer" ]]; then
  echo "note: ./coffer does not exist yet; measuring the raw endpoint only" >&2
  raw_only=1
fi

if [[ "$skip_build" == 0 ]]; then
  echo "== building (Release)"
  dotnet build bench/Coffer.LoadGen -c Release -nologo -v q -clp:NoSummary
  dotnet build bench/RawKestrel -c Release -nologo -v q -clp:NoSummary
  # The ./coffer wrapper builds Release on first use; do it now so no build overlaps a measurement.
  if [[ "$raw_only" == 0 ]]; then $coffer_cmd --help > /dev/null; fi
fi

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), \
$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo), kernel $(uname -r), load average $(loadavg)"
echo "== pinning: $([[ "$pin" == 1 ]] && echo 'server CPU 1, load generator CPU 0' || echo none); audit mode: $audit_mode"
echo "load_before $(loadavg)" > "$out/load.txt"
python3 bench/fsync-probe.py "${TMPDIR:-/tmp}" 3 | tee "$out/fsync.txt"

# 1. Raw Kestrel
port="$(free_port)"
setsid $server_cpu dotnet bench/RawKestrel/bin/Release/net10.0/raw-kestrel.dll --listen "127.0.0.1:$port" \
  > "$out/server.log" 2>&1 &
server_pgid=$!
wait_listening "http://127.0.0.1:$port/" "$server_pgid" 60
pids="$(pgrep -g "$server_pgid" | paste -sd, -)"
echo "== raw Kestrel, $connections connections"
loadgen raw --sign --endpoint "http://127.0.0.1:$port/" --connections "$connections" \
  --duration "$duration" --warmup "$warmup" --secrets "$get_secrets" --label raw --json "$out/raw.json" \
  --server-pids "$pids"
echo "load_after_raw $(loadavg)" >> "$out/load.txt"
stop_group "$server_pgid"; server_pgid=""

if [[ "$raw_only" == 0 ]]; then
  # 2-4. Coffer
  port="$(free_port)"
  endpoint="http://127.0.0.1:$port/"
  # shellcheck disable=SC2086
  audit_args=(--audit-mode "$audit_mode"); [[ "$audit_mode" == none ]] && audit_args=()
  setsid $server_cpu $coffer_cmd server --dev --listen "127.0.0.1:$port" "${audit_args[@]}" > "$out/server.log" 2>&1 &
  server_pgid=$!
  wait_listening "$endpoint" "$server_pgid" 600
  pids="$(pgrep -g "$server_pgid" | paste -sd, -)"
  common=(--endpoint "$endpoint" --access-key test --secret-key test --region us-east-1 --server-pids "$pids"
          --value-size "$value_size")

  echo "== setup: CreateSecret $get_secrets + $put1_secrets + $put64_secrets secrets of $value_size bytes"
  loadgen setup "${common[@]}" --secrets "$get_secrets" --prefix bench/get- --connections 16
  if [[ "$get_only" == 0 ]]; then
    loadgen setup "${common[@]}" --secrets "$put1_secrets" --prefix bench/put1- --connections 16
    loadgen setup "${common[@]}" --secrets "$put64_secrets" --prefix bench/put64- --connections 16
  fi

  echo "== GetSecretValue, $connections connections"
  loadgen get-secret-value "${common[@]}" --secrets "$get_secrets" --prefix bench/get- \
    --connections "$connections" --duration "$duration" --warmup "$warmup" --label get --json "$out/get.json"
  echo "load_after_get $(loadavg)" >> "$out/load.txt"

  if [[ "$get_only" == 0 ]]; then
  echo "== PutSecretValue, 1 connection"
  loadgen put-secret-value "${common[@]}" --secrets "$put1_secrets" --prefix bench/put1- \
    --connections 1 --duration "$duration" --warmup "$warmup" --label put1 --json "$out/put1.json"

  echo "== PutSecretValue, $connections connections"
  loadgen put-secret-value "${common[@]}" --secrets "$put64_secrets" --prefix bench/put64- \
    --connections "$connections" --duration "$duration" --warmup "$warmup" --label put64 --json "$out/put64.json"
  echo "load_after_put $(loadavg)" >> "$out/load.txt"
  fi
  stop_group "$server_pgid"; server_pgid=""
fi

echo
python3 - "$out" "$value_size" <<'EOF'
import json, os, sys
out, value_size = sys.argv[1], int(sys.argv[2])
def load(name):
    path = os.path.join(out, name + ".json")
    return json.load(open(path)) if os.path.exists(path) else None
rows = [
    ("raw", "Raw Kestrel, fixed ~200-byte JSON"),
    ("get", f"GetSecretValue (signed, 1,000 secrets of {value_size:,} bytes)"),
    ("put1", f"PutSecretValue (durable, unique token, {value_size:,} bytes)"),
    ("put64", f"PutSecretValue (durable, unique token, {value_size:,} bytes)"),
]
print("| Workload | Connections | req/s | p50 ms | p99 ms | max ms | server CPU µs/req | server cores | loadgen cores | errors |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
results = {}
def cpu(r, key, digits):
    v = (r.get("cpu") or {}).get(key)
    return "–" if v is None else f"{v:,.{digits}f}"
for key, title in rows:
    r = load(key)
    if r is None:
        continue
    results[key] = r
    errors = str(r["errors"]) + ("" if not r["errorsByType"] else " (" + ", ".join(f"{k}: {v}" for k, v in r["errorsByType"].items()) + ")")
    print(f"| {title} | {r['connections']} | {r['requestsPerSecond']:,.0f} | {r['latencyMs']['p50']:.2f} | "
          f"{r['latencyMs']['p99']:.2f} | {r['latencyMs']['max']:.1f} | {cpu(r, 'serverMicrosecondsPerRequest', 0)} | "
          f"{cpu(r, 'serverCores', 2)} | {cpu(r, 'loadGeneratorCores', 2)} | {errors} |")
print()
def verdict(ok): return "met" if ok else "NOT met"
if "raw" in results and "get" in results:
    ratio = results["get"]["requestsPerSecond"] / results["raw"]["requestsPerSecond"]
    print(f"- GetSecretValue / raw = {ratio:.2f} (target ≥ 0.80: {verdict(ratio >= 0.80)})")
if "put1" in results:
    v = results["put1"]["requestsPerSecond"]
    print(f"- PutSecretValue, 1 client: {v:,.0f}/s (target ≥ 1,000/s: {verdict(v >= 1000)})")
if "put64" in results:
    v = results["put64"]["requestsPerSecond"]
    print(f"- PutSecretValue, {results['put64']['connections']} clients: {v:,.0f}/s (target ≥ 3,000/s: {verdict(v >= 3000)})")
print()
print(open(os.path.join(out, "fsync.txt")).read().strip())
print("load average (1, 5, 15 min): " + "; ".join(
    line.strip().replace(" ", " = ", 1) for line in open(os.path.join(out, "load.txt"))))
EOF
