#!/usr/bin/env bash
# Starts and stops the test databases: a MariaDB and a PostgreSQL of their own, on free loopback ports, with data
# directories under one temporary directory (never the system services or their data).
#
#   eval "$(scripts/databases.sh start)"   start both; prints `export VAR=...` lines for the suites
#   scripts/databases.sh stop              stop both and remove the directory ($COFFER_DB_DIR)
#   scripts/databases.sh stop-mariadb|start-mariadb|stop-postgres|start-postgres   one server (fault tests)
#
# Variables exported (tests read them; a test whose database is missing skips locally and fails when CI=true):
#   COFFER_DB_DIR
#   COFFER_TEST_MARIADB_HOST, _PORT, _ADMIN_USER, _ADMIN_PASSWORD, _PID_FILE
#   COFFER_TEST_POSTGRES_HOST, _PORT, _ADMIN_USER, _ADMIN_PASSWORD, _DATA
# A server whose binaries are missing is left out (its variables are not exported) and a note goes to stderr.
# PostgreSQL refuses to run as root: as root, both servers run as their system users (postgres, mysql).
# MariaDB logs every statement (general_log) and PostgreSQL too (log_statement=all), so leak scans can read them.
set -euo pipefail

log() { printf 'databases.sh: %s\n' "$*" >&2; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
random_password() { python3 -c 'import secrets; print(secrets.token_hex(16))'; }

PG_BIN="${PG_BIN:-}"
if [[ -z "$PG_BIN" ]]; then
  for d in /usr/lib/postgresql/*/bin; do [[ -x "$d/initdb" ]] && PG_BIN="$d"; done
fi
MARIADBD="$(command -v mariadbd || true)"
[[ -z "$MARIADBD" && -x /usr/sbin/mariadbd ]] && MARIADBD=/usr/sbin/mariadbd
INSTALL_DB="$(command -v mariadb-install-db || command -v mysql_install_db || true)"
MARIADB_CLIENT="$(command -v mariadb || command -v mysql || true)"

as_user() { # as_user USER CMD... : run as USER when root, else as ourselves
  local user="$1"; shift
  if [[ "$(id -u)" == 0 ]]; then runuser -u "$user" -- "$@"; else "$@"; fi
}

start_mariadb() {
  local dir="$1"
  if [[ -z "$MARIADBD" || -z "$INSTALL_DB" || -z "$MARIADB_CLIENT" ]]; then
    log "MariaDB not installed (apt-get install mariadb-server): MariaDB tests will skip locally"
    return 0
  fi
  local port pw user=mysql
  [[ "$(id -u)" == 0 ]] || user="$(id -un)"
  port="$(free_port)"; pw="$(random_password)"
  mkdir -p "$dir/mariadb"
  [[ "$(id -u)" == 0 ]] && chown -R "$user" "$dir/mariadb"
  "$INSTALL_DB" --no-defaults --datadir="$dir/mariadb/data" --user="$user" --auth-root-authentication-method=normal \
    --skip-test-db >"$dir/mariadb/install.log" 2>&1 || { log "mariadb-install-db failed (see $dir/mariadb/install.log)"; return 1; }
  "$MARIADBD" --no-defaults --user="$user" --datadir="$dir/mariadb/data" --socket="$dir/mariadb/mysqld.sock" \
    --port="$port" --bind-address=127.0.0.1 --skip-name-resolve --pid-file="$dir/mariadb/mysqld.pid" \
    --log-error="$dir/mariadb/error.log" --general-log=1 --general-log-file="$dir/mariadb/general.log" \
    --innodb-buffer-pool-size=32M --max-connections=500 >/dev/null 2>&1 &
  local i
  for i in $(seq 1 100); do
    "$MARIADB_CLIENT" --no-defaults --socket="$dir/mariadb/mysqld.sock" -uroot -e "SELECT 1" >/dev/null 2>&1 && break
    sleep 0.2
  done
  "$MARIADB_CLIENT" --no-defaults --socket="$dir/mariadb/mysqld.sock" -uroot <<SQL || { log "MariaDB did not start (see $dir/mariadb/error.log)"; return 1; }
DELETE FROM mysql.global_priv WHERE User = '';
FLUSH PRIVILEGES;
CREATE USER 'coffer_admin'@'%' IDENTIFIED BY '$pw';
GRANT ALL PRIVILEGES ON *.* TO 'coffer_admin'@'%' WITH GRANT OPTION;
SQL
  cat >>"$dir/env" <<ENV
export COFFER_TEST_MARIADB_HOST=127.0.0.1
export COFFER_TEST_MARIADB_PORT=$port
export COFFER_TEST_MARIADB_ADMIN_USER=coffer_admin
export COFFER_TEST_MARIADB_ADMIN_PASSWORD=$pw
export COFFER_TEST_MARIADB_PID_FILE=$dir/mariadb/mysqld.pid
ENV
  echo "$port" >"$dir/mariadb/port"
  log "MariaDB on 127.0.0.1:$port"
}

restart_mariadb() { # same port and data, after stop-mariadb
  local dir="$1" port user=mysql
  [[ "$(id -u)" == 0 ]] || user="$(id -un)"
  port="$(cat "$dir/mariadb/port")"
  "$MARIADBD" --no-defaults --user="$user" --datadir="$dir/mariadb/data" --socket="$dir/mariadb/mysqld.sock" \
    --port="$port" --bind-address=127.0.0.1 --skip-name-resolve --pid-file="$dir/mariadb/mysqld.pid" \
    --log-error="$dir/mariadb/error.log" --general-log=1 --general-log-file="$dir/mariadb/general.log" \
    --innodb-buffer-pool-size=32M --max-connections=500 >/dev/null 2>&1 &
  local i
  for i in $(seq 1 100); do
    "$MARIADB_CLIENT" --no-defaults --socket="$dir/mariadb/mysqld.sock" -uroot -e "SELECT 1" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  log "MariaDB did not restart"; return 1
}

stop_mariadb() {
  local dir="$1" pid
  [[ -f "$dir/mariadb/mysqld.pid" ]] || return 0
  pid="$(cat "$dir/mariadb/mysqld.pid")"
  kill "$pid" 2>/dev/null || true
  local i
  for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$dir/mariadb/mysqld.pid"
}

start_postgres() {
  local dir="$1"
  if [[ -z "$PG_BIN" ]]; then
    log "PostgreSQL not installed (apt-get install postgresql): PostgreSQL tests will skip locally"
    return 0
  fi
  local port pw user=postgres
  [[ "$(id -u)" == 0 ]] || user="$(id -un)"
  port="$(free_port)"; pw="$(random_password)"
  mkdir -p "$dir/postgres"
  printf '%s\n' "$pw" >"$dir/postgres/pwfile"
  [[ "$(id -u)" == 0 ]] && chown -R "$user" "$dir/postgres"
  as_user "$user" "$PG_BIN/initdb" -D "$dir/postgres/data" -U coffer_admin --pwfile="$dir/postgres/pwfile" \
    --auth=scram-sha-256 -E UTF8 >"$dir/postgres/initdb.log" 2>&1 || { log "initdb failed (see $dir/postgres/initdb.log)"; return 1; }
  rm -f "$dir/postgres/pwfile"
  echo "$port" >"$dir/postgres/port"
  pg_start "$dir" "$user" || return 1
  cat >>"$dir/env" <<ENV
export COFFER_TEST_POSTGRES_HOST=127.0.0.1
export COFFER_TEST_POSTGRES_PORT=$port
export COFFER_TEST_POSTGRES_ADMIN_USER=coffer_admin
export COFFER_TEST_POSTGRES_ADMIN_PASSWORD=$pw
export COFFER_TEST_POSTGRES_DATA=$dir/postgres/data
ENV
  log "PostgreSQL on 127.0.0.1:$port"
}

pg_start() {
  local dir="$1" user="$2" port
  port="$(cat "$dir/postgres/port")"
  as_user "$user" "$PG_BIN/pg_ctl" -D "$dir/postgres/data" -w -t 30 -l "$dir/postgres/server.log" \
    -o "-p $port -c listen_addresses=127.0.0.1 -k $dir/postgres -c max_connections=500 -c log_statement=all -c fsync=off -c shared_buffers=32MB" \
    start >/dev/null || { log "PostgreSQL did not start (see $dir/postgres/server.log)"; return 1; }
}

stop_postgres() {
  local dir="$1" user=postgres
  [[ "$(id -u)" == 0 ]] || user="$(id -un)"
  [[ -n "$PG_BIN" && -f "$dir/postgres/data/postmaster.pid" ]] || return 0
  as_user "$user" "$PG_BIN/pg_ctl" -D "$dir/postgres/data" -m fast -w stop >/dev/null 2>&1 || true
}

cmd="${1:-}"
case "$cmd" in
  start)
    dir="$(mktemp -d "${TMPDIR:-/tmp}/coffer-dbs.XXXXXX")"
    chmod 755 "$dir"
    : >"$dir/env"
    echo "export COFFER_DB_DIR=$dir" >>"$dir/env"
    start_mariadb "$dir" || log "MariaDB left out"
    start_postgres "$dir" || log "PostgreSQL left out"
    cat "$dir/env"
    ;;
  stop)
    dir="${2:-${COFFER_DB_DIR:-}}"
    [[ -n "$dir" && -d "$dir" ]] || { log "nothing to stop (COFFER_DB_DIR unset)"; exit 0; }
    stop_mariadb "$dir"
    stop_postgres "$dir"
    rm -rf "$dir"
    ;;
  stop-mariadb) stop_mariadb "${COFFER_DB_DIR:?}" ;;
  start-mariadb) restart_mariadb "${COFFER_DB_DIR:?}" ;;
  stop-postgres) stop_postgres "${COFFER_DB_DIR:?}" ;;
  start-postgres)
    user=postgres; [[ "$(id -u)" == 0 ]] || user="$(id -un)"
    pg_start "${COFFER_DB_DIR:?}" "$user" ;;
  *)
    echo "usage: $0 start|stop|stop-mariadb|start-mariadb|stop-postgres|start-postgres" >&2; exit 2 ;;
esac
