#!/usr/bin/env bash
# Local Kafka (KRaft, broker+controller in one JVM per node) for development: one node by default, or a
# replicated cluster of KAFKA_BROKERS nodes (3 = what production runs: topics replicated 3 times and
# min.insync.replicas=2, so one broker may die without losing a write, and with two gone writes are refused).
#
#   deploy/local/kafka.sh up | down [--purge] | status
#
# Jars come from Maven (deploy/local/kafka/pom.xml) into $PAYLINKS_HOME/kafka/libs, once.
# Env: PAYLINKS_HOME (default <repo>/.local), KAFKA_BROKERS (default 1),
#      KAFKA_PORT (default 9092), KAFKA_CONTROLLER_PORT (default 9093): node i (1..N) listens on
#      KAFKA_PORT+2(i-1) and KAFKA_CONTROLLER_PORT+2(i-1), unless KAFKA_PORTS / KAFKA_CONTROLLER_PORTS list
#      one port per node (comma-separated),
#      KAFKA_BOOTSTRAP_SERVERS (set = use that cluster, start nothing).
# One node keeps its files in $PAYLINKS_HOME/kafka; node i of a cluster in $PAYLINKS_HOME/kafka/node-i.
set -euo pipefail

readonly KAFKA_VERSION=4.3.1
readonly READY_TIMEOUT=${KAFKA_READY_TIMEOUT:-180}  # a busy 2-core machine starts a JVM slowly
readonly STOP_TIMEOUT=30

SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
REPO_ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PAYLINKS_HOME=${PAYLINKS_HOME:-$REPO_ROOT/.local}
[[ $PAYLINKS_HOME == /* ]] || PAYLINKS_HOME=$PWD/$PAYLINKS_HOME
KAFKA_PORT=${KAFKA_PORT:-9092}
CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9093}
BROKERS=${KAFKA_BROKERS:-1}
[[ $BROKERS =~ ^[1-9][0-9]*$ ]] || { echo "[kafka] ERROR: KAFKA_BROKERS must be a positive number" >&2; exit 1; }
IFS=, read -r -a NODE_PORTS <<<"${KAFKA_PORTS:-}"
IFS=, read -r -a NODE_CONTROLLER_PORTS <<<"${KAFKA_CONTROLLER_PORTS:-}"
for ((i = ${#NODE_PORTS[@]}; i < BROKERS; i++)); do NODE_PORTS[i]=$((KAFKA_PORT + 2 * i)); done
for ((i = ${#NODE_CONTROLLER_PORTS[@]}; i < BROKERS; i++)); do
  NODE_CONTROLLER_PORTS[i]=$((CONTROLLER_PORT + 2 * i))
done
# A replicated cluster: every topic on 3 brokers (fewer if fewer run), a write acknowledged by 2.
REPLICATION=$((BROKERS < 3 ? BROKERS : 3))
MIN_ISR=$((REPLICATION > 1 ? 2 : 1))
HEAP=$((BROKERS > 1 ? 256 : 512))m  # three 256 MiB brokers fit a 2-core CI machine beside the services

POM=$SCRIPT_DIR/kafka/pom.xml
LOG4J_CONFIG=$SCRIPT_DIR/kafka/log4j2.properties
KDIR=$PAYLINKS_HOME/kafka
LIBS=$KDIR/libs
MARKER=$LIBS/.resolved
ADMIN_CONFIG=$KDIR/admin.properties
TOOLS_LOG=$KDIR/tools.log
RESOLVE_LOG=$KDIR/resolve.log
JAVA=${JAVA:-java}

# The node the functions below act on (use_node sets it): its id, ports and files.
use_node() {
  NODE=$1
  NODE_DIR=$KDIR
  ((BROKERS > 1)) && NODE_DIR=$KDIR/node-$NODE
  NODE_PORT=${NODE_PORTS[NODE - 1]}
  NODE_CONTROLLER_PORT=${NODE_CONTROLLER_PORTS[NODE - 1]}
  DATA=$NODE_DIR/data
  CONFIG=$NODE_DIR/server.properties
  PIDFILE=$NODE_DIR/kafka.pid
  OUT=$NODE_DIR/kafka.out
  LOGFILE=$NODE_DIR/kafka.log
}

bootstrap_servers() {
  local i servers=()
  for ((i = 0; i < BROKERS; i++)); do servers+=("127.0.0.1:${NODE_PORTS[i]}"); done
  (IFS=,; echo "${servers[*]}")
}

quorum_voters() {
  local i voters=()
  for ((i = 0; i < BROKERS; i++)); do voters+=("$((i + 1))@127.0.0.1:${NODE_CONTROLLER_PORTS[i]}"); done
  (IFS=,; echo "${voters[*]}")
}

log() { echo "[kafka] $*"; }
warn() { echo "[kafka] WARNING: $*" >&2; }
die() { echo "[kafka] ERROR: $*" >&2; exit 1; }

# Indented, prefixed tail of a file (for error reports).
show_tail() {
  local file=$1 lines=${2:-30}
  [[ -s $file ]] || return 0
  echo "[kafka] --- last $lines lines of $file ---" >&2
  tail -n "$lines" "$file" | sed 's/^/[kafka]   /' >&2
}

need() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found in PATH"; }

# ---------------------------------------------------------------- jars

# Marker content: Kafka version + hash of the pom, so editing the pom re-resolves.
marker_content() {
  echo "kafka=$KAFKA_VERSION pom=$(sha256sum "$POM" | cut -c1-16)"
}

jars_present() {
  [[ -f $MARKER && $(cat "$MARKER") == "$(marker_content)" ]]
}

resolve_jars() {
  jars_present && return 0
  need mvn
  local tmp=$KDIR/libs.tmp.$$ started=$SECONDS
  log "resolving Kafka $KAFKA_VERSION jars with Maven into $LIBS (first time only) ..."
  mkdir -p "$KDIR"
  rm -rf -- "$tmp"
  if ! mvn -q -B -f "$POM" dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$tmp" >"$RESOLVE_LOG" 2>&1; then
    rm -rf -- "$tmp"
    show_tail "$RESOLVE_LOG" 40
    die "Maven could not resolve the Kafka jars (full log: $RESOLVE_LOG)"
  fi
  marker_content >"$tmp/.resolved"
  rm -rf -- "$LIBS"
  mv -- "$tmp" "$LIBS"
  log "resolved $(find "$LIBS" -name '*.jar' | wc -l) jars in $((SECONDS - started))s"
}

# ---------------------------------------------------------------- java helpers

# Runs a Kafka main class with the resolved jars; its own log4j output goes to $2.
run_kafka_class() {
  local logfile=$1; shift
  "$JAVA" -Dlog4j2.configurationFile="$LOG4J_CONFIG" -Dpaylinks.kafka.logfile="$logfile" \
    -cp "$LIBS/*" "$@"
}

# Ready = an admin client can fetch cluster metadata and describe broker configs.
# (kafka-tools is not on the classpath; kafka.admin.ConfigCommand ships in kafka_2.13.)
metadata_ok() {
  local bootstrap=$1
  run_kafka_class "$TOOLS_LOG" kafka.admin.ConfigCommand --bootstrap-server "$bootstrap" \
    --command-config "$ADMIN_CONFIG" --describe --entity-type brokers --entity-default \
    >/dev/null 2>&1
}

write_admin_config() {
  mkdir -p "$KDIR"
  printf '%s\n' 'request.timeout.ms=3000' 'default.api.timeout.ms=5000' >"$ADMIN_CONFIG"
}

port_open() {
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# ---------------------------------------------------------------- broker process

broker_pid() {
  [[ -f $PIDFILE ]] || return 1
  local pid
  pid=$(cat "$PIDFILE")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # Guard against a recycled pid: it must be our broker, with our config file.
  local cmdline
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmdline == *"kafka.Kafka $CONFIG"* ]] || return 1
  echo "$pid"
}

# Port the running broker was started with (from its config), else the node's port.
broker_port() {
  local port=""
  [[ -f $CONFIG ]] && port=$(sed -n 's|^advertised.listeners=PLAINTEXT://127.0.0.1:\([0-9]*\)$|\1|p' "$CONFIG")
  echo "${port:-$NODE_PORT}"
}

write_server_config() {
  mkdir -p "$NODE_DIR"
  cat >"$CONFIG" <<EOF
# Generated by deploy/local/kafka.sh on every start: edit the script, not this file.
process.roles=broker,controller
node.id=$NODE
controller.quorum.voters=$(quorum_voters)
listeners=PLAINTEXT://127.0.0.1:$NODE_PORT,CONTROLLER://127.0.0.1:$NODE_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$NODE_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$DATA
num.partitions=6
auto.create.topics.enable=false
default.replication.factor=$REPLICATION
offsets.topic.replication.factor=$REPLICATION
transaction.state.log.replication.factor=$REPLICATION
transaction.state.log.min.isr=$MIN_ISR
share.coordinator.state.topic.replication.factor=$REPLICATION
share.coordinator.state.topic.min.isr=$MIN_ISR
min.insync.replicas=$MIN_ISR
group.initial.rebalance.delay.ms=0
# The nodes of a cluster start together on a small, busy machine: give the quorum time to form.
initial.broker.registration.timeout.ms=180000
# Kafka requires strictly more than 1 MiB per cleaner thread (the default is 128 MiB).
log.cleaner.dedupe.buffer.size=2097152
EOF
}

# 16 random bytes, URL-safe base64 without padding (what StorageTool random-uuid prints);
# a leading '-' would be read as an option, so avoid it like Kafka does.
new_cluster_id() {
  local id="-"
  while [[ $id == -* ]]; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
  done
  echo "$id"
}

# Every node of a cluster is formatted with the same id: the first node's, if formatted before.
cluster_id() {
  local existing=$KDIR/data/meta.properties
  ((BROKERS > 1)) && existing=$KDIR/node-1/data/meta.properties
  if [[ -f $existing ]]; then
    sed -n 's/^cluster.id=//p' "$existing"
  else
    new_cluster_id
  fi
}

format_storage_once() {
  if [[ -f $DATA/meta.properties ]]; then
    log "node $NODE: storage already formatted (cluster $(sed -n 's/^cluster.id=//p' "$DATA/meta.properties"))"
    return 0
  fi
  local id=$1
  log "formatting storage in $DATA (cluster id $id)"
  mkdir -p "$DATA"
  if ! run_kafka_class "$TOOLS_LOG" kafka.tools.StorageTool format -t "$id" -c "$CONFIG" \
      >"$KDIR/format.out" 2>&1; then
    show_tail "$KDIR/format.out"
    die "storage format failed"
  fi
}

check_ports_free() {
  local port
  for port in "$NODE_PORT" "$NODE_CONTROLLER_PORT"; do
    if port_open 127.0.0.1 "$port"; then
      die "127.0.0.1:$port is already in use by another process (not started by this script).
        Stop it, pick another KAFKA_PORT, or set KAFKA_BOOTSTRAP_SERVERS to use an existing cluster."
    fi
  done
}

start_broker() {
  log "starting broker $NODE on 127.0.0.1:$NODE_PORT (controller 127.0.0.1:$NODE_CONTROLLER_PORT)"
  : >"$OUT"
  # fd 9 is the up/down lock: the broker must not inherit (and keep holding) it.
  nohup "$JAVA" -Xms$HEAP -Xmx$HEAP -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$LOG4J_CONFIG" -Dpaylinks.kafka.logfile="$LOGFILE" \
    -cp "$LIBS/*" kafka.Kafka "$CONFIG" </dev/null >"$OUT" 2>&1 9>&- &
  echo $! >"$PIDFILE"
}

startup_failed() {
  show_tail "$LOGFILE" 20
  show_tail "$OUT" 20
  die "$1 (logs: $LOGFILE, $OUT)"
}

wait_ready() {
  local port=$1 deadline=$((SECONDS + READY_TIMEOUT))
  while ((SECONDS < deadline)); do
    # The process we just started: alive is enough. (broker_pid's command-line check can miss it in the
    # moment between fork and exec, when it is still this script's subshell; a busy machine widens it.)
    kill -0 "$(cat "$PIDFILE")" 2>/dev/null || startup_failed "broker process exited during startup"
    if port_open 127.0.0.1 "$port" && metadata_ok "127.0.0.1:$port"; then
      return 0
    fi
    sleep 1
  done
  startup_failed "broker not ready after ${READY_TIMEOUT}s"
}

# ---------------------------------------------------------------- commands

# Serialise up/down (parallel test runners may call `up` at the same time).
take_lock() {
  need flock
  mkdir -p "$KDIR"
  exec 9>"$KDIR/.kafka.lock"
  flock -w 120 9 || die "another kafka.sh up/down still holds $KDIR/.kafka.lock after 120s"
}

cmd_up() {
  if [[ -n ${KAFKA_BOOTSTRAP_SERVERS:-} ]]; then
    log "KAFKA_BOOTSTRAP_SERVERS is set: using the cluster at $KAFKA_BOOTSTRAP_SERVERS, starting nothing"
    return 0
  fi
  need "$JAVA"
  resolve_jars
  write_admin_config
  local node started=$SECONDS id ports=()
  id=$(cluster_id)
  for ((node = 1; node <= BROKERS; node++)); do  # format each (a JVM each) before starting any
    use_node "$node"
    broker_pid >/dev/null && continue
    write_server_config
    format_storage_once "$id"
  done
  for ((node = 1; node <= BROKERS; node++)); do  # start them all, then wait: a quorum needs a majority
    use_node "$node"
    ports+=("$(start_node)")
  done
  for ((node = 1; node <= BROKERS; node++)); do
    use_node "$node"
    wait_ready "${ports[node - 1]}"
  done
  log "ready in $((SECONDS - started))s ($BROKERS broker(s)): KAFKA_BOOTSTRAP_SERVERS=$(bootstrap_servers)"
}

# Start the current node unless it runs already; print the port it listens on.
start_node() {
  local pid port
  if pid=$(broker_pid); then
    port=$(broker_port)
    [[ $port == "$NODE_PORT" ]] || warn "running broker $NODE uses port $port, not $NODE_PORT"
    log "broker $NODE already running (pid $pid)" >&2
    echo "$port"
    return 0
  fi
  rm -f -- "$PIDFILE"
  check_ports_free
  start_broker >&2
  echo "$NODE_PORT"
}

stop_broker() {
  local pid=$1 deadline=$((SECONDS + STOP_TIMEOUT))
  log "stopping broker (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    warn "broker still running after ${STOP_TIMEOUT}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  fi
  log "stopped"
}

cmd_down() {
  local purge=false pid node stopped=0
  case ${1:-} in
    "") ;;
    --purge) purge=true ;;
    *) die "unknown option for down: $1 (expected --purge)" ;;
  esac
  for ((node = 1; node <= BROKERS; node++)); do
    use_node "$node"
    if pid=$(broker_pid); then
      stop_broker "$pid"
      stopped=$((stopped + 1))
    fi
    rm -f -- "$PIDFILE"
    if $purge; then
      log "purging data dir $DATA"
      rm -rf -- "${DATA:?}"
    fi
  done
  if ((stopped == 0)); then
    if [[ -n ${KAFKA_BOOTSTRAP_SERVERS:-} ]]; then
      log "no local broker running (KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS is not managed here)"
    else
      log "not running"
    fi
  fi
}

cmd_status() {
  local pid port
  if [[ -n ${KAFKA_BOOTSTRAP_SERVERS:-} ]]; then
    jars_present || { log "external cluster $KAFKA_BOOTSTRAP_SERVERS (no local jars to check it with)"; return 0; }
    write_admin_config
    if metadata_ok "$KAFKA_BOOTSTRAP_SERVERS"; then
      log "external cluster $KAFKA_BOOTSTRAP_SERVERS: reachable (metadata OK)"
      return 0
    fi
    log "external cluster $KAFKA_BOOTSTRAP_SERVERS: NOT reachable"
    return 1
  fi
  local node down=0
  write_admin_config
  for ((node = 1; node <= BROKERS; node++)); do
    use_node "$node"
    if ! pid=$(broker_pid); then
      log "broker $node stopped"
      down=$((down + 1))
      continue
    fi
    port=$(broker_port)
    if metadata_ok "127.0.0.1:$port"; then
      log "broker $node running (pid $pid), ready: 127.0.0.1:$port"
    else
      log "broker $node running (pid $pid) but NOT ready on 127.0.0.1:$port (log: $LOGFILE)"
      return 1
    fi
  done
  ((down == BROKERS)) && return 3
  ((down == 0)) || return 1
  log "KAFKA_BOOTSTRAP_SERVERS=$(bootstrap_servers)"
}

usage() {
  echo "usage: $0 up | down [--purge] | status" >&2
  exit 2
}

main() {
  local cmd=${1:-}
  [[ $# -gt 0 ]] && shift
  case $cmd in
    up) take_lock; cmd_up ;;
    down) take_lock; cmd_down "$@" ;;
    status) cmd_status ;;
    *) usage ;;
  esac
}

main "$@"
