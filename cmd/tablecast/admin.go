package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/primary"
	"github.com/tablecast/tablecast/routing"
)

// adminRoutes serves the admin pages and the admin API (/-/admin…, see
// primary.Admin) on the primary, and proxies them there from every other
// node: sessions and every change live on the primary.
func (n *node) adminRoutes(mux *http.ServeMux) {
	a := primary.NewAdmin(n.writer, n.tokens)
	a.Logger = n.logger
	a.Nodes = n.nodeStates
	h := n.onPrimary(a)
	mux.Handle("/-/admin", h)
	mux.Handle("/-/admin/", h)
}

type adminTargetKey struct{}

// onPrimary serves h here when this node is the primary, and otherwise
// proxies the request, cookies and all, to the primary's node API URL. The
// browser stays on this node's origin, so its cookies do too.
func (n *node) onPrimary(h http.Handler) http.Handler {
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			proto := pr.In.Header.Get("X-Forwarded-Proto")
			pr.SetURL(pr.In.Context().Value(adminTargetKey{}).(*url.URL))
			pr.SetXForwarded()
			if proto == "https" || pr.In.TLS != nil {
				// TLS ended before us: the primary must still mark cookies Secure.
				pr.Out.Header.Set("X-Forwarded-Proto", "https")
			}
			pr.Out.Header.Set(routing.HeaderForwarded, n.cfg.Tablecast.Name)
		},
		Transport: n.nodeTransport, // the primary's node API, mutual TLS
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			n.logger.Warn("admin proxy to the primary failed", "path", r.URL.Path, "err", err)
			w.Header().Set("Retry-After", "1")
			tablecast.WriteError(w, r, n.logger, tablecast.Errorf(tablecast.EUNAVAILABLE, "The primary is unreachable: try again shortly"))
		},
	}
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
		hdr := w.Header()
		hdr.Del(tablecast.HeaderNode)
		hdr.Del(tablecast.HeaderRegion)
		hdr.Del(routing.HeaderLag)
		hdr.Set(routing.HeaderVia, n.cfg.Tablecast.Name)
		proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), adminTargetKey{}, u)))
	})
}

// nodeStates is /-/cluster.json for the admin pages: each node with the
// TXID it has applied of each database. A static lease knows no replicas:
// then it is this node alone.
func (n *node) nodeStates(ctx context.Context) ([]primary.NodeState, error) {
	st := n.clusterStatus(ctx)
	var rows []map[string]any
	switch v := st["nodes"].(type) {
	case []map[string]any:
		rows = v
	case []any:
		for _, r := range v {
			if m, ok := r.(map[string]any); ok {
				rows = append(rows, m)
			}
		}
	}
	out := make([]primary.NodeState, 0, len(rows))
	for _, r := range rows {
		s := primary.NodeState{Name: str(r["name"]), Region: str(r["region"]), Role: str(r["role"]),
			Reachable: r["reachable"] != false, Error: str(r["error"]), TXIDs: map[string]tablecast.TXID{}}
		if s.Name == "" {
			s.Name = str(r["node"]) // this node's own status
		}
		switch txids := r["txids"].(type) {
		case map[string]string:
			for db, t := range txids {
				s.TXIDs[db], _ = tablecast.ParseTXID(t)
			}
		case map[string]any:
			for db, t := range txids {
				s.TXIDs[db], _ = tablecast.ParseTXID(str(t))
			}
		}
		out = append(out, s)
	}
	return out, nil
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}
