#!/usr/bin/env bash
# Re-record testdata/datasette/golden.jsonl: Datasette's answers to every
# case of testdata/datasette/cases.txt over testdata/datasette/fixtures.sql.
# replica/golden_test.go (TestReader_DatasetteGolden) compares tablecast's
# answers with them; it needs no Datasette. See README "Datasette
# compatibility". Usage: bash scripts/datasette-golden.sh
set -euo pipefail
. "$(dirname "$0")/datasette-env.sh"
"$DS_PY" "$DS_ROOT/scripts/datasette-golden.py" --python "$DS_PY"
echo "now: go test ./replica -run TestReader_DatasetteGolden, and update testdata/datasette/differences.txt"
