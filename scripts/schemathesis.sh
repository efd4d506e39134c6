#!/usr/bin/env bash
# Fuzzes the GPT API from its served OpenAPI document with schemathesis (the versions in
# scripts/schemathesis/requirements.txt, in a virtual environment under target/tools): the
# binary runs on a fresh SQLite in a temporary folder, the rate limits off, with a real API key
# and a ChatGPT user header so calls reach past authentication. Checks: no 5xx, every response
# (errors included) in the documented shape, status and content type. Bounded in time
# (SCHEMATHESIS_SECONDS, default 120). GPTGATE_BIN names the binary (default: the debug build,
# built if missing). Exit status: schemathesis's.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${SCHEMATHESIS_SECONDS:-120}"
venv="$PWD/target/tools/schemathesis"
requirements=scripts/schemathesis/requirements.txt
if ! cmp -s "$requirements" "$venv/requirements.txt" || [ ! -x "$venv/bin/schemathesis" ]; then
  rm -rf "$venv"
  # The newest Python here: 3.11's parser fails on hypothesis's look at its own sources
  # ("AST constructor recursion depth mismatch") and schemathesis reports it as an error.
  python=python3
  for candidate in python3.13 python3.12 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[3-9]*/bin/python3 \
    "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3; do
    if "$candidate" -c 'import sys; assert sys.version_info >= (3, 12)' >/dev/null 2>&1; then
      python=$candidate
      break
    fi
  done
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$venv/requirements.txt"
fi

bin="${GPTGATE_BIN:-$PWD/target/debug/gptgate}"
if [ ! -x "$bin" ]; then cargo build --quiet --bin gptgate; fi

work=$(mktemp -d)
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
key="schemathesis-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
(
  cd "$work"
  exec env PUBLIC_URL="http://127.0.0.1:$port" BIND="127.0.0.1:$port" GPT_API_KEY="$key" \
    RATE_LIMIT_API_KEY_PER_MINUTE=off RATE_LIMIT_USER_PER_MINUTE=off \
    RATE_LIMIT_ADDRESS_PER_MINUTE=off MAIL_HOURLY_LIMIT=1000000 RUST_LOG=warn \
    "$bin" >"$work/server.log" 2>&1
) &
server=$!
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then break; fi
  sleep 0.1
done

status=0
# From the temporary folder: schemathesis keeps its files where it runs.
cd "$work"
"$venv/bin/schemathesis" run "http://127.0.0.1:$port/openapi.json" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
  --header "x-api-key: $key" \
  --header "openai-ephemeral-user-id: schemathesis-user" \
  --max-time "$seconds" \
  --workers 2 \
  --request-timeout 15 \
  --suppress-health-check too_slow,filter_too_much \
  || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- the server's errors (a 500 is logged once with its cause) ---"
  grep -E "ERROR" "$work/server.log" | tail -n 20 || echo "(none)"
fi
exit "$status"
