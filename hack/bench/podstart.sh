#!/bin/bash
# hack/bench/podstart.sh [SINGLE] [BURST] [MAX] — pod start through the API on one node (image
# present): create → Running seen by a watch, for SINGLE pods one at a time (p50/p99), then BURST
# pods created at once (time until all Running), the agent's, monitors' and pod sandboxes' RSS,
# then MAX pods on the node at once (0 skips). Root.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=$PATH:/opt/swift/usr/bin
single=${1:-50}
burst=${2:-100}
max=${3:-500}
hack/install-deps.sh
swift build -c release --static-swift-stdlib --product skiff >/dev/null
swift build -c release --static-swift-stdlib --product skiff-cluster >/dev/null
swift build -c release --static-swift-stdlib --product skiff-monitor >/dev/null
bin=$(swift build -c release --static-swift-stdlib --show-bin-path)
work=$(mktemp -d /tmp/skiff-podstart.XXXXXX)
port=$((20000 + RANDOM % 20000))
node=bench-$$
cgroot=skiff-bench-$$
"$bin/skiff" master --listen 127.0.0.1:$port --data-dir "$work/master" 2>/dev/null &
master=$!
"$bin/skiff" image import --root "$work/node" "$(hack/build-test-image.sh)" --tag busybox:latest >/dev/null
"$bin/skiff" node --server http://127.0.0.1:$port --name $node --root-dir "$work/node" --cgroup-root $cgroot \
  --address 127.0.0.1 --port 0 --node-ip 127.0.0.1 --max-pods $((max > 110 ? max + 10 : 110)) 2>"$work/node.log" &
agent=$!
cleanup() {
  kill -9 $agent 2>/dev/null || true
  for id in $("$bin/skiff" ps --root "$work/node" 2>/dev/null | awk 'NR>1 {print $1}'); do
    "$bin/skiff" rm -f --root "$work/node" "$id" >/dev/null 2>&1 || true
  done
  kill $master 2>/dev/null || true
  wait 2>/dev/null || true
  for c in /sys/fs/cgroup/*/$cgroot; do [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null || true; done
  grep -o " $work/[^ ]*" /proc/self/mountinfo | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/api/v1/nodes/$node" >/dev/null && break; sleep 0.1; done

python3 hack/bench/podstart.py "http://127.0.0.1:$port" $node single "$single"
sleep 1
python3 hack/bench/podstart.py "http://127.0.0.1:$port" $node burst "$burst"
sleep 2
echo "agent RSS with $burst running pods: $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024} /RssAnon/ {printf " (anonymous %.1f MiB)", $2/1024}' /proc/$agent/status)"
rss() { xargs -r -I{} awk '/VmRSS/ {print $2}' /proc/{}/status | awk '{s+=$1; n++} END {if (n) printf "%d processes, %.0f kB average", n, s/n}'; }
echo "monitors: $(pgrep -f "skiff-monitor $work" | rss)"
echo "pod sandboxes (pause): $(pgrep -fx "/pause --pause" | rss)"
if [ "$max" -gt 0 ]; then
  python3 hack/bench/podstart.py "http://127.0.0.1:$port" $node clear 0
  python3 hack/bench/podstart.py "http://127.0.0.1:$port" $node burst "$max"
  sleep 2
  echo "agent RSS with $max running pods: $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$agent/status)"
  echo "agent anonymous memory: $(awk '/RssAnon/ {printf "%.1f MiB", $2/1024}' /proc/$agent/status)"
  echo "running: $("$bin/skiff" ps --root "$work/node" | grep Running | grep -c "k8s_c_burst-") pod containers, $("$bin/skiff" ps --root "$work/node" | grep Running | grep -c "k8s_POD_burst-") sandboxes"
fi
