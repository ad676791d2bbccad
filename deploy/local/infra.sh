#!/usr/bin/env bash
# Local infrastructure for development: Kafka (kafka.sh) + PostgreSQL (postgres.sh).
#
#   deploy/local/infra.sh up | down [--purge] | status
#
# `up` starts both in parallel and waits for both; `down --purge` also deletes both data dirs.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)

log() { echo "[infra] $*"; }

# Runs "<script> <args>" for kafka and postgres in parallel; fails if either fails.
both_parallel() {
  local krc=0 prc=0 kpid ppid
  "$SCRIPT_DIR/kafka.sh" "$@" &
  kpid=$!
  "$SCRIPT_DIR/postgres.sh" "$@" &
  ppid=$!
  wait "$kpid" || krc=$?
  wait "$ppid" || prc=$?
  ((krc == 0)) || log "kafka.sh $* failed (exit $krc)"
  ((prc == 0)) || log "postgres.sh $* failed (exit $prc)"
  ((krc == 0 && prc == 0))
}

cmd_up() {
  local started=$SECONDS
  if both_parallel up; then
    log "all up in $((SECONDS - started))s"
  else
    log "up FAILED after $((SECONDS - started))s"
    return 1
  fi
}

cmd_status() {
  local rc=0
  "$SCRIPT_DIR/kafka.sh" status || rc=1
  "$SCRIPT_DIR/postgres.sh" status || rc=1
  return "$rc"
}

usage() {
  echo "usage: $0 up | down [--purge] | status" >&2
  exit 2
}

main() {
  case ${1:-} in
    up) cmd_up ;;
    down) both_parallel "$@" ;;
    status) cmd_status ;;
    *) usage ;;
  esac
}

main "$@"
