package node

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/replica"
	"github.com/tablecast/tablecast/routing"
)

// openRegistry makes the node's own registry, with the Go runtime's and
// the process's collectors the default registry has, and the handler of
// /metrics: the node's series, then LiteFS's. LiteFS registers its own on
// the default registry, once per process: nodes in one process share them.
func (n *Node) openRegistry() error {
	n.registry = prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := n.registry.Register(c); err != nil {
			return fmt.Errorf("register metrics: %w", err)
		}
	}
	gather := prometheus.Gatherers{n.registry, litefsMetrics}
	n.metrics = promhttp.InstrumentMetricHandler(n.registry, promhttp.HandlerFor(gather, promhttp.HandlerOpts{}))
	return nil
}

// litefsMetrics are LiteFS's series (litefs_…) of the default registry.
var litefsMetrics = prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
	all, err := prometheus.DefaultGatherer.Gather()
	out := all[:0]
	for _, f := range all {
		if strings.HasPrefix(f.GetName(), "litefs_") {
			out = append(out, f)
		}
	}
	return out, err
})

// registerCacheMetrics exposes the response cache's counters.
func registerCacheMetrics(reg prometheus.Registerer, c *replica.Cache) error {
	stat := func(f func(replica.CacheStats) float64) func() float64 {
		return func() float64 { return f(c.Stats()) }
	}
	for _, col := range []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tablecast_cache_hits_total", Help: "Public reads answered from the response cache."},
			stat(func(s replica.CacheStats) float64 { return float64(s.Hits) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tablecast_cache_misses_total", Help: "Public reads not found in the response cache."},
			stat(func(s replica.CacheStats) float64 { return float64(s.Misses) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tablecast_cache_evictions_total", Help: "Responses evicted to stay within the cache's byte budget."},
			stat(func(s replica.CacheStats) float64 { return float64(s.Evictions) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tablecast_cache_bytes", Help: "Bytes held by the response cache."},
			stat(func(s replica.CacheStats) float64 { return float64(s.Bytes) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tablecast_cache_entries", Help: "Responses held by the response cache."},
			stat(func(s replica.CacheStats) float64 { return float64(s.Entries) })),
	} {
		if err := reg.Register(col); err != nil {
			return err
		}
	}
	return nil
}

// registerCatchUpMetric exposes how long reads waited for their database
// to catch up after its TXID moved, and returns the observer to give the
// reader.
func registerCatchUpMetric(reg prometheus.Registerer) (func(time.Duration), error) {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "tablecast_read_catchup_seconds",
		Help:    "Time to load a database's table versions (and gate, if it moved) after its TXID moved: the public reads of that database arriving meanwhile wait for it, cached or not.",
		Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1},
	})
	if err := reg.Register(h); err != nil {
		return nil, err
	}
	return func(d time.Duration) { h.Observe(d.Seconds()) }, nil
}

// requestBuckets span a cached read (~20 µs) to a forwarded write across
// the world or a bookmark wait (seconds).
var requestBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// nodeMetrics are the node's own metrics: HTTP requests (as middleware
// around the router), routing's decisions (routing.Metrics), and the
// node's state read at scrape time (nodeCollector). Labels are bounded:
// route kinds, status codes, the node's one region, write modes, outcomes,
// and database names (which the operator creates, never visitors).
type nodeMetrics struct {
	region string

	requests        *prometheus.CounterVec
	duration        *prometheus.HistogramVec
	notFound        *prometheus.CounterVec
	forwardedWrites *prometheus.CounterVec
	proxyErrors     *prometheus.CounterVec
	bookmarkWaits   *prometheus.CounterVec
	bookmarkWait    prometheus.Histogram
	staleReads      *prometheus.CounterVec
	state           *nodeCollector

	// The children of requests and duration used on every request, looked
	// up once (WithLabelValues hashes its labels on every call).
	byKind map[string]*kindMetrics // by route kind; filled at start, then only read
}

// kindMetrics are the children of one route kind: its duration, and its
// request counter for each status code, made on first use.
type kindMetrics struct {
	duration prometheus.Observer
	byStatus [600]atomic.Pointer[prometheus.Counter]
}

// countRequest counts one answer.
func (m *nodeMetrics) countRequest(kind string, status int) {
	k := m.byKind[kind]
	if k == nil || status < 100 || status >= len(k.byStatus) {
		m.requests.WithLabelValues(kind, strconv.Itoa(status), m.region).Inc()
		return
	}
	c := k.byStatus[status].Load()
	if c == nil {
		child := m.requests.WithLabelValues(kind, strconv.Itoa(status), m.region)
		c = &child
		k.byStatus[status].Store(c) // another request may store the same child
	}
	(*c).Inc()
}

// observeDuration times one answer.
func (m *nodeMetrics) observeDuration(kind string, d time.Duration) {
	if k := m.byKind[kind]; k != nil {
		k.duration.Observe(d.Seconds())
		return
	}
	m.duration.WithLabelValues(kind, m.region).Observe(d.Seconds())
}

var _ routing.Metrics = (*nodeMetrics)(nil)

func newNodeMetrics(n *Node) *nodeMetrics {
	region := n.opts.Region
	m := &nodeMetrics{
		region: region,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tablecast_http_requests_total",
			Help: "HTTP requests answered by this node, by route kind (root, database, table, row, write, admin, other: the path's shape, never the path), status code and region.",
		}, []string{"route", "status", "region"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tablecast_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route kind and region; forwarded requests include the trip to the primary.",
			Buckets: requestBuckets,
		}, []string{"route", "region"}),
		notFound: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tablecast_public_not_found_total",
			Help: "404 answers to table and row reads, by route kind and region. Private and missing tables are deliberately indistinguishable, so this counts both: gate refusals and typos alike.",
		}, []string{"route", "region"}),
		forwardedWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tablecast_forwarded_writes_total",
			Help: "Writes this node received while not the primary and sent on, by write mode (proxy, redirect, fly-replay).",
		}, []string{"mode"}),
		proxyErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tablecast_proxy_errors_total",
			Help: "Requests proxied to the primary that failed, by reason: unreachable (nothing written), lost (the write may have been applied), too_large (body over max-body).",
		}, []string{"reason"}),
		bookmarkWaits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tablecast_bookmark_waits_total",
			Help: "Reads that waited for their TXID bookmark on this node, by how they ended: served (here, after the wait), primary (sent to the primary), refused (504).",
		}, []string{"outcome"}),
		bookmarkWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tablecast_bookmark_wait_seconds",
			Help:    "How long reads waited for their TXID bookmark on this node.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5},
		}),
		staleReads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tablecast_stale_reads_total",
			Help: "Reads this node could not serve fresh enough, by cause (bookmark: the bookmarked TXID did not arrive in time; lag: lagging more than max-lag; revocation: not heard from the primary for revocation-bound, always refused with 503) and outcome (primary: sent to the primary; refused: 504, or 503 for revocation).",
		}, []string{"cause", "outcome"}),
		state: &nodeCollector{n: n},
	}
	// Every series that can be known in advance starts at 0, so that
	// rate() and dashboards see it before the first event.
	m.byKind = map[string]*kindMetrics{}
	for _, kind := range tablecast.RouteLabels {
		m.byKind[kind] = &kindMetrics{duration: m.duration.WithLabelValues(kind, region)}
	}
	for _, kind := range []string{tablecast.RouteTable, tablecast.RouteRow} {
		m.notFound.WithLabelValues(kind, region)
	}
	for _, mode := range []string{routing.WriteProxy, routing.WriteRedirect, routing.WriteFlyReplay} {
		m.forwardedWrites.WithLabelValues(mode)
	}
	for _, reason := range []string{routing.ProxyUnreachable, routing.ProxyLost, routing.ProxyTooLarge} {
		m.proxyErrors.WithLabelValues(reason)
	}
	for _, outcome := range []string{routing.OutcomeServed, routing.OutcomePrimary, routing.OutcomeRefused} {
		m.bookmarkWaits.WithLabelValues(outcome)
	}
	for _, cause := range []string{routing.CauseBookmark, routing.CauseLag, routing.CauseRevocation} {
		for _, outcome := range []string{routing.OutcomePrimary, routing.OutcomeRefused} {
			m.staleReads.WithLabelValues(cause, outcome)
		}
	}
	return m
}

func (m *nodeMetrics) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.notFound, m.forwardedWrites,
		m.proxyErrors, m.bookmarkWaits, m.bookmarkWait, m.staleReads, m.state} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// WriteForwarded implements routing.Metrics.
func (m *nodeMetrics) WriteForwarded(mode string) { m.forwardedWrites.WithLabelValues(mode).Inc() }

// ProxyError implements routing.Metrics.
func (m *nodeMetrics) ProxyError(reason string) { m.proxyErrors.WithLabelValues(reason).Inc() }

// BookmarkWait implements routing.Metrics.
func (m *nodeMetrics) BookmarkWait(waited time.Duration, outcome string) {
	m.bookmarkWaits.WithLabelValues(outcome).Inc()
	m.bookmarkWait.Observe(waited.Seconds())
}

// StaleRead implements routing.Metrics.
func (m *nodeMetrics) StaleRead(cause, outcome string) {
	m.staleReads.WithLabelValues(cause, outcome).Inc()
}

// instrument counts and times every request next answers.
func (m *nodeMetrics) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Since(metricsEpoch) // the monotonic clock alone: one clock read, not two
		route, _ := tablecast.ParseRoute(r.URL.EscapedPath())
		kind := route.Label()
		sw := statusWriters.Get().(*statusWriter)
		*sw = statusWriter{ResponseWriter: w}
		// Deferred: a proxied answer cut midway ends in a panic
		// (http.ErrAbortHandler) and must still count.
		defer func() {
			status, wrote := sw.status, sw.status != 0
			*sw = statusWriter{} // nothing of this request stays reachable
			statusWriters.Put(sw)
			if status == 0 {
				status = http.StatusOK
			}
			if r.Context().Err() != nil && (!wrote || status >= 500) {
				// The client went away first (a sync write's other /-/wait
				// calls, once one candidate confirmed): its 504 or 503 was
				// never read, and says nothing about this node's health.
				status = StatusClientClosed
			}
			m.countRequest(kind, status)
			m.observeDuration(kind, time.Since(metricsEpoch)-start)
			if status == http.StatusNotFound && (kind == tablecast.RouteTable || kind == tablecast.RouteRow) {
				m.notFound.WithLabelValues(kind, m.region).Inc()
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

// StatusClientClosed labels requests whose client closed the connection
// (or cancelled) before the answer: nginx's 499, never sent to anyone.
const StatusClientClosed = 499

// metricsEpoch is what request times are read against: time.Since reads
// only the monotonic clock, where time.Now reads the wall clock too.
var metricsEpoch = time.Now()

// statusWriters are reused: one per request would be garbage on the
// hottest path. A handler never keeps its ResponseWriter past its return.
var statusWriters = sync.Pool{New: func() any { return new(statusWriter) }}

// statusWriter remembers the status code of an answer.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush keeps streamed answers streaming (http.Flusher).
func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// nodeCollector reads the node's state at scrape time: role, readiness,
// lag, each database's TXID and last commit time, and raft's view.
type nodeCollector struct {
	n *Node
}

var (
	descInfo = prometheus.NewDesc("tablecast_node_info",
		"Always 1; labels name this node and its region (join on instance to label other series).", []string{"name", "region"}, nil)
	descReady = prometheus.NewDesc("tablecast_ready",
		"1 once this node is primary or connected to the primary (LiteFS ready), else 0.", nil, nil)
	descPrimary = prometheus.NewDesc("tablecast_is_primary",
		"1 when this node is the primary (holds the LiteFS lease and can commit), else 0.", nil, nil)
	descLag = prometheus.NewDesc("tablecast_replication_lag_seconds",
		"Bound on how stale this node's data may be: time since the primary last sent a transaction or heartbeat (0 on the primary; heartbeats every second, so up to ~1 s when idle). One stream carries every database.", nil, nil)
	descTXID = prometheus.NewDesc("tablecast_db_txid",
		"The LiteFS TXID this node has applied, per database. max by (db) minus this is transactions behind.", []string{"db"}, nil)
	descCommitTime = prometheus.NewDesc("tablecast_db_commit_timestamp_seconds",
		"Unix time at which the primary committed the last transaction this node has applied, per database. max by (db) minus this is how far behind this node is, per database.", []string{"db"}, nil)
	descRaftState = prometheus.NewDesc("tablecast_raft_state",
		"1 for this node's current raft state (follower, candidate, leader, shutdown), 0 for the others. Absent with a static lease.", []string{"state"}, nil)
	descRaftTerm = prometheus.NewDesc("tablecast_raft_term",
		"The raft term this node is in: it rises at every election.", nil, nil)
	descRaftContact = prometheus.NewDesc("tablecast_raft_last_contact_seconds",
		"Time since this node last heard from the raft leader (0 on the leader; absent until first contact).", nil, nil)
)

var raftStates = []string{"follower", "candidate", "leader", "shutdown"}

// Describe implements prometheus.Collector.
func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descInfo, descReady, descPrimary, descLag, descTXID, descCommitTime, descRaftState, descRaftTerm, descRaftContact} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.n
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(descInfo, 1, n.opts.Name, n.opts.Region)
	for _, db := range n.mount.Databases() {
		if txid, ok := n.mount.TXID(db); ok {
			gauge(descTXID, float64(txid), db)
		}
		if d := n.mount.Store.DB(tablecast.DBFileName(db)); d != nil {
			if ts := d.Timestamp(); ts.UnixMilli() > 0 {
				gauge(descCommitTime, float64(ts.UnixMilli())/1000, db)
			}
		}
	}
	// The node's role and raft are set up while it starts; Ready (a closed
	// channel) orders their reads after that.
	ready := n.Ready()
	primary := ready && n.IsPrimary()
	gauge(descReady, b2f(ready))
	gauge(descPrimary, b2f(primary))
	lag := 0.0
	if ready && !primary {
		lag = n.Lag().Seconds()
	}
	gauge(descLag, lag)
	if !ready || n.raft == nil {
		return
	}
	stats := n.raft.Stats()
	state := stats["state"]
	for _, s := range raftStates {
		gauge(descRaftState, b2f(strings.EqualFold(state, s)), s)
	}
	if term, err := strconv.ParseUint(stats["term"], 10, 64); err == nil {
		gauge(descRaftTerm, float64(term))
	}
	switch contact := stats["last_contact"]; {
	case strings.EqualFold(state, "leader"):
		gauge(descRaftContact, 0)
	case contact == "0":
		gauge(descRaftContact, 0)
	default:
		if d, err := time.ParseDuration(contact); err == nil {
			gauge(descRaftContact, d.Seconds())
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
