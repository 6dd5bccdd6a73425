// Package routing decides, per request, where it is served: reads here,
// writes here on the primary, or sent on to the primary from a replica.
package routing

import (
	"log/slog"
	"net/http"
	"strings"

	"github.com/tablecast/tablecast"
)

// Cluster is what routing needs to know of the node and its cluster.
type Cluster interface {
	IsPrimary() bool
	// PrimaryURL is the current primary's API URL, "" when unknown.
	PrimaryURL() string
}

// Router sends reads to Reads and writes to Writes on the primary; on a
// replica it answers a write with 307 to the same URL on the primary, so
// the client repeats it there with its body (nothing is lost or dropped).
type Router struct {
	Cluster Cluster
	Region  string
	Node    string
	Reads   http.Handler
	Writes  http.Handler
	Admin   http.Handler // the node's own /-/ routes
	Logger  *slog.Logger
}

func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set(tablecast.HeaderRegion, rt.Region)
	h.Set(tablecast.HeaderNode, rt.Node)
	switch {
	case (strings.HasPrefix(r.URL.Path, "/-/") || r.URL.Path == "/metrics") && rt.Admin != nil:
		rt.Admin.ServeHTTP(w, r)
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		rt.Reads.ServeHTTP(w, r)
	case r.Method == http.MethodOptions:
		h.Set("Allow", "GET, HEAD, POST, OPTIONS")
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodPost:
		rt.write(w, r)
	default:
		h.Set("Allow", "GET, HEAD, POST, OPTIONS")
		tablecast.WriteJSON(w, http.StatusMethodNotAllowed, map[string]any{
			"ok": false, "error": "Method " + r.Method + " not allowed", "status": http.StatusMethodNotAllowed})
	}
}

// write serves a write here on the primary, or redirects it there.
func (rt *Router) write(w http.ResponseWriter, r *http.Request) {
	if rt.Cluster.IsPrimary() {
		rt.Writes.ServeHTTP(w, r)
		return
	}
	primary := rt.Cluster.PrimaryURL()
	if primary == "" {
		w.Header().Set("Retry-After", "1")
		tablecast.WriteError(w, r, rt.Logger, tablecast.Errorf(tablecast.EUNAVAILABLE, "No primary is known: try again shortly"))
		return
	}
	// 307 keeps the method and body: the client resends the write to the primary.
	http.Redirect(w, r, strings.TrimSuffix(primary, "/")+r.URL.RequestURI(), http.StatusTemporaryRedirect)
}
