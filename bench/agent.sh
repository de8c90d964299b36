#!/usr/bin/env bash
# Issue-7 benchmark: `coffer agent` cache hits against a raw Kestrel GET endpoint, in one run on one machine
# (figures go to docs/benchmarks.md, section "Caching agent"):
#   raw        GET / on bench/RawKestrel (fixed ~200-byte JSON body), with the token header too
#   agent-s    GET /secretsmanager/get on `coffer agent`, one cached secret with a 16-byte value (~215-byte body,
#              the same size as raw's, so the two differ only in what the server does)
#   agent-4k   the same over 1,000 cached secrets of 4 KiB (~4.3 KB bodies)
# The three alternate for --rounds rounds, so a noisy neighbour hits all of them alike. Afterwards the
# resident memory (VmRSS) of the agent holding the 1,000 4-KiB secrets is read from /proc, with its idle RSS.
#
# Usage: bench/agent.sh [--duration S] [--warmup S] [--connections C] [--rounds N] [--skip-build]
# Defaults: 10 s measured after 3 s warm-up, 64 connections, 3 rounds.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"

duration=10
warmup=3
connections=64
rounds=3
skip_build=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) duration="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --skip-build) skip_build=1; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

out="$(mktemp -d)"
pgids=()
stop_group() {
  local pgid="$1"
  kill -TERM -- "-$pgid" 2>/dev/null || return 0
  for _ in $(seq 1 50); do
    kill -0 -- "-$pgid" 2>/dev/null || return 0
    sleep 0.2
  done
  kill -KILL -- "-$pgid" 2>/dev/null || true
}
cleanup() {
  for p in "${pgids[@]}"; do stop_group "$p"; done
  rm -rf "$out"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_http() { # URL SECONDS
  for _ in $(seq 1 $(($2 * 10))); do
    curl -s -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "no answer from $1" >&2; return 1
}
start() { # NAME COMMAND...: own process group, log in $out/NAME.log; sets $started_pid
  local name="$1"; shift
  setsid "$@" >"$out/$name.log" 2>&1 &
  started_pid=$!
  pgids+=("$started_pid")
}
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

loadgen="dotnet bench/Coffer.LoadGen/bin/Release/net10.0/coffer-loadgen.dll"
rawkestrel="bench/RawKestrel/bin/Release/net10.0/RawKestrel.dll"
if [[ "$skip_build" == 0 ]]; then
  ./coffer --help >/dev/null
  dotnet build bench/Coffer.LoadGen -c Release -nologo -v q -clp:NoSummary >/dev/null
  dotnet build bench/RawKestrel -c Release -nologo -v q -clp:NoSummary >/dev/null
fi
[[ -f "$rawkestrel" ]] || rawkestrel="$(ls bench/RawKestrel/bin/Release/net10.0/*.dll | grep -i raw | head -1)"

export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_TOKEN="bench-token-$RANDOM$RANDOM"

server_port="$(free_port)"
start server "$repo/coffer" server --dev --listen "127.0.0.1:$server_port"
wait_http "http://127.0.0.1:$server_port/health/ready" 60
server="http://127.0.0.1:$server_port/"
$loadgen setup --endpoint "$server" --secrets 1000 --value-size 4096 --prefix bench/agent-4k- --connections 8 >/dev/null
$loadgen setup --endpoint "$server" --secrets 1 --value-size 16 --prefix bench/agent-s- --connections 1 >/dev/null

# TTL 3600 s: the runs measure cache hits only (with the default 300 s, hot entries refresh in the background).
printf 'ttl_seconds = 3600\ncache_size = 1000\nlog_level = "warn"\n' >"$out/agent.toml"
big_port="$(free_port)"
start agent-4k "$repo/coffer" agent --config "$out/agent.toml" --endpoint-url "$server" --port "$big_port"
big_pgid="$started_pid"
small_port="$(free_port)"
start agent-s "$repo/coffer" agent --config "$out/agent.toml" --endpoint-url "$server" --port "$small_port"
small_pid="$started_pid"
wait_http "http://127.0.0.1:$big_port/ping" 60
wait_http "http://127.0.0.1:$small_port/ping" 60
big_pid="$big_pgid"
idle_rss="$(rss_kib "$big_pid")"

raw_port="$(free_port)"
start raw dotnet "$rawkestrel" --listen "127.0.0.1:$raw_port"
raw_pid="$started_pid"
wait_http "http://127.0.0.1:$raw_port/" 60

# Fill the 4 KiB agent: every secret once.
$loadgen agent-get --endpoint "http://127.0.0.1:$big_port/" --secrets 1000 --prefix bench/agent-4k- \
  --connections 8 --warmup 0 --duration 3 >/dev/null

run() { # LABEL ARGS...
  local label="$1"; shift
  $loadgen "$@" --connections "$connections" --warmup "$warmup" --duration "$duration" --label "$label" --json "$out/$label.json" >/dev/null
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%-12s %10.0f req/s   p50 %6.3f ms   p99 %6.3f ms   server %5.1f µs/req   errors %d   load %s" % (d["label"], d["requestsPerSecond"], d["latencyMs"]["p50"], d["latencyMs"]["p99"], d["cpu"]["serverMicrosecondsPerRequest"], d["errors"], open("/proc/loadavg").read().split()[0]))' "$out/$label.json"
  cp "$out/$label.json" "$out/all-$label.json"
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); $(dotnet --version) SDK"
echo "connections $connections, warm-up ${warmup} s, measured ${duration} s, $rounds rounds; load average $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$rounds"); do
  run "raw-r$r" raw --method GET --endpoint "http://127.0.0.1:$raw_port/" --token "$AWS_TOKEN" --server-pids "$raw_pid"
  run "agent-s-r$r" agent-get --endpoint "http://127.0.0.1:$small_port/" --secrets 1 --prefix bench/agent-s- --server-pids "$small_pid"
  run "agent-4k-r$r" agent-get --endpoint "http://127.0.0.1:$big_port/" --secrets 1000 --prefix bench/agent-4k- --server-pids "$big_pid"
done

python3 - "$out" "$rounds" <<'PY'
import json, os, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def load(name): return [json.load(open(os.path.join(out, f"{name}-r{r}.json"))) for r in range(1, rounds + 1)]
raw, small, big = load("raw"), load("agent-s"), load("agent-4k")
def med(rs, f): return statistics.median(f(d) for d in rs)
rps = lambda d: d["requestsPerSecond"]; p99 = lambda d: d["latencyMs"]["p99"]; cpu = lambda d: d["cpu"]["serverMicrosecondsPerRequest"]
print()
for name, rs in (("raw", raw), ("agent-s", small), ("agent-4k", big)):
    print("%-9s median %10.0f req/s  p99 %6.3f ms  server CPU %5.1f µs/request" % (name, med(rs, rps), med(rs, p99), med(rs, cpu)))
print("server CPU per request, agent-s / raw: %.3f   agent-4k / raw: %.3f" % (med(small, cpu) / med(raw, cpu), med(big, cpu) / med(raw, cpu)))
print("agent-s / raw:  throughput %.3f  p99 %.3f  (per round: %s)" % (
    med(small, rps) / med(raw, rps), med(small, p99) / med(raw, p99),
    ", ".join("%.3f/%.3f" % (s["requestsPerSecond"] / r["requestsPerSecond"], s["latencyMs"]["p99"] / r["latencyMs"]["p99"]) for s, r in zip(small, raw))))
print("agent-4k / raw: throughput %.3f  p99 %.3f" % (med(big, rps) / med(raw, rps), med(big, p99) / med(raw, p99)))
PY

entries="$(curl -s -H "X-Aws-Parameters-Secrets-Token: $AWS_TOKEN" "http://127.0.0.1:$big_port/metrics" | awk '/^coffer_agent_cache_entries / {print $2}')"
upstream="$(curl -s -H "X-Aws-Parameters-Secrets-Token: $AWS_TOKEN" "http://127.0.0.1:$big_port/metrics" | awk '/^coffer_agent_upstream_requests_total / {print $2}')"
echo "agent-4k memory: idle RSS $((idle_rss / 1024)) MiB, with $entries cached 4 KiB secrets $(( $(rss_kib "$big_pid") / 1024 )) MiB (upstream calls in all: $upstream)"
