#!/bin/bash
# hack/bench/proxy.sh [SERVICES] [ENDPOINTS] — the proxy's iptables syncs (release build), in a
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
"$bin/proxy-bench" "$ns" "${1:-10000}" "${2:-3}"
