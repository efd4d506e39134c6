#!/usr/bin/env bash
# Benchmark of the sign-in write path: POST /auth/send-link (a new address each request: the
# budget row, the code row, one outbox file) and then POST /auth/verify-email (a wrong code for
# the addresses just sent to: the attempt is counted, a write) on the release binary, with wrk.
# Prints requests/s, latency percentiles (including the maximum) and the server's memory. No
# pass/fail. verify-email answers 400 (wrong code) or 429 (attempts spent): both are writes, and
# wrk reports them as "Non-2xx".
#
#   scripts/bench-sign-in.sh [sqlite|postgres]      (default: both)
#   DURATION=20s CONNECTIONS=64 scripts/bench-sign-in.sh sqlite
#   GPTGATE_BIN=/tmp/gptgate-before scripts/bench-sign-in.sh sqlite   (an already built binary)
#
# Needs wrk (Debian: apt-get install wrk) and, for the postgres run, PostgreSQL on 127.0.0.1:5432
# (override with GPTGATE_TEST_POSTGRES_URL).
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${PORT:-18081}
# shellcheck source=scripts/bench-common.sh
source scripts/bench-common.sh "$@"
# The outbox (one file per email) goes to memory when it can: production sends by SMTP, and
# file writes on a shared disk make the figures noisy without telling anything about storage.
OUTBOX=$(mktemp -d -p /dev/shm 2>/dev/null || echo "$WORK/outbox")
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS gptgate_bench_sign_in WITH (FORCE)" 2>/dev/null || true
  rm -rf "$WORK" "$OUTBOX"
}
trap cleanup EXIT

KEY=bench-api-key-0123456789abcdefghijklmnopqrstuvwxyz
URL=http://127.0.0.1:$PORT

# One Lua state per wrk thread: each thread numbers its own addresses, so every request of a
# run names an address no other request used (send-link) or one sent to earlier (verify-email).
write_script() {
  local path=$1 body=$2
  cat >"$WORK/$path.lua" <<LUA
local counter = 0
id = 0
local threads = {}
function setup(thread) thread:set("id", #threads); table.insert(threads, thread) end
function init(args) counter = 0 end
function request()
  counter = counter + 1
  if counter > ${SENT_PER_THREAD:-1000000000} then counter = 1 end
  local email = string.format("bench-%d-%d@example.com", id, counter)
  return wrk.format("POST", "/auth/$path",
    { ["x-api-key"] = "$KEY", ["content-type"] = "application/json" }, $body)
end
function done(summary, latency, requests)
  io.write(string.format("  max latency: %.1f ms, p99.9: %.1f ms\n",
    latency.max / 1000, latency:percentile(99.9) / 1000))
end
LUA
}

run_backend() {
  local backend=$1 database_url
  case $backend in
    sqlite) database_url="sqlite://$WORK/bench.db" ;;
    postgres)
      psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS gptgate_bench_sign_in WITH (FORCE)" \
        -c "CREATE DATABASE gptgate_bench_sign_in"
      database_url="$PG_BASE/gptgate_bench_sign_in" ;;
  esac
  rm -rf "$OUTBOX"/* "$WORK"/bench.db*
  (cd "$WORK" && RUST_LOG=warn BIND=127.0.0.1:$PORT PUBLIC_URL=http://localhost:$PORT \
      GPT_API_KEY=$KEY JWT_SECRET=bench-secret-0123456789abcdef0123456789 \
      MAIL_HOURLY_LIMIT=1000000 MAIL_OUTBOX_DIR=$OUTBOX DATABASE_URL=$database_url exec "$BIN" >"$WORK/server.log" 2>&1) &
  SERVER_PID=$!
  for _ in $(seq 1 100); do curl -sf "$URL/healthz" >/dev/null && break; sleep 0.1; done

  SENT_PER_THREAD= write_script send-link '"{\"email\":\"" .. email .. "\"}"'
  echo
  echo "== gptgate on $backend: POST /auth/send-link (a new address each), $CONNECTIONS connections, $DURATION"
  local out sent
  out=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$WORK/send-link.lua" "$URL/auth/send-link")
  echo "$out" | grep -E "Requests/sec|Latency|50%|90%|99%|Non-2xx|Socket errors|max latency"
  # Each thread sent to addresses 1..n; verify-email cycles over the first half of the smaller n.
  sent=$(echo "$out" | awk '/requests in/ {print int($1 / 4)}')
  SENT_PER_THREAD=$sent write_script verify-email \
    '"{\"email\":\"" .. email .. "\",\"code\":\"000000\"}"'
  echo "== gptgate on $backend: POST /auth/verify-email (a wrong code, $sent addresses a thread), $CONNECTIONS connections, $DURATION"
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$WORK/verify-email.lua" "$URL/auth/verify-email" \
    | grep -E "Requests/sec|Latency|50%|90%|99%|Non-2xx|Socket errors|max latency"
  echo "  server memory: $(grep -E 'VmHWM' /proc/$SERVER_PID/status | awk '{print $2/1024 " MiB peak RSS"}')"
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
}

for backend in $BACKENDS; do run_backend "$backend"; done
