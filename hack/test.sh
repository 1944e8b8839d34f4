#!/bin/bash
# hack/test.sh — install what the tests need, build, and run every test.
# Root tests (real namespaces, cgroups, mounts) run when this runs as root, as CI does.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/opt/swift/usr/bin
hack/install-deps.sh
hack/build-test-image.sh >/dev/null
swift build --build-tests 2>&1 | grep -vE '^\[[0-9]+/[0-9]+\]' || true
swift build --build-tests >/dev/null   # fails the script if the build failed
# The runtime finds skiff-monitor beside the skiff binary; tests find both in the build dir.
export SKIFF_BIN_DIR=$(swift build --show-bin-path)
swift test --skip-build
