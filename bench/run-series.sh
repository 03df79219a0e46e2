#!/usr/bin/env bash
# The series behind BENCHMARKS.md: every scenario RUNS times (default 3), each run on a freshly
# started system with an empty database, its JSON (the bench's last line) kept in
# bench/results-<commit>/<name>-<n>.json, then the medians (bench/dist/summarize.js).
#   ONLY=direct,group   run only these series (names below)
#   RUNS=1              runs per series
#   OUT=dir             where the JSON goes
# Stops the servers it started when it ends. Needs PostgreSQL and NATS as for start-system.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${RUNS:-3}"
out="${OUT:-bench/results-$(git rev-parse --short HEAD)}"
mkdir -p "$out"
npx turbo run build --output-logs=errors-only >/dev/null

stop() { pkill -f 'services/.*/dist/main.js' 2>/dev/null || true; sleep 2; }
trap stop EXIT

wanted() { [ -z "${ONLY:-}" ] || [[ ",$ONLY," == *",$1,"* ]]; }

# series name, replicas, bench arguments...
series() {
  local name=$1 replicas=$2; shift 2
  wanted "$name" || return 0
  for ((i = 1; i <= runs; i++)); do
    stop
    REPLICAS="$replicas" bench/start-system.sh
    echo "== $name run $i: $*"
    node --enable-source-maps bench/dist/main.js "$@" | tee "/tmp/redup-bench-$name-$i.txt" | tail -n 1 > "$out/$name-$i.json" || {
      echo "$name run $i failed (see /tmp/redup-bench-$name-$i.txt)" >&2
    }
    sed -n '1,40p' "/tmp/redup-bench-$name-$i.txt" | grep -v '^{' || true
  done
}

two="http://localhost:5000,http://localhost:5001"
series direct 1 --scenario direct --users 200 --in-flight 4 --seconds 10
series open500 1 --scenario direct --users 200 --rate 500 --seconds 10 --drain 30
series open2000 1 --scenario direct --users 200 --rate 2000 --seconds 10 --drain 30
series group 1 --scenario group --groups 20 --members 50 --rate 200 --seconds 10 --drain 60
series group-closed 1 --scenario group --groups 20 --members 50 --rate 0 --senders 2 --seconds 10 --drain 60
series connections 1 --scenario connections --count 19000 --seconds 30
series replicas-direct 2 --scenario direct --users 200 --in-flight 4 --seconds 10 --url "$two"
series replicas-group 2 --scenario group --groups 20 --members 50 --rate 0 --senders 2 --seconds 10 --drain 60 --url "$two"
series catchup 1 --scenario catchup --drain 30
series reconnect 1 --scenario reconnect --count 5000 --pending 1 --window 10 --drain 30
series conversations 1 --scenario conversations
series overload 1 --scenario overload --max "${OVERLOAD_MAX:-3000}" --seconds ${OV_SECONDS:-60} --after ${OV_AFTER:-30} --max-messages 700000

node bench/dist/summarize.js "$out"
