package routing

import (
	"strings"
	"time"
)

// Metrics receives what routing decides, for counting (Prometheus in
// cmd/tablecast). Router.Metrics nil counts nothing. Methods are called on
// the request's goroutine and must be quick and safe for concurrent use.
type Metrics interface {
	// WriteForwarded: a write reached a node that is not the primary and
	// was sent on, by write mode (WriteProxy, WriteRedirect, WriteFlyReplay).
	WriteForwarded(mode string)
	// ProxyError: a request this node proxied to the primary failed
	// (ProxyUnreachable, ProxyLost, ProxyTooLarge).
	ProxyError(reason string)
	// BookmarkWait: a read whose bookmark this node had not applied yet
	// waited for it; how long, and how the read ended (OutcomeServed,
	// OutcomePrimary, OutcomeRefused).
	BookmarkWait(waited time.Duration, outcome string)
	// StaleRead: a read this node could not serve fresh enough, by cause
	// (CauseBookmark, CauseLag, CauseRevocation) and outcome (OutcomePrimary, OutcomeRefused).
	StaleRead(cause, outcome string)
}

// How a read that could not be served at once ended.
const (
	OutcomeServed  = "served"  // served here (after waiting)
	OutcomePrimary = "primary" // sent to the primary
	OutcomeRefused = "refused" // 504: not served fresh enough anywhere
)

// Why a read was not fresh enough here.
const (
	CauseBookmark = "bookmark" // the bookmarked TXID did not arrive in time
	CauseLag      = "lag"      // the replica lagged more than _max_lag / max-lag
	// CauseRevocation: the replica had not heard from the primary for
	// longer than revocation-bound (refused with 503, never forwarded).
	CauseRevocation = "revocation"
)

// Why a proxied request failed.
const (
	ProxyUnreachable = "unreachable" // no connection: nothing was written
	ProxyLost        = "lost"        // lost midway: the write may have been applied
	ProxyTooLarge    = "too_large"   // the body was over max-body
)

type nopMetrics struct{}

func (nopMetrics) WriteForwarded(string)              {}
func (nopMetrics) ProxyError(string)                  {}
func (nopMetrics) BookmarkWait(time.Duration, string) {}
func (nopMetrics) StaleRead(string, string)           {}

func (rt *Router) metrics() Metrics {
	if rt.Metrics == nil {
		return nopMetrics{}
	}
	return rt.Metrics
}

// Route kinds: the shape of a request's path, a bounded label for metrics
// (never the raw path: database and table names are unbounded, and may be
// private).
const (
	RouteRoot     = "root"     // /, /.json
	RouteDatabase = "database" // /{db}.json
	RouteTable    = "table"    // /{db}/{table}.json
	RouteRow      = "row"      // /{db}/{table}/{pk}.json
	RouteQuery    = "query"    // /{db}/-/query.json, .csv, HTML: public SQL, a read
	RouteWrite    = "write"    // /{db}/-/create, /{db}/{table}/-/insert, …
	RouteAdmin    = "admin"    // /-/…, /metrics
	RouteOther    = "other"    // anything else
)

// RouteKinds lists every value RouteKind returns.
var RouteKinds = []string{RouteRoot, RouteDatabase, RouteTable, RouteRow, RouteQuery, RouteWrite, RouteAdmin, RouteOther}

// RouteKind classifies a request's escaped path (URL.EscapedPath) by its
// shape alone. Reads may end in .json, .csv or nothing (HTML); the method
// does not matter, so a GET sent to a write route is still "write".
func RouteKind(path string) string {
	switch {
	case path == "/metrics" || path == "/-" || strings.HasPrefix(path, "/-/"):
		return RouteAdmin
	case path == "" || path == "/" || path == "/.json" || path == "/.csv":
		return RouteRoot
	}
	// At most five segments can name a route (/db/t/pk/-/delete); the
	// segments go to a stack array, so no request allocates here.
	var arr [5]string
	segs := arr[:0]
	for rest, more := strings.TrimPrefix(path, "/"), true; more; {
		var s string
		s, rest, more = strings.Cut(rest, "/")
		if len(segs) == len(arr) {
			return RouteOther
		}
		segs = append(segs, s)
	}
	for i, s := range segs {
		if s == "-" {
			// /db/-/query(.json|.csv): public SQL, a read.
			if i == 1 && len(segs) == 3 && segs[0] != "" {
				switch segs[2] {
				case "query", "query.json", "query.csv":
					return RouteQuery
				}
			}
			// /db/-/create, /db/t/-/insert, /db/t/pk/-/delete
			if i >= 1 && i <= 3 && i == len(segs)-2 && segs[i+1] != "" {
				return RouteWrite
			}
			return RouteOther
		}
	}
	last, ok := strings.CutSuffix(segs[len(segs)-1], ".json")
	if !ok {
		last, ok = strings.CutSuffix(last, ".csv")
	}
	if !ok && strings.Contains(last, ".") {
		return RouteOther // /favicon.ico, /robots.txt: not a read route
	}
	segs[len(segs)-1] = last
	for _, s := range segs {
		if s == "" {
			return RouteOther
		}
	}
	switch len(segs) {
	case 1:
		return RouteDatabase
	case 2:
		return RouteTable
	case 3:
		return RouteRow
	}
	return RouteOther
}
