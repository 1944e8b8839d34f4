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
export PATH=$PATH:/opt/swift/usr/bin
hack/install-deps.sh
rounds=${1:-100} claims=${2:-500}
swift build -c release --static-swift-stdlib --product skiff >/dev/null
swift build -c release --static-swift-stdlib --product skiff-monitor >/dev/null
bin=$(swift build -c release --static-swift-stdlib --show-bin-path)
hack/build-test-image.sh >/dev/null
layout=$PWD/hack/.cache/busybox-oci
dir=$(mktemp -d /tmp/skiff-stbench.XXXXXX)
cgroup=skiffst$$
up=""
cleanup() {
  [ -n "$up" ] && kill -9 "$up" 2>/dev/null || true
  for id in $("$bin/skiff" ps -q --root "$dir/node" 2>/dev/null); do "$bin/skiff" rm -f --root "$dir/node" "$id" >/dev/null 2>&1 || true; done
  for c in memory cpu cpuacct pids unified; do
    [ -d "/sys/fs/cgroup/$c/$cgroup" ] && find "/sys/fs/cgroup/$c/$cgroup" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
  grep " $dir" /proc/mounts | awk '{print $2}' | sort -r | xargs -r umount -l 2>/dev/null || true
  ip -o link show | awk -F': ' '{print $2}' | grep '^skiff' | while read -r b; do
    ip -o addr show dev "$b" 2>/dev/null | grep -q "10\.$((200 + $$ % 40))\." && ip link del "$b" 2>/dev/null || true
  done
  rm -rf "$dir"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

"$bin/skiff" image import --root "$dir/node" "$layout" --tag busybox:latest >/dev/null
port=$(free_port)
"$bin/skiff" up --no-proxy --listen "127.0.0.1:$port" --dns-port 0 --data-dir "$dir/up" --root-dir "$dir/node" --cgroup-root "$cgroup" \
  --address 127.0.0.1 --port 0 --node-ip 127.0.0.1 --cni-conf-dir "$dir/node/cni-conf" --cluster-cidr 10.$((200 + $$ % 40)).0.0/16 \
  --kubeconfig "$dir/kubeconfig" 2>"$dir/up.log" &
up=$!
disown "$up"   # (killed at the end: no "Killed" report)
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/api/v1/nodes" | grep -q '"type": *"Ready", *"status": *"True"' && break; sleep 0.2; done
echo "== 1. claim + pod -> Running, $rounds rounds (anchor: emptyDir pod)"
python3 hack/bench/storage.py latency "http://127.0.0.1:$port" "$rounds"
echo "== 2. $claims claims -> Bound"
python3 hack/bench/storage.py bind "http://127.0.0.1:$port" "$claims"
echo "provisioned directories on the node: $(ls "$dir/node/storage" | wc -l)"
