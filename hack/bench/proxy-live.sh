#!/bin/bash
# hack/bench/proxy-live.sh [ROUNDS] — endpoint change → rules applied on a live cluster
# (hack/local-cluster.sh, release build), for both proxy modes: a selectorless Service's
# EndpointSlice gets a new address through the API, and node1's kernel rules are polled until
# they lead to it. Root.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=$PATH:/opt/swift/usr/bin
hack/install-deps.sh
swift build -c release --static-swift-stdlib --product skiff >/dev/null
swift build -c release --static-swift-stdlib --product skiff-cluster >/dev/null
swift build -c release --static-swift-stdlib --product skiffctl >/dev/null
bin=$(swift build -c release --static-swift-stdlib --show-bin-path)
dir=$(mktemp -d /tmp/skiff-proxylive.XXXXXX)
export SKIFF_BIN_DIR=$bin SKIFF_LOCAL_NET=${SKIFF_LOCAL_NET:-240}
trap 'hack/local-cluster.sh down "$dir/c" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
for mode in nftables iptables; do
  SKIFF_PROXY_MODE=$mode hack/local-cluster.sh up "$dir/c" >/dev/null
  python3 hack/bench/proxy_live.py "$dir/c/kubeconfig" "skf$SKIFF_LOCAL_NET-node1" "$mode" "${1:-30}"
  hack/local-cluster.sh down "$dir/c" >/dev/null
done
