# Sourced by scripts/test.sh and scripts/dev.sh: installs what tablecast
# needs on Debian (run as root), with one apt-get update at most:
# fuse3 for LiteFS's FUSE mount, sqlite3 for poking at data, gcc for cgo
# (mattn/go-sqlite3); for the tests (TABLECAST_SETUP_TESTS=1) also Debian's
# chromium (headless browser tests), iproute2 (network namespaces) and prometheus (its promtool lints
# /metrics; the server itself is disabled), and staticcheck (go install, kept
# in $(go env GOPATH)/bin and installed again only for another version).
need=()
lean=() # installed without recommended packages
command -v fusermount3 >/dev/null || need+=(fuse3)
command -v sqlite3 >/dev/null || need+=(sqlite3)
command -v gcc >/dev/null || need+=(gcc libc6-dev)
command -v curl >/dev/null || need+=(curl ca-certificates)
if [ "${TABLECAST_SETUP_TESTS:-}" = 1 ]; then
  command -v chromium >/dev/null || need+=(chromium)
  command -v ip >/dev/null || need+=(iproute2)        # the partition test's network namespaces
  command -v nsenter >/dev/null || need+=(util-linux)
  command -v promtool >/dev/null || lean+=(prometheus)
  export TABLECAST_REQUIRE_PROMTOOL=1
fi
if [ $(( ${#need[@]} + ${#lean[@]} )) -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  [ ${#need[@]} -eq 0 ] || apt-get install -y -qq "${need[@]}" >/dev/null
  if [ ${#lean[@]} -gt 0 ]; then
    apt-get install -y -qq --no-install-recommends "${lean[@]}" >/dev/null
    if command -v systemctl >/dev/null; then
      systemctl disable --now prometheus >/dev/null 2>&1 || true
    fi
  fi
fi
if ! command -v go >/dev/null; then
  if [ -x /usr/local/go/bin/go ]; then
    export PATH=$PATH:/usr/local/go/bin
  else
    echo "Go 1.26 is required: https://go.dev/doc/install" >&2
    exit 1
  fi
fi
export CGO_ENABLED=1
if [ "${TABLECAST_SETUP_TESTS:-}" = 1 ]; then
  staticcheck_version=0.8.2
  export PATH=$PATH:$(go env GOPATH)/bin
  case "$(staticcheck -version 2>/dev/null)" in
    *"($staticcheck_version)"*) ;;
    *) go install "honnef.co/go/tools/cmd/staticcheck@v$staticcheck_version" ;;
  esac
fi
