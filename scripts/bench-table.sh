#!/usr/bin/env bash
# The speed table of issue 13: four GPT endpoints on PostgreSQL and on SQLite, wrk -t2 -c32,
# next to PostgreSQL's own one-query rate (pgbench -S) measured in the same run, and the read
# path's share of it. Prints a Markdown table (requests/s and p99 per cell). No pass/fail.
#
#   GET  /api/gpt/accounts      a user with 2 connected accounts (session token + API key)
#   POST /conversations/list    a page of 10 conversations of about 2.5 KB
#   POST /auth/send-link        a new address each request
#   POST /auth/verify-email     the right code for an address sent to before: a new user and
#                               its session each request
#
#   scripts/bench-table.sh [sqlite|postgres]      (default: both)
#   DURATION=20s scripts/bench-table.sh
#   GPTGATE_BIN=/tmp/gptgate-before scripts/bench-table.sh   (an already built binary)
#
# The rate limits are raised for the run (one user and one key make every request), not turned
# off: their cost is part of the figures. Needs wrk, pgbench, psql and sqlite3, and PostgreSQL
# on 127.0.0.1:5432 (override with GPTGATE_TEST_POSTGRES_URL).
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${PORT:-18082}
# shellcheck source=scripts/bench-common.sh
source scripts/bench-common.sh "$@"
OUTBOX=$(mktemp -d -p /dev/shm 2>/dev/null || echo "$WORK/outbox")
DB=gptgate_bench_table
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  for db in $DB ${DB}_baseline; do
    psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" 2>/dev/null || true
  done
  rm -rf "$WORK" "$OUTBOX"
}
trap cleanup EXIT

KEY=bench-api-key-0123456789abcdefghijklmnopqrstuvwxyz
URL=http://127.0.0.1:$PORT
declare -A CELL

thousands() { python3 -c "import sys; print(f'{int(sys.stdin.read()):,}')"; }
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

# wrk's figures as "requests/s (p99)"; also remembers non-2xx answers.
measure() {
  local out rps p99 non2xx
  out=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency "$@")
  rps=$(echo "$out" | awk '/Requests\/sec/ {printf "%d", $2}' | thousands)
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $5}')
  echo "$out" | grep -E "Requests/sec|Latency |99%|Non-2xx|Socket errors" | sed 's/^/    /' >&2
  if [ -n "$non2xx" ]; then echo "$rps ($p99, $non2xx not 2xx)"; else echo "$rps ($p99)"; fi
}

# The right code of each address sent to, as a Lua table file, from the outbox.
codes_to_lua() {
  python3 - "$OUTBOX" "$WORK/codes.lua" <<'PY'
import os, re, sys
outbox, target = sys.argv[1:3]
pairs = []
for name in os.listdir(outbox):
    text = open(os.path.join(outbox, name), errors="replace").read()
    to = re.search(r"^To: (\S+)", text, re.M)
    code = re.search(r"^ +(\d{6})", text, re.M)
    if to and code and to.group(1).startswith("bench-"):
        pairs.append((to.group(1), code.group(1)))
with open(target, "w") as f:
    f.write("return {\n")
    for email, code in pairs:
        f.write('{"%s","%s"},\n' % (email, code))
    f.write("}\n")
print(len(pairs))
PY
}

run_backend() {
  local backend=$1 database_url
  case $backend in
    sqlite) database_url="sqlite://$WORK/bench.db" ;;
    postgres)
      psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
      database_url="$PG_BASE/$DB?sslmode=disable" ;;
  esac
  find "$OUTBOX" -mindepth 1 -delete
  rm -f "$WORK"/bench.db*
  (cd "$WORK" && RUST_LOG=warn BIND=127.0.0.1:$PORT PUBLIC_URL=http://localhost:$PORT \
      GPT_API_KEY=$KEY JWT_SECRET=bench-secret-0123456789abcdef0123456789 \
      MAIL_HOURLY_LIMIT=1000000 MAIL_OUTBOX_DIR=$OUTBOX DATABASE_URL=$database_url \
      exec "$BIN" >"$WORK/server.log" 2>&1) &
  SERVER_PID=$!
  for _ in $(seq 1 100); do curl -sf "$URL/healthz" >/dev/null && break; sleep 0.1; done

  # The reading user: signed in, 2 accounts, 10 conversations of about 2.5 KB.
  curl -sf "$URL/auth/send-link" -H "x-api-key: $KEY" -d '{"email":"reader@example.com"}' >/dev/null
  local code answer token user
  code=$(grep -rh -A30 "To: reader@example.com" "$OUTBOX" | grep -oE '^ +[0-9]{6}' | tr -d ' ' | head -n 1)
  answer=$(curl -sf "$URL/auth/verify-email" -H "x-api-key: $KEY" \
    -d "{\"email\":\"reader@example.com\",\"code\":\"$code\"}")
  token=$(echo "$answer" | json_field token)
  user=$(echo "$answer" | json_field userId)
  local now=$(( $(date +%s) * 1000000 ))
  for provider in linear slack; do
    case $backend in
      sqlite)
        sqlite3 "$WORK/bench.db" "INSERT INTO accounts (id, user_id, provider, label, enabled, status, key_id, scopes, metadata, created_at, updated_at) VALUES (randomblob(16), X'${user//-/}', '$provider', 'work', 1, 'active', 'k1', '[]', '{}', $now, $now)" ;;
      postgres)
        psql -q "$PG_BASE/$DB" -c "INSERT INTO accounts (id, user_id, provider, label, enabled, status, key_id, scopes, metadata, created_at, updated_at) VALUES (gen_random_uuid(), '$user', '$provider', 'work', true, 'active', 'k1', '{}', '{}', now(), now())" ;;
    esac
  done
  local text
  text=$(python3 -c "print('lorem ipsum dolor sit amet ' * 44)")
  for i in $(seq 1 10); do
    curl -sf "$URL/conversations" -H "x-api-key: $KEY" \
      -d "{\"token\":\"$token\",\"summary\":\"chat $i\",\"messages\":[{\"role\":\"user\",\"content\":\"$text\"},{\"role\":\"assistant\",\"content\":\"$text\"}]}" >/dev/null
  done
  local accounts bytes
  accounts=$(curl -sf "$URL/api/gpt/accounts" -H "x-api-key: $KEY" -H "authorization: Bearer $token" \
    | python3 -c "import json,sys; print(len(json.load(sys.stdin)['accounts']))")
  bytes=$(curl -sf "$URL/conversations/list" -H "x-api-key: $KEY" -d "{\"token\":\"$token\",\"limit\":10}" | wc -c)
  echo "== $backend: $accounts accounts, a page of 10 conversations is $bytes bytes" >&2

  echo "  GET /api/gpt/accounts" >&2
  CELL[$backend,accounts]=$(measure -H "x-api-key: $KEY" -H "authorization: Bearer $token" "$URL/api/gpt/accounts")

  cat >"$WORK/list.lua" <<LUA
wrk.method = "POST"
wrk.headers["x-api-key"] = "$KEY"
wrk.headers["content-type"] = "application/json"
wrk.body = '{"token":"$token","limit":10}'
LUA
  echo "  POST /conversations/list" >&2
  CELL[$backend,list]=$(measure -s "$WORK/list.lua" "$URL/conversations/list")

  # Each wrk thread numbers its own addresses: every request names a new one.
  cat >"$WORK/send.lua" <<LUA
local counter = 0
local run = "a"
local threads = {}
id = 0
function setup(thread) thread:set("id", #threads); table.insert(threads, thread) end
function init(args) if args[1] then run = args[1] end end
function request()
  counter = counter + 1
  return wrk.format("POST", "/auth/send-link",
    { ["x-api-key"] = "$KEY", ["content-type"] = "application/json" },
    string.format('{"email":"bench-%s-%d-%d@example.com"}', run, id, counter))
end
LUA
  echo "  POST /auth/send-link" >&2
  CELL[$backend,send]=$(measure -s "$WORK/send.lua" "$URL/auth/send-link")

  # The codes just sent, shared out between the threads: each request a new user. Enough for
  # 3,000 sign-ins a second (more are sent first, unmeasured, when the run above sent fewer).
  local sent seconds=${DURATION%s}
  sent=$(codes_to_lua)
  if [ "$sent" -lt $((3000 * seconds)) ]; then
    wrk -t2 -c"$CONNECTIONS" -d"$DURATION" -s "$WORK/send.lua" "$URL/auth/send-link" -- b >/dev/null
    sent=$(codes_to_lua)
  fi
  cat >"$WORK/verify.lua" <<LUA
local pairs_ = dofile("$WORK/codes.lua")
local threads = {}
id = 0
local next_ = 0
function setup(thread) thread:set("id", #threads); table.insert(threads, thread) end
function init(args) next_ = id end
function request()
  local pair = pairs_[(next_ % #pairs_) + 1]
  next_ = next_ + 2
  return wrk.format("POST", "/auth/verify-email",
    { ["x-api-key"] = "$KEY", ["content-type"] = "application/json" },
    string.format('{"email":"%s","code":"%s"}', pair[1], pair[2]))
end
LUA
  echo "  POST /auth/verify-email ($sent codes to use)" >&2
  CELL[$backend,verify]=$(measure -s "$WORK/verify.lua" "$URL/auth/verify-email")
  CELL[$backend,memory]=$(awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' "/proc/$SERVER_PID/status")
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
}

for backend in $BACKENDS; do run_backend "$backend"; done

psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS ${DB}_baseline WITH (FORCE)" -c "CREATE DATABASE ${DB}_baseline"
pgbench -q -i -s 1 "$PG_BASE/${DB}_baseline" >/dev/null 2>&1
tps=$(pgbench -n -S -M prepared -c "$CONNECTIONS" -j 2 -T "${DURATION%s}" "$PG_BASE/${DB}_baseline" 2>/dev/null \
  | awk '/^tps/ {printf "%d", $3}')

cell() { echo "${CELL[$1,$2]:-not run}"; }
ratio=""
if [ -n "${CELL[postgres,accounts]:-}" ]; then
  rps=$(echo "${CELL[postgres,accounts]}" | awk '{gsub(",", "", $1); print $1}')
  ratio=$(awk -v a="$rps" -v b="$tps" 'BEGIN {printf "%.2f", a / b}')
fi
echo
echo "wrk -t2 -c$CONNECTIONS, $DURATION per cell; PostgreSQL on loopback, sslmode=disable; release build"
echo
echo "| endpoint | PostgreSQL req/s (p99) | SQLite req/s (p99) |"
echo "|---|---|---|"
echo "| \`GET /api/gpt/accounts\` (2 accounts) | $(cell postgres accounts) | $(cell sqlite accounts) |"
echo "| \`POST /conversations/list\` (10 of 2.5 KB) | $(cell postgres list) | $(cell sqlite list) |"
echo "| \`POST /auth/send-link\` (distinct emails) | $(cell postgres send) | $(cell sqlite send) |"
echo "| \`POST /auth/verify-email\` (new user + session) | $(cell postgres verify) | $(cell sqlite verify) |"
echo "| peak memory | $(cell postgres memory) | $(cell sqlite memory) |"
echo
echo "pgbench -S (one indexed SELECT), $CONNECTIONS clients: $(echo "$tps" | thousands) tps; GET /api/gpt/accounts on PostgreSQL = ${ratio:-?} x pgbench"
