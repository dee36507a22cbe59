#!/usr/bin/env bash
# Start the stack and wait until it is healthy (the original scripts/dev_up.py).
#   scripts/dev_up.sh [--detached] [--docker|--local] [any other `sidefx up` flag]
# Without --detached it stays in the foreground until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run -q -p sidefx-cli -- up "$@"
