#!/bin/bash
# hack/bench/runtime.sh [N] — run-and-exit of /bin/true on the same busybox rootfs:
# `skiff run --rm --rootfs` vs `crun run` vs `runc run`, interleaved, N runs each (default 30).
# Prints the median and p90 wall time of each and skiff's ratio to each, then where each run's time
# went (from the kernel's exec/exit events): start-up, from exec'ing the runtime to exec'ing the
# container's /bin/true, and teardown, from there to the runtime's exit. Run as root.
#   SKIFF_BASELINE=DIR[:DIR...]  also runs each DIR/skiff (with DIR/skiff-monitor beside it), e.g.
#                       other commits' release builds, interleaved with the rest: before/after in one
#                       run. Each is labelled skiff@<name of DIR>.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-30}
export PATH=$PATH:/opt/swift/usr/bin
hack/install-deps.sh
# `skiff run` is the lean front alone; skiff-cluster is not needed here.
swift build -c release --static-swift-stdlib --product skiff >/dev/null
swift build -c release --static-swift-stdlib --product skiff-monitor >/dev/null
bin=$(swift build -c release --static-swift-stdlib --show-bin-path)
IFS=: read -r -a baselines <<<"${SKIFF_BASELINE:-}"

work=$(mktemp -d /tmp/skiff-bench-XXXXXX)
moved_hugetlb=0
tracefs=""
cleanup() {
  if [ -n "$tracefs" ]; then
    echo 0 > "$tracefs/instances/$trace_name/tracing_on" 2>/dev/null || true
    rmdir "$tracefs/instances/$trace_name" 2>/dev/null || true
    umount "$tracefs" 2>/dev/null || true
  fi
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
  rm -rf --one-file-system "$work"
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

# Every skiff measured runs from a fresh copy in $work, as an installed one would: the same binary
# started from the build directory (written piecemeal by the linker) took ~2 ms more CPU per run.
mkdir -p "$work/skiff" && cp "$bin/skiff" "$bin/skiff-monitor" "$work/skiff/" && bin=$work/skiff
for k in "${!baselines[@]}"; do
  name=$(basename "${baselines[$k]}")
  mkdir -p "$work/base/$name" && cp "${baselines[$k]}/skiff" "${baselines[$k]}/skiff-monitor" "$work/base/$name/"
  baselines[$k]=$work/base/$name
done

# The kernel's exec and exit events of this script's descendants, in a tracing instance of our own
# (other users of tracing are not disturbed). Without tracefs only the wall times are printed.
trace_name=skiff-runtime-bench-$$
mkdir -p "$work/tracefs"
if mount -t tracefs nodev "$work/tracefs" 2>/dev/null; then
  tracefs=$work/tracefs
  t=$tracefs/instances/$trace_name
  if mkdir "$t" 2>/dev/null; then
    echo mono > "$t/trace_clock"
    echo 1 > "$t/options/event-fork"
    echo $$ > "$t/set_event_pid"
    echo 1 > "$t/events/sched/sched_process_exec/enable"
    echo 1 > "$t/events/sched/sched_process_exit/enable"
    echo 1 > "$t/tracing_on"
  else
    umount "$tracefs"; tracefs=""
  fi
fi

# Microseconds from $EPOCHREALTIME: no fork around each run, so the figure is the runtime's, not date's.
declare -a t_skiff t_crun t_runc
declare -A t_base   # "<baseline index> <run>" -> microseconds
# One run of runner R (0 skiff, 1 crun, 2 runc, 3+k baseline k) as run I; its wall time into t_*.
run_one() {
  local r=$1 i=$2 a b
  a=${EPOCHREALTIME/./}
  case $r in
    0) "$bin/skiff" run --root "$work/state" --rm --rootfs "$work/bundle/rootfs" -- /bin/true ;;
    1) crun run --bundle "$work/bundle" "skb-crun-$$-$i" >/dev/null ;;
    2) runc run --bundle "$work/bundle" "skb-runc-$$-$i" >/dev/null ;;
    *) "${baselines[$((r - 3))]}/skiff" run --root "$work/state-$r" --rm --rootfs "$work/bundle/rootfs" -- /bin/true ;;
  esac
  b=${EPOCHREALTIME/./}
  case $r in
    0) t_skiff+=($((b - a))) ;;
    1) t_crun+=($((b - a))) ;;
    2) t_runc+=($((b - a))) ;;
    *) t_base["$((r - 3)) $i"]=$((b - a)) ;;
  esac
}
# The order rotates each round: a run pays for what the one before it left to the kernel's
# workers (network namespace and cgroup release), so no runtime always follows the same one.
runners=$((3 + ${#baselines[@]}))
for i in $(seq 1 "$N"); do
  for j in $(seq 0 $((runners - 1))); do run_one $(( (i + j) % runners )) "$i"; done
done

# Wall times in microseconds → "median p90" in milliseconds.
stat_of() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {printf "%.2f %.2f", v[int((NR+1)/2)]/1000, v[int(NR*0.9+0.5)]/1000}'; }
read -r ms ps <<<"$(stat_of "${t_skiff[@]}")"
read -r mc pc <<<"$(stat_of "${t_crun[@]}")"
read -r mr pr <<<"$(stat_of "${t_runc[@]}")"
echo "run-and-exit of /bin/true, N=$N each, interleaved (wall ms)"
printf '%-14s median %7.2f  p90 %7.2f\n' skiff "$ms" "$ps" crun "$mc" "$pc" runc "$mr" "$pr"
for k in "${!baselines[@]}"; do
  runs=(); for i in $(seq 1 "$N"); do runs+=("${t_base["$k $i"]}"); done
  read -r mb pb <<<"$(stat_of "${runs[@]}")"
  printf '%-14s median %7.2f  p90 %7.2f\n' "skiff@$(basename "${baselines[$k]}")" "$mb" "$pb"
done
awk -v s="$ms" -v c="$mc" -v r="$mr" 'BEGIN {printf "skiff/crun %.2fx   skiff/runc %.2fx   (target: skiff <= 0.8x crun)\n", s/c, s/r}'

[ -n "$tracefs" ] || { echo "(no tracefs: start-up/teardown split not measured)"; exit 0; }
echo 0 > "$t/tracing_on"
# Each run: the runtime's process P execs the runtime (start), a descendant execs /bin/true (the
# container's first instruction), P exits (end). Runs are sequential, so events pair up in order.
awk -v skiff="$bin/skiff" -v bases="$(IFS=:; echo "${baselines[*]}")" '
  BEGIN { nb = bases == "" ? 0 : split(bases, base, ":"); order[1] = "skiff"; order[2] = "crun"; order[3] = "runc"
          for (k = 1; k <= nb; k++) { nm = base[k]; sub(/.*\//, "", nm); name[base[k] "/skiff"] = "skiff@" nm; order[3 + k] = "skiff@" nm } }
  function label(f) {
    if (f == skiff) return "skiff"; if (f in name) return name[f]
    if (f ~ /\/crun$/) return "crun"; if (f ~ /\/runc$/) return "runc"; return ""
  }
  {
    ts = ""; for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\.[0-9]+:$/) { ts = substr($i, 1, length($i) - 1); break }
    if (ts == "") next
    pid = ""; for (i = 1; i <= NF; i++) if ($i ~ /^pid=/) pid = substr($i, 5)
  }
  /sched_process_exec:/ {
    f = ""; for (i = 1; i <= NF; i++) if ($i ~ /^filename=/) f = substr($i, 10)
    if (!(pid in run) && (l = label(f)) != "") { run[pid] = l; start[pid] = ts; cur = pid; next }
    if (f == "/bin/true" && cur != "" && !(cur in exec)) exec[cur] = ts
    next
  }
  /sched_process_exit:/ && (pid in run) && (pid in exec) && !(pid in done) {
    done[pid] = 1; l = run[pid]
    n[l]++; up[l, n[l]] = (exec[pid] - start[pid]) * 1000; down[l, n[l]] = (ts - exec[pid]) * 1000
  }
  function median(a, l, k, v, i, j, t) {
    for (i = 1; i <= k; i++) v[i] = a[l, i]
    for (i = 2; i <= k; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
    return v[int((k + 1) / 2)]
  }
  END {
    print "where the time goes (median ms; exec of the runtime -> exec of /bin/true -> the runtime exits)"
    for (o = 1; o <= 3 + nb; o++) {
      l = order[o]; if (!(l in n)) continue
      s = median(up, l, n[l]); d = median(down, l, n[l])
      printf "%-14s start-up %6.2f  teardown %6.2f  start-up share %3.0f%%  (%d runs traced)\n", l, s, d, 100 * s / (s + d), n[l]
    }
  }' "$t/trace"
