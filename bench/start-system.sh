#!/usr/bin/env bash
# Starts the four servers as separate processes against the local PostgreSQL and NATS, with
# budgets raised for load tests (BENCHMARKS.md). Stop them with: pkill -f 'services/.*/dist/main.js'
# NODE_ARGS adds node flags to each, e.g. NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" (profiles are written when they stop).
set -euo pipefail
cd "$(dirname "$0")/.."
npx turbo run build --output-logs=errors-only >/dev/null
ulimit -n 65536 2>/dev/null || true
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/redup_bench}" NATS_URL="${NATS_URL:-nats://127.0.0.1:4222}"
export NATS_SUBJECT_PREFIX=bench LOG_LEVEL=warn DB_POOL_MAX=20 DEMO_PAGE=false
export RATE_LIMIT_EVENTS_PER_SEC=100000 RATE_LIMIT_EVENT_BURST=100000 RATE_LIMIT_USER_EVENTS_PER_SEC=100000 RATE_LIMIT_USER_EVENT_BURST=100000
export MAX_CONNECTIONS=100000 MAX_BUFFERED_PACKETS=100000
# Each service's Prometheus metrics, to see where the time goes (the edge serves its own on :5000/metrics).
export ROOMS_METRICS_PORT=9101 MESSAGES_METRICS_PORT=9102 DELIVERY_METRICS_PORT=9103
for s in rooms delivery messages edge; do
  # The edge's inspector (loopback) lets the connections scenario force a GC before sampling RSS.
  inspect=""; [ "$s" = edge ] && inspect="--inspect=127.0.0.1:9229"
  nohup node ${NODE_ARGS:-} $inspect --enable-source-maps "services/$s/dist/main.js" > "/tmp/redup-bench-$s.log" 2>&1 &
done
for _ in $(seq 1 60); do curl -fs localhost:5000/readyz >/dev/null 2>&1 && exit 0; sleep 1; done
echo "the system did not become ready" >&2; exit 1
