#!/usr/bin/env bash
# Runs a command with local Kafka and PostgreSQL up; stops afterwards only what this script started.
set -euo pipefail
SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)

# A part is ours to stop only if its status said "stopped" (exit 3) before we started it. Any other
# failure (1: running but not ready, say a status probe timing out on a loaded machine) means it runs for
# someone else's command: stopping it afterwards would pull it from under them.
ours=()
for part in kafka postgres; do
  rc=0
  "$SCRIPT_DIR/$part.sh" status >/dev/null 2>&1 || rc=$?
  ((rc == 3)) && ours+=("$part")
done
"$SCRIPT_DIR/infra.sh" up

# What the scripts started (or were pointed at) is what the command talks to.
export KAFKA_BOOTSTRAP_SERVERS=${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:${KAFKA_PORT:-9092}}
export DATABASE_URL=${DATABASE_URL:-postgresql://postgres@127.0.0.1:${PGPORT_LOCAL:-5432}/paylinks}

rc=0
"$@" || rc=$?

for part in "${ours[@]}"; do
  "$SCRIPT_DIR/$part.sh" down || true
done
exit "$rc"
