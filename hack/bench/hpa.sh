#!/bin/bash
# hack/bench/hpa.sh [RESOLUTION] [SYNC] — HPA reaction on one node (`skiff up`, release build):
# a Deployment of 2 idle pods (cpu request 50m) under an HPA (cpu 50%, 2..4); at t0 a file on
# their hostPath volume starts a busy loop in each; the time until the Deployment's replicas
# are raised is the decision time. Goal (issue 17): within one HPA sync period + one metrics
# window (defaults 15 s + 15 s = 30 s). RESOLUTION and SYNC default to the master's defaults.
# Also prints the HPA's conditions and the metrics the decision was made on. Root.
set -euo pipefail
cd "$(dirname "$0")/../.."
source hack/bench/lib.sh
resolution=${1:-15s} sync=${2:-15s}
bench_build
bench_up hpabench --no-proxy --metric-resolution "$resolution" --horizontal-pod-autoscaler-sync-period "$sync"
k() { kubectl --kubeconfig "$dir/kubeconfig" "$@"; }
mkdir -p "$dir/load"
k apply -f - >/dev/null <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: burn}
spec:
  replicas: 2
  selector: {matchLabels: {app: burn}}
  template:
    metadata: {labels: {app: burn}}
    spec:
      terminationGracePeriodSeconds: 1
      volumes: [{name: load, hostPath: {path: "$dir/load"}}]
      containers:
      - name: burn
        image: busybox:latest
        imagePullPolicy: IfNotPresent
        command: ["sh", "-c", "until [ -e /load/go ]; do sleep 0.2; done; while :; do :; done"]
        resources: {requests: {cpu: 50m}}
        volumeMounts: [{name: load, mountPath: /load}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: burn}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: burn}
  minReplicas: 2
  maxReplicas: 4
  metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}}]
YAML
k rollout status deploy/burn --timeout=60s >/dev/null
# Wait until the HPA has seen the idle pods (a metric value, not <unknown>), so t0 is a steady state.
for _ in $(seq 300); do k get hpa burn --no-headers 2>/dev/null | grep -q 'cpu: [0-9]' && break; sleep 0.2; done
k get hpa burn
start=$(date +%s.%N)
touch "$dir/load/go"
while [ "$(k get deploy burn -o jsonpath='{.spec.replicas}')" = "2" ]; do
  if python3 -c "import sys,time; sys.exit(0 if time.time()-float(sys.argv[1]) < 180 else 1)" "$start"; then sleep 0.1; else echo "no rescale in 180 s" >&2; k describe hpa burn >&2; exit 1; fi
done
end=$(date +%s.%N)
python3 -c "import sys; print(f'load applied -> replicas raised: {float(sys.argv[2])-float(sys.argv[1]):.1f} s (metric resolution $resolution, HPA sync $sync)')" "$start" "$end"
k get hpa burn
k get events --field-selector involvedObject.kind=HorizontalPodAutoscaler -o custom-columns=REASON:.reason,MESSAGE:.message --no-headers
