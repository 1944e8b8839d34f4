#!/bin/bash
# hack/bench/proxy.sh [SERVICES] [ENDPOINTS] [MODES] — the proxy's syncs in both modes (release build), in a
# network namespace made for it: a full sync (render + iptables-restore) of SERVICES services with
# ENDPOINTS endpoints each, then one service's endpoints changed (partial sync). Root.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=$PATH:/opt/swift/usr/bin
hack/install-deps.sh
swift build -c release --static-swift-stdlib --product proxy-bench >/dev/null
bin=$(swift build -c release --static-swift-stdlib --show-bin-path)
ns=skiff-proxybench-$$
ip netns add "$ns"
trap 'ip netns del "$ns"' EXIT
for mode in ${3:-nftables iptables}; do "$bin/proxy-bench" "$ns" "${1:-10000}" "${2:-3}" "$mode"; done
