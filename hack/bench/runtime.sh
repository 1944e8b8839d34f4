#!/bin/bash
# hack/bench/runtime.sh [N] — run-and-exit of /bin/true on the same busybox rootfs:
# `skiff run --rm --rootfs` vs `crun run` vs `runc run`, interleaved, N runs each (default 30).
# Prints the median and p90 wall time of each and skiff's ratio to each. Run as root.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-30}
export PATH=$PATH:/opt/swift/usr/bin
hack/install-deps.sh
swift build -c release --static-swift-stdlib --product skiff >/dev/null
swift build -c release --static-swift-stdlib --product skiff-monitor >/dev/null
bin=$(swift build -c release --static-swift-stdlib --show-bin-path)

work=$(mktemp -d /tmp/skiff-bench-XXXXXX)
moved_hugetlb=0
cleanup() {
  if [ $moved_hugetlb = 1 ]; then
    # The v1 hierarchy only dissolves (handing hugetlb back to v2) once it has no children.
    # Dying child cgroups can keep it alive past the first umount: remount and retry until
    # hugetlb is back in the unified hierarchy.
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      find /sys/fs/cgroup/hugetlb -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null || true
      umount /sys/fs/cgroup/hugetlb 2>/dev/null || true
      sleep 0.3
      grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers && break
      mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb 2>/dev/null || true
    done
    rmdir /sys/fs/cgroup/hugetlb 2>/dev/null || true
    grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers || echo "warning: hugetlb did not return to cgroup v2" >&2
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# One rootfs for all three: the test image's layer, unpacked.
image=$(hack/build-test-image.sh)
layer=$(jq -r '.layers[0].digest' "$image/blobs/sha256/$(jq -r '.manifests[0].digest' "$image/index.json" | cut -d: -f2)" | cut -d: -f2)
mkdir -p "$work/bundle/rootfs"
tar -xzf "$image/blobs/sha256/$layer" -C "$work/bundle/rootfs"

# crun on this hybrid host needs the hugetlb controller on v1 (see DEVELOPERS.md).
if ! grep -q ' /sys/fs/cgroup/hugetlb ' /proc/self/mountinfo && [ -d /sys/fs/cgroup/unified ] && ! mountpoint -q /sys/fs/cgroup/hugetlb 2>/dev/null; then
  mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb && moved_hugetlb=1
fi

(cd "$work/bundle" && crun spec --rootless=false 2>/dev/null || crun spec)
jq '.process.terminal=false | .process.args=["/bin/true"] | .root.path="'"$work"'/bundle/rootfs" | .root.readonly=false' \
  "$work/bundle/config.json" > "$work/bundle/config.tmp" && mv "$work/bundle/config.tmp" "$work/bundle/config.json"

now() { date +%s%N; }
declare -a t_skiff t_crun t_runc
for i in $(seq 1 "$N"); do
  a=$(now); "$bin/skiff" run --root "$work/state" --rm --rootfs "$work/bundle/rootfs" -- /bin/true; b=$(now)
  t_skiff+=($(( (b - a) / 1000 )))
  a=$(now); crun run --bundle "$work/bundle" "skb-crun-$$-$i" >/dev/null; b=$(now)
  t_crun+=($(( (b - a) / 1000 )))
  a=$(now); runc run --bundle "$work/bundle" "skb-runc-$$-$i" >/dev/null; b=$(now)
  t_runc+=($(( (b - a) / 1000 )))
done

stat_of() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {printf "%.2f %.2f", v[int((NR+1)/2)]/1000, v[int(NR*0.9+0.5)]/1000}'; }
read -r ms ps <<<"$(stat_of "${t_skiff[@]}")"
read -r mc pc <<<"$(stat_of "${t_crun[@]}")"
read -r mr pr <<<"$(stat_of "${t_runc[@]}")"
echo "run-and-exit of /bin/true, N=$N each, interleaved (wall ms)"
printf '%-6s median %7.2f  p90 %7.2f\n' skiff "$ms" "$ps" crun "$mc" "$pc" runc "$mr" "$pr"
awk -v s="$ms" -v c="$mc" -v r="$mr" 'BEGIN {printf "skiff/crun %.2fx   skiff/runc %.2fx   (target: skiff <= 1.0x crun)\n", s/c, s/r}'
