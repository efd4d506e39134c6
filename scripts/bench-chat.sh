#!/usr/bin/env bash
# Benchmark of the hosted chat's streaming: how long after a model writes the first piece of an
# answer that piece reaches the browser through gptgate (`POST /api/chat`), against a stand-in
# OpenAI-compatible model on loopback that stamps the moment it sends each first piece. Prints
# the added latency's percentiles for sequential and concurrent chats, and the server's memory.
# No pass/fail (issue 12's target: within 50 ms of the model's first token, nothing buffered).
#
#   scripts/bench-chat.sh                 REQUESTS=400 CONCURRENCY=16 scripts/bench-chat.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${PORT:-18082}
MODEL_PORT=${MODEL_PORT:-18083}
REQUESTS=${REQUESTS:-200}
CONCURRENCY=${CONCURRENCY:-8}
if [ -z "${GPTGATE_BIN:-}" ]; then
  cargo build --release -q -p gptgate-http
fi
BIN=${GPTGATE_BIN:-$PWD/target/release/gptgate}
WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

PASSWORD="bench admin password"
HASH=$(printf '%s' "$PASSWORD" | "$BIN" hash-password)
(cd "$WORK" && RUST_LOG=warn BIND=127.0.0.1:$PORT PUBLIC_URL=http://localhost:$PORT \
    ADMIN_PASSWORD_HASH=$HASH LLM_BASE_URL=http://127.0.0.1:$MODEL_PORT/v1 \
    CHAT_SESSION_QUESTIONS_PER_MINUTE=100000 CHAT_ADDRESS_QUESTIONS_PER_MINUTE=1000000 \
    CHAT_TOTAL_QUESTIONS_PER_MINUTE=10000000 \
    DATABASE_URL=sqlite://$WORK/bench.db exec "$BIN" >"$WORK/server.log" 2>&1) &
SERVER_PID=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done

python3 - "$PORT" "$MODEL_PORT" "$PASSWORD" "$REQUESTS" "$CONCURRENCY" <<'PY'
import concurrent.futures, http.client, socket, http.cookiejar, http.server, json, re, socketserver, statistics
import sys, threading, time, urllib.parse, urllib.request
port, model_port, password, requests, concurrency = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
url, public = f"http://127.0.0.1:{port}", f"http://localhost:{port}"
first_sent = {}

class Model(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def setup(self):
        super().setup()
        # Each piece leaves at once, as a model server's would (no Nagle delay on our side).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        rid = body["messages"][-1]["content"]
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        def send(data):
            event = f"data: {data}\n\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event)); self.wfile.flush()
        chunk = lambda delta: json.dumps({"choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
        send(chunk({"role": "assistant", "content": ""}))
        time.sleep(0.005)  # the model thinks
        first_sent[rid] = time.perf_counter()
        send(chunk({"content": "Hola"}))
        for _ in range(4):
            time.sleep(0.01); send(chunk({"content": " y más"}))
        send("[DONE]")
        self.wfile.write(b"0\r\n\r\n"); self.wfile.flush()

class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
threading.Thread(target=Server(("127.0.0.1", model_port), Model).serve_forever, daemon=True).start()

class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k): return None
jar = http.cookiejar.CookieJar()
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
def call(method, path, form=None):
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    req = urllib.request.Request(url + path, data=data, method=method, headers={"origin": public})
    try: res = opener.open(req)
    except urllib.error.HTTPError as e: res = e
    return res.status, res.read().decode()
csrf = lambda page: re.search(r'name="csrf" value="([^"]*)"', page)[1]
call("POST", "/admin/login", [("csrf", csrf(call("GET", "/admin/login")[1])), ("password", password)])
token = csrf(call("GET", "/admin/profile")[1])
call("POST", "/admin/profile", [("csrf", token), ("name", "Bench"), ("instructions", "Be brief."), ("model", "bench-model"),
    ("allowed_models", "bench-model"), ("temperature", "0.5"), ("max_output_tokens", "300"), ("starters", "")])
call("POST", "/admin/profile/publish", [("csrf", token), ("version", "1")])
def chat_session():
    # A browser of its own (a session streams at most two answers at once).
    global jar, opener
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
    call("POST", "/chat/login", [("csrf", csrf(call("GET", "/chat")[1])), ("password", password)])
    page_token = re.search(r'data-csrf="([^"]*)"', call("GET", "/chat")[1])[1]
    return page_token, "; ".join(f"{c.name}={c.value}" for c in jar)
sessions = [chat_session() for _ in range(concurrency)]
local = threading.local()
counter = iter(range(10**9))
counter_lock = threading.Lock()

def chat(rid):
    if not hasattr(local, "session"):
        with counter_lock:
            local.session = sessions[next(counter) % len(sessions)]
    page_token, cookie = local.session
    conn = http.client.HTTPConnection("127.0.0.1", int(port))
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn.request("POST", "/api/chat", json.dumps({"messages": [{"role": "user", "content": rid}]}),
        {"content-type": "application/json", "origin": public, "x-csrf-token": page_token, "cookie": cookie})
    res = conn.getresponse()
    assert res.status == 200, (res.status, res.read())
    buffered = b""
    while b'"delta"' not in buffered:
        piece = res.read1(65536)
        if not piece: raise RuntimeError("the answer ended before its first piece")
        buffered += piece
    received = time.perf_counter()
    rest = res.read()
    conn.close()
    assert b"event: done" in buffered + rest
    return (received - first_sent[rid]) * 1000

def run(label, workers):
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        added = sorted(pool.map(chat, [f"{label}-{i}" for i in range(requests)]))
    pct = lambda p: added[min(len(added) - 1, int(p / 100 * len(added)))]
    print(f"  {label:<12} {requests} chats, {workers} at a time: model's first piece -> browser: "
          f"p50 {pct(50):.2f} ms, p90 {pct(90):.2f} ms, p99 {pct(99):.2f} ms, max {added[-1]:.2f} ms")
chat("warm-up")
print("== gptgate chat streaming (SQLite; stand-in model on loopback)")
run("sequential", 1)
run("concurrent", concurrency)
PY
echo "  server memory: $(grep -E 'VmHWM' /proc/$SERVER_PID/status | awk '{print $2/1024 " MiB peak RSS"}'), $(grep -E 'VmRSS' /proc/$SERVER_PID/status | awk '{print $2/1024 " MiB now"}')"
