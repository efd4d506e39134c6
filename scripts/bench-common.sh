# Shared by the benchmark scripts (sourced, not run): settings, the binary, a work folder.
#   DURATION, CONNECTIONS: the wrk run; GPTGATE_BIN: an already built binary (else a release
#   build); GPTGATE_TEST_POSTGRES_URL: the PostgreSQL server's admin URL.
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
PG_ADMIN=${GPTGATE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PG_BASE=${PG_ADMIN%/*}
BACKENDS=${1:-sqlite postgres}

command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
if [ -z "${GPTGATE_BIN:-}" ]; then
  cargo build --release -q -p gptgate-http
fi
BIN=${GPTGATE_BIN:-$PWD/target/release/gptgate}
WORK=$(mktemp -d)
SERVER_PID=
# One user and one key make every request of a run: the rate limits are raised (not turned off,
# so their cost stays in the figures).
export RATE_LIMIT_API_KEY_PER_MINUTE=60000000 RATE_LIMIT_API_KEY_BURST=1000000
export RATE_LIMIT_USER_PER_MINUTE=60000000 RATE_LIMIT_USER_BURST=1000000
