package node

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/replica"
	"github.com/tablecast/tablecast/routing"
)

// serveMetrics serves /metrics without a token on a separate address, for
// scrapers that cannot send one (Fly.io's): it must be a private address.
func (n *Node) serveMetrics(addr string) error {
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("tablecast.metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", n.metrics)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	n.extra = append(n.extra, srv)
	n.serve("metrics server", srv, ln)
	return nil
}

// serveBench serves the read path with parts turned off, on a loopback
// address only, for the benchmarks that measure what each part costs:
// /ungated/… has no gate checks and no cache, /nocache/… the gate without
// the cache, /bare/… a fixed 200-byte JSON answer (net/http alone, in this
// process: the ceiling next to the real read path), and Go's profiles under
// /debug/pprof/.
func (n *Node) serveBench(addr string) (string, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		return "", fmt.Errorf("-bench-addr: %q must be a loopback address like 127.0.0.1:0", addr)
	}
	mux := http.NewServeMux()
	for _, prefix := range []string{"/ungated", "/nocache"} {
		r := replica.NewReader(n.opts.FUSEDir, n.mount, &n.fence)
		r.PoolSize = n.opts.ReadPool
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
	n.serve("bench server", srv, ln)
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
