#!/bin/bash
# hack/up.sh — install what Skiff needs, build it (release), install the binaries, and bring up
# a one-host cluster: `skiff up` (master + node + proxy) in the background, the examples applied
# (a busybox httpd Deployment with 3 replicas and a Service), and a request to the Service's IP.
# Idempotent: a running `skiff up` is reused. Stop it with: kill $(cat /run/skiff-up.pid)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/opt/swift/usr/bin:/usr/local/bin
hack/install-deps.sh
for p in skiff skiff-cluster skiff-monitor skiffctl; do swift build -c release --static-swift-stdlib --product $p >/dev/null; done
bin=$(swift build -c release --static-swift-stdlib --show-bin-path)
install -m 0755 "$bin/skiff" "$bin/skiff-cluster" "$bin/skiff-monitor" "$bin/skiffctl" /usr/local/bin/
# The examples' image, without a registry: the busybox image built from Debian's busybox-static.
skiff image import --root /var/lib/skiff/node "$(hack/build-test-image.sh)" --tag busybox:latest >/dev/null
kubeconfig=/etc/skiff/kubeconfig
if ! { [ -f /run/skiff-up.pid ] && kill -0 "$(cat /run/skiff-up.pid)" 2>/dev/null; }; then
  nohup skiff up --kubeconfig $kubeconfig >>/var/log/skiff-up.log 2>&1 &
  echo $! > /run/skiff-up.pid
  echo "skiff up started (pid $(cat /run/skiff-up.pid), log /var/log/skiff-up.log)"
fi
export KUBECONFIG=$kubeconfig
for _ in $(seq 150); do skiffctl get nodes 2>/dev/null | grep -q " Ready" && break; sleep 0.2; done
skiffctl get nodes
skiffctl apply -f examples/
skiffctl rollout status deployment/web
ip=$(skiffctl get service web -o json | sed -n 's/.*"clusterIP": *"\([0-9.]*\)".*/\1/p' | head -1)
echo "--- GET http://$ip/ (the web Service, through the proxy) ---"
for _ in 1 2 3; do busybox wget -qO- "http://$ip/"; done
