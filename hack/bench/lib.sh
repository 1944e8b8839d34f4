# hack/bench/lib.sh — sourced by the benchmarks that run a one-node `skiff up` from the release
# build: build it, start the cluster in a temporary directory, wait for it, and take down all it
# left (containers, cgroups, mounts, its pod bridge) on exit.
#   bench_build                  release skiff + skiff-monitor, $bin set, the test image built
#   bench_up NAME [UP FLAGS...]  $dir, $port, $up (pid), $cidr set; returns once the node is Ready
export PATH=$PATH:/opt/swift/usr/bin
layout=$PWD/hack/.cache/busybox-oci
up=""
dir=""
proxied=""

bench_build() {
  hack/install-deps.sh
  swift build -c release --static-swift-stdlib --product skiff >/dev/null
  swift build -c release --static-swift-stdlib --product skiff-cluster >/dev/null
  swift build -c release --static-swift-stdlib --product skiff-monitor >/dev/null
  bin=$(swift build -c release --static-swift-stdlib --show-bin-path)
  hack/build-test-image.sh >/dev/null
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_ready() { for _ in $(seq 200); do curl -sf "$1/readyz" >/dev/null 2>&1 && return; sleep 0.1; done; echo "no API at $1" >&2; exit 1; }

bench_cleanup() {
  [ -n "$up" ] && kill -9 "$up" 2>/dev/null || true
  [ -n "$dir" ] || return 0
  for id in $("$bin/skiff" ps -q --root "$dir/node" 2>/dev/null); do "$bin/skiff" rm -f --root "$dir/node" "$id" >/dev/null 2>&1 || true; done
  for c in memory cpu cpuacct pids unified; do
    [ -d "/sys/fs/cgroup/$c/$cgroup" ] && find "/sys/fs/cgroup/$c/$cgroup" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
  [ -n "$proxied" ] && "$bin/skiff" proxy --cleanup >/dev/null 2>&1 || true
  grep " $dir" /proc/mounts | awk '{print $2}' | sort -r | xargs -r umount -l 2>/dev/null || true
  # The node's bridge carries the first address of its pod CIDR (a /24 of $cidr).
  ip -o link show | awk -F': ' '{print $2}' | grep '^skiff' | while read -r b; do
    ip -o addr show dev "$b" 2>/dev/null | grep -q " ${cidr%.0.0/16}\.0\.1/" && ip link del "$b" 2>/dev/null || true
  done
  rm -rf "$dir"
}

bench_up() {
  local name=$1; shift
  dir=$(mktemp -d "/tmp/skiff-$name.XXXXXX")
  cgroup=skiff$name$$
  cidr=10.$((200 + $$ % 40)).0.0/16
  trap bench_cleanup EXIT
  [[ " $* " == *" --no-proxy "* ]] || proxied=1
  "$bin/skiff" image import --root "$dir/node" "$layout" --tag busybox:latest >/dev/null
  port=$(free_port)
  "$bin/skiff" up "$@" --listen "127.0.0.1:$port" --dns-port 0 --data-dir "$dir/up" --root-dir "$dir/node" --cgroup-root "$cgroup" \
    --address 127.0.0.1 --port 0 --node-ip 127.0.0.1 --cni-conf-dir "$dir/node/cni-conf" --cluster-cidr "$cidr" \
    --kubeconfig "$dir/kubeconfig" 2>"$dir/up.log" &
  up=$!
  disown "$up"   # (killed at the end: no "Killed" report)
  wait_ready "http://127.0.0.1:$port"
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/api/v1/nodes" | grep -q '"type": *"Ready", *"status": *"True"' && return; sleep 0.2; done
  echo "the node never became Ready: $(tail -5 "$dir/up.log")" >&2
  exit 1
}
