#!/usr/bin/env bash
# Run a demo and check the exactly-once proof (the original scripts/run_demo.py).
#   scripts/run_demo.sh --mode run|crash [--api URL] [--timeout SECONDS]
# Any other `sidefx demo` scenario works too: --mode crash-after-claim, crash-before-mark-done,
# crash-after-mark-done. Exits non-zero when the proof does not hold.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --mode) mode="${2:?--mode needs a value: run or crash}"; shift 2 ;;
    --mode=*) mode="${1#--mode=}"; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
if [ -z "$mode" ]; then
  echo "usage: $0 --mode run|crash [--api URL] [--timeout SECONDS]" >&2
  exit 2
fi
# (the ${args[@]+...} form keeps macOS's bash 3.2 happy with an empty array under set -u)
exec cargo run -q -p sidefx-cli -- demo "$mode" ${args[@]+"${args[@]}"}
