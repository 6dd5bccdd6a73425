# Sourced by scripts/datasette-golden.sh and scripts/dclient-check.sh: sets
# DS_PY, a Python that can import Datasette 0.65 and dclient 0.4.
#
# The normal way: a venv (.venv-datasette) with
#   pip install datasette==0.65.5 dclient==0.4
# Where PyPI cannot be reached, set DATASETTE_PYPATH to a folder holding the
# sources instead (datasette/ of Datasette's 0.65.x branch, asgi_csrf.py of
# asgi-csrf 0.9, dclient/ of dclient 0.4, flexcache/ 0.3, flexparser/ 0.4,
# typing_extensions.py 4.12): their other dependencies come from Debian's
# python3-* packages, installed here.
set -euo pipefail
DS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -n "${DATASETTE_PYPATH:-}" ]; then
	if ! /usr/bin/python3 -c 'import httpx, uvicorn, janus, mergedeep, pluggy, hupper, aiofiles, asgiref, multipart, click_default_group, yaml, platformdirs, sqlite_utils' 2>/dev/null; then
		apt-get install -y -qq python3-asgiref python3-click python3-click-default-group python3-jinja2 \
			python3-hupper python3-httpx python3-pluggy python3-uvicorn python3-aiofiles python3-janus \
			python3-yaml python3-mergedeep python3-itsdangerous python3-multipart python3-platformdirs \
			python3-typing-extensions python3-setuptools sqlite-utils >/dev/null
	fi
	export PYTHONPATH=$DATASETTE_PYPATH
	DS_PY=/usr/bin/python3
else
	venv=$DS_ROOT/.venv-datasette
	if [ ! -x "$venv/bin/python" ]; then
		python3 -m venv "$venv"
	fi
	"$venv/bin/pip" install -q datasette==0.65.5 dclient==0.4
	DS_PY=$venv/bin/python
fi
"$DS_PY" -c 'import datasette.app, dclient.cli' || {
	echo "Datasette or dclient does not import with $DS_PY" >&2
	exit 1
}
