#!/bin/bash
# hack/bench/metrics.sh [REAL_PODS] [FAKE_PODS] — the master's metrics pipeline (release build):
# master CPU and RSS per scrape cycle,
#   real: REAL_PODS (100) busybox pods on one `skiff node` agent (root), and
#   fake: FAKE_PODS (2000) simulated pods served by Tests/compat/fake_stats_summary.py on loopback,
#         registered as a Node whose node server it is, with the 2000 pod objects in the store.
# Each scenario runs the master (--no-scheduler --no-controllers: nothing else reconciles) twice on
# the same data: at --metric-resolution 15s for 120 s and at 1s for 30 s. CPU per second is
# base + cycle / resolution, so the two rates give the cost of one cycle and the idle base apart.
# Goal (issue 17): <= 1% of one core at 2,000 pods at the default 15 s resolution.
set -euo pipefail
cd "$(dirname "$0")/../.."
real=${1:-100}
fake=${2:-2000}
long=${LONG:-120}
short=${SHORT:-30}
source hack/bench/lib.sh
bench_build
work=$(mktemp -d /tmp/skiff-metricsbench.XXXXXX)
port=$((20000 + RANDOM % 20000))
url=http://127.0.0.1:$port
node=bench-metrics-$$
cgroot=skiff-metricsbench-$$
master="" agent="" stats=""

cleanup() {
  [ -n "$stats" ] && kill -9 "$stats" 2>/dev/null || true
  [ -n "$agent" ] && kill -9 "$agent" 2>/dev/null || true
  for id in $("$bin/skiff" ps -q --root "$work/node" 2>/dev/null); do "$bin/skiff" rm -f --root "$work/node" "$id" >/dev/null 2>&1 || true; done
  [ -n "$master" ] && kill "$master" 2>/dev/null || true
  wait 2>/dev/null || true
  for c in /sys/fs/cgroup/*/$cgroot; do [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null || true; done
  grep -o " $work/[^ ]*" /proc/self/mountinfo | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

start_master() {   # DATA_DIR RESOLUTION
  "$bin/skiff" master --listen 127.0.0.1:$port --dns-port 0 --data-dir "$1" --no-scheduler --no-controllers \
    --metric-resolution "$2" 2>>"$work/master.log" &
  master=$!
  for _ in $(seq 100); do curl -sf $url/healthz >/dev/null && return; sleep 0.1; done
  echo "the master did not start: $(tail -3 "$work/master.log")" >&2
  exit 1
}
stop_master() { kill "$master"; wait "$master" 2>/dev/null || true; master=""; }
cpu_ticks() { awk '{print $14 + $15}' /proc/$master/stat; }
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2/1024}' /proc/$master/status; }
hz=$(getconf CLK_TCK)

# Master CPU (ms per second of wall time) over SECONDS, after two cycles of warm-up.
measure() {   # RESOLUTION SECONDS -> "ms_per_s rss"
  sleep $(( $1 * 2 + 2 ))
  local t0 c0 t1 c1
  t0=$(date +%s.%N); c0=$(cpu_ticks)
  sleep "$2"
  t1=$(date +%s.%N); c1=$(cpu_ticks)
  echo "$(awk -v c=$((c1 - c0)) -v hz="$hz" -v t="$(echo "$t1 - $t0" | bc)" 'BEGIN {printf "%.3f", c * 1000 / hz / t}') $(rss_mib)"
}

# One scenario: the two runs, then the figures. $1 names it, $2 the data dir, $3 a check command.
scenario() {
  local name=$1 data=$2 check=$3
  start_master "$data" 15s
  read -r slow rss15 < <(measure 15 "$long")
  eval "$check"
  stop_master
  start_master "$data" 1s
  read -r fast rss1 < <(measure 1 "$short")
  stop_master
  awk -v name="$name" -v slow="$slow" -v fast="$fast" -v rss15="$rss15" -v rss1="$rss1" 'BEGIN {
    cycle = (fast - slow) / (1 - 1 / 15); base = slow - cycle / 15
    printf "%s: one scrape cycle %.1f ms of master CPU; at 15s: %.3f%% of a core (%.3f%% of it the pipeline, %.3f%% idle base); at 1s: %.2f%%; master RSS %s MiB at 15s, %s MiB at 1s\n",
      name, cycle, slow / 10, cycle / 15 / 10, base / 10, fast / 10, rss15, rss1 }'
}

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); busiest other processes:"
ps -eo pcpu,comm --sort=-pcpu | sed -n 2,5p | sed 's/^/  /'

# --- fake: FAKE_PODS simulated pods on a loopback stats server -------------------------------
ns=metrics-bench
python3 Tests/compat/fake_stats_summary.py "$node-fake" "$fake" $ns >"$work/stats.port" 2>/dev/null &
stats=$!
disown "$stats"   # (killed at the end: no "Killed" report)
for _ in $(seq 50); do [ -s "$work/stats.port" ] && break; sleep 0.1; done
stats_port=$(head -1 "$work/stats.port")
start_master "$work/fake" 15s
python3 hack/bench/metrics_pods.py fake $url "$node-fake" "$stats_port" $ns "$fake"
stop_master
echo "fake node: $fake pods, $(curl -s "http://127.0.0.1:$stats_port/stats/summary" | wc -c) bytes of /stats/summary per scrape"
scenario "fake, $fake pods" "$work/fake" \
  'echo "  kubectl top pods -n $ns: $(kubectl -s $url top pods -n $ns --no-headers | wc -l) rows"'
kill -9 "$stats"; stats=""

# --- real: REAL_PODS busybox pods on one agent (host network: no CNI, no bridge) ---------------
if [ "$(id -u)" != 0 ]; then echo "real: skipped (needs root)"; exit 0; fi
"$bin/skiff" image import --root "$work/node" "$layout" --tag busybox:latest >/dev/null
start_master "$work/real" 15s
"$bin/skiff" node --server $url --name $node --root-dir "$work/node" --cgroup-root $cgroot --address 127.0.0.1 --port 0 \
  --node-ip 127.0.0.1 --max-pods $((real + 10)) --cni-conf-dir "$work/node/cni-conf" 2>"$work/node.log" &
agent=$!
disown "$agent"
for _ in $(seq 100); do curl -sf $url/api/v1/nodes/$node | grep -q '"type": *"Ready", *"status": *"True"' && break; sleep 0.2; done
python3 hack/bench/metrics_pods.py real $url $node $ns "$real" | sed 's/^/  /'
echo "real node: $real pods, $("$bin/skiff" ps --root "$work/node" | grep -c Running) containers running (sandboxes included)"
stop_master
scenario "real, $real pods" "$work/real" \
  'echo "  kubectl top pods -n $ns: $(kubectl -s $url top pods -n $ns --no-headers | wc -l) rows; node: $(kubectl -s $url top nodes --no-headers)"'
