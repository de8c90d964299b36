#!/usr/bin/env bash
# THE test command: runs every suite of the repository and ends with one line "N passed, M failed[, K skipped]".
#
#   ./scripts/test.sh                 everything: .NET, Python clients, JS client, shell tests
#   ./scripts/test.sh python js       only the named suites (dotnet | python | js | shell); the build still runs
#
# Steps: install missing test dependencies (scripts/install-test-deps.sh), build Coffer.sln once (Release),
# `dotnet test` every test project, the Python client suites (unittest, tests/clients/python), the JS client
# suite (node --test, tests/clients/js), and tests/shell/*.sh (one test per script; exit 0 = pass).
# Each suite's own output stays visible. Exit code 0 iff nothing failed; a suite that crashes or cannot run
# counts as at least one failure.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"

SUITES=("$@")
((${#SUITES[@]})) || SUITES=(dotnet python js shell)
wants() { local s; for s in "${SUITES[@]}"; do [[ "$s" == "$1" ]] && return 0; done; return 1; }

RESULTS="$(mktemp -d "${TMPDIR:-/tmp}/coffer-test.XXXXXX")"
trap 'rm -rf "$RESULTS"' EXIT

PASSED=0
FAILED=0
SKIPPED=0
declare -a REPORT=()

section() { printf '\n==== %s ====\n' "$*"; }

# record NAME PASSED FAILED SKIPPED
record() {
  PASSED=$((PASSED + $2)); FAILED=$((FAILED + $3)); SKIPPED=$((SKIPPED + $4))
  REPORT+=("$(printf '%-22s %5d passed %5d failed %5d skipped' "$1" "$2" "$3" "$4")")
}

finish() {
  section "summary"
  local line
  for line in "${REPORT[@]}"; do echo "  $line"; done
  local summary="$PASSED passed, $FAILED failed"
  ((SKIPPED > 0)) && summary+=", $SKIPPED skipped"
  echo
  echo "$summary"
  ((FAILED == 0))
  exit $?
}

# --- dependencies -------------------------------------------------------------------------------------------
section "test dependencies"
if ! ./scripts/install-test-deps.sh; then
  echo "test.sh: installing test dependencies failed"
  record "test dependencies" 0 1 0
fi

# --- test databases -----------------------------------------------------------------------------------------
# MariaDB and PostgreSQL of their own on free loopback ports (scripts/databases.sh); the rotation suites read the
# COFFER_TEST_* variables it exports. Stopped when this script exits.
section "test databases"
if DB_ENV="$(./scripts/databases.sh start)"; then
  eval "$DB_ENV"
  trap 'rm -rf "$RESULTS"; ./scripts/databases.sh stop >/dev/null 2>&1 || true' EXIT
else
  echo "test.sh: starting the test databases failed; database suites skip locally and fail in CI"
fi

# --- build --------------------------------------------------------------------------------------------------
section "build (Release)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
if ! dotnet build Coffer.sln -c Release -nologo -v minimal; then
  echo "test.sh: the build failed; no suite can run"
  record "build" 0 1 0
  finish
fi

# The ./coffer wrapper builds its own copy on first use; do that now, outside any test's time limit.
if [[ -x ./coffer ]] && { wants python || wants js; }; then
  echo "warming up ./coffer (builds on first use)"
  ./coffer --help >/dev/null 2>&1 || true
fi

# --- .NET -----------------------------------------------------------------------------------------------------
if wants dotnet; then
  section ".NET tests (dotnet test)"
  dotnet test Coffer.sln --no-build -c Release -nologo --logger "trx" --results-directory "$RESULTS/trx"
  rc=$?
  read -r p f s < <(python3 - "$RESULTS/trx" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
p = f = s = 0
for path in glob.glob(sys.argv[1] + "/**/*.trx", recursive=True):
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError:
        f += 1
        continue
    for c in root.iter():
        if c.tag.endswith("Counters"):
            a = {k: int(v) for k, v in c.attrib.items() if v.isdigit()}
            p += a.get("passed", 0)
            f += a.get("failed", 0) + a.get("error", 0) + a.get("timeout", 0) + a.get("aborted", 0)
            s += max(a.get("total", 0) - a.get("executed", 0), 0)
print(p, f, s)
PY
  )
  if ((rc != 0 && f == 0)); then
    echo "test.sh: dotnet test exited with $rc but reported no failed test: counted as one failure"
    f=1
  fi
  record ".NET" "${p:-0}" "${f:-1}" "${s:-0}"
fi

# --- Python client suites --------------------------------------------------------------------------------------
if wants python; then
  section "Python client suites (boto3, AWS CLI v1/v2)"
  python3 tests/clients/python/run.py --summary "$RESULTS/python.json"
  rc=$?
  if [[ -s "$RESULTS/python.json" ]]; then
    read -r p f s < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["passed"], d["failed"], d["skipped"])' "$RESULTS/python.json")
  else
    p=0 f=0 s=0
  fi
  if ((rc != 0 && f == 0)); then
    echo "test.sh: the Python suites exited with $rc and reported no failure: counted as one failure"
    f=1
  fi
  record "Python clients" "$p" "$f" "$s"
fi

# --- JS client suite ----------------------------------------------------------------------------------------
if wants js; then
  section "JS client suite (AWS SDK for JavaScript v3, node --test)"
  (cd tests/clients/js && node --test --test-reporter=spec --test-reporter-destination=stdout \
      --test-reporter=tap --test-reporter-destination="$RESULTS/node.tap")
  rc=$?
  read -r p f s < <(python3 - "$RESULTS/node.tap" <<'PY'
import re, sys
counts = {}
try:
    for line in open(sys.argv[1]):
        m = re.match(r"^# (pass|fail|cancelled|skipped|todo) (\d+)\s*$", line)
        if m:
            counts[m[1]] = int(m[2])
except OSError:
    pass
print(counts.get("pass", 0), counts.get("fail", 0) + counts.get("cancelled", 0),
      counts.get("skipped", 0) + counts.get("todo", 0))
PY
  )
  if ((rc != 0 && f == 0)); then
    echo "test.sh: node --test exited with $rc and reported no failure: counted as one failure"
    f=1
  fi
  record "JS client" "$p" "$f" "$s"
fi

# --- shell tests ----------------------------------------------------------------------------------------------
if wants shell; then
  shopt -s nullglob
  scripts=(tests/shell/*.sh)
  shopt -u nullglob
  if ((${#scripts[@]})); then
    section "shell tests"
    p=0 f=0
    for t in "${scripts[@]}"; do
      echo "--- $t"
      if bash "$t"; then
        echo "--- PASS $t"; p=$((p + 1))
      else
        echo "--- FAIL $t (exit $?)"; f=$((f + 1))
      fi
    done
    record "shell" "$p" "$f" 0
  fi
fi

cd "$ROOT"
finish
