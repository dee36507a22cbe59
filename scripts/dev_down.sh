#!/usr/bin/env bash
# Stop the stack (the original scripts/dev_down.py).
#   scripts/dev_down.sh [--wipe [--yes]] [--prune-images] [--docker|--local]
# --wipe also deletes the DriftQ WAL, the SQLite store and the tickets (asks unless --yes).
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run -q -p sidefx-cli -- down "$@"
