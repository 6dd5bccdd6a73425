# Sourced by scripts/test.sh and scripts/dev.sh: installs what tablecast
# needs on Debian (run as root): fuse3 for LiteFS's FUSE mount, sqlite3 for
# poking at data, gcc for cgo (mattn/go-sqlite3), Go 1.26 if missing.
need=()
command -v fusermount3 >/dev/null || need+=(fuse3)
command -v sqlite3 >/dev/null || need+=(sqlite3)
command -v gcc >/dev/null || need+=(gcc libc6-dev)
command -v curl >/dev/null || need+=(curl ca-certificates)
# Headless Chromium drives the admin pages in TestCluster_AdminBrowser.
command -v chromium >/dev/null || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
# promtool lints /metrics in the tests (TestMetrics_*): Debian ships it in
# the prometheus package, whose server we do not want running.
if ! command -v promtool >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  if command -v systemctl >/dev/null; then
    systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
fi
export TABLECAST_REQUIRE_PROMTOOL=1
if ! command -v go >/dev/null; then
  if [ -x /usr/local/go/bin/go ]; then
    export PATH=$PATH:/usr/local/go/bin
  else
    echo "Go 1.26 is required: https://go.dev/doc/install" >&2
    exit 1
  fi
fi
export CGO_ENABLED=1
