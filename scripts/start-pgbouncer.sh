#!/usr/bin/env bash
# Starts PgBouncer (Debian's package) in transaction mode on 127.0.0.1:6432 in front of the
# local PostgreSQL (127.0.0.1:5432, trust auth), for the tests that run the PostgreSQL store
# behind a transaction pooler with DATABASE_STATEMENT_CACHE=off. Does nothing when something
# already answers there. Its files are under /tmp/gptgate-pgbouncer (owned by postgres, as
# PgBouncer refuses to run as root).
set -euo pipefail

PORT="${PGBOUNCER_PORT:-6432}"
DIR=/tmp/gptgate-pgbouncer

answers() { psql -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -Atqc 'SELECT 1' >/dev/null 2>&1; }

if answers; then exit 0; fi
if ! command -v pgbouncer >/dev/null 2>&1 && [ ! -x /usr/sbin/pgbouncer ]; then
  echo "==> installing pgbouncer"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null
fi
PGBOUNCER=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
# The package's own service is not needed (it would listen on the same port).
if command -v systemctl >/dev/null 2>&1; then systemctl stop pgbouncer >/dev/null 2>&1 || true; fi

mkdir -p "$DIR"
cat >"$DIR/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=5432

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PORT
unix_socket_dir =
auth_type = trust
auth_file = $DIR/users.txt
; Each client's transaction gets a server session of its own; between transactions the
; session goes to another client. Four per database and user: tests share them thin.
pool_mode = transaction
default_pool_size = 4
max_client_conn = 1000
ignore_startup_parameters = extra_float_digits,options
logfile = $DIR/pgbouncer.log
pidfile = $DIR/pgbouncer.pid
INI
echo '"postgres" ""' >"$DIR/users.txt"
chown -R postgres "$DIR"
su postgres -s /bin/sh -c "$PGBOUNCER -d $DIR/pgbouncer.ini"
for _ in $(seq 1 30); do
  if answers; then exit 0; fi
  sleep 0.5
done
echo "PgBouncer did not start on 127.0.0.1:$PORT (see $DIR/pgbouncer.log)" >&2
exit 1
