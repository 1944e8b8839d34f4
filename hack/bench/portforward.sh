#!/bin/bash
# hack/bench/portforward.sh [MIB] [ROUNDS] — port-forward throughput on one node (`skiff up`,
# release build): a pod serves MIB (1024) MiB of zeros per connection (busybox nc); the host
# reads them to the end (a) straight from the pod IP over the pod bridge, (b) through
# `kubectl port-forward` 1.33 (SPDY tunnelled in a websocket, via the master's tunnel to the
# node server) and (c) kubectl 1.27 (a SPDY upgrade), ROUNDS (2) times each, alternating; prints
# MiB/s per run and each forward's ratio to direct. Everything stays on loopback and the pod
# network. Root. BENCH_BIN=DIR uses the skiff binaries in DIR instead of building a release
# (say so with the figures: a debug build is far slower than a release one).
set -euo pipefail
cd "$(dirname "$0")/../.."
source hack/bench/lib.sh
mib=${1:-1024} rounds=${2:-2}
if [ -n "${BENCH_BIN:-}" ]; then bin=$BENCH_BIN; hack/build-test-image.sh >/dev/null; else bench_build; fi
bench_up pfbench --no-proxy
kdir=$(dirname "$(readlink -f "$(command -v kubectl)")")
k() { "$kdir/kubectl.1.33" --kubeconfig "$dir/kubeconfig" "$@"; }
k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: source}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    command: ["nc", "-ll", "-p", "7100", "-e", "head", "-c", "$((mib * 1048576))", "/dev/zero"]
YAML
k wait --for=condition=Ready pod/source --timeout=60s >/dev/null
pod_ip=$(k get pod source -o jsonpath='{.status.podIP}')

# read_all HOST PORT: reads to EOF, checks the byte count, prints MiB/s.
read_all() {
  python3 - "$1" "$2" "$((mib * 1048576))" <<'PY'
import socket, sys, time
host, port, want = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for _ in range(50):
    try: s = socket.create_connection((host, port)); break
    except OSError: time.sleep(0.1)
start, got, buf = time.time(), 0, bytearray(1 << 20)
while True:
    n = s.recv_into(buf)
    if n == 0: break
    got += n
elapsed = time.time() - start
if got != want: sys.exit(f"read {got} bytes, wanted {want}")
print(f"{got / 1048576 / elapsed:.0f}")
PY
}

forward() {   # forward VERSION: starts kubectl port-forward, sets $fwd_pid and $fwd_port
  "$kdir/kubectl.$1" --kubeconfig "$dir/kubeconfig" port-forward --address 127.0.0.1 pod/source :7100 >"$dir/pf.out" 2>"$dir/pf.err" &
  fwd_pid=$!
  for _ in $(seq 100); do fwd_port=$(sed -n 's/^Forwarding from 127.0.0.1:\([0-9]*\) .*/\1/p' "$dir/pf.out"); [ -n "$fwd_port" ] && return; sleep 0.1; done
  echo "kubectl $1 port-forward did not start: $(cat "$dir/pf.err")" >&2; exit 1
}

echo "== $mib MiB per connection, MiB/s (other swift/kubectl processes now: $(pgrep -c -f 'swift-(build|frontend)' || true) swift compiles)"
for round in $(seq "$rounds"); do
  direct=$(read_all "$pod_ip" 7100)
  forward 1.33; ws=$(read_all 127.0.0.1 "$fwd_port"); kill "$fwd_pid"; wait "$fwd_pid" 2>/dev/null || true
  forward 1.27; spdy=$(read_all 127.0.0.1 "$fwd_port"); kill "$fwd_pid"; wait "$fwd_pid" 2>/dev/null || true
  echo "round $round: direct $direct  kubectl 1.33 (websocket) $ws ($(python3 -c "print(f'{$ws/$direct:.2f}')")x)  kubectl 1.27 (SPDY) $spdy ($(python3 -c "print(f'{$spdy/$direct:.2f}')")x)"
done
