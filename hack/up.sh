#!/bin/bash
# hack/up.sh — install what Skiff needs, build it (release), install the binaries, and run a
# demo container. Idempotent. Later versions grow this into the whole one-host cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/opt/swift/usr/bin
hack/install-deps.sh
swift build -c release --static-swift-stdlib --product skiff
swift build -c release --static-swift-stdlib --product skiff-monitor
swift build -c release --static-swift-stdlib --product skiffctl
bin=$(swift build -c release --static-swift-stdlib --show-bin-path)
install -m 0755 "$bin/skiff" "$bin/skiff-monitor" "$bin/skiffctl" /usr/local/bin/
image=$(hack/build-test-image.sh)
skiff image import "$image" --tag busybox:latest
echo "--- skiff run --rm busybox (a demo container) ---"
skiff run --rm --memory 64Mi --pids 64 --hostname demo busybox \
  sh -c 'echo "hello from $(hostname): pid $$, $(ls /proc | grep -c "^[0-9]") processes visible"; id'
