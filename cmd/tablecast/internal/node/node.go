// Package node is a running tablecast node: LiteFS (and raft) underneath,
// the read and write paths, routing, the operator's /-/ routes, metrics and
// the node API peers call. cmd/tablecast only turns a config file into
// Options and calls Run.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/superfly/litefs"
	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/fsmount"
	"github.com/tablecast/tablecast/nodetls"
	"github.com/tablecast/tablecast/primary"
	"github.com/tablecast/tablecast/replica"
	"github.com/tablecast/tablecast/routing"
	"golang.org/x/sync/errgroup"
)

// Options configure a node. cmd/tablecast fills them from the config file,
// which names each key (kebab-case) next to its field here.
type Options struct {
	Name   string // tablecast.name
	Region string // tablecast.region

	FUSEDir    string // fuse.dir: where LiteFS mounts the databases
	DataDir    string // data.dir: LiteFS's and raft's own files
	LiteFSAddr string // http.addr: LiteFS's replication listener

	// The lease (lease.*): raft elects the primary among candidates, a
	// static lease makes the one candidate the primary for good.
	StaticLease       bool
	Candidate         bool
	LeaseHostname     string
	LeaseAdvertiseURL string
	ReconnectDelay    time.Duration
	DemoteDelay       time.Duration

	// The public API (tablecast.*).
	Addr         string // listen address
	AdvertiseURL string // the API URL clients reach this node at
	PrimaryURL   string // static replica: the primary's API URL
	Tokens       []primary.Token
	MaxBody      int64
	MaxImport    int64         // tablecast.max-import-bytes
	ImportWait   time.Duration // tablecast.import-wait
	MinFree      uint64        // free-space floor under data.dir, 0 for none
	ReadPool     int
	CacheBytes   int64 // response cache budget; 0 or less: no cache
	MaxAge       time.Duration
	SQLTimeLimit time.Duration
	SQLMaxRows   int
	// FacetTimeLimit (tablecast.facet-time-limit): see replica.Reader;
	// 0 is its default.
	FacetTimeLimit time.Duration
	// BaseURL (tablecast.base-url, checked by replica.CheckBaseURL) and
	// TrustedProxies (tablecast.trusted-proxies): see replica.Reader.
	BaseURL        string
	TrustedProxies []netip.Prefix
	Routing        routing.Config
	// The API listener's timeouts (net/http.Server).
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	IdleTimeout       time.Duration
	MetricsAddr       string // also serve /metrics here, without a token
	// BenchAddr, for benchmarks only, serves reads with parts turned off
	// on a loopback address (see serveBench).
	BenchAddr string

	// Raft (lease.type raft).
	RaftAddr      string
	RaftAdvertise string
	Join          string // node URL of any node of the cluster to join
	ClusterToken  string // the token nodes send each other

	// Trust between nodes (mutual TLS, nodetls).
	TLS               TLSFiles
	InsecurePlaintext bool
	NodeAddr          string // the node API's listen address
	NodeAdvertiseURL  string // the node API URL peers reach this node at
	PrimaryNodeURL    string // static replica: the primary's node API URL

	Logger *slog.Logger
}

// TLSFiles name the PEM files of a node's TLS identity.
type TLSFiles struct {
	CA, Cert, Key string
}

// URLs are where a serving node is reached.
type URLs struct {
	API    string
	Node   string // the node API (mutual TLS unless insecure-plaintext)
	LiteFS string
	Bench  string // with Options.BenchAddr
}

// Node is one running tablecast node: LiteFS, both paths, the API server.
// A node's role is state, not a type: it serves as primary or replica as
// the lease says.
type Node struct {
	// OnServe, if set, is called once the node serves, with its URLs
	// (cmd/tablecast writes its addr file there).
	OnServe func(URLs) error

	opts   Options
	logger *slog.Logger

	mount  *fsmount.Mount
	raft   *fsmount.RaftNode   // nil with a static lease
	leaser *fsmount.RaftLeaser // nil with a static lease
	self   fsmount.NodeInfo
	tokens *primary.Tokens
	fence  tablecast.CommitFence
	reader *replica.Reader
	bench  []*replica.Reader
	writer *primary.Writer
	api    *http.Server
	extra  []*http.Server
	apiURL string

	// Every goroutine of the node (servers, join and sync loops) runs in
	// group; ctx ends at Close, or when one of them fails.
	group  *errgroup.Group
	ctx    context.Context
	cancel context.CancelFunc

	// Metrics of this node alone: two nodes can live in one process.
	registry *prometheus.Registry
	metrics  http.Handler // /metrics

	// Trust between nodes (tls.go): the TLS identity (nil with
	// insecure-plaintext), the node API URL, and the client of every
	// node-to-node call.
	tls     *nodetls.Config
	nodeURL string
	client  *Client
	proxy   *routing.Proxy // to the primary's or the raft leader's node API
}

var _ routing.Node = (*Node)(nil)

// New returns a node for opts; Run (or Open and Close) runs it.
func New(opts Options) *Node {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	n := &Node{opts: opts, logger: opts.Logger}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.group, n.ctx = errgroup.WithContext(n.ctx)
	return n
}

// Run opens the node, serves until ctx ends or a server fails, and
// closes it. A failed server is Run's error; a failure to close LiteFS or
// raft at shutdown is only logged.
func (n *Node) Run(ctx context.Context) error {
	err := n.run(ctx)
	if cerr := n.Close(); cerr != nil && !errors.Is(cerr, errShutdown) {
		return cerr // a server failed: that is why the node stopped
	}
	return err
}

func (n *Node) run(ctx context.Context) error {
	if err := n.Open(ctx); err != nil {
		return err
	}
	urls := URLs{API: n.apiURL, Node: n.nodeURL, LiteFS: n.mount.URL()}
	if n.opts.BenchAddr != "" {
		var err error
		if urls.Bench, err = n.serveBench(n.opts.BenchAddr); err != nil {
			return err
		}
	}
	if err := n.serveMetrics(n.opts.MetricsAddr); err != nil {
		return err
	}
	if n.OnServe != nil {
		if err := n.OnServe(urls); err != nil {
			return err
		}
	}
	n.logger.Info("serving", "api", n.apiURL, "node", n.nodeURL, "litefs", n.mount.URL(), "raft", n.self.RaftAddr, "tls", n.tls != nil, "primary", n.IsPrimary())
	select {
	case <-ctx.Done():
		n.logger.Info("shutting down")
		return nil
	case <-n.ctx.Done(): // a server failed: Close returns its error
		return nil
	}
}

// errShutdown marks Close's errors of closing LiteFS or raft, which Run
// only logs: the node was stopping anyway.
var errShutdown = errors.New("shutdown")

// Open starts LiteFS, waits until it has a primary, then serves the API.
func (n *Node) Open(ctx context.Context) error {
	o := &n.opts
	if err := checkStartSpace(o, tablecast.FreeBytes); err != nil {
		return err
	}
	if err := n.loadTLS(); err != nil {
		return err
	}
	n.mount = fsmount.New(o.FUSEDir, o.DataDir, o.LiteFSAddr)
	n.mount.ServerTLS, n.mount.ClientTLS = n.serverTLS("h2"), n.clientTLS("h2")
	n.mount.Candidate = o.Candidate
	n.mount.ReconnectDelay = o.ReconnectDelay
	n.mount.DemoteDelay = o.DemoteDelay
	n.mount.Logger = n.logger
	n.mount.MinFree = o.MinFree
	if err := n.mount.Listen(); err != nil {
		return err
	}
	// Serve at once: health and status answer while the node catches up;
	// reads and writes answer 503 until it is ready.
	if err := n.serveAPI(); err != nil {
		return err
	}
	if !o.StaticLease {
		if err := n.openRaft(); err != nil {
			return err
		}
	} else {
		advertise := o.LeaseAdvertiseURL
		if o.Candidate && advertise == "" {
			advertise = n.mount.URL()
		}
		n.mount.Leaser = litefs.NewStaticLeaser(o.Candidate, o.LeaseHostname, advertise)
	}
	if err := n.mount.Open(); err != nil {
		return err
	}
	if n.raft != nil {
		n.group.Go(func() error { n.joinLoop(n.ctx); return nil })
		n.group.Go(func() error { n.syncLoop(n.ctx); return nil })
	}
	n.logger.Info("waiting for the cluster", "api", n.apiURL)
	// A server that fails meanwhile ends the wait (Run returns its error).
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	defer context.AfterFunc(n.ctx, stop)()
	return n.mount.WaitReady(ctx)
}

// serveAPI makes the read and write paths and the router, and serves them
// on the API and node addresses.
func (n *Node) serveAPI() error {
	if err := n.openPaths(); err != nil {
		return err
	}
	o := &n.opts
	router := routing.New(n, o.Routing)
	router.Region, router.Name, router.Logger = o.Region, o.Name, n.logger
	router.Reads, router.Writes, router.Admin = n.reader, n.writer, n.adminHandler()
	// Metrics (metrics.go): requests counted around the router, routing's
	// decisions, the node's state read at scrape time.
	metrics := newNodeMetrics(n)
	if err := metrics.register(n.registry); err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	router.Metrics = metrics
	router.Transport = n.client.Transport()
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return fmt.Errorf("listen api on %s: %w", o.Addr, err)
	}
	n.apiURL = o.AdvertiseURL
	if n.apiURL == "" {
		n.apiURL = listenerURL(ln)
	}
	n.api = apiServer(metrics.instrument(tablecast.CheckQuery(router)), o)
	n.serve("api server", n.api, ln)
	return n.serveNode(n.api.Handler)
}

// openPaths makes the tokens, the read path and the write path, with the
// metrics of the read path.
func (n *Node) openPaths() error {
	o := &n.opts
	tk, err := primary.NewTokens(o.Tokens)
	if err != nil {
		return err
	}
	n.tokens = tk
	if err := n.openRegistry(); err != nil {
		return err
	}
	n.reader = replica.NewReader(o.FUSEDir, n.mount, &n.fence)
	n.reader.PoolSize = o.ReadPool
	n.reader.MaxAge = o.MaxAge
	if o.SQLTimeLimit > 0 {
		n.reader.SQLTimeLimit = o.SQLTimeLimit
	}
	if o.SQLMaxRows > 0 {
		n.reader.SQLMaxRows = o.SQLMaxRows
	}
	if o.FacetTimeLimit > 0 {
		n.reader.FacetTimeLimit = o.FacetTimeLimit
	}
	n.reader.Logger = n.logger
	n.reader.BaseURL, n.reader.TrustedProxies = o.BaseURL, o.TrustedProxies
	// A read a peer forwarded (over the node port's mutual TLS) names
	// the client's host in X-Forwarded-Host (routing.Proxy).
	n.reader.TrustForwarded = func(r *http.Request) bool { return peerNode(r) != "" }
	n.reader.Tokens = tk // reads with a read-scope token see private tables
	n.reader.ETagKey = etagKey(o.ClusterToken)
	if n.reader.OnCatchUp, err = registerCatchUpMetric(n.registry); err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	n.reader.Cache = nil
	if o.CacheBytes > 0 {
		n.reader.Cache = replica.NewCache(o.CacheBytes)
		if err := registerCacheMetrics(n.registry, n.reader.Cache); err != nil {
			return fmt.Errorf("register metrics: %w", err)
		}
	}
	n.writer = primary.NewWriter(o.FUSEDir, n.mount, &n.fence, tk)
	n.writer.MaxBody = o.MaxBody
	n.writer.Logger = n.logger
	n.writer.CanCommit = n.canCommit
	n.writer.Space = n.spaceFloor()
	n.writer.Imports = n.imports()
	tk.Store = n.writer.Control() // tokens made through the admin API, in _tablecast.db
	if !o.StaticLease {
		n.writer.Sync = n.syncToCandidate
	}
	return nil
}

// serve runs srv on ln in the node's group: an error other than a
// shutdown ends the node.
func (n *Node) serve(name string, srv *http.Server, ln net.Listener) {
	n.group.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	})
}

// Close stops serving, closes every database handle, then LiteFS, and
// waits for every goroutine of the node. It returns the first error of a
// server, or of closing LiteFS or raft.
func (n *Node) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range append(n.extra, n.api) {
		if s != nil {
			_ = s.Shutdown(ctx)
		}
	}
	for _, r := range append(n.bench, n.reader) {
		if r != nil {
			_ = r.Close()
		}
	}
	if n.writer != nil {
		_ = n.writer.Close()
	}
	n.cancel()
	first := n.group.Wait()
	if n.mount != nil {
		if err := n.mount.Close(); err != nil {
			n.logger.Error("close litefs", "err", err)
			first = cmp(first, fmt.Errorf("%w: close litefs: %w", errShutdown, err))
		}
	}
	if n.leaser != nil {
		_ = n.leaser.Close()
	}
	if n.raft != nil {
		if err := n.raft.Close(); err != nil {
			n.logger.Error("close raft", "err", err)
			first = cmp(first, fmt.Errorf("%w: close raft: %w", errShutdown, err))
		}
	}
	return first
}

// cmp is the first non-nil error.
func cmp(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// Ready implements routing.Node: LiteFS is primary or connected to one.
func (n *Node) Ready() bool {
	select {
	case <-n.mount.Ready():
		return true
	default:
		return false
	}
}

// IsPrimary implements routing.Node: LiteFS holds the lease and, with
// raft, the lease is not lost (LiteFS notices only at its next renewal).
func (n *Node) IsPrimary() bool {
	return n.mount.IsPrimary() && n.canCommit() == nil
}

// canCommit refuses commits once the raft lease is lost.
func (n *Node) canCommit() error {
	if n.leaser == nil {
		return nil
	}
	l := n.leaser.Current()
	if l == nil {
		return errNotPrimary
	}
	select {
	case <-l.Lost():
		return errNotPrimary
	default:
		return nil
	}
}

var errNotPrimary = tablecast.Errorf(tablecast.EUNAVAILABLE, "This node stopped being the primary: nothing was written, retry")

// PrimaryURL implements routing.Node.
func (n *Node) PrimaryURL() string {
	switch {
	case n.IsPrimary():
		return n.apiURL
	case n.leaser != nil:
		return n.leaser.PrimaryAPIURL()
	default:
		return n.opts.PrimaryURL
	}
}

// PrimaryNodeURL implements routing.Node: where writes are forwarded.
func (n *Node) PrimaryNodeURL() string {
	switch {
	case n.IsPrimary():
		return n.nodeURL
	case n.leaser != nil:
		return n.leaser.PrimaryNodeURL()
	default:
		return n.opts.PrimaryNodeURL
	}
}

// PrimaryName implements routing.Node.
func (n *Node) PrimaryName() string {
	switch {
	case n.IsPrimary():
		return n.opts.Name
	case n.raft != nil:
		return n.raft.LeaderID()
	default:
		return n.mount.PrimaryHostname()
	}
}

// Lag implements routing.Node.
func (n *Node) Lag() time.Duration { return n.mount.Lag() }

// Silence implements routing.Silent: how long this node has gone without
// hearing from the primary, on its own clock, or by the primary's
// timestamps (Lag) when that says longer: frames held up on the way (a
// partition that heals) carry their old timestamps. Both are 0 while
// LiteFS holds the lease here (no lock taken: every replica read asks).
func (n *Node) Silence() time.Duration {
	return max(n.mount.SinceHeard(), n.mount.Lag())
}

// StreamPaused implements routing.Paused: why this replica stopped taking
// the primary's stream ("disk full: …"), "" when it did not.
func (n *Node) StreamPaused() string { return n.mount.StreamPaused() }

// TXID implements routing.Node.
func (n *Node) TXID(db string) (tablecast.TXID, bool) { return n.mount.TXID(db) }

// WaitTXID implements routing.Node.
func (n *Node) WaitTXID(ctx context.Context, db string, txid tablecast.TXID) error {
	return n.mount.WaitTXID(ctx, db, txid)
}

func listenerURL(ln net.Listener) string {
	addr := ln.Addr().(*net.TCPAddr)
	host := "127.0.0.1"
	if !addr.IP.IsUnspecified() {
		host = addr.IP.String()
	}
	return "http://" + net.JoinHostPort(host, fmt.Sprint(addr.Port))
}
