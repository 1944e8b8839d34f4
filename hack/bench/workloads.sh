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
source hack/bench/lib.sh
completions=${1:-1000} parallelism=${2:-50}
bench_build
master_dir=$(mktemp -d /tmp/skiff-wlmaster.XXXXXX)
master=""
stop_master() {
  [ -n "$master" ] && kill -9 "$master" 2>/dev/null || true
  for c in /sys/fs/cgroup/*/skiffwlrun$$; do [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null || true; done
  grep " $master_dir" /proc/mounts | awk '{print $2}' | sort -r | xargs -r umount -l 2>/dev/null || true
  rm -rf "$master_dir"
  bench_cleanup
}
trap stop_master EXIT

echo "== 1-2. controllers on a master alone (no scheduler, no node)"
port=$(free_port)
"$bin/skiff" master --listen "127.0.0.1:$port" --data-dir "$master_dir/master" --no-dns --no-scheduler 2>"$master_dir/master.log" &
master=$!
disown "$master"
wait_ready "http://127.0.0.1:$port"
python3 hack/bench/workloads.py fill "http://127.0.0.1:$port" background 5000
python3 hack/bench/workloads.py reaction "http://127.0.0.1:$port" job 100
python3 hack/bench/workloads.py reaction "http://127.0.0.1:$port" replicaset 100
python3 hack/bench/workloads.py daemonset "http://127.0.0.1:$port" 100
kill -9 "$master"; master=""

echo "== 3. a Job of $completions x /bin/true, parallelism $parallelism, on one node"
bench_up wlbench
trap stop_master EXIT   # (bench_up set its own)
python3 hack/bench/workloads.py job "http://127.0.0.1:$port" "$completions" "$parallelism"
monitors=$(pgrep -f skiff-monitor | xargs -r -I{} awk '/VmRSS/ {s+=$2} END {print s+0}' /proc/{}/status 2>/dev/null | awk '{s+=$1} END {printf "%.1f", s/1024}')
awk '/VmHWM/ {printf "skiff up (master + agent + proxy): peak RSS %.1f MiB", $2/1024} /VmRSS/ {printf ", now %.1f MiB\n", $2/1024}' /proc/$up/status
echo "skiff-monitor processes left (completed pods keep theirs until deleted): $(pgrep -fc skiff-monitor || true), ${monitors:-0} MiB RSS together"
bench_cleanup; up=""; dir=""

echo "== anchor: 200 x skiff run --rm /bin/true, 2 at a time (runtime only)"
"$bin/skiff" image import --root "$master_dir/run" "$layout" --tag busybox:latest >/dev/null
start=$(date +%s.%N)
seq 200 | xargs -P 2 -I{} "$bin/skiff" run --rm --root "$master_dir/run" --cgroup-parent "skiffwlrun$$" busybox /bin/true
end=$(date +%s.%N)
python3 -c "import sys; w=float(sys.argv[2])-float(sys.argv[1]); print(f'skiff run --rm: 200 in {w:.1f} s = {200/w:.1f} containers/s')" "$start" "$end"
