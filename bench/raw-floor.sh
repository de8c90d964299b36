#!/usr/bin/env bash
# Where the GetSecretValue gap to raw Kestrel is (docs/benchmarks.md, "What raw Kestrel pays for Coffer's shape"):
# the same signed request from the same load generator against four servers, in one run, rounds alternating:
#   raw        bench/RawKestrel as in bench/run.sh (~200-byte body)
#   raw-4k     the same with a 4 KiB SecretString in the body (Coffer's answer size in bench/run.sh)
#   raw-4k-a   raw-4k plus the audit hand-off's shape: each request queues a 1.5 KB record for one writer that
#              writes each batch with one pwrite and then releases it, before the answer (--audit-probe)
#   coffer     signed GetSecretValue on `coffer server --dev` (audit default), 1,000 secrets of 4 KiB, after a
#              15 s warm-up of its own
# Usage: bench/raw-floor.sh [--duration S] [--warmup S] [--rounds N] [--skip-build]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=10; warmup=5; rounds=3; skip_build=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) duration="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --skip-build) skip_build=1; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
out="$(mktemp -d)"; pgid=""
stop() { [[ -n "$pgid" ]] && { kill -TERM -- "-$pgid" 2>/dev/null || true; for _ in $(seq 1 50); do kill -0 -- "-$pgid" 2>/dev/null || break; sleep 0.2; done; }; pgid=""; }
trap 'stop; rm -rf "$out"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_http() { for _ in $(seq 1 $(($2 * 5))); do [[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$1" -d '{}' || true)" != 000 ]] && return 0; sleep 0.2; done; echo "no answer from $1" >&2; return 1; }
loadgen() { dotnet bench/Coffer.LoadGen/bin/Release/net10.0/coffer-loadgen.dll "$@"; }
if [[ "$skip_build" == 0 ]]; then
  dotnet build bench/Coffer.LoadGen -c Release -nologo -v q -clp:NoSummary >/dev/null
  dotnet build bench/RawKestrel -c Release -nologo -v q -clp:NoSummary >/dev/null
  ./coffer --help >/dev/null
fi
report() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%-12s %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  server %4.0f µs/req  client %4.0f µs/req" % (d["label"], d["requestsPerSecond"], d["latencyMs"]["p50"], d["latencyMs"]["p99"], d["cpu"]["serverMicrosecondsPerRequest"], d["cpu"]["loadGeneratorMicrosecondsPerRequest"]))' "$1"; }
raw() { # LABEL ROUND ARGS...
  local label="$1" round="$2"; shift 2
  local port; port="$(free_port)"
  setsid dotnet bench/RawKestrel/bin/Release/net10.0/raw-kestrel.dll --listen "127.0.0.1:$port" "$@" >"$out/raw.log" 2>&1 &
  pgid=$!
  wait_http "http://127.0.0.1:$port/" 60
  loadgen raw --sign --endpoint "http://127.0.0.1:$port/" --connections 64 --duration "$duration" --warmup "$warmup" \
    --secrets 1000 --label "$label" --json "$out/$label-$round.json" --server-pids "$(pgrep -g "$pgid" | paste -sd, -)" >/dev/null
  report "$out/$label-$round.json"
  stop
}
coffer() { # ROUND
  local port; port="$(free_port)"
  setsid ./coffer server --dev --listen "127.0.0.1:$port" >"$out/coffer.log" 2>&1 &
  pgid=$!
  wait_http "http://127.0.0.1:$port/" 600
  local common=(--endpoint "http://127.0.0.1:$port/" --access-key test --secret-key test --region us-east-1 --value-size 4096
                --server-pids "$(pgrep -g "$pgid" | paste -sd, -)")
  loadgen setup "${common[@]}" --secrets 1000 --prefix bench/get- --connections 16 >/dev/null
  loadgen get-secret-value "${common[@]}" --secrets 1000 --prefix bench/get- --connections 64 --duration "$duration" \
    --warmup 15 --label coffer --json "$out/coffer-$1.json" >/dev/null
  report "$out/coffer-$1.json"
  stop
}
echo "machine: $(nproc) cores, $(uname -r); load average $(cut -d' ' -f1-3 /proc/loadavg); $rounds rounds of ${duration} s"
for r in $(seq 1 "$rounds"); do
  raw raw "$r"
  raw raw-4k "$r" --value-bytes 4096
  raw raw-4k-a "$r" --value-bytes 4096 --audit-probe
  coffer "$r"
done
python3 - "$out" "$rounds" <<'PY'
import json, os, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
rps = {n: [json.load(open(os.path.join(out, f"{n}-{r}.json")))["requestsPerSecond"] for r in range(1, rounds + 1)] for n in ("raw", "raw-4k", "raw-4k-a", "coffer")}
base = statistics.median(rps["raw"])
print()
for n, v in rps.items():
    print("%-9s median %8.0f req/s = %.2fx raw" % (n, statistics.median(v), statistics.median(v) / base))
PY
