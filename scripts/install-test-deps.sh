#!/usr/bin/env bash
# Installs what the test suites need when it is missing; safe to run any number of times.
#
#   - Debian packages (apt): awscli gives AWS CLI v2 at /usr/bin/aws.
#   - npm packages of the JS client suite (tests/clients/js): `npm ci` from the committed lock file.
#
# To add a Debian package, add one line to APT_PACKAGES: "<package> <command or file that proves it is there>".
# apt runs only when something is missing (one quiet `apt-get update`, then one install), and only as root;
# otherwise the script says what is missing and the suites that need it skip locally.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

APT_PACKAGES=(
  "awscli /usr/bin/aws"
  "mariadb-server /usr/sbin/mariadbd"
  "postgresql /usr/bin/psql"
  # Functions (docs/functions.md): Debian python3 packages rotation functions import, setpriv/prlimit/setsid.
  "python3-boto3 /usr/lib/python3/dist-packages/boto3/__init__.py"
  "python3-pymysql /usr/lib/python3/dist-packages/pymysql/__init__.py"
  "python3-psycopg2 /usr/lib/python3/dist-packages/psycopg2/__init__.py"
  "util-linux /usr/bin/setpriv"
)

log() { printf 'install-test-deps: %s\n' "$*"; }

present() {
  local probe="$1"
  if [[ "$probe" == /* ]]; then [[ -e "$probe" ]]; else command -v "$probe" >/dev/null 2>&1; fi
}

install_apt_packages() {
  local missing=() entry pkg probe
  for entry in "${APT_PACKAGES[@]}"; do
    read -r pkg probe <<<"$entry"
    present "$probe" || missing+=("$pkg")
  done
  if ((${#missing[@]} == 0)); then
    log "Debian packages present: $(printf '%s ' "${APT_PACKAGES[@]%% *}")"
    return 0
  fi
  if [[ "$(id -u)" != 0 ]]; then
    log "NOT installing Debian packages (${missing[*]}): not root. Run as root: apt-get install ${missing[*]}"
    log "suites that need them will skip"
    return 0
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    log "NOT installing ${missing[*]}: no apt-get on this machine"
    return 0
  fi
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  log "installed: ${missing[*]}"
}

install_npm_packages() {
  local dir="tests/clients/js"
  [[ -f "$dir/package.json" ]] || return 0
  if ! command -v npm >/dev/null 2>&1; then
    log "NOT installing npm packages: npm is missing (the JS suite will fail)"
    return 1
  fi
  # node_modules/.package-lock.json is npm's record of the last install: newer than the lock file = up to date.
  if [[ -f "$dir/package-lock.json" && -f "$dir/node_modules/.package-lock.json" &&
        "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ]]; then
    log "npm packages of $dir up to date"
    return 0
  fi
  log "installing npm packages of $dir"
  if [[ -f "$dir/package-lock.json" ]]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  else
    (cd "$dir" && npm install --no-audit --no-fund --loglevel=error)
  fi
}

install_apt_packages
install_npm_packages
