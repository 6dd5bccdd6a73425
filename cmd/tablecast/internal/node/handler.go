package node

import (
	"fmt"
	"net/http"
	"time"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/primary"
	"github.com/tablecast/tablecast/routing"
)

// adminHandler serves the node's own /-/ routes.
func (n *Node) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /-/healthz", func(w http.ResponseWriter, r *http.Request) {
		tablecast.WriteJSON(w, http.StatusOK, map[string]any{"ok": true})
	})
	mux.HandleFunc("GET /-/readyz", func(w http.ResponseWriter, r *http.Request) {
		if reason := n.notReady(); reason != "" {
			w.Header().Set("Retry-After", "1")
			tablecast.WriteError(w, r, n.logger, tablecast.Errorf(tablecast.EUNAVAILABLE, "%s", reason))
			return
		}
		tablecast.WriteJSON(w, http.StatusOK, map[string]any{"ok": true})
	})
	mux.HandleFunc("GET /-/status.json", func(w http.ResponseWriter, r *http.Request) {
		_, err := n.tokens.Authorize(r, primary.ScopeAdmin)
		tablecast.WriteJSON(w, http.StatusOK, n.status(err == nil))
	})
	mux.HandleFunc("GET /-/actor.json", n.actor)
	mux.HandleFunc("GET /-/metadata.json", n.reader.ServeMetadata)
	n.clusterRoutes(mux)
	n.adminRoutes(mux)
	// Series carry database names (ours and LiteFS's), private ones too:
	// Prometheus scrapes with a token (authorization.credentials).
	mux.HandleFunc("GET /metrics", n.authed(n.metrics.ServeHTTP))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		tablecast.WriteError(w, r, n.logger, tablecast.Errorf(tablecast.ENOTFOUND, "Not found"))
	})
	return mux
}

// actor answers Datasette's /-/actor.json, which clients such as
// dclient's actor command read: {"actor": null} without a token, the
// token's name and scopes with a usable one, and 401 for a token that is
// not (unknown, expired, revoked), where Datasette would answer null.
func (n *Node) actor(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") == "" {
		tablecast.WriteJSON(w, http.StatusOK, map[string]any{"actor": nil})
		return
	}
	p, err := n.tokens.Identify(r)
	if err != nil {
		if tablecast.ErrorCode(err) == tablecast.EUNAUTHORIZED {
			w.Header().Set("WWW-Authenticate", "Bearer")
		}
		tablecast.WriteError(w, r, n.logger, err)
		return
	}
	scopes := p.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	tablecast.WriteJSON(w, http.StatusOK, map[string]any{"actor": map[string]any{"id": p.Name, "token": "tablecast", "scopes": scopes}})
}

// notReady says why the node should get no traffic, "" when it should.
func (n *Node) notReady() string {
	switch {
	case !n.Ready():
		return "catching up with the cluster"
	case n.PrimaryURL() == "":
		return "no primary known"
	case n.StreamPaused() != "":
		// At once, not after revocation-bound: it will not catch up
		// before space is freed; reads go on until the bound.
		return n.StreamPaused()
	case routing.RevocationReason(n.Silence(), n.opts.Routing.RevocationBound) != "":
		return routing.WithPause(n, routing.RevocationReason(n.Silence(), n.opts.Routing.RevocationBound))
	case n.opts.Routing.MaxLag > 0 && n.Lag() > n.opts.Routing.MaxLag:
		return fmt.Sprintf("lagging %s behind the primary (max-lag %s)", n.Lag().Round(time.Millisecond), n.opts.Routing.MaxLag)
	}
	return ""
}

// status describes this node. Database names and TXIDs only with a token:
// a database with no public table is nobody else's business.
func (n *Node) status(full bool) tablecast.NodeStatus {
	role := "replica"
	if n.IsPrimary() {
		role = "primary"
	}
	st := tablecast.NodeStatus{
		OK: true, Node: n.opts.Name, Region: n.opts.Region, Role: role,
		PrimaryURL: n.PrimaryURL(), Primary: n.PrimaryName(), LagMS: n.mount.Lag().Milliseconds(),
		TXIDs: map[string]string{}, Ready: n.notReady() == "", NotReady: n.notReady(),
	}
	if full {
		st.Positions = map[string]string{} // TXID/checksum
		for _, db := range n.mount.Databases() {
			if p, ok := n.mount.Pos(db); ok {
				st.TXIDs[db], st.Positions[db] = p.TXID.String(), p.String()
			}
		}
	}
	if n.raft != nil {
		stats := n.raft.Stats()
		st.RaftState, st.RaftTerm, st.LastContact = stats["state"], stats["term"], stats["last_contact"]
	}
	return st
}
