#!/usr/bin/env bash
# Benchmark of the GPT read path: POST /conversations/list (API key + session token, one page of
# 10 conversations) on the release binary, next to PostgreSQL's own one-query rate on the same
# machine. Prints requests/s, latency percentiles and the server's memory. No pass/fail.
#
#   scripts/bench.sh [sqlite|postgres]      (default: both)
#   DURATION=20s CONNECTIONS=64 scripts/bench.sh postgres
#   GPTGATE_BIN=/tmp/gptgate-before scripts/bench.sh sqlite   (an already built binary)
#
# Needs wrk and pgbench (Debian: apt-get install wrk postgresql-client) and PostgreSQL on
# 127.0.0.1:5432 (override with GPTGATE_TEST_POSTGRES_URL) for the postgres run and the baseline.
set -euo pipefail
cd "$(dirname "$0")/.."

LIMIT=${LIMIT:-10}
PORT=${PORT:-18080}
# shellcheck source=scripts/bench-common.sh
source scripts/bench-common.sh "$@"
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  for db in gptgate_bench gptgate_bench_baseline; do
    psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

KEY=bench-api-key-0123456789abcdefghijklmnopqrstuvwxyz
URL=http://127.0.0.1:$PORT

json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

run_backend() {
  local backend=$1 database_url
  case $backend in
    sqlite) database_url="sqlite://$WORK/bench.db" ;;
    postgres)
      psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS gptgate_bench WITH (FORCE)" -c "CREATE DATABASE gptgate_bench"
      database_url="$PG_BASE/gptgate_bench" ;;
  esac
  rm -rf "$WORK/outbox"
  (cd "$WORK" && RUST_LOG=warn BIND=127.0.0.1:$PORT PUBLIC_URL=http://localhost:$PORT \
      GPT_API_KEY=$KEY JWT_SECRET=bench-secret-0123456789abcdef0123456789 \
      DATABASE_URL=$database_url exec "$BIN" >"$WORK/server.log" 2>&1) &
  SERVER_PID=$!
  for _ in $(seq 1 100); do curl -sf "$URL/healthz" >/dev/null && break; sleep 0.1; done

  curl -sf "$URL/auth/send-link" -H "x-api-key: $KEY" -d '{"email":"bench@example.com"}' >/dev/null
  local code token
  code=$(grep -rhoE '^ +[0-9]{6}' "$WORK/outbox" | tr -d ' ' | head -n 1)
  token=$(curl -sf "$URL/auth/verify-email" -H "x-api-key: $KEY" \
    -d "{\"email\":\"bench@example.com\",\"code\":\"$code\"}" | json_field token)
  local text
  text=$(python3 -c "print('lorem ipsum dolor sit amet ' * 40)")
  for i in $(seq 1 30); do
    curl -sf "$URL/conversations" -H "x-api-key: $KEY" \
      -d "{\"token\":\"$token\",\"summary\":\"chat $i\",\"messages\":[{\"role\":\"user\",\"content\":\"$text\"},{\"role\":\"assistant\",\"content\":\"$text\"}],\"exercises\":[{\"name\":\"e\",\"score\":80}]}" >/dev/null
  done
  cat >"$WORK/list.lua" <<LUA
wrk.method = "POST"
wrk.headers["x-api-key"] = "$KEY"
wrk.headers["content-type"] = "application/json"
wrk.body = '{"token":"$token","limit":$LIMIT}'
LUA
  local bytes
  bytes=$(curl -sf "$URL/conversations/list" -H "x-api-key: $KEY" -d "{\"token\":\"$token\",\"limit\":$LIMIT}" | wc -c)
  echo
  echo "== gptgate on $backend: POST /conversations/list ($LIMIT conversations, $bytes bytes), $CONNECTIONS connections, $DURATION"
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$WORK/list.lua" "$URL/conversations/list" \
    | grep -E "Requests/sec|Latency|50%|90%|99%|Non-2xx|Socket errors"
  echo "  server memory: $(grep -E 'VmHWM' /proc/$SERVER_PID/status | awk '{print $2/1024 " MiB peak RSS"}'), $(grep -E 'VmRSS' /proc/$SERVER_PID/status | awk '{print $2/1024 " MiB now"}')"
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
}

baseline() {
  command -v pgbench >/dev/null || { echo "(no pgbench: baseline skipped)"; return; }
  psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS gptgate_bench_baseline WITH (FORCE)" -c "CREATE DATABASE gptgate_bench_baseline"
  pgbench -q -i -s 1 "$PG_BASE/gptgate_bench_baseline" >/dev/null 2>&1
  echo
  echo "== PostgreSQL baseline: pgbench -S (one indexed SELECT per transaction), $CONNECTIONS clients, $DURATION"
  pgbench -n -S -M prepared -c "$CONNECTIONS" -j 2 -T "${DURATION%s}" "$PG_BASE/gptgate_bench_baseline" 2>/dev/null \
    | grep -E "^tps|latency average"
}

for backend in $BACKENDS; do run_backend "$backend"; done
baseline
