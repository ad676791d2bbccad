#!/usr/bin/env bash
# The browser tests check accessibility with axe-core, injected into the pages through Playwright: install
# the npm package into an ignored folder when it is missing (no Node code of ours runs; only its file).
set -euo pipefail
AXE_DIR=${AXE_DIR:-.local/axe}
[[ -f $AXE_DIR/node_modules/axe-core/axe.min.js ]] && exit 0
if ! command -v npm >/dev/null; then
  echo "[axe] npm is missing: the accessibility checks of the browser tests will be skipped" >&2
  exit 0
fi
mkdir -p "$AXE_DIR"
echo "[axe] installing axe-core into $AXE_DIR"
npm install --silent --no-audit --no-fund --prefix "$AXE_DIR" axe-core@4 >/dev/null
echo "[axe] axe-core $(node -p "require('./$AXE_DIR/node_modules/axe-core/package.json').version")"
