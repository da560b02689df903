#!/usr/bin/env bash
# A throwaway PgBouncer in transaction mode in front of the local PostgreSQL, for
# the tests (CI and developers alike):
#
#   eval "$(bash .ci/pgbouncer.sh start)"   # exports CONVERSA_TEST_PGBOUNCER_URL/_DIR
#   .venv/bin/pytest tests/stores/test_pgbouncer.py
#   bash .ci/pgbouncer.sh stop
#
# start  writes its config, pid and log files to a new temp dir (or $PGBOUNCER_DIR),
#        picks a free local port, and prints the two exports.
# stop | restart | relaunch  act on $CONVERSA_TEST_PGBOUNCER_DIR (or the dir given
#        as $2): stop shuts it down at once (SIGTERM: every client connection drops),
#        relaunch starts it again from its dir on the same port, restart does both.
#
# Debian's pgbouncer (1.18) refuses to run as root, so as root it runs as the
# `postgres` user (the dir is handed to that user). Clients log in as any role the
# server trusts: auth_type=trust with an auth_file listing them (PGBOUNCER_USERS,
# default "postgres"). Every database name goes to the same name on the server
# (PGBOUNCER_SERVER, default host=127.0.0.1 port=5432).
set -euo pipefail

PGBOUNCER="${PGBOUNCER:-$(command -v pgbouncer || echo /usr/sbin/pgbouncer)}"
SERVER="${PGBOUNCER_SERVER:-host=127.0.0.1 port=5432}"
USERS="${PGBOUNCER_USERS:-postgres}"

as_runner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

dir_arg() {
  local dir="${1:-${CONVERSA_TEST_PGBOUNCER_DIR:-}}"
  if [ -z "$dir" ] || [ ! -f "$dir/pgbouncer.ini" ]; then
    echo "pgbouncer.sh: no PgBouncer dir (set CONVERSA_TEST_PGBOUNCER_DIR)" >&2
    exit 2
  fi
  echo "$dir"
}

port_of() {
  sed -n 's/^listen_port = //p' "$1/pgbouncer.ini"
}

wait_ready() {
  local port="$1"
  for _ in $(seq 1 100); do
    if pg_isready -q -h 127.0.0.1 -p "$port" -U postgres -d test 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "pgbouncer.sh: PgBouncer did not come up on port $port" >&2
  return 1
}

launch() {
  local dir="$1"
  as_runner "$PGBOUNCER" -d "$dir/pgbouncer.ini"
  wait_ready "$(port_of "$dir")"
}

halt() {
  local dir="$1" signal="$2"
  local pid
  pid="$(cat "$dir/pgbouncer.pid" 2>/dev/null || true)"
  if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
    return 0
  fi
  kill "-$signal" "$pid"
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

start() {
  if [ ! -x "$PGBOUNCER" ]; then
    echo "pgbouncer.sh: pgbouncer is not installed (apt-get install pgbouncer)" >&2
    exit 1
  fi
  local dir="${PGBOUNCER_DIR:-$(mktemp -d /tmp/conversa-pgbouncer.XXXXXX)}"
  mkdir -p "$dir"
  local port
  port="$(free_port)"
  : >"$dir/userlist.txt"
  for user in $USERS; do
    printf '"%s" ""\n' "$user" >>"$dir/userlist.txt"
  done
  cat >"$dir/pgbouncer.ini" <<EOF
[databases]
* = $SERVER

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = transaction
default_pool_size = 20
max_client_conn = 1000
server_check_delay = 0
pidfile = $dir/pgbouncer.pid
logfile = $dir/pgbouncer.log
EOF
  if [ "$(id -u)" = 0 ]; then
    chown -R postgres "$dir"
  fi
  launch "$dir"
  echo "export CONVERSA_TEST_PGBOUNCER_DIR=$dir"
  echo "export CONVERSA_TEST_PGBOUNCER_URL=postgresql://postgres@127.0.0.1:$port/test"
}

case "${1:-}" in
  start) start ;;
  stop)
    dir="$(dir_arg "${2:-}")"
    halt "$dir" TERM
    ;;
  restart)
    dir="$(dir_arg "${2:-}")"
    halt "$dir" TERM
    launch "$dir"
    ;;
  relaunch)
    dir="$(dir_arg "${2:-}")"
    launch "$dir"
    ;;
  *)
    echo "usage: $0 start | stop | restart | relaunch [DIR]" >&2
    exit 2
    ;;
esac
