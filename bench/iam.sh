#!/usr/bin/env bash
# Issue-3 benchmark: what authorization costs on the hot path. One `coffer server --dev`, 1,000 secrets; signed
# GetSecretValue at 64 connections as (a) the bootstrap administrator and (b) an IAM user whose policies hold 20
# statements (19 that do not match the request, some with conditions, and one Allow on bench/get-*), then the
# raw Kestrel endpoint with the same signed requests. Figures go to docs/benchmarks.md.
# Usage: bench/iam.sh [--duration S] [--warmup S]
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"
duration=15
warmup=5
while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) duration="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
out="$(mktemp -d)"
server_pgid=""
stop_group() {
  local pgid="$1"; [[ -z "$pgid" ]] && return 0
  kill -TERM -- "-$pgid" 2>/dev/null || return 0
  for _ in $(seq 1 50); do kill -0 -- "-$pgid" 2>/dev/null || return 0; sleep 0.2; done
  kill -KILL -- "-$pgid" 2>/dev/null || true
}
trap 'stop_group "$server_pgid"; rm -rf "$out"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_ready() { for _ in $(seq 1 300); do curl -sf "$1health/ready" >/dev/null && return 0; sleep 0.2; done; cat "$out/server.log"; return 1; }
loadgen() { dotnet "$repo/bench/Coffer.LoadGen/bin/Release/net10.0/coffer-loadgen.dll" "$@"; }

dotnet build bench/Coffer.LoadGen -c Release -nologo -v q -clp:NoSummary
dotnet build bench/RawKestrel -c Release -nologo -v q -clp:NoSummary
./coffer --help >/dev/null

port="$(free_port)"; endpoint="http://127.0.0.1:$port/"
setsid ./coffer server --dev --listen "127.0.0.1:$port" > "$out/server.log" 2>&1 &
server_pgid=$!
wait_ready "$endpoint"
pids="$(pgrep -g "$server_pgid" | paste -sd, -)"
common=(--endpoint "$endpoint" --region us-east-1 --server-pids "$pids" --value-size 4096)
loadgen setup "${common[@]}" --access-key test --secret-key test --secrets 1000 --prefix bench/get- --connections 16

# An IAM user with 20 statements; its key on stdout.
read -r key secret < <(ENDPOINT="$endpoint" python3 - <<'PY'
import json, os, boto3
iam = boto3.client("iam", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
acct = boto3.client("sts", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test").get_caller_identity()["Account"]
statements = []
for i in range(19):
    s = {"Sid": f"Other{i}", "Effect": "Allow", "Action": ["secretsmanager:DescribeSecret", f"secretsmanager:Get*"] if i % 2 else "secretsmanager:PutSecretValue",
         "Resource": f"arn:aws:secretsmanager:*:{acct}:secret:team{i}/*"}
    if i % 3 == 0:
        s["Condition"] = {"StringEquals": {"aws:ResourceTag/team": f"t{i}"}, "Bool": {"aws:SecureTransport": "true"}}
    statements.append(s)
statements.append({"Sid": "Bench", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                   "Resource": f"arn:aws:secretsmanager:us-east-1:{acct}:secret:bench/get-*"})
iam.create_user(UserName="bench")
half = len(statements) // 2
iam.put_user_policy(UserName="bench", PolicyName="a", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements[:half]}))
arn = iam.create_policy(PolicyName="b", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements[half:]}))["Policy"]["Arn"]
iam.attach_user_policy(UserName="bench", PolicyArn=arn)
k = iam.create_access_key(UserName="bench")["AccessKey"]
print(k["AccessKeyId"], k["SecretAccessKey"])
PY
)

echo "== GetSecretValue as the administrator"
loadgen get-secret-value "${common[@]}" --access-key test --secret-key test --secrets 1000 --prefix bench/get- \
  --connections 64 --duration "$duration" --warmup "$warmup" --label admin --json "$out/admin.json"
echo "== GetSecretValue as an IAM user with 20 statements"
loadgen get-secret-value "${common[@]}" --access-key "$key" --secret-key "$secret" --secrets 1000 --prefix bench/get- \
  --connections 64 --duration "$duration" --warmup "$warmup" --label iam20 --json "$out/iam20.json"
stop_group "$server_pgid"; server_pgid=""

port="$(free_port)"
setsid dotnet bench/RawKestrel/bin/Release/net10.0/raw-kestrel.dll --listen "127.0.0.1:$port" > "$out/raw.log" 2>&1 &
server_pgid=$!
sleep 2
pids="$(pgrep -g "$server_pgid" | paste -sd, -)"
echo "== raw Kestrel"
loadgen raw --sign --endpoint "http://127.0.0.1:$port/" --connections 64 --duration "$duration" --warmup "$warmup" \
  --secrets 1000 --label raw --json "$out/raw.json" --server-pids "$pids"

python3 - "$out" <<'PY'
import json, sys, os
d = sys.argv[1]
r = {n: json.load(open(os.path.join(d, n + ".json"))) for n in ("admin", "iam20", "raw")}
def f(x, *keys):
    for k in keys:
        if k in x: return x[k]
    return None
for n, x in r.items():
    print(n, json.dumps({k: x[k] for k in x if not isinstance(x[k], (dict, list))}))
PY
