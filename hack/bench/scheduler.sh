#!/bin/bash
# hack/bench/scheduler.sh [NODES] [PODS] — scheduling throughput (release builds):
#  (a) the algorithm in-process: scheduler-bench with synthetic nodes (mixed sizes, labels,
#      taints) and pods (mixed requests, required/preferred node affinity, tolerations, owners);
#  (b) end to end: NODES Node objects and PODS pending pods stored in a real `skiff master`
#      (SQLite), then `skiff scheduler` started; time until a watch has seen every pod bound
#      through pods/binding (the scheduler's initial lists included).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=$PATH:/opt/swift/usr/bin
nodes=${1:-5000}
pods=${2:-10000}
swift build -c release --static-swift-stdlib --product skiff >/dev/null
swift build -c release --static-swift-stdlib --product skiff-cluster >/dev/null
swift build -c release --static-swift-stdlib --product scheduler-bench >/dev/null
bin=$(swift build -c release --static-swift-stdlib --show-bin-path)
"$bin/scheduler-bench" "$nodes" "$pods"

work=$(mktemp -d /tmp/skiff-schedbench.XXXXXX)
port=$((20000 + RANDOM % 20000))
"$bin/skiff" master --listen 127.0.0.1:$port --data-dir "$work/master" --no-scheduler --no-controllers 2>/dev/null &
master=$!
cleanup() { kill $master 2>/dev/null || true; kill ${scheduler:-} 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
python3 hack/bench/scheduler_e2e.py "http://127.0.0.1:$port" "$nodes" "$pods" "$bin/skiff"
