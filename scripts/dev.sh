#!/usr/bin/env bash
# Sets up a fresh Debian machine (as root), builds tablecast and runs a local
# cluster with sample data: the README's run command. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
go build -o tablecast ./cmd/tablecast
exec ./tablecast dev -dir "${TABLECAST_DEV_DIR:-tablecast-dev}" "$@"
