#!/usr/bin/env bash
# Starts the servers as separate processes against the local PostgreSQL and NATS, with
# budgets raised for load tests (BENCHMARKS.md). Stop them with: pkill -f 'services/.*/dist/main.js'
#   REPLICAS=2      two of every service and two edges (:5000 and :5001); each caller lists
#                   every replica of what it calls, and spreads its calls over them
#   NODE_ARGS=...   node flags for every server, e.g. NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"
#                   (profiles are written when they stop)
set -euo pipefail
cd "$(dirname "$0")/.."
npx turbo run build --output-logs=errors-only >/dev/null
ulimit -n 65536 2>/dev/null || true
replicas="${REPLICAS:-1}"
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/redup_bench}" NATS_URL="${NATS_URL:-nats://127.0.0.1:4222}"
# An empty database for every start (FRESH_DB=0 keeps it): runs start from the same state.
if [ "${FRESH_DB:-1}" = 1 ]; then
  admin="${DATABASE_URL%/*}/postgres"
  db="${DATABASE_URL##*/}"
  psql "$admin" -qc "drop database if exists \"$db\" with (force)" -c "create database \"$db\"" >/dev/null
fi
export NATS_SUBJECT_PREFIX=bench LOG_LEVEL=warn DB_POOL_MAX=20 DEMO_PAGE=false
export RATE_LIMIT_EVENTS_PER_SEC=100000 RATE_LIMIT_EVENT_BURST=100000 RATE_LIMIT_USER_EVENTS_PER_SEC=100000 RATE_LIMIT_USER_EVENT_BURST=100000
export MAX_CONNECTIONS=100000 MAX_BUFFERED_PACKETS=100000

# Replica i (from 0) of a service listens on its default port + 10*i.
urls() { local base=$1 list="" i; for ((i = 0; i < replicas; i++)); do list+="${list:+,}http://127.0.0.1:$((base + 10 * i))"; done; echo "$list"; }
export ROOMS_URL="$(urls 50051)" MESSAGES_URL="$(urls 50052)" DELIVERY_URL="$(urls 50053)"

start() { # name, replica, extra env...
  local name=$1 i=$2; shift 2
  # The first edge's inspector (loopback) lets the connections scenario force a GC before sampling RSS.
  local inspect=""; [ "$name" = edge ] && [ "$i" = 0 ] && inspect="--inspect=127.0.0.1:9229"
  env "$@" nohup node ${NODE_ARGS:-} $inspect --enable-source-maps "services/$name/dist/main.js" > "/tmp/redup-bench-$name-$i.log" 2>&1 &
}
for ((i = 0; i < replicas; i++)); do
  # Each service's Prometheus metrics, to see where the time goes (an edge serves its own on /metrics).
  start rooms "$i" ROOMS_PORT=$((50051 + 10 * i)) ROOMS_METRICS_PORT=$((9101 + 10 * i))
  start delivery "$i" DELIVERY_PORT=$((50053 + 10 * i)) DELIVERY_METRICS_PORT=$((9103 + 10 * i))
  start messages "$i" MESSAGES_PORT=$((50052 + 10 * i)) MESSAGES_METRICS_PORT=$((9102 + 10 * i))
  start edge "$i" PORT=$((5000 + i))
done
for ((i = 0; i < replicas; i++)); do
  ready=""
  for _ in $(seq 1 60); do curl -fs "localhost:$((5000 + i))/readyz" >/dev/null 2>&1 && { ready=1; break; }; sleep 1; done
  [ -n "$ready" ] || { echo "edge :$((5000 + i)) did not become ready" >&2; exit 1; }
done
