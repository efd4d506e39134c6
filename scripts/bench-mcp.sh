#!/usr/bin/env bash
# Benchmark of the MCP read path next to the GPT API's: a person's connected accounts (none:
# the read is the same indexed query either way) as `GET /api/gpt/accounts` (session token +
# API key) and as the MCP tool `list_accounts` (`POST /mcp`, an OAuth access token for /mcp,
# obtained here through the real registration, sign-in and consent forms). Prints requests/s, latency percentiles and the
# server's memory for each. No pass/fail.
#
#   scripts/bench-mcp.sh [sqlite|postgres]      (default: both)
#   DURATION=20s CONNECTIONS=64 scripts/bench-mcp.sh sqlite
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${PORT:-18081}
# shellcheck source=scripts/bench-common.sh
source scripts/bench-common.sh "$@"
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS gptgate_bench_mcp WITH (FORCE)" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

KEY=bench-api-key-0123456789abcdefghijklmnopqrstuvwxyz
URL=http://127.0.0.1:$PORT
PUBLIC=http://localhost:$PORT

# The sign-in an MCP client and its user go through, by the forms: register, authorize (email,
# emailed code, Allow), exchange. Prints the access token.
mcp_token() {
  python3 - "$URL" "$PUBLIC" "$WORK/outbox" <<'PY'
import base64, hashlib, html, http.cookiejar, json, os, re, sys, time, urllib.parse, urllib.request
url, public, outbox = sys.argv[1:4]
class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k): return None
jar = http.cookiejar.CookieJar()
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
def call(method, path, data=None, json_body=None, form=True):
    headers = {"origin": public, "sec-fetch-site": "same-origin"}
    body = None
    if json_body is not None:
        body, headers["content-type"] = json.dumps(json_body).encode(), "application/json"
    elif data is not None:
        body, headers["content-type"] = urllib.parse.urlencode(data).encode(), "application/x-www-form-urlencoded"
    req = urllib.request.Request(path if path.startswith("http") else url + path, data=body, method=method, headers=headers)
    try:
        res = opener.open(req)
    except urllib.error.HTTPError as e:
        res = e
    return res.status, res.headers, res.read().decode()
def hidden(page):
    return [(html.unescape(n), html.unescape(v)) for n, v in re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', page)]
callback = "http://127.0.0.1:9/callback"
_, _, body = call("POST", "/oauth/register", json_body={"client_name": "bench", "redirect_uris": [callback], "token_endpoint_auth_method": "none"})
client_id = json.loads(body)["client_id"]
verifier = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
query = urllib.parse.urlencode({"response_type": "code", "client_id": client_id, "redirect_uri": callback, "state": "s",
    "code_challenge": challenge, "code_challenge_method": "S256", "resource": public + "/mcp"})
_, _, page = call("GET", "/oauth/authorize?" + query)
_, _, page = call("POST", "/oauth/authorize/email", hidden(page) + [("email", "bench@example.com")])
code = None
for _ in range(50):
    mails = [open(os.path.join(outbox, f)).read() for f in os.listdir(outbox)] if os.path.isdir(outbox) else []
    found = [m for mail in mails if "To: bench@example.com" in mail for m in re.findall(r"^ +(\d{6})", mail, re.M)]
    if found: code = found[-1]; break
    time.sleep(0.1)
status, headers, _ = call("POST", "/oauth/authorize/code", hidden(page) + [("code", code)])
_, _, consent = call("GET", headers["location"])
_, headers, _ = call("POST", "/oauth/authorize", hidden(consent) + [("decision", "allow")])
code = urllib.parse.parse_qs(urllib.parse.urlparse(headers["location"]).query)["code"][0]
_, _, body = call("POST", "/oauth/token", [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", callback),
    ("code_verifier", verifier), ("client_id", client_id), ("resource", public + "/mcp")])
print(json.loads(body)["access_token"])
PY
}

report() {
  echo "== $1"
  shift
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency "$@" | grep -E "Requests/sec|Latency|50%|90%|99%|Non-2xx|Socket errors"
}

run_backend() {
  local backend=$1 database_url
  case $backend in
    sqlite) database_url="sqlite://$WORK/bench.db" ;;
    postgres)
      psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS gptgate_bench_mcp WITH (FORCE)" -c "CREATE DATABASE gptgate_bench_mcp"
      database_url="$PG_BASE/gptgate_bench_mcp" ;;
  esac
  rm -rf "$WORK/outbox" "$WORK"/bench.db*
  (cd "$WORK" && RUST_LOG=warn BIND=127.0.0.1:$PORT PUBLIC_URL=$PUBLIC \
      GPT_API_KEY=$KEY JWT_SECRET=bench-secret-0123456789abcdef0123456789 \
      DATABASE_URL=$database_url exec "$BIN" >"$WORK/server.log" 2>&1) &
  SERVER_PID=$!
  for _ in $(seq 1 100); do curl -sf "$URL/healthz" >/dev/null && break; sleep 0.1; done

  local token access
  access=$(mcp_token)
  # Another person on the GPT face (a second code to the same address would wait a minute).
  curl -sf "$URL/auth/send-link" -H "x-api-key: $KEY" -d '{"email":"bench-api@example.com"}' >/dev/null || true
  token=$(curl -sf "$URL/auth/verify-email" -H "x-api-key: $KEY" \
    -d "{\"email\":\"bench-api@example.com\",\"code\":\"$(grep -l 'To: bench-api@example.com' "$WORK"/outbox/* | xargs grep -hoE '^ +[0-9]{6}' | tr -d ' ')\"}" \
    | python3 -c "import json,sys; print(json.load(sys.stdin)['token'])")
  cat >"$WORK/mcp.lua" <<LUA
wrk.method = "POST"
wrk.headers["authorization"] = "Bearer $access"
wrk.headers["accept"] = "application/json, text/event-stream"
wrk.headers["content-type"] = "application/json"
wrk.headers["mcp-protocol-version"] = "2025-06-18"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_accounts","arguments":{}}}'
LUA
  curl -sf "$URL/mcp" -H "authorization: Bearer $access" -H "accept: application/json, text/event-stream" \
    -H "content-type: application/json" -H "mcp-protocol-version: 2025-06-18" \
    -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_accounts","arguments":{}}}' >/dev/null
  echo
  report "gptgate on $backend: GET /api/gpt/accounts (session token), $CONNECTIONS connections, $DURATION" \
    -H "x-api-key: $KEY" -H "authorization: Bearer $token" "$URL/api/gpt/accounts"
  report "gptgate on $backend: POST /mcp tools/call list_accounts (OAuth token for /mcp), $CONNECTIONS connections, $DURATION" \
    -s "$WORK/mcp.lua" "$URL/mcp"
  echo "  server memory: $(grep -E 'VmHWM' /proc/$SERVER_PID/status | awk '{print $2/1024 " MiB peak RSS"}'), $(grep -E 'VmRSS' /proc/$SERVER_PID/status | awk '{print $2/1024 " MiB now"}')"
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
}

for backend in $BACKENDS; do run_backend "$backend"; done
