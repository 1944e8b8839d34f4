#!/bin/bash
# hack/bench/pull.sh [RUNS] — pull a 6-layer, ~55 MiB (72 MiB unpacked) image from a local docker-registry into a
# cold store: `skiff image pull` (download, verify, unpack) vs `skopeo copy docker://... oci:...`
# (download, verify), interleaved by hyperfine, medians and their ratio. Release build.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=$PATH:/opt/swift/usr/bin
runs=${1:-7}
hack/install-deps.sh
# As hack/up.sh installs it: release, Swift runtime linked statically.
swift build -c release --static-swift-stdlib --product skiff >/dev/null
swift build -c release --static-swift-stdlib --product skiff-cluster >/dev/null
skiff=$(swift build -c release --static-swift-stdlib --show-bin-path)/skiff

work=$(mktemp -d /tmp/skiff-pullbench.XXXXXX)
port=$((20000 + RANDOM % 20000))
cat > "$work/registry.yml" <<YAML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $work/storage}}
http: {addr: 127.0.0.1:$port}
YAML
docker-registry serve "$work/registry.yml" >/dev/null 2>&1 &
registry=$!
trap 'kill $registry 2>/dev/null; wait $registry 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done

# The image: 6 layers of 12 MiB (9 MiB random, 3 MiB repetitive text), ~55 MiB compressed.
umoci init --layout "$work/layout" >/dev/null
umoci new --image "$work/layout:big" >/dev/null
for i in 1 2 3 4 5 6; do
  mkdir -p "$work/l$i"
  head -c 9M /dev/urandom > "$work/l$i/random.bin"
  (yes "layer $i line of text for compression" || true) | head -c 3M > "$work/l$i/text.txt"
  umoci insert --image "$work/layout:big" "$work/l$i" "/data$i" >/dev/null
  rm -rf "$work/l$i"
done
ref=127.0.0.1:$port/bench/big:latest
skopeo copy -q --dest-tls-verify=false "oci:$work/layout:big" "docker://$ref"
size=$(du -sm "$work/storage" | cut -f1)
echo "image: 6 layers, $size MiB in the registry"

hyperfine -N --runs "$runs" --export-json "$work/result.json" \
  --prepare "rm -rf $work/skiff-root" "$skiff image pull --root $work/skiff-root --insecure 127.0.0.1:$port $ref" \
  --prepare "rm -rf $work/skopeo-oci" "skopeo copy -q --src-tls-verify=false docker://$ref oci:$work/skopeo-oci:latest" \
  | grep -E "Time|±|Benchmark" || true
jq -r '.results | (.[0].median) as $s | (.[1].median) as $o |
  "median: skiff \($s*1000|floor) ms, skopeo \($o*1000|floor) ms, ratio skiff/skopeo \((($s/$o)*100|round)/100)"' "$work/result.json"
