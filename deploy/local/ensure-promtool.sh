#!/usr/bin/env bash
# The alert rules' tests run Debian's promtool (package `prometheus`): install it when it is missing.
# Only the tool is wanted: the package's own Prometheus server is kept from starting (policy-rc.d).
set -euo pipefail
command -v promtool >/dev/null && exit 0
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
  echo "[promtool] promtool is missing and cannot be installed here; the alert rule tests will be skipped" >&2
  exit 0
fi
echo "[promtool] installing Debian's prometheus package for promtool"
policy=/usr/sbin/policy-rc.d
placed_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && placed_policy=1
fi
trap '[[ $placed_policy == 1 ]] && rm -f "$policy"' EXIT
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
echo "[promtool] $(promtool --version 2>&1 | head -1)"
