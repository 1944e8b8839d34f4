#!/bin/sh
# Regenerates the typed views (Sources/API/Generated) from the schema (Sources/API/Schema).
# `hack/codegen.sh --check` fails when the committed output is stale (hack/test.sh runs it).
set -eu
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
swift build --product codegen >/dev/null
"$(swift build --show-bin-path)/codegen" "$PWD"
if [ "${1:-}" = "--check" ]; then
    if ! git diff --exit-code --stat -- Sources/API/Generated || [ -n "$(git status --porcelain -- Sources/API/Generated)" ]; then
        echo "Sources/API/Generated is stale: run hack/codegen.sh and commit the result" >&2
        exit 1
    fi
fi
