package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// benchRows is the size of the point-read table.
const benchRows = 10000

// runReads: public point reads by primary key on a replica, the same
// handler with the gate's snapshot checks off, and a bare net/http handler
// returning a fixed 200-byte body: the gate's cost and the distance to the
// ceiling, measured in one run.
func runReads(ctx context.Context, o Options) (*Report, error) {
	c, err := startWithItems(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Stop()
	replica := c.Replica()
	if err := waitOK(ctx, fmt.Sprintf("%s/bench/items/%d.json", replica.APIURL, benchRows), 30*time.Second); err != nil {
		return nil, err
	}
	bare, stopBare, err := serveBare()
	if err != nil {
		return nil, err
	}
	defer stopBare()

	fmt.Printf("load: wrk -t%d -c%d, %s per target\n", o.Threads, o.Connections, o.Duration)
	targets := []struct{ name, base, prefix, suffix string }{
		{"bare net/http 200 B", bare, "/bench/items/", ".json"},
		{"replica point read, gated, no cache", replica.BenchURL, "/nocache/bench/items/", ".json"},
		{"replica point read, ungated, no cache", replica.BenchURL, "/ungated/bench/items/", ".json"},
		{"replica point read, public API (gate + cache, cold)", replica.APIURL, "/bench/items/", ".json"},
	}
	r := &Report{reportHead: newHead("reads", map[string]any{"duration": o.Duration.String(), "connections": o.Connections, "threads": o.Threads, "rows": benchRows}),
		Ratios: map[string]float64{}}
	for _, t := range targets {
		// The bare handler ignores the path: it goes through the same
		// random-path script so wrk's Lua cost is the same for every target.
		res, err := wrkRun(ctx, o, t.name, t.base, t.prefix, t.suffix, benchRows)
		if err != nil {
			return nil, err
		}
		r.Results = append(r.Results, res)
	}
	b, gated, ungated, api := r.Results[0].ReqPerS, r.Results[1].ReqPerS, r.Results[2].ReqPerS, r.Results[3].ReqPerS
	r.Ratios["gated / bare"] = gated / b
	r.Ratios["ungated / bare"] = ungated / b
	r.Ratios["gated / ungated (gate cost)"] = gated / ungated
	r.Ratios["public API / bare"] = api / b
	r.Notes = append(r.Notes,
		"gated, no cache: the public handler with the cache off: TXID read in-process, snapshot pinned in the read transaction, gate checked from memory",
		"ungated, no cache: the same handler and SQL without the snapshot pinning and gate checks (dev -bench, loopback only)",
		"public API: gate and response cache, starting cold (each key's first read misses); see -scenario cache for warm figures",
		"reads go through the replica's real LiteFS FUSE mount; keys are random in [1, 10000]",
		"every target, bare included, is loaded through the same wrk Lua random-path script and path shape (the bare handler ignores the path)")
	return r, nil
}

// startWithItems starts a local cluster and loads bench.items into it; the
// caller stops it.
func startWithItems(ctx context.Context) (*cluster, error) {
	fmt.Println("starting a local cluster (real LiteFS and FUSE)…")
	c, err := startCluster(ctx, nil)
	if err != nil {
		return nil, err
	}
	fmt.Printf("loading %d rows…\n", benchRows)
	if err := loadItems(ctx, c); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// loadItems creates and publishes bench.items with benchRows rows.
func loadItems(ctx context.Context, c *cluster) error {
	if err := c.Post(ctx, "/bench/-/create", map[string]any{"table": "items", "pk": "id",
		"columns": []map[string]string{{"name": "id", "type": "integer"}, {"name": "name", "type": "text"}, {"name": "price", "type": "float"}}}); err != nil {
		return err
	}
	for start := 1; start <= benchRows; start += 1000 {
		rows := make([]map[string]any, 0, 1000)
		for i := start; i < start+1000 && i <= benchRows; i++ {
			rows = append(rows, map[string]any{"id": i, "name": fmt.Sprintf("item %05d", i), "price": float64(i) / 100})
		}
		if err := c.Post(ctx, "/bench/items/-/insert", map[string]any{"rows": rows}); err != nil {
			return err
		}
	}
	return c.Post(ctx, "/bench/items/-/publish", map[string]any{})
}

// serveBare serves a fixed 200-byte JSON body: the HTTP ceiling.
func serveBare() (string, func(), error) {
	head, tail := `{"ok":true,"rows":[{"id":1,"name":"`, `"}]}`
	body := []byte(head + strings.Repeat("x", 200-len(head)-len(tail)) + tail)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	// The API server's settings: a public server needs ReadHeaderTimeout
	// (slow clients), and it costs a deadline per request.
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}
