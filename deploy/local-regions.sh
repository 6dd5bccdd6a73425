#!/usr/bin/env bash
# A tablecast cluster spread over simulated regions on one Linux machine.
#
#   sudo deploy/local-regions.sh up       # build, network, proxies, nodes, sample data
#   sudo deploy/local-regions.sh status   # every node's role, lag, TXIDs
#   sudo deploy/local-regions.sh down     # stop everything, unmount, delete the network
#
# Each region is a network namespace holding one node, all on one bridge
# (the host's tcbr0). Each region has a distance D (one way); between
# regions A and B the one-way delay is D(A) + D(B), in both directions, for
# every port (API, LiteFS, raft). The kernel here has no netem and no
# iptables, so distance comes from `tablecast delay-proxy`, and the network
# from ip(8) alone: in region A, every other node's address B is also put
# on A's loopback, so A's connections to B land on a delay proxy in A
# (holding bytes D(A)+D(B) each way), which passes them to B's relay
# address in a shared relay namespace (tc-relay), where a second proxy
# (no delay) connects to B itself. Nodes keep their real addresses, which
# is what they advertise to each other (raft registry, LiteFS URLs).
#
# Nodes are started with `nsenter --net=/run/netns/NAME`: only the network
# namespace changes, so their FUSE mounts stay visible on the host (`ip
# netns exec` would put them in a private mount namespace).
#
# Settings (environment):
#   REGIONS   name=distance (ms) of each region; the first holds the first
#             primary (default "lhr=0 sjc=40 syd=150")
#   DIR       working folder: binary, configs, data, FUSE mounts, logs
#             (default /tmp/tablecast-regions)
#   NET       first two octets of the private addresses (default 10.77):
#             node i at NET.0.(10+i) (host NET.0.1, relay NET.0.2),
#             its relay address NET.1.(10+i)
#   TABLECAST_BIN  a built tablecast binary (default: go build into DIR)
#   SEED      1 (default) loads a public table demo/cities on up
#
# The host reaches every node directly (no distance); to read as a visitor
# in another region: nsenter --net=/run/netns/tc-lhr curl http://NODE:8080/…
# Ports on every node: API 8080, LiteFS 20202, raft 20203, node API 20204
# (the last three on mutual TLS: certificates of a CA made in DIR/tls).
set -euo pipefail

REGIONS=${REGIONS:-"lhr=0 sjc=40 syd=150"}
DIR=${DIR:-/tmp/tablecast-regions}
NET=${NET:-10.77}
SEED=${SEED:-1}
BRIDGE=tcbr0
RELAY=tc-relay
PORTS=(8080 20202 20203 20204)
REPO=$(cd "$(dirname "$0")/.." && pwd)

die() { echo "local-regions: $*" >&2; exit 1; }
log() { echo "== $*"; }

# regions: names and distances (ms), in order.
NAMES=()
DIST=()
for spec in $REGIONS; do
  name=${spec%%=*}
  ms=${spec#*=}
  ms=${ms%ms}
  [[ $name =~ ^[a-z][a-z0-9]{0,7}$ && $name != relay ]] || die "region name $name: up to 8 lowercase letters/digits"
  [[ $spec == *=* && $ms =~ ^[0-9]+$ ]] || die "REGIONS entry $spec: want name=MILLISECONDS, e.g. syd=150"
  NAMES+=("$name")
  DIST+=("$ms")
done
((${#NAMES[@]} >= 1 && ${#NAMES[@]} <= 200)) || die "REGIONS: 1 to 200 regions"

ns_node() { echo "tc-$1"; }
node_name() { echo "$1-1"; }
node_ip() { echo "$NET.0.$((10 + $1))"; }  # by region index (0-based)
relay_ip() { echo "$NET.1.$((10 + $1))"; }
in_ns() { local ns=$1; shift; nsenter --net="/run/netns/$ns" -- "$@"; }

need_root_tools() {
  [[ $(id -u) == 0 ]] || die "run as root (network namespaces, FUSE)"
  for tool in ip nsenter curl setsid; do
    command -v "$tool" >/dev/null || die "$tool is missing"
  done
  command -v fusermount3 >/dev/null || die "fusermount3 is missing: apt-get install fuse3"
  [[ -e /dev/fuse ]] || die "/dev/fuse is missing"
}

build() {
  mkdir -p "$DIR"
  if [[ -n ${TABLECAST_BIN:-} ]]; then
    BIN=$TABLECAST_BIN
  else
    BIN=$DIR/tablecast
    log "building tablecast into $BIN"
    local go=go
    command -v go >/dev/null || go=/usr/local/go/bin/go
    (cd "$REPO" && CGO_ENABLED=1 "$go" build -o "$BIN" ./cmd/tablecast)
  fi
  [[ -x $BIN ]] || die "no tablecast binary at $BIN"
}

# network creates the bridge, the relay namespace and a namespace per region.
network() {
  log "network: bridge $BRIDGE $NET.0.1/24, relay $RELAY, ${#NAMES[@]} regions"
  ip link add "$BRIDGE" type bridge
  ip addr add "$NET.0.1/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  ip netns add "$RELAY"
  ip link add tcr0 type veth peer name eth0 netns "$RELAY"
  ip link set tcr0 master "$BRIDGE" up
  ip -n "$RELAY" link set lo up
  ip -n "$RELAY" addr add "$NET.0.2/24" dev eth0
  ip -n "$RELAY" link set eth0 up
  local i j
  for i in "${!NAMES[@]}"; do
    ip -n "$RELAY" addr add "$(relay_ip "$i")/32" dev lo
  done
  for i in "${!NAMES[@]}"; do
    local r=${NAMES[$i]} ns
    ns=$(ns_node "$r")
    ip netns add "$ns"
    ip link add "tcv-$r" type veth peer name eth0 netns "$ns"
    ip link set "tcv-$r" master "$BRIDGE" up
    # Other nodes' addresses sit on this namespace's loopback: answer ARP
    # only for the addresses of the interface asked (not for those).
    in_ns "$ns" sh -c 'for k in all default; do
      echo 1 > /proc/sys/net/ipv4/conf/$k/arp_ignore; echo 2 > /proc/sys/net/ipv4/conf/$k/arp_announce; done'
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$(node_ip "$i")/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" route add "$NET.1.0/24" via "$NET.0.2"
    for j in "${!NAMES[@]}"; do
      ((j == i || DIST[i] + DIST[j] == 0)) && continue
      ip -n "$ns" addr add "$(node_ip "$j")/32" dev lo
    done
  done
}

# proxies starts, per node, a relay in tc-relay (no delay), and in every
# region a delay proxy for each other node at a distance.
proxies() {
  mkdir -p "$DIR/proxies"
  local i j port
  for j in "${!NAMES[@]}"; do
    for port in "${PORTS[@]}"; do
      start_proxy "$RELAY" "$(relay_ip "$j"):$port" "$(node_ip "$j"):$port" 0ms
    done
  done
  for i in "${!NAMES[@]}"; do
    for j in "${!NAMES[@]}"; do
      local d=$((DIST[i] + DIST[j]))
      ((j == i || d == 0)) && continue
      for port in "${PORTS[@]}"; do
        start_proxy "$(ns_node "${NAMES[$i]}")" "$(node_ip "$j"):$port" "$(relay_ip "$j"):$port" "${d}ms"
      done
      log "${NAMES[$i]} -> ${NAMES[$j]}: +${d}ms each way"
    done
  done
}

start_proxy() {
  local ns=$1 listen=$2 target=$3 delay=$4
  setsid nsenter --net="/run/netns/$ns" -- "$BIN" delay-proxy -listen "$listen" -target "$target" -delay "$delay" \
    >"$DIR/proxies/$ns-$listen.log" 2>&1 </dev/null &
  echo "proxy $! $ns $listen" >>"$DIR/pids"
}

# start_node writes a node's config and starts it in its namespace.
start_node() {
  local i=$1 r=${NAMES[$1]} name ip home join=""
  name=$(node_name "$r") ip=$(node_ip "$i") home=$DIR/$name
  mkdir -p "$home"
  rm -f "$home/addr.json"
  ((i > 0)) && join="  join: \"https://$(node_ip 0):20204\""
  # The node's certificate, signed by the cluster CA (made once in up).
  "$BIN" cert node -ca-dir "$DIR/tls" -name "$name" -host "$ip" -out "$DIR/tls" >/dev/null
  local candidate=false
  ((i == 0)) && candidate=true
  cat >"$home/litefs.yml" <<EOF
# written by deploy/local-regions.sh
fuse:
  dir: "$home/fuse"
data:
  dir: "$home/data"
http:
  addr: "$ip:20202"          # bound to the node's own address: others reach LiteFS there (mutual TLS)
lease:
  type: raft
  candidate: $candidate
  reconnect-delay: 500ms
tablecast:
  name: "$name"
  region: "$r"
  addr: "$ip:8080"
  raft-addr: "$ip:20203"
  node-addr: "$ip:20204"
  tls:
    ca: "$DIR/tls/ca.crt"
    cert: "$DIR/tls/$name.crt"
    key: "$DIR/tls/$name.key"
  cluster-token: "\${TABLECAST_LOCAL_TOKEN}"
$join
  tokens:
    - name: local
      token: "\${TABLECAST_LOCAL_TOKEN}"
EOF
  TABLECAST_LOCAL_TOKEN=$TOKEN setsid nsenter --net="/run/netns/$(ns_node "$r")" -- \
    "$BIN" serve -config "$home/litefs.yml" -addr-file "$home/addr.json" >>"$home/node.log" 2>&1 </dev/null &
  local pid=$!
  echo "node $pid $name $home/fuse" >>"$DIR/pids"
  # Ready: primary, or caught up with it.
  local deadline=$((SECONDS + 90))
  until curl -fs -o /dev/null --max-time 5 "http://$ip:8080/-/readyz"; do
    kill -0 "$pid" 2>/dev/null || die "$name exited: see $home/node.log"
    ((SECONDS < deadline)) || die "$name not ready after 90s: see $home/node.log"
    sleep 0.3
  done
  log "node $name ($r, candidate=$candidate) ready at http://$ip:8080"
}

seed() {
  local p=http://$(node_ip 0):8080 auth="Authorization: Bearer $TOKEN"
  if curl -fs -o /dev/null "$p/demo/cities.json"; then
    log "sample data: already there (DIR reused)"
    return
  fi
  curl -fsS -o /dev/null -H "$auth" -d '{"table":"cities","pk":"id","rows":[
    {"id":1,"name":"London","country":"GB"},{"id":2,"name":"Sydney","country":"AU"},
    {"id":3,"name":"San Jose","country":"US"}]}' "$p/demo/-/create"
  curl -fsS -o /dev/null -H "$auth" -d '{"table":"customers","pk":"id","rows":[{"id":1,"email":"secret@example.com"}]}' "$p/demo/-/create"
  curl -fsS -o /dev/null -H "$auth" -d '{}' "$p/demo/cities/-/publish"
  log "sample data: demo/cities (public), demo/customers (private)"
}

up() {
  need_root_tools
  [[ -e $DIR/pids ]] && die "already up ($DIR/pids): run down first"
  ip link show "$BRIDGE" >/dev/null 2>&1 && die "bridge $BRIDGE exists: run down first"
  build
  # A failed start leaves nothing behind (logs stay in DIR).
  trap 'rc=$?; if ((rc != 0)); then echo "local-regions: up failed, cleaning up (logs in $DIR)" >&2; down || true; fi' EXIT
  TOKEN=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
  umask 077
  echo "$TOKEN" >"$DIR/token"
  [[ -e $DIR/tls/ca.crt ]] || "$BIN" cert ca -dir "$DIR/tls" >/dev/null
  umask 022
  : >"$DIR/pids"
  network
  proxies
  local i
  for i in "${!NAMES[@]}"; do
    start_node "$i"
  done
  if [[ $SEED == 1 ]]; then seed; fi
  trap - EXIT
  summary
}

summary() {
  local i r p last far near
  p=http://$(node_ip 0):8080
  echo
  echo "tablecast regions are up (write token in $DIR/token):"
  for i in "${!NAMES[@]}"; do
    r=${NAMES[$i]}
    printf '  %-8s %-6s %5sms  http://%s:8080   netns %-8s fuse %s\n' "$(node_name "$r")" "$r" "${DIST[$i]}" \
      "$(node_ip "$i")" "$(ns_node "$r")" "$DIR/$(node_name "$r")/fuse"
  done
  last=$((${#NAMES[@]} - 1))
  far=$(node_ip "$last")
  near=$(ns_node "${NAMES[0]}")
  cat <<EOF

Try (the host reaches every node directly; nsenter puts you in a region):
  curl -si http://$far:8080/demo/cities.json                 # a replica, as a visitor next to it
  curl -si http://$far:8080/demo/customers.json              # private: 404
  nsenter --net=/run/netns/$near curl -s -o /dev/null -w '%{time_total}s\n' http://$far:8080/demo/cities.json
                                                             # the same read from ${NAMES[0]}: + distance
  curl -s -H "Authorization: Bearer \$(cat $DIR/token)" -d '{"row":{"id":4,"name":"Oslo","country":"NO"}}' \\
       http://$far:8080/demo/cities/-/insert                 # sent on to the primary
  curl -s http://$far:8080/metrics | grep -E '^tablecast_(replication_lag|db_txid)'
  $BIN cluster status -url $p -token \$(cat $DIR/token)
Stop: $0 down
EOF
}

# ours reports whether pid is still a process we started (not a reused pid).
ours() {
  local pid=$1 cmd
  cmd=$({ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null) || return 1
  [[ $cmd == *"$DIR"* || $cmd == *" delay-proxy -listen $NET."* ]]
}

down() {
  need_root_tools
  local kind pid name extra
  if [[ -e $DIR/pids ]]; then
    # Nodes first (replicas before the primary), then proxies.
    tac "$DIR/pids" | while read -r kind pid name extra; do
      [[ $kind == node ]] && ours "$pid" && kill -TERM "$pid" 2>/dev/null || true
    done
    local deadline=$((SECONDS + 20))
    while read -r kind pid name extra; do
      [[ $kind == node ]] || continue
      while ours "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
      if ours "$pid"; then
        echo "node $name did not stop: SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
      fi
    done <"$DIR/pids"
    # A killed node cannot finish dying while its threads wait on its own
    # mount: abort what is left.
    while read -r kind pid name extra; do
      [[ $kind == node && -n $extra ]] && "$BIN_DOWN" fuse-abort "$extra" >/dev/null || true
    done <"$DIR/pids"
    while read -r kind pid name extra; do
      [[ $kind == proxy ]] && ours "$pid" && kill -TERM "$pid" 2>/dev/null || true
    done <"$DIR/pids"
  fi
  local r
  for r in "${NAMES[@]}"; do
    ip netns del "$(ns_node "$r")" 2>/dev/null || true
  done
  ip netns del "$RELAY" 2>/dev/null || true
  ip link del "$BRIDGE" 2>/dev/null || true
  rm -f "$DIR/pids"
  if grep -q " $DIR/" /proc/mounts; then
    grep " $DIR/" /proc/mounts >&2
    die "mounts left under $DIR"
  fi
  log "down: nodes stopped, mounts gone, namespaces and $BRIDGE deleted (data kept in $DIR)"
}

status() {
  local i url
  for i in "${!NAMES[@]}"; do
    url=http://$(node_ip "$i"):8080
    if curl -fs -o /dev/null --max-time 2 "$url/-/healthz"; then
      "$BIN_DOWN" cluster status -url "$url" -token "$(cat "$DIR/token")"
      return
    fi
  done
  die "no node answers"
}

BIN_DOWN=${TABLECAST_BIN:-$DIR/tablecast}
case ${1:-} in
  up) up ;;
  down) down ;;
  status) status ;;
  *) sed -n '2,7p' "$0"; exit 2 ;;
esac
