#!/bin/bash
# hack/bench/ssa.sh [N] — server-side apply latency on the SQLite store (release build, the API
# server alone): N applies of a 200-container Deployment, each changing one image (so every
# apply merges, compares, records ownership and writes), timed from request to response over one
# keep-alive connection. Anchor in the same run: the same change as a strategic merge patch.
# Goal (issue 21): apply p50 <= 5 ms.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=$PATH:/opt/swift/usr/bin
N=${1:-200}
swift build -c release --product skiff >/dev/null
swift build -c release --product skiff-cluster >/dev/null   # (skiff master runs it)
SKIFF=$(swift build -c release --show-bin-path)/skiff
data=$(mktemp -d /tmp/skiff-ssabench.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$SKIFF" master --listen "127.0.0.1:$port" --dns-port 0 --data-dir "$data" --no-scheduler --no-controllers 2>"$data/master.log" &
master=$!
trap 'kill -9 $master 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
python3 hack/bench/ssa.py "http://127.0.0.1:$port" "$N"
