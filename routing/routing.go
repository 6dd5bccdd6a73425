// Package routing decides, per request, where it is served: here, on the
// primary (forwarded, redirected or replayed), after waiting for a TXID, or
// not at all. It never serves a read staler than the client asked for.
package routing

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tablecast/tablecast"
)

// Node is what routing needs to know of this node and its cluster.
type Node interface {
	// Ready reports whether the node has joined its cluster and caught up.
	Ready() bool
	IsPrimary() bool
	// PrimaryURL is the current primary's API URL, "" when unknown:
	// clients are redirected there.
	PrimaryURL() string
	// PrimaryNodeURL is the current primary's node API URL (mutual TLS
	// between nodes), "" when unknown: requests are forwarded there.
	PrimaryNodeURL() string
	// PrimaryName is the current primary's node name, "" when unknown.
	PrimaryName() string
	// Lag bounds how stale this replica's data may be (0 on the primary).
	Lag() time.Duration
	TXID(db string) (tablecast.TXID, bool)
	// WaitTXID waits until db has applied txid, or ctx ends.
	WaitTXID(ctx context.Context, db string, txid tablecast.TXID) error
}

// Silent is a Node that knows how long it has gone without hearing from
// the primary (no transaction, no heartbeat): 0 on the primary. With
// Config.RevocationBound, a node silent for longer serves no public read.
// A Node without this method is never silent.
type Silent interface {
	Silence() time.Duration
}

// Paused is a Silent Node that may know why it is silent: it stopped
// taking the primary's stream itself ("disk full: …"); "" when it did not.
// The reason is added to the revocation refusal.
type Paused interface {
	StreamPaused() string
}

// Visibility is a Reads handler that knows whether a request may see a
// database at all (for an anonymous visitor: it has a public table or
// public SQL at the TXID this node has applied). A database a request may
// not see is treated as one that does not exist: its TXID is never
// compared with a bookmark nor told. Without it every database is visible.
type Visibility interface {
	Visible(r *http.Request, db string) bool
}

// Write modes of a replica.
const (
	WriteProxy     = "proxy"      // forward to the primary (default)
	WriteRedirect  = "redirect"   // 307 to the primary's URL
	WriteFlyReplay = "fly-replay" // Fly.io's proxy replays it on the primary
)

// What a replica does with a read it cannot serve fresh enough.
const (
	StalePrimary = "primary" // read it on the primary (default)
	StaleRefuse  = "refuse"  // 504
)

// Config tunes the router. Zero values take the defaults below.
type Config struct {
	WriteMode    string
	StaleMode    string
	BookmarkWait time.Duration // longest wait for a bookmarked TXID
	MaxLag       time.Duration // default staleness bound; 0: none
	PrimaryWait  time.Duration // longest wait for a primary to be known
	MaxBody      int64         // largest forwarded write body
	MaxImport    int64         // largest forwarded import (streamed, forward_import.go)
	// RevocationBound: a replica that has not heard from the primary for
	// longer answers public reads 503 (0: no bound). It bounds how long an
	// unpublish can take to reach a node that still serves.
	RevocationBound time.Duration
}

// MinMaxLag is the smallest _max_lag a request may ask for: below it, the
// bound would refuse reads on a healthy replica between heartbeats and
// transactions for no gain.
const MinMaxLag = 100 * time.Millisecond

// RevocationReason is why a node silent for silence stops serving public
// reads under bound, "" when it may serve.
func RevocationReason(silence, bound time.Duration) string {
	if bound <= 0 || silence <= bound {
		return ""
	}
	return fmt.Sprintf("this node has not heard from the primary for %s (revocation-bound %s): it serves no public reads until it does",
		silence.Round(time.Millisecond), bound)
}

// Defaults.
const (
	DefaultBookmarkWait = 2 * time.Second
	DefaultPrimaryWait  = 5 * time.Second
	DefaultMaxBody      = 1 << 20
	DefaultMaxImport    = 4 << 30
)

// Router is the HTTP entry point of a node.
type Router struct {
	Node   Node
	Config Config
	Region string
	Name   string
	Reads  http.Handler
	Writes http.Handler
	Admin  http.Handler // the node's /-/ routes and /metrics
	Logger *slog.Logger
	// Metrics counts forwarded writes, proxy errors, bookmark waits and
	// stale reads; nil counts nothing.
	Metrics Metrics
	// Transport carries forwarded requests to the primary's node API: it
	// must present this node's certificate and verify the primary's
	// (mutual TLS). Nil is a plain HTTP transport (insecure-plaintext).
	Transport http.RoundTripper

	proxy *forwarder

	headersOnce              sync.Once
	regionHeader, nodeHeader []string
	lastLag                  atomic.Pointer[lagValue]
}

var nosniff = []string{"nosniff"}

// lagValue is a Tablecast-Lag-Ms value.
type lagValue struct {
	ms     int64
	header []string
}

// lagHeader formats lag for Tablecast-Lag-Ms, reusing the last value while
// the millisecond count stays the same.
func (rt *Router) lagHeader(lag time.Duration) []string {
	ms := lag.Milliseconds()
	if v := rt.lastLag.Load(); v != nil && v.ms == ms {
		return v.header
	}
	v := &lagValue{ms: ms, header: []string{strconv.FormatInt(ms, 10)}}
	rt.lastLag.Store(v)
	return v.header
}

// Response headers.
const (
	HeaderLag       = "Tablecast-Lag-Ms"
	HeaderForwarded = "Tablecast-Forwarded-By"
	HeaderServedBy  = "Tablecast-Served-By"
	HeaderVia       = "Tablecast-Via"  // the node that forwarded the request
	HeaderTXIDIn    = "Tablecast-Txid" // also accepted on requests: a bookmark
)

// New returns a router with defaults filled in.
func New(node Node, cfg Config) *Router {
	if cfg.WriteMode == "" {
		cfg.WriteMode = WriteProxy
	}
	if cfg.StaleMode == "" {
		cfg.StaleMode = StalePrimary
	}
	if cfg.BookmarkWait == 0 {
		cfg.BookmarkWait = DefaultBookmarkWait
	}
	if cfg.PrimaryWait == 0 {
		cfg.PrimaryWait = DefaultPrimaryWait
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.MaxImport == 0 {
		cfg.MaxImport = DefaultMaxImport
	}
	rt := &Router{Node: node, Config: cfg, Logger: slog.Default()}
	rt.proxy = newForwarder(rt)
	return rt
}

func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	rt.headersOnce.Do(func() {
		rt.regionHeader, rt.nodeHeader = []string{rt.Region}, []string{rt.Name}
	})
	// Canonical keys and shared values (len == cap, so an Add copies):
	// no allocation for the headers every answer carries.
	h[tablecast.HeaderRegion] = rt.regionHeader
	h[tablecast.HeaderNode] = rt.nodeHeader
	h["X-Content-Type-Options"] = nosniff // errors of the router's own too
	primary := rt.Node.IsPrimary()
	if !primary {
		h[HeaderLag] = rt.lagHeader(rt.Node.Lag())
	}
	route, _ := tablecast.ParseRoute(r.URL.EscapedPath())
	switch {
	case (route.Kind == tablecast.KindAdmin || route.Kind == tablecast.KindMetrics) && rt.Admin != nil:
		rt.Admin.ServeHTTP(w, r)
	case !rt.Node.Ready():
		h.Set("Retry-After", "1")
		rt.fail(w, r, tablecast.Errorf(tablecast.EUNAVAILABLE, "This node is still catching up with its cluster: try again shortly"))
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		if !primary {
			if reason := rt.revoked(); reason != "" {
				h.Set("Retry-After", "1")
				rt.metrics().StaleRead(CauseRevocation, OutcomeRefused)
				rt.fail(w, r, tablecast.Errorf(tablecast.EUNAVAILABLE, "Not served: %s", reason))
				return
			}
		}
		rt.read(w, r, routeDB(route))
	case r.Method == http.MethodOptions:
		h.Set("Allow", "GET, HEAD, POST, OPTIONS")
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodPost:
		rt.write(w, r, route)
	default:
		h.Set("Allow", "GET, HEAD, POST, OPTIONS")
		rt.fail(w, r, tablecast.Errorf(tablecast.EMETHOD, "Method %s not allowed", r.Method))
	}
}

// revoked says why this replica may not serve public reads now: it has
// been silent (see Silent) for longer than Config.RevocationBound.
func (rt *Router) revoked() string {
	sn, ok := rt.Node.(Silent)
	if !ok || rt.Config.RevocationBound <= 0 {
		return ""
	}
	return WithPause(rt.Node, RevocationReason(sn.Silence(), rt.Config.RevocationBound))
}

// WithPause adds to a revocation reason why node (a Paused) stopped
// taking the primary's stream, if it did.
func WithPause(node any, reason string) string {
	if reason == "" {
		return ""
	}
	if p, ok := node.(Paused); ok {
		if why := p.StreamPaused(); why != "" {
			return reason + "; " + why
		}
	}
	return reason
}

func (rt *Router) fail(w http.ResponseWriter, r *http.Request, err error) {
	tablecast.WriteError(w, r, rt.Logger, err)
}

// write serves a write on the primary, or sends it there.
func (rt *Router) write(w http.ResponseWriter, r *http.Request, route tablecast.Route) {
	if rt.Node.IsPrimary() {
		rt.Writes.ServeHTTP(&bookmarkWriter{ResponseWriter: w, req: r}, r)
		return
	}
	if r.Header.Get(HeaderForwarded) != "" {
		// Forwarded to us as the primary, and we are not (any more).
		w.Header().Set("Retry-After", "1")
		rt.fail(w, r, tablecast.Errorf(tablecast.EUNAVAILABLE, "The primary moved while the write was forwarded: nothing was written, retry"))
		return
	}
	if rt.Config.WriteMode == WriteFlyReplay {
		rt.flyReplay(w, r)
		return
	}
	target := rt.Node.PrimaryNodeURL
	if rt.Config.WriteMode == WriteRedirect {
		target = rt.Node.PrimaryURL // the client goes there: the public API
	}
	primary, err := rt.waitPrimary(r.Context(), target)
	if err != nil {
		w.Header().Set("Retry-After", "1")
		rt.fail(w, r, err)
		return
	}
	rt.metrics().WriteForwarded(rt.Config.WriteMode)
	if rt.Config.WriteMode == WriteRedirect {
		// 307 keeps the method and body: the client resends the write there.
		http.Redirect(w, r, primary+r.URL.RequestURI(), http.StatusTemporaryRedirect)
		return
	}
	if route.Kind == tablecast.KindWrite && route.Action == tablecast.ActionImport {
		rt.proxy.forwardImport(w, r, primary) // streamed, not buffered
		return
	}
	rt.proxy.forward(w, r, primary)
}

// flyReplay asks Fly.io's proxy to replay the request on the primary.
func (rt *Router) flyReplay(w http.ResponseWriter, r *http.Request) {
	name := rt.Node.PrimaryName()
	if name == "" {
		w.Header().Set("Retry-After", "1")
		rt.fail(w, r, errNoPrimary)
		return
	}
	rt.metrics().WriteForwarded(WriteFlyReplay)
	w.Header().Set("fly-replay", "instance="+name)
	w.WriteHeader(http.StatusConflict)
}

var errNoPrimary = tablecast.Errorf(tablecast.EUNAVAILABLE, "No primary is known: nothing was written, try again shortly")

// waitPrimary waits, bounded, for a primary to be known: for url (one of
// the Node's PrimaryURL or PrimaryNodeURL) to say where it is.
func (rt *Router) waitPrimary(ctx context.Context, url func() string) (string, error) {
	deadline := time.Now().Add(rt.Config.PrimaryWait)
	for {
		if u := url(); u != "" {
			return strings.TrimSuffix(u, "/"), nil
		}
		if time.Now().After(deadline) {
			return "", errNoPrimary
		}
		select {
		case <-ctx.Done():
			return "", errNoPrimary
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// read serves a read here once this node is fresh enough for it: it has
// applied the request's bookmark (waiting a bounded time) and lags less
// than the request's bound (for db, the database its path names, "" for
// none). Otherwise the primary serves it, or 504.
func (rt *Router) read(w http.ResponseWriter, r *http.Request, db string) {
	want, err := bookmark(r, db)
	if err != nil {
		rt.fail(w, r, err)
		return
	}
	maxLag, err := rt.maxLag(r)
	if err != nil {
		rt.fail(w, r, err)
		return
	}
	f := rt.freshEnough(r, db, want, maxLag)
	outcome := OutcomeServed
	if f.reason == "" {
		rt.Reads.ServeHTTP(w, r)
	} else {
		outcome = rt.stale(w, r, f.reason)
		rt.metrics().StaleRead(f.cause, outcome)
	}
	if f.waited {
		rt.metrics().BookmarkWait(f.wait, outcome)
	}
}

// freshness is what freshEnough found.
type freshness struct {
	reason string        // "" when this node may serve, else why not
	cause  string        // CauseBookmark or CauseLag, with a reason
	waited bool          // the read waited for its bookmark
	wait   time.Duration // for how long
}

// freshEnough checks the request's bookmark (waiting for it, bounded) and
// lag bound against this node. A database the request may not see (see
// Visibility) is waited for as a missing one is, until it is visible at
// the bookmark, and its TXID is never told: a private database and one
// that does not exist answer alike, after the same wait.
func (rt *Router) freshEnough(r *http.Request, db string, want tablecast.TXID, maxLag time.Duration) freshness {
	var f freshness
	if want > 0 && db != "" {
		have, _ := rt.Node.TXID(db)
		if have < want || !rt.visible(r, db) {
			start := time.Now()
			wctx, cancel := context.WithTimeout(r.Context(), rt.Config.BookmarkWait)
			err := rt.waitVisible(wctx, r, db, want)
			cancel()
			f.waited, f.wait = true, time.Since(start)
			if err != nil {
				f.cause = CauseBookmark
				if have, _ = rt.Node.TXID(db); rt.visible(r, db) {
					f.reason = fmt.Sprintf("this node has applied TXID %s of %s, not %s, after waiting %s", have, db, want, rt.Config.BookmarkWait)
				} else {
					f.reason = fmt.Sprintf("this node has not applied TXID %s of %s after waiting %s", want, db, rt.Config.BookmarkWait)
				}
				return f
			}
		}
	}
	if maxLag > 0 && !rt.Node.IsPrimary() {
		if lag := rt.Node.Lag(); lag > maxLag {
			f.reason = fmt.Sprintf("this replica lags %s, more than the %s allowed", lag.Round(time.Millisecond), maxLag)
			f.cause = CauseLag
		}
	}
	return f
}

// visible reports whether the request may see db (see Visibility).
func (rt *Router) visible(r *http.Request, db string) bool {
	v, ok := rt.Reads.(Visibility)
	return !ok || v.Visible(r, db)
}

// waitVisible waits until db has applied want and the request may see it,
// or ctx ends.
func (rt *Router) waitVisible(ctx context.Context, r *http.Request, db string, want tablecast.TXID) error {
	for {
		have, _ := rt.Node.TXID(db)
		if have >= want && rt.visible(r, db) {
			return nil
		}
		if err := rt.Node.WaitTXID(ctx, db, max(want, have+1)); err != nil {
			return err
		}
	}
}

// stale handles a read this node cannot serve fresh enough, and says how:
// OutcomePrimary or OutcomeRefused.
func (rt *Router) stale(w http.ResponseWriter, r *http.Request, reason string) string {
	if rt.Config.StaleMode == StalePrimary && !rt.Node.IsPrimary() && tablecast.HeaderValue(r.Header, HeaderForwarded) == "" {
		if primary, err := rt.waitPrimary(r.Context(), rt.Node.PrimaryNodeURL); err == nil {
			rt.proxy.forward(w, r, primary)
			return OutcomePrimary
		}
	}
	rt.fail(w, r, tablecast.Errorf(tablecast.ETIMEOUT, "Not served: %s", reason))
	return OutcomeRefused
}

func (rt *Router) maxLag(r *http.Request) (time.Duration, error) {
	v := queryValue(r, "_max_lag")
	if v == "" {
		return rt.Config.MaxLag, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < MinMaxLag {
		return 0, tablecast.Errorf(tablecast.EINVALID, "_max_lag must be a duration of at least %s, like 500ms, got %q", MinMaxLag, v)
	}
	return d, nil
}

// routeDB is the database a route names, "" for none (or a name no
// database can have).
func routeDB(route tablecast.Route) string {
	if tablecast.ValidateDBName(route.DB) != nil {
		return ""
	}
	return route.DB
}
