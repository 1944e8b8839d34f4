#!/bin/bash
# hack/bench/workloads.sh [COMPLETIONS] [PARALLELISM] — the workload controllers (release build):
#   1. Reaction: with 5,000 other pods in the store, a Job (and, as the anchor in the same run, a
#      ReplicaSet) written -> its first pod seen on a watch; 100 of each, p50/p99. Master only.
#   2. DaemonSet on 100 simulated nodes (Node objects, no agents): time until all 100 pods exist,
#      beside a ReplicaSet of 100 replicas (the anchor). Same master.
#   3. A Job of COMPLETIONS (1000) x /bin/true, PARALLELISM (50) at a time, on one node (`skiff up`):
#      wall time to Complete and pods/s, the RSS of `skiff up` (master + agent + proxy in one
#      process) and of all skiff-monitor processes at the end; beside it, the anchor: the same
#      machine running 200 containers of /bin/true with `skiff run --rm`, 2 at a time (the runtime
#      alone, no API, scheduler, CNI or status).
# Goals (issue 16): >= 50 pods/s completed; reaction <= 10 ms p50 / 50 ms p99; DaemonSet <= 1 s. Root.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=$PATH:/opt/swift/usr/bin
hack/install-deps.sh
completions=${1:-1000} parallelism=${2:-50}
swift build -c release --static-swift-stdlib --product skiff >/dev/null
swift build -c release --static-swift-stdlib --product skiff-monitor >/dev/null
bin=$(swift build -c release --static-swift-stdlib --show-bin-path)
hack/build-test-image.sh >/dev/null
layout=$PWD/hack/.cache/busybox-oci
dir=$(mktemp -d /tmp/skiff-wlbench.XXXXXX)
cgroup=skiffwl$$
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for id in $("$bin/skiff" ps -q --root "$dir/node" 2>/dev/null); do "$bin/skiff" rm -f --root "$dir/node" "$id" >/dev/null 2>&1 || true; done
  "$bin/skiff" proxy --cleanup >/dev/null 2>&1 || true
  for c in memory cpu cpuacct pids unified; do
    [ -d "/sys/fs/cgroup/$c/$cgroup" ] && find "/sys/fs/cgroup/$c/$cgroup" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
  grep " $dir" /proc/mounts | awk '{print $2}' | sort -r | xargs -r umount -l 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ready() { for _ in $(seq 200); do curl -sf "$1/readyz" >/dev/null 2>&1 && return; sleep 0.1; done; echo "no API at $1" >&2; exit 1; }

echo "== 1-2. controllers on a master alone (no scheduler, no node)"
port=$(free_port)
"$bin/skiff" master --listen "127.0.0.1:$port" --data-dir "$dir/master" --no-dns --no-scheduler 2>"$dir/master.log" &
pids+=($!)
wait_ready "http://127.0.0.1:$port"
python3 hack/bench/workloads.py fill "http://127.0.0.1:$port" background 5000
python3 hack/bench/workloads.py reaction "http://127.0.0.1:$port" job 100
python3 hack/bench/workloads.py reaction "http://127.0.0.1:$port" replicaset 100
python3 hack/bench/workloads.py daemonset "http://127.0.0.1:$port" 100
kill -9 "${pids[0]}"; pids=()

echo "== 3. a Job of $completions x /bin/true, parallelism $parallelism, on one node"
"$bin/skiff" image import --root "$dir/node" "$layout" --tag busybox:latest >/dev/null
port=$(free_port)
"$bin/skiff" up --listen "127.0.0.1:$port" --dns-port 0 --data-dir "$dir/up" --root-dir "$dir/node" --cgroup-root "$cgroup" \
  --address 127.0.0.1 --port 0 --node-ip 127.0.0.1 --cni-conf-dir "$dir/node/cni-conf" --cluster-cidr 10.$((200 + $$ % 40)).0.0/16 \
  --kubeconfig "$dir/kubeconfig" 2>"$dir/up.log" &
up=$!
pids+=($up)
wait_ready "http://127.0.0.1:$port"
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/api/v1/nodes" | grep -q '"type": *"Ready", *"status": *"True"' && break; sleep 0.2; done
python3 hack/bench/workloads.py job "http://127.0.0.1:$port" "$completions" "$parallelism"
monitors=$(pgrep -f skiff-monitor | xargs -r -I{} awk '/VmRSS/ {s+=$2} END {print s+0}' /proc/{}/status 2>/dev/null | awk '{s+=$1} END {printf "%.1f", s/1024}')
awk '/VmHWM/ {printf "skiff up (master + agent + proxy): peak RSS %.1f MiB", $2/1024} /VmRSS/ {printf ", now %.1f MiB\n", $2/1024}' /proc/$up/status
echo "skiff-monitor processes left (completed pods keep theirs until deleted): $(pgrep -fc skiff-monitor || true), ${monitors:-0} MiB RSS together"
kill -9 "$up"; pids=()

echo "== anchor: 200 x skiff run --rm /bin/true, 2 at a time (runtime only)"
"$bin/skiff" image import --root "$dir/run" "$layout" --tag busybox:latest >/dev/null
start=$(date +%s.%N)
seq 200 | xargs -P 2 -I{} "$bin/skiff" run --rm --root "$dir/run" --cgroup-parent "$cgroup-run" busybox /bin/true
end=$(date +%s.%N)
python3 -c "import sys; w=float(sys.argv[2])-float(sys.argv[1]); print(f'skiff run --rm: 200 in {w:.1f} s = {200/w:.1f} containers/s')" "$start" "$end"
