#!/usr/bin/env bash
# The browser tests drive Debian's Chromium (no browser download): install it when it is missing.
set -euo pipefail
CHROMIUM=${CHROMIUM_PATH:-/usr/bin/chromium}
[[ -x $CHROMIUM ]] && exit 0
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
  echo "[chromium] $CHROMIUM is missing and cannot be installed here; browser tests will be skipped" >&2
  exit 0
fi
echo "[chromium] installing Debian's chromium for the browser tests"
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
echo "[chromium] $("$CHROMIUM" --version)"
