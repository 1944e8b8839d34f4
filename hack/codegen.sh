#!/bin/sh
# Regenerates the typed views (Sources/API/Generated) from the schema (Sources/API/Schema).
# `hack/codegen.sh --check` fails when the committed output is stale (hack/test.sh runs it).
set -eu
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
# Quiet when it builds; the compiler's output when it does not (swift prints errors on stdout).
if ! log=$(swift build --product codegen 2>&1); then
    echo "$log" >&2
    echo "hack/codegen.sh: building the codegen product failed (above)" >&2
    exit 1
fi
"$(swift build --show-bin-path)/codegen" "$PWD"
if [ "${1:-}" = "--check" ]; then
    if ! git diff --exit-code --stat -- Sources/API/Generated || [ -n "$(git status --porcelain -- Sources/API/Generated)" ]; then
        echo "Sources/API/Generated is stale: run hack/codegen.sh and commit the result" >&2
        exit 1
    fi
fi
