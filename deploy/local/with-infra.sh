#!/usr/bin/env bash
# Runs a command with local Kafka and PostgreSQL up; stops afterwards only what this script started.
set -euo pipefail
SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)

was_running=0
"$SCRIPT_DIR/infra.sh" status >/dev/null 2>&1 && was_running=1
"$SCRIPT_DIR/infra.sh" up

# What the scripts started (or were pointed at) is what the command talks to.
export KAFKA_BOOTSTRAP_SERVERS=${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:${KAFKA_PORT:-9092}}
export DATABASE_URL=${DATABASE_URL:-postgresql://postgres@127.0.0.1:${PGPORT_LOCAL:-5432}/paylinks}

rc=0
"$@" || rc=$?

if ((was_running == 0)); then
  "$SCRIPT_DIR/infra.sh" down || true
fi
exit "$rc"
