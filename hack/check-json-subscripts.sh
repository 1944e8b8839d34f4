#!/bin/bash
# hack/check-json-subscripts.sh [--update] — counts JSON string subscripts (`obj["key"]`) in each
# target outside API, APIServer and Store (where JSON is the object's own form) and fails when a
# target has more than hack/json-subscripts.baseline allows: new code reads objects through the
# generated views. The goal is 0; when a rewrite lowers a count, `--update` lowers the baseline.
# (Literal-key lookups in typed dictionaries, like requests["storage"], count too: a ratchet, not
# a parser.)
set -euo pipefail
cd "$(dirname "$0")/.."
baseline=hack/json-subscripts.baseline
counts=$(for dir in Sources/*/; do
  target=$(basename "$dir")
  case $target in API|APIServer|Store|codegen) continue ;; esac
  echo "$target $( (grep -rhoE '\["[A-Za-z$][A-Za-z0-9_./$-]*"\]' "$dir" --include='*.swift' || true) | wc -l)"
done)
if [ "${1:-}" = "--update" ]; then echo "$counts" > "$baseline"; echo "$baseline updated"; exit 0; fi
status=0
while read -r target count; do
  allowed=$(awk -v t="$target" '$1 == t {print $2}' "$baseline")
  allowed=${allowed:-0}
  if [ "$count" -gt "$allowed" ]; then
    echo "check-json-subscripts: $target has $count JSON string subscripts, $allowed allowed: read objects through the typed views (Sources/API/Schema)" >&2
    status=1
  elif [ "$count" -lt "$allowed" ]; then
    echo "check-json-subscripts: $target is down to $count (baseline $allowed): run hack/check-json-subscripts.sh --update"
  fi
done <<< "$counts"
exit $status
