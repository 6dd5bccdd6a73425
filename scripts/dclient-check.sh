#!/usr/bin/env bash
# Checks a tablecast node with a real Datasette client: dclient 0.4
# (simonw/dclient), whose commands are query, insert, actor, alias and auth
# (rows and tables came later). See README "Datasette compatibility".
#
#   bash scripts/dclient-check.sh              # builds tablecast, runs a one-node
#                                              # dev cluster (FUSE) in a temp folder,
#                                              # checks, stops it
#   DCLIENT05_PYPATH=DIR bash scripts/dclient-check.sh
#                                              # also dclient 0.5's databases, tables and
#                                              # rows --all (DIR holds dclient/ of 0.5a3)
#   DCLIENT_URL=http://127.0.0.1:8080 DCLIENT_TOKEN=secret bash scripts/dclient-check.sh
#                                              # checks a running node with the dev
#                                              # cluster's demo database
#
# Prints PASS or FAIL a check and exits 1 if any failed.
set -euo pipefail
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-tags=sqlite_fts5" # FTS5 in mattn/go-sqlite3: enable-fts, _search
. "$(dirname "$0")/datasette-env.sh"
cd "$DS_ROOT"
export PATH=$PATH:/usr/local/go/bin

tmp=$(mktemp -d)
dev_pid=""
cleanup() {
	if [ -n "$dev_pid" ]; then
		kill -TERM "$dev_pid" 2>/dev/null || true
		wait "$dev_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

url=${DCLIENT_URL:-}
token=${DCLIENT_TOKEN:-}
if [ -z "$url" ]; then
	go build -o "$tmp/tablecast" ./cmd/tablecast
	"$tmp/tablecast" dev -regions lhr -candidates 1 -dir "$tmp/dev" >"$tmp/dev.log" 2>&1 &
	dev_pid=$!
	deadline=$((SECONDS + 120))
	until [ -s "$tmp/dev/cluster.json" ] && url=$("$DS_PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["nodes"][0]["api_url"])' "$tmp/dev/cluster.json" 2>/dev/null) &&
		curl -fsS -o /dev/null "$url/demo/cities.json"; do
		if [ $SECONDS -ge $deadline ] || ! kill -0 "$dev_pid" 2>/dev/null; then
			echo "dev cluster did not come up; its log:" >&2
			tail -20 "$tmp/dev.log" >&2
			exit 1
		fi
		sleep 0.5
	done
	token=$("$DS_PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$tmp/dev/cluster.json")
fi
echo "checking $url with dclient $("$DS_PY" -c 'import importlib.metadata as m
try: print(m.version("dclient"))
except m.PackageNotFoundError: print("(from sources)")')"

export XDG_CONFIG_HOME=$tmp/config # no aliases or tokens of the user's
failed=0
dclient() { "$DS_PY" -m dclient "$@"; }
# check NAME EXPECTED-JSON COMMAND...: the command's stdout must be that JSON.
check() {
	local name=$1 want=$2
	shift 2
	local got
	if got=$("$@" 2>"$tmp/err") && "$DS_PY" -c 'import json,sys; sys.exit(json.loads(sys.argv[1]) != json.loads(sys.argv[2]))' "$got" "$want"; then
		echo "PASS $name"
	else
		echo "FAIL $name"
		echo "  want: $want"
		echo "  got:  $(echo "$got" | tr -d "\n" | cut -c1-300) $(tail -2 "$tmp/err" | tr "\n" " " | cut -c1-300)"
		failed=1
	fi
}

cities='[{"id":1,"name":"London"},{"id":2,"name":"Sydney"},{"id":3,"name":"San Jose"},{"id":4,"name":"Tokyo"},{"id":5,"name":"Lagos"}]'
check "query with a token (GET /demo.json?sql=...&_shape=objects)" "$cities" \
	dclient query "$url/demo" "select id, name from cities where id <= 5 order by id" --token "$token"
check "query a private table without a token fails as a missing one" '"same"' bash -c '
	a=$("$0" -m dclient query "$1/demo" "select * from customers" 2>&1 | sed s/customers/X/g)
	b=$("$0" -m dclient query "$1/demo" "select * from nosuch" 2>&1 | sed s/nosuch/X/g)
	case "$a" in Error:*) ;; *) echo "\"not an error of the server: $(echo "$a" | tail -1)\""; exit 0;; esac
	[ "$a" = "$b" ] && echo "\"same\"" || echo "\"$a versus $b\""' "$DS_PY" "$url"
printf '[{"id": 100, "name": "Reykjavik", "country": "IS", "population": 139875}]' >"$tmp/rows.json"
check "insert a row (POST /demo/cities/-/insert), then read it" '[{"id":100,"name":"Reykjavik","country":"IS","population":139875}]' bash -c '
	"$0" -m dclient insert "$1/demo" cities "$2" --json --token "$3" --silent >&2 &&
	curl -fsS "$1/demo/cities.json?id=100&_shape=array"' \
	"$DS_PY" "$url" "$tmp/rows.json" "$token"
check "actor (GET /-/actor.json): an actor for the token" 'true' bash -c '
	a=$("$0" -m dclient actor "$1/demo" --token "$2") || exit 1
	echo "$a" | "$0" -c "import json,sys; print(json.dumps(bool(json.load(sys.stdin).get(\"actor\"))))"' \
	"$DS_PY" "$url" "$token"
# dclient 0.5 (alpha) adds databases, tables and rows (rows --all follows
# next_url page by page). With DCLIENT05_PYPATH pointing at its sources
# (dclient/ of simonw/dclient 0.5a3), check those too.
if [ -n "${DCLIENT05_PYPATH:-}" ]; then
	check "dclient 0.5 databases (GET /.json)" '"demo"' bash -c '"$0" -c "import json,sys; print(json.dumps(sys.stdin.read().split()[0]))" < <(PYTHONPATH=$1:${PYTHONPATH:-} "$0" -m dclient databases -i "$2")' "$DS_PY" "$DCLIENT05_PYPATH" "$url"
	check "dclient 0.5 tables -d demo (GET /demo.json): the public table only" '"cities"' bash -c '"$0" -c "import json,sys; print(json.dumps(\" \".join(l.split()[0] for l in sys.stdin)))" < <(PYTHONPATH=$1:${PYTHONPATH:-} "$0" -m dclient tables -i "$2" -d demo)' "$DS_PY" "$DCLIENT05_PYPATH" "$url"
	want=$(curl -fsS "$url/demo/cities.json?_size=max&_shape=array&_col=name" | "$DS_PY" -c 'import json,sys; print(json.dumps([r["name"] for r in json.load(sys.stdin)]))')
	check "dclient 0.5 rows --all --size 2 (follows the absolute next_url to the last page)" "$want" bash -c '
		PYTHONPATH=$1:${PYTHONPATH:-} "$0" -m dclient rows -i "$2" demo cities --all --size 2 --nl |
		"$0" -c "import json,sys; print(json.dumps([json.loads(l)[\"name\"] for l in sys.stdin if l.strip()]))"' "$DS_PY" "$DCLIENT05_PYPATH" "$url"
fi
exit $failed
