#!/bin/bash
# hack/bench/dns.sh [SERVICES] [SECONDS] [BULK] — the cluster DNS (`skiff dns`, release build) under
# dnsperf, side by side with dnsmasq serving the same records from a hosts file, in the same run:
#   1. SERVICES (1,000) Services in a `skiff master`, half headless, 3 endpoints each (hand-written
#      EndpointSlices); the query mix is 60% ClusterIP names, 20% headless names, 20% NXDOMAIN.
#   2. Throughput: dnsperf for SECONDS (10) at full speed against each server, alternating twice.
#   3. Latency: dnsperf at a fixed 20,000 queries/s with per-query timings, p50/p99 for each.
#   4. Name propagation: 200 Services created, and one endpoint removed from 200 headless ones; time
#      from the API's answer until the DNS answers the change (p50/p99).
#   5. RSS of `skiff dns` once BULK (10,000) more Services exist.
# Both servers run on 127.0.0.1 with one thread; dnsperf shares the machine's 2 cores with them. Root.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=$PATH:/opt/swift/usr/bin
hack/install-deps.sh
services=${1:-1000} seconds=${2:-10} bulk=${3:-10000}
swift build -c release --static-swift-stdlib --product skiff >/dev/null
swift build -c release --static-swift-stdlib --product skiff-cluster >/dev/null
bin=$(swift build -c release --static-swift-stdlib --show-bin-path)
dir=$(mktemp -d /tmp/skiff-dnsbench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

api_port=$(free_port)
"$bin/skiff" master --listen "127.0.0.1:$api_port" --data-dir "$dir/master" --no-dns --no-scheduler 2>"$dir/master.log" &
pids+=($!)
server=http://127.0.0.1:$api_port
for _ in $(seq 100); do curl -sf "$server/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
echo "populating $services services (half headless) x 3 endpoints..."
python3 hack/bench/dns_api.py populate "$server" "$services" "$dir"

skiff_port=$(free_port) dnsmasq_port=$(free_port)
# Forwarding is not measured: no upstream answers (the query mix has only cluster names).
"$bin/skiff" dns --server "$server" --listen "127.0.0.1:$skiff_port" --upstream 127.0.0.1:9 2>"$dir/dns.log" &
dns_pid=$!
pids+=($dns_pid)
/usr/sbin/dnsmasq --keep-in-foreground --no-resolv --no-hosts --addn-hosts="$dir/hosts" --local=/cluster.local/ \
  --listen-address=127.0.0.1 --bind-interfaces --port="$dnsmasq_port" --local-ttl=5 --cache-size=10000 \
  --pid-file= --user=root --conf-file=/dev/null 2>"$dir/dnsmasq.log" &
pids+=($!)
probe=$(head -1 "$dir/queries" | cut -d' ' -f1)
for _ in $(seq 100); do
  [ -n "$(dig +short +tries=1 +time=1 @127.0.0.1 -p "$skiff_port" "$probe")" ] && [ -n "$(dig +short +tries=1 +time=1 @127.0.0.1 -p "$dnsmasq_port" "$probe")" ] && break
  sleep 0.1
done
echo "same answers: $(dig +short @127.0.0.1 -p "$skiff_port" svc-1.bench.svc.cluster.local | sort | tr '\n' ' ')| $(dig +short @127.0.0.1 -p "$dnsmasq_port" svc-1.bench.svc.cluster.local | sort | tr '\n' ' ')"

throughput() {   # name port
  local out
  out=$(dnsperf -s 127.0.0.1 -p "$2" -d "$dir/queries" -l "$seconds" -c 4 -q 200 2>&1)
  printf '%-8s %s qps  lost %s\n' "$1" "$(awk '/Queries per second/ {print int($4)}' <<<"$out")" \
    "$(awk '/Queries lost/ {print $3}' <<<"$out")"
}
latency() {   # name port
  dnsperf -s 127.0.0.1 -p "$2" -d "$dir/queries" -l "$seconds" -Q 20000 -v 2>/dev/null |
    awk -v name="$1" '$1 == ">" { print $NF * 1000 }' | sort -n |
    awk -v name="$1" '{ v[NR] = $1 } END { printf "%-8s p50 %.3f ms  p99 %.3f ms  (n=%d)\n", name, v[int(NR*0.5)], v[int(NR*0.99)], NR }'
}
echo "throughput ($seconds s each, 4 clients, 200 outstanding):"
for round in 1 2; do throughput skiff "$skiff_port"; throughput dnsmasq "$dnsmasq_port"; done
echo "latency at 20,000 queries/s:"
latency skiff "$skiff_port"; latency dnsmasq "$dnsmasq_port"

python3 hack/bench/dns_api.py propagate "$server" "$skiff_port" 200

rss() { awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' "/proc/$1/status"; }
echo "skiff dns RSS with $services services: $(rss $dns_pid)"
echo "creating $bulk more services..."
python3 hack/bench/dns_api.py bulk "$server" "$bulk"
last="b-$((bulk - 1)).bulk.svc.cluster.local"
for _ in $(seq 300); do [ -n "$(dig +short +tries=1 +time=1 @127.0.0.1 -p "$skiff_port" "$last")" ] && break; sleep 0.1; done
echo "skiff dns RSS with $((services + bulk)) services: $(rss $dns_pid) (dnsmasq: $(rss "$(pgrep -f "port=$dnsmasq_port")"))"
