package node

import (
	"context"
	"net/http"
	"net/url"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/primary"
	"github.com/tablecast/tablecast/routing"
)

// adminRoutes serves the admin pages and the admin API (/-/admin…, see
// primary.Admin) on the primary, and proxies them there from every other
// node: sessions and every change live on the primary.
func (n *Node) adminRoutes(mux *http.ServeMux) {
	a := primary.NewAdmin(n.writer, n.tokens)
	a.Logger = n.logger
	a.Nodes = n.nodeStates
	h := n.onPrimary(a)
	mux.Handle("/-/admin", h)
	mux.Handle("/-/admin/", h)
}

// onPrimary serves h here when this node is the primary, and otherwise
// proxies the request, cookies and all, to the primary's node API URL. The
// browser stays on this node's origin, so its cookies do too.
func (n *Node) onPrimary(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.IsPrimary() {
			h.ServeHTTP(w, r)
			return
		}
		target := n.PrimaryNodeURL()
		u, err := url.Parse(target)
		if target == "" || err != nil || r.Header.Get(routing.HeaderForwarded) != "" {
			// No primary known, or sent here as the primary and we are not.
			w.Header().Set("Retry-After", "1")
			tablecast.WriteError(w, r, n.logger, tablecast.Errorf(tablecast.EUNAVAILABLE, "No primary is known: try again shortly"))
			return
		}
		n.proxy.Serve(w, r, u, n.adminFailed) // the primary's node API, mutual TLS
	})
}

// adminFailed answers an admin request the primary did not answer.
func (n *Node) adminFailed(w http.ResponseWriter, r *http.Request, err error) {
	n.logger.Warn("admin proxy to the primary failed", "path", r.URL.Path, "err", err)
	w.Header().Set("Retry-After", "1")
	tablecast.WriteError(w, r, n.logger, tablecast.Errorf(tablecast.EUNAVAILABLE, "The primary is unreachable: try again shortly"))
}

// nodeStates is /-/cluster.json for the admin pages: each node with the
// TXID it has applied of each database. A static lease knows no replicas:
// then it is this node alone.
func (n *Node) nodeStates(ctx context.Context) ([]primary.NodeState, error) {
	return primary.NodeStatesOf(n.clusterStatus(ctx)), nil
}
