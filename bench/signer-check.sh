#!/usr/bin/env bash
# Checks the load generator's SigV4 signer against botocore on 1,000 random requests (reliability-matrix §3.8).
# Exit status 0 when every canonical request, string to sign and Authorization header is identical.
# Needs python3 with botocore (`python3 -m pip install botocore` when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
count="${SIGNER_CHECK_COUNT:-1000}"
seed="${SIGNER_CHECK_SEED:-20250101}"
dotnet build bench/Coffer.LoadGen -c Release -nologo -v q -clp:NoSummary >/dev/null
dotnet bench/Coffer.LoadGen/bin/Release/net10.0/coffer-loadgen.dll signer-check --count "$count" --seed "$seed" \
  | python3 bench/signer-check.py --expect "$count"
