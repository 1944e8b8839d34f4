#!/bin/bash
# hack/local-cluster.sh up|down [DIR] — a master on this host and two node "hosts", each in its own
# network namespace (a veth to a shared underlay bridge) with its own agent, proxy, root dir and
# cgroup parent; pods route between the nodes over the underlay (host-gw). The master is off
# loopback, so it serves HTTPS: nodes join with its token, DIR/kubeconfig is its admin one. Root.
#   up:   prints the kubeconfig path; state, logs and pids under DIR (default /tmp/skiff-local)
#   down: stops everything and removes what `up` made (namespaces, bridge, cgroups, state)
# SKIFF_LOCAL_NET=N picks the underlay 172.30.N.0/24 (default 0), so several can coexist;
# SKIFF_PROXY_MODE=iptables|nftables the proxies' mode.
set -euo pipefail
cd "$(dirname "$0")/.."
# The daemons started below must not keep a caller's pipes open: close every inherited fd past stdio.
for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null || true; done
cmd=${1:-up}
dir=${2:-/tmp/skiff-local}
net=${SKIFF_LOCAL_NET:-0}
bin=${SKIFF_BIN_DIR:-$(dirname "$(command -v skiff || echo /usr/local/bin/skiff)")}
bridge=skfund$net
base=172.30.$net
nodes=(node1 node2)

down() {
  if [ -f "$dir/pids" ]; then
    while read -r pid; do kill -9 "$pid" 2>/dev/null || true; done < "$dir/pids"
    sleep 0.3
  fi
  for i in "${!nodes[@]}"; do
    n=${nodes[$i]}; ns=skf$net-$n
    if [ -d "$dir/$n" ]; then
      for id in $("$bin/skiff" ps -q --root "$dir/$n" 2>/dev/null); do "$bin/skiff" rm -f --root "$dir/$n" "$id" >/dev/null 2>&1 || true; done
    fi
    for c in /sys/fs/cgroup/*/skf$net-$n; do [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null; done
    # The namespace takes its iptables rules, pod bridge and veths with it.
    ip netns del "$ns" 2>/dev/null || true
  done
  grep -o " $dir/[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  ip link del "$bridge" 2>/dev/null || true
  rm -rf "$dir"
}

if [ "$cmd" = down ]; then down; exit 0; fi
down
mkdir -p "$dir"
: > "$dir/pids"
image=$(hack/build-test-image.sh)
ip link add "$bridge" type bridge
ip addr add "$base.1/24" dev "$bridge"
ip link set "$bridge" up
# Off loopback the master serves HTTPS only: nodes join with its token, the rest use its admin kubeconfig.
"$bin/skiff" master --listen "$base.1:6443" --data-dir "$dir/master" --node-monitor-grace-period 25s --pod-eviction-timeout 5s >/dev/null 2>"$dir/master.log" &
echo $! >> "$dir/pids"
for _ in $(seq 100); do [ -s "$dir/master/node-token" ] && [ -s "$dir/master/admin.kubeconfig" ] && break; sleep 0.1; done
cp "$dir/master/admin.kubeconfig" "$dir/kubeconfig"
token=$(cat "$dir/master/node-token")
for i in "${!nodes[@]}"; do
  n=${nodes[$i]}; ns=skf$net-$n; ip=$base.$((i + 2))
  ip netns add "$ns"
  ip link add "v$net$n" type veth peer name eth0 netns "$ns"
  ip link set "v$net$n" master "$bridge" up
  ip -n "$ns" addr add "$ip/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
  ip -n "$ns" route add default via "$base.1"
  ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1
  "$bin/skiff" image import --root "$dir/$n" "$image" --tag busybox:latest >/dev/null
  # nsenter, not ip netns exec: that remounts /sys, hiding the cgroup hierarchies the agent needs.
  nsenter --net="/var/run/netns/$ns" "$bin/skiff" node --server "https://$base.1:6443" --token "$token" --name "$n" --root-dir "$dir/$n" --cgroup-root "skf$net-$n" \
    --node-ip "$ip" --cni-conf-dir "$dir/$n/cni-conf" --sync-frequency 5 >/dev/null 2>"$dir/$n.log" &
  echo $! >> "$dir/pids"
  nsenter --net="/var/run/netns/$ns" "$bin/skiff" proxy --proxy-mode "${SKIFF_PROXY_MODE:-iptables}" --kubeconfig "$dir/kubeconfig" >/dev/null 2>"$dir/$n-proxy.log" &
  echo $! >> "$dir/pids"
done
for _ in $(seq 100); do
  ready=$(KUBECONFIG="$dir/kubeconfig" "$bin/skiffctl" get nodes 2>/dev/null | grep -c " Ready" || true)
  [ "$ready" = 2 ] && break
  sleep 0.2
done
echo "$dir/kubeconfig"
