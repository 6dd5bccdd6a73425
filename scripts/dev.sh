#!/usr/bin/env bash
# Sets up a fresh Debian machine (as root), builds tablecast and runs a local
# cluster with sample data: the README's run command. Ctrl-C stops it.
set -euo pipefail
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-tags=sqlite_fts5" # FTS5 in mattn/go-sqlite3: enable-fts, _search
cd "$(dirname "$0")/.."
source scripts/setup.sh
go build -o tablecast ./cmd/tablecast
exec ./tablecast dev -dir "${TABLECAST_DEV_DIR:-tablecast-dev}" "$@"
