#!/usr/bin/env python3
"""Record Datasette's answers to testdata/datasette/cases.txt.

Builds testdata/datasette/fixtures.sql into a fresh fixtures.db, serves it
with Datasette on loopback, asks it every case and writes each answer
(status, content type, raw body) as one JSON line of
testdata/datasette/golden.jsonl. replica/golden_test.go asks tablecast the
same cases and compares. Run through scripts/datasette-golden.sh, which
installs Datasette; this file uses only the standard library.

    python3 scripts/datasette-golden.py [--python PYTHON]
"""
import argparse
import base64
import http.client
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "testdata", "datasette")
MAX_PAGES = 50
ORIGIN = "http://origin"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, resp.getheader("content-type", ""), body


def record(origin, status, ctype, body, **extra):
    """One answer; its absolute URLs name the server http://origin, and
    its timings are 0, so that recording twice gives the same file."""
    body = body.replace(origin.encode(), ORIGIN.encode())
    body = re.sub(rb'"query_ms": [0-9.e+-]+', b'"query_ms": 0', body)
    out = dict(extra, status=status, content_type=ctype)
    try:
        out["body"] = body.decode("utf-8")
    except UnicodeDecodeError:
        out["body_base64"] = base64.b64encode(body).decode()
    return out


def wait_up(port, proc):
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit("datasette exited with %d" % proc.returncode)
        try:
            if get(port, "/-/versions.json")[0] == 200:
                return
        except OSError:
            time.sleep(0.2)
    sys.exit("datasette did not start in 60 s")


def cases():
    with open(os.path.join(DATA, "cases.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                yield line


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", default=sys.executable, help="the Python that has Datasette")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="datasette-golden-")
    db = os.path.join(tmp, "fixtures.db")
    with open(os.path.join(DATA, "fixtures.sql"), encoding="utf-8") as f:
        conn = sqlite3.connect(db)
        conn.executescript(f.read())
        conn.close()
    port = free_port()
    proc = subprocess.Popen(
        [args.python, "-m", "datasette", "serve", db, "-h", "127.0.0.1", "-p", str(port),
         # Facets as Datasette's defaults (30 values a facet), suggestions off
         # (tablecast suggests only when asked: _extra=suggested_facets).
         "--setting", "suggest_facets", "off", "--setting", "default_facet_size", "30"],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "datasette.log"), "w"))
    try:
        wait_up(port, proc)
        versions = json.loads(get(port, "/-/versions.json")[2])
        origin = "http://127.0.0.1:%d" % port
        lines = [{"datasette": versions["datasette"]["version"],
                  "sqlite": versions["sqlite"]["version"], "origin": ORIGIN}]
        for case in cases():
            follow = case.startswith("follow ")
            path = case[len("follow "):] if follow else case
            page = 1
            while True:
                status, ctype, body = get(port, path)
                lines.append(record(origin, status, ctype, body, case=case, page=page, path=path))
                if not follow:
                    break
                nxt = json.loads(body).get("next_url") if status == 200 else None
                if not nxt or page >= MAX_PAGES:
                    break
                u = urllib.parse.urlsplit(nxt)
                path = u.path + ("?" + u.query if u.query else "")
                page += 1
    finally:
        proc.terminate()
        proc.wait()
    with open(os.path.join(DATA, "golden.jsonl"), "w", encoding="utf-8") as f:
        for line in lines:
            f.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
    print("recorded %d answers of Datasette %s in %s" % (len(lines) - 1, lines[0]["datasette"],
                                                          os.path.join(DATA, "golden.jsonl")))


if __name__ == "__main__":
    main()
