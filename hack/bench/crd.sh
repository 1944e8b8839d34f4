#!/bin/bash
# hack/bench/crd.sh [COUNT] — custom resources against ConfigMaps through one `skiff master`
# (release build, the API server alone, SQLite store): creates, gets, lists, a watch from
# resourceVersion 0 and a live watch, COUNT objects each (default 2000), in the same run.
# Goal (issue 21): every custom resource figure within 2x of the ConfigMap one (ratio <= 2).
set -euo pipefail
cd "$(dirname "$0")/../.."
source hack/bench/lib.sh
COUNT=${1:-2000}
# SWIFT_BUILD_FLAGS: e.g. --scratch-path DIR, to build beside a debug build in use.
swift build -c release ${SWIFT_BUILD_FLAGS:-} --product skiff >/dev/null
swift build -c release ${SWIFT_BUILD_FLAGS:-} --product skiff-cluster >/dev/null   # (skiff master runs it)
bin=$(swift build -c release ${SWIFT_BUILD_FLAGS:-} --show-bin-path)
data=$(mktemp -d /tmp/skiff-crdbench.XXXXXX)
port=$(free_port)
"$bin/skiff" master --listen 127.0.0.1:$port --dns-port 0 --data-dir "$data" --no-scheduler --no-controllers 2>"$data/master.log" &
master=$!
trap 'kill $master 2>/dev/null; wait $master 2>/dev/null; rm -rf "$data"' EXIT
url=http://127.0.0.1:$port
wait_ready "$url"

post() { curl -sf -XPOST "$url$1" -H 'Content-Type: application/yaml' --data-binary @- >/dev/null; }
for ns in bench bench-live; do printf 'metadata: {name: %s}\n' "$ns" | post /api/v1/namespaces; done
# The documentation's CronTab definition (schema with a pattern and bounds, status subresource).
post /apis/apiextensions.k8s.io/v1/customresourcedefinitions <<'YAML'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: crontabs.stable.example.com}
spec:
  group: stable.example.com
  scope: Namespaced
  names: {plural: crontabs, singular: crontab, kind: CronTab, shortNames: [ct]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              cronSpec: {type: string, pattern: '^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$'}
              image: {type: string}
              replicas: {type: integer, minimum: 1, maximum: 10}
YAML
echo "objects per kind: $COUNT; $(nproc) cores; other swift-build processes now: $(pgrep -c swift-build || true)"
python3 hack/bench/crd_load.py "$url" bench "$COUNT"
