#!/bin/bash
# hack/bench/storage.sh [ROUNDS] [CLAIMS] — persistent storage on one node (`skiff up`, release build):
#   1. ROUNDS (100) rounds of a claim of the default class (local-path, WaitForFirstConsumer) and a
#      pod using it, created together -> pod Running: the scheduler picks the node, the binder
#      hands the claim to the node's provisioner, which makes the directory and the volume, the
#      binder binds, the agent mounts. Beside each round, the anchor: the same pod with an emptyDir.
#   2. CLAIMS (500) claims of an Immediate local-path class created at once -> all Bound; the
#      anchor: CLAIMS claims onto CLAIMS pre-made volumes (the binder alone).
# Goals (issue 19): p50 <= 200 ms claim -> Running; 500 claims bound in <= 10 s. Root.
set -euo pipefail
cd "$(dirname "$0")/../.."
source hack/bench/lib.sh
rounds=${1:-100} claims=${2:-500}
bench_build
bench_up stbench --no-proxy
echo "== 1. claim + pod -> Running, $rounds rounds (anchor: emptyDir pod)"
python3 hack/bench/storage.py latency "http://127.0.0.1:$port" "$rounds"
echo "== 2. $claims claims -> Bound"
python3 hack/bench/storage.py bind "http://127.0.0.1:$port" "$claims"
echo "provisioned directories on the node: $(ls "$dir/node/storage" | wc -l)"
