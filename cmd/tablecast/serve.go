package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/superfly/litefs"
	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/fsmount"
	"github.com/tablecast/tablecast/nodetls"
	"github.com/tablecast/tablecast/primary"
	"github.com/tablecast/tablecast/replica"
	"github.com/tablecast/tablecast/routing"
)

// AddrFile is what `serve -addr-file` writes once the node serves: how
// scripts (and `tablecast dev`) find a node started on ":0" ports.
type AddrFile struct {
	APIURL    string `json:"api_url"`
	NodeURL   string `json:"node_url"` // the node API (mutual TLS unless insecure-plaintext)
	LiteFSURL string `json:"litefs_url"`
	PID       int    `json:"pid"`
	// BenchURL is set with -bench-addr.
	BenchURL string `json:"bench_url,omitempty"`
}

func runServe(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	configPath := fs.String("config", "litefs.yml", "config file")
	join := fs.String("join", "", "node URL (tablecast.node-addr, https with TLS) of any node of a raft cluster to join (overrides tablecast.join)")
	region := fs.String("region", "", "this node's region (overrides tablecast.region)")
	addrFile := fs.String("addr-file", "", "write the node's URLs here as JSON once it serves")
	benchAddr := fs.String("bench-addr", "", "benchmarks only: also serve reads on this loopback address under /ungated/ (gate and cache off) and /nocache/ (gate on, cache off), bare handlers under /bare/ and /bare-headers/, and Go profiles under /debug/pprof/")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := LoadConfig(*configPath)
	if err != nil {
		return err
	}
	if *join != "" {
		cfg.Tablecast.Join = *join
	}
	if *region != "" {
		cfg.Tablecast.Region = *region
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config %s: %w", *configPath, err)
	}
	level, _ := parseLevel(cfg.Tablecast.LogLevel)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).
		With("node", cfg.Tablecast.Name, "region", cfg.Tablecast.Region)
	slog.SetDefault(logger)

	if procs, set := tablecast.TuneProcs(); set {
		logger.Info("GOMAXPROCS raised so SQLite calls waiting on the FUSE mount leave LiteFS room to answer them", "gomaxprocs", procs)
	}
	if gc := tablecast.TuneGC(cfg.Tablecast.plannedMemory()); gc != "" {
		logger.Info("garbage collector tuned for serving from memory (GOGC, GOMEMLIMIT override)", "settings", gc)
	}
	n := &node{cfg: cfg, logger: logger}
	defer n.Close()
	if err := n.Open(ctx); err != nil {
		return err
	}
	var benchURL string
	if *benchAddr != "" {
		if benchURL, err = n.serveBench(*benchAddr); err != nil {
			return err
		}
	}
	if err := n.serveMetrics(cfg.Tablecast.MetricsAddr); err != nil {
		return err
	}
	if *addrFile != "" {
		a := AddrFile{APIURL: n.apiURL, NodeURL: n.nodeURL, LiteFSURL: n.mount.URL(), PID: os.Getpid(), BenchURL: benchURL}
		if err := writeAddrFile(*addrFile, a); err != nil {
			return err
		}
	}
	logger.Info("serving", "api", n.apiURL, "node", n.nodeURL, "litefs", n.mount.URL(), "raft", n.self.RaftAddr, "tls", n.tls != nil, "primary", n.IsPrimary())
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
		return nil
	case err := <-n.serveErr:
		return fmt.Errorf("api server: %w", err)
	}
}

// node is one running tablecast node: LiteFS, both paths, the API server.
type node struct {
	cfg    *Config
	logger *slog.Logger

	mount    *fsmount.Mount
	raft     *fsmount.RaftNode   // nil with a static lease
	leaser   *fsmount.RaftLeaser // nil with a static lease
	self     fsmount.NodeInfo
	tokens   *primary.Tokens
	fence    tablecast.CommitFence
	reader   *replica.Reader
	bench    []*replica.Reader
	writer   *primary.Writer
	api      *http.Server
	extra    []*http.Server
	apiURL   string
	serveErr chan error

	// Trust between nodes (nodeapi.go): the TLS identity (nil with
	// insecure-plaintext), the node API URL, and the transport and client
	// of every node-to-node call.
	tls           *nodetls.Config
	nodeURL       string
	nodeTransport *http.Transport
	nodeClient    *http.Client
	ctx           context.Context // ends at Close
	cancel        context.CancelFunc
}

var _ routing.Node = (*node)(nil)

// Open starts LiteFS, waits until it has a primary, then serves the API.
func (n *node) Open(ctx context.Context) error {
	c := n.cfg
	if err := checkStartSpace(c, tablecast.FreeBytes); err != nil {
		return err
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	if err := n.loadTLS(); err != nil {
		return err
	}
	n.mount = fsmount.New(c.FUSE.Dir, c.Data.Dir, c.HTTP.Addr)
	n.mount.ServerTLS, n.mount.ClientTLS = n.serverTLS("h2"), n.clientTLS("h2")
	n.mount.Candidate = c.Lease.IsCandidate()
	n.mount.ReconnectDelay = c.Lease.ReconnectDelay
	n.mount.DemoteDelay = c.Lease.DemoteDelay
	n.mount.Logger = n.logger
	n.mount.MinFree = c.Tablecast.minFree()
	if err := n.mount.Listen(); err != nil {
		return err
	}
	// Serve at once: health and status answer while the node catches up;
	// reads and writes answer 503 until it is ready.
	if err := n.serveAPI(); err != nil {
		return err
	}
	if c.Lease.Type == "raft" {
		if err := n.openRaft(); err != nil {
			return err
		}
	} else {
		advertise := c.Lease.AdvertiseURL
		if c.Lease.IsCandidate() && advertise == "" {
			advertise = n.mount.URL()
		}
		n.mount.Leaser = litefs.NewStaticLeaser(c.Lease.IsCandidate(), c.Lease.Hostname, advertise)
	}
	if err := n.mount.Open(); err != nil {
		return err
	}
	if n.raft != nil {
		go n.joinLoop(n.ctx)
		go n.syncLoop(n.ctx)
	}
	n.logger.Info("waiting for the cluster", "api", n.apiURL)
	return n.mount.WaitReady(ctx)
}

func (n *node) serveAPI() error {
	c := n.cfg
	tokens, _ := c.Tablecast.tokens()
	tk, err := primary.NewTokens(tokens)
	if err != nil {
		return err
	}
	n.tokens = tk
	n.reader = replica.NewReader(c.FUSE.Dir, n.mount, &n.fence)
	n.reader.PoolSize = c.Tablecast.ReadPool
	n.reader.MaxAge = c.Tablecast.MaxAge
	if c.Tablecast.SQLTimeLimit > 0 {
		n.reader.SQLTimeLimit = c.Tablecast.SQLTimeLimit
	}
	if c.Tablecast.SQLMaxRows > 0 {
		n.reader.SQLMaxRows = c.Tablecast.SQLMaxRows
	}
	n.reader.Logger = n.logger
	n.reader.Tokens = tk // reads with a read-scope token see private tables
	n.reader.ETagKey = etagKey(c.Tablecast.ClusterToken)
	if n.reader.OnCatchUp, err = registerCatchUpMetric(prometheus.DefaultRegisterer); err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	n.reader.Cache = nil
	if c.Tablecast.CacheBytes > 0 {
		n.reader.Cache = replica.NewCache(c.Tablecast.CacheBytes)
		if err := registerCacheMetrics(prometheus.DefaultRegisterer, n.reader.Cache); err != nil {
			return fmt.Errorf("register metrics: %w", err)
		}
	}
	n.writer = primary.NewWriter(c.FUSE.Dir, n.mount, &n.fence, tk)
	n.writer.MaxBody = c.Tablecast.MaxBody
	n.writer.Logger = n.logger
	n.writer.CanCommit = n.canCommit
	n.writer.Space = n.spaceFloor()
	tk.Store = n.writer.Control() // tokens made through the admin API, in _tablecast.db
	if c.Lease.Type == "raft" {
		n.writer.Sync = n.syncToCandidate
	}
	router := routing.New(n, routing.Config{
		WriteMode: c.Tablecast.WriteMode, StaleMode: c.Tablecast.StaleReads,
		BookmarkWait: c.Tablecast.BookmarkWait, MaxLag: c.Tablecast.MaxLag,
		PrimaryWait: c.Tablecast.PrimaryWait, MaxBody: c.Tablecast.MaxBody,
		RevocationBound: c.Tablecast.RevocationBound,
	})
	router.Region, router.Name, router.Logger = c.Tablecast.Region, c.Tablecast.Name, n.logger
	router.Reads, router.Writes, router.Admin = n.reader, n.writer, n.adminHandler()
	// Metrics (metrics.go): requests counted around the router, routing's
	// decisions, the node's state read at scrape time.
	metrics := newNodeMetrics(n)
	if err := metrics.register(prometheus.DefaultRegisterer); err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	router.Metrics = metrics
	router.Transport = n.nodeTransport
	ln, err := net.Listen("tcp", c.Tablecast.Addr)
	if err != nil {
		return fmt.Errorf("listen api on %s: %w", c.Tablecast.Addr, err)
	}
	n.apiURL = c.Tablecast.AdvertiseURL
	if n.apiURL == "" {
		n.apiURL = listenerURL(ln)
	}
	n.api = apiServer(metrics.instrument(tablecast.CheckQuery(router)), &c.Tablecast)
	n.serveErr = make(chan error, 2)
	go func() {
		if err := n.api.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			n.serveErr <- err
		}
	}()
	return n.serveNode(n.api.Handler)
}

// serveMetrics serves /metrics without a token on a separate address, for
// scrapers that cannot send one (Fly.io's): it must be a private address.
func (n *node) serveMetrics(addr string) error {
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("tablecast.metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	n.extra = append(n.extra, srv)
	go func() { _ = srv.Serve(ln) }()
	return nil
}

// serveBench serves the read path with parts turned off, on a loopback
// address only, for the benchmarks that measure what each part costs:
// /ungated/… has no gate checks and no cache, /nocache/… the gate without
// the cache, /bare/… a fixed 200-byte JSON answer (net/http alone, in this
// process: the ceiling next to the real read path), and Go's profiles under
// /debug/pprof/.
func (n *node) serveBench(addr string) (string, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		return "", fmt.Errorf("-bench-addr: %q must be a loopback address like 127.0.0.1:0", addr)
	}
	mux := http.NewServeMux()
	for _, prefix := range []string{"/ungated", "/nocache"} {
		r := replica.NewReader(n.cfg.FUSE.Dir, n.mount, &n.fence)
		r.PoolSize = n.cfg.Tablecast.ReadPool
		r.Cache = nil
		r.Ungated = prefix == "/ungated"
		n.bench = append(n.bench, r)
		mux.Handle(prefix+"/", http.StripPrefix(prefix, r))
	}
	mux.Handle("/bare/", bareHandler(false))
	mux.Handle("/bare-headers/", bareHandler(true))
	mux.HandleFunc("/debug/pprof/", pprof.Index) // profiles of the node under load
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("listen bench: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	n.extra = append(n.extra, srv)
	go func() { _ = srv.Serve(ln) }()
	n.logger.Warn("benchmark listener serves reads with the gate or cache off", "url", listenerURL(ln))
	return listenerURL(ln), nil
}

// bareHandler answers every request with the same 200 bytes of JSON, as
// the benchmarks' bare net/http server does; withHeaders adds the headers a
// cached public read carries (fixed values), to tell what net/http's
// header handling costs from what the read path costs.
func bareHandler(withHeaders bool) http.Handler {
	head, tail := `{"ok":true,"rows":[{"id":1,"name":"`, `"}]}`
	body := []byte(head + strings.Repeat("x", 200-len(head)-len(tail)) + tail)
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		if withHeaders { // Content-Length: net/http's, as for a cached read
			h.Set(tablecast.HeaderRegion, "bench")
			h.Set(tablecast.HeaderNode, "bench-1")
			h.Set(routing.HeaderLag, "12")
			h.Set(tablecast.HeaderTXID, "00000000000000a1")
			h.Set("ETag", `"1z2y3x4w5v6u7"`)
		}
		_, _ = w.Write(body)
	})
}

// Close stops serving, closes every database handle, then LiteFS.
func (n *node) Close() error {
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
	if n.cancel != nil {
		n.cancel()
	}
	var first error
	if n.mount != nil {
		if err := n.mount.Close(); err != nil {
			n.logger.Error("close litefs", "err", err)
			first = err
		}
	}
	if n.leaser != nil {
		_ = n.leaser.Close()
	}
	if n.raft != nil {
		if err := n.raft.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Ready implements routing.Node: LiteFS is primary or connected to one.
func (n *node) Ready() bool {
	select {
	case <-n.mount.Ready():
		return true
	default:
		return false
	}
}

// IsPrimary implements routing.Node: LiteFS holds the lease and, with
// raft, the lease is not lost (LiteFS notices only at its next renewal).
func (n *node) IsPrimary() bool {
	return n.mount.IsPrimary() && n.canCommit() == nil
}

// canCommit refuses commits once the raft lease is lost.
func (n *node) canCommit() error {
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
func (n *node) PrimaryURL() string {
	switch {
	case n.IsPrimary():
		return n.apiURL
	case n.leaser != nil:
		return n.leaser.PrimaryAPIURL()
	default:
		return n.cfg.Tablecast.PrimaryURL
	}
}

// PrimaryNodeURL implements routing.Node: where writes are forwarded.
func (n *node) PrimaryNodeURL() string {
	switch {
	case n.IsPrimary():
		return n.nodeURL
	case n.leaser != nil:
		return n.leaser.PrimaryNodeURL()
	default:
		return n.cfg.Tablecast.PrimaryNodeURL
	}
}

// PrimaryName implements routing.Node.
func (n *node) PrimaryName() string {
	switch {
	case n.IsPrimary():
		return n.cfg.Tablecast.Name
	case n.raft != nil:
		return n.raft.LeaderID()
	default:
		return n.mount.PrimaryHostname()
	}
}

// Lag implements routing.Node.
func (n *node) Lag() time.Duration { return n.mount.Lag() }

// Silence implements routing.Silent: how long this node has gone without
// hearing from the primary, on its own clock, or by the primary's
// timestamps (Lag) when that says longer: frames held up on the way (a
// partition that heals) carry their old timestamps. Both are 0 while
// LiteFS holds the lease here (no lock taken: every replica read asks).
func (n *node) Silence() time.Duration {
	return max(n.mount.SinceHeard(), n.mount.Lag())
}

// StreamPaused implements routing.Paused: why this replica stopped taking
// the primary's stream ("disk full: …"), "" when it did not.
func (n *node) StreamPaused() string { return n.mount.StreamPaused() }

// TXID implements routing.Node.
func (n *node) TXID(db string) (tablecast.TXID, bool) { return n.mount.TXID(db) }

// WaitTXID implements routing.Node.
func (n *node) WaitTXID(ctx context.Context, db string, txid tablecast.TXID) error {
	return n.mount.WaitTXID(ctx, db, txid)
}

// adminHandler serves the node's own /-/ routes.
func (n *node) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /-/healthz", func(w http.ResponseWriter, r *http.Request) {
		tablecast.WriteJSON(w, http.StatusOK, map[string]any{"ok": true})
	})
	mux.HandleFunc("GET /-/readyz", func(w http.ResponseWriter, r *http.Request) {
		if reason := n.notReady(); reason != "" {
			w.Header().Set("Retry-After", "1")
			tablecast.WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"ok": false, "error": reason, "status": 503})
			return
		}
		tablecast.WriteJSON(w, http.StatusOK, map[string]any{"ok": true})
	})
	mux.HandleFunc("GET /-/status.json", func(w http.ResponseWriter, r *http.Request) {
		_, err := n.tokens.Authorize(r, primary.ScopeAdmin)
		tablecast.WriteJSON(w, http.StatusOK, n.status(err == nil))
	})
	n.clusterRoutes(mux)
	n.adminRoutes(mux)
	// Series carry database names (ours and LiteFS's), private ones too:
	// Prometheus scrapes with a token (authorization.credentials).
	mux.HandleFunc("GET /metrics", n.authed(promhttp.Handler().ServeHTTP))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		tablecast.WriteError(w, r, n.logger, tablecast.Errorf(tablecast.ENOTFOUND, "Not found"))
	})
	return mux
}

// notReady says why the node should get no traffic, "" when it should.
func (n *node) notReady() string {
	switch {
	case !n.Ready():
		return "catching up with the cluster"
	case n.PrimaryURL() == "":
		return "no primary known"
	case n.StreamPaused() != "":
		// At once, not after revocation-bound: it will not catch up
		// before space is freed; reads go on until the bound.
		return n.StreamPaused()
	case routing.RevocationReason(n.Silence(), n.cfg.Tablecast.RevocationBound) != "":
		return routing.WithPause(n, routing.RevocationReason(n.Silence(), n.cfg.Tablecast.RevocationBound))
	case n.cfg.Tablecast.MaxLag > 0 && n.Lag() > n.cfg.Tablecast.MaxLag:
		return fmt.Sprintf("lagging %s behind the primary (max-lag %s)", n.Lag().Round(time.Millisecond), n.cfg.Tablecast.MaxLag)
	}
	return ""
}

// status describes this node. Database names and TXIDs only with a token:
// a database with no public table is nobody else's business.
func (n *node) status(full bool) map[string]any {
	role := "replica"
	if n.IsPrimary() {
		role = "primary"
	}
	txids, positions := map[string]string{}, map[string]string{}
	for _, db := range n.mount.Databases() {
		if p, ok := n.mount.Pos(db); ok && full {
			txids[db], positions[db] = p.TXID.String(), p.String()
		}
	}
	st := map[string]any{
		"ok": true, "node": n.cfg.Tablecast.Name, "region": n.cfg.Tablecast.Region, "role": role,
		"primary_url": n.PrimaryURL(), "primary": n.PrimaryName(), "lag_ms": n.mount.Lag().Milliseconds(),
		"txids": txids, "ready": n.notReady() == "", "not_ready": n.notReady(),
	}
	if full {
		st["positions"] = positions // TXID/checksum
	}
	if n.raft != nil {
		stats := n.raft.Stats()
		st["raft_state"], st["raft_term"], st["last_contact"] = stats["state"], stats["term"], stats["last_contact"]
	}
	return st
}

func listenerURL(ln net.Listener) string {
	addr := ln.Addr().(*net.TCPAddr)
	host := "127.0.0.1"
	if !addr.IP.IsUnspecified() {
		host = addr.IP.String()
	}
	return "http://" + net.JoinHostPort(host, fmt.Sprint(addr.Port))
}

func writeAddrFile(path string, a AddrFile) error {
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write addr file: %w", err)
	}
	if err := os.Rename(tmp, filepath.Clean(path)); err != nil {
		return fmt.Errorf("write addr file: %w", err)
	}
	return nil
}
