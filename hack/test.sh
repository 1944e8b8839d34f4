#!/bin/bash
# hack/test.sh — install what the tests need, build, and run every test.
# Root tests (real namespaces, cgroups, mounts, overlayfs) run when this runs as root, as CI does.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/opt/swift/usr/bin
hack/install-deps.sh
hack/build-test-image.sh >/dev/null
# The official Python client, for the compatibility tests (Tests/compat).
if [ ! -x hack/.cache/venv/bin/python ] || ! hack/.cache/venv/bin/python -c 'import kubernetes' 2>/dev/null; then
    python3 -m venv hack/.cache/venv
    hack/.cache/venv/bin/pip install --quiet kubernetes
fi
swift build --build-tests
# The typed views and protobuf tables are generated from Sources/API/Schema: stale output fails.
hack/codegen.sh --check
# No new JSON string subscripts outside API, APIServer and Store (a ratchet towards none).
hack/check-json-subscripts.sh
# Tests find skiff and skiff-monitor in the build directory.
SKIFF_BIN_DIR=$(swift build --show-bin-path)
export SKIFF_BIN_DIR
swift test --skip-build
