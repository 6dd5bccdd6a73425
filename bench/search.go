package main

import (
	"context"
	"fmt"
	"net/url"
	"time"
)

// searchRows is the size of the searched table (bench.docs).
const searchRows = 100_000

// runSearch: a full-text search of a 100,000-row table (_search, FTS5 in
// relevance order when the build has it, else FTS4 in key order), first
// page of 100: without the cache (/nocache/), cached, and the bare ceiling.
// The index is made as sqlite-utils' enable_fts makes it ({table}_fts,
// content={table}), through /-/enable-fts; it stays private, the table is public.
func runSearch(ctx context.Context, o Options) (*Report, error) {
	fmt.Println("starting a local cluster (real LiteFS and FUSE)…")
	c, err := startCluster(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer c.Stop()
	fmt.Printf("loading %d rows…\n", searchRows)
	if err := loadDocs(ctx, c); err != nil {
		return nil, err
	}
	module, err := indexDocs(ctx, c)
	if err != nil {
		return nil, err
	}
	rep := c.Replica()
	search := "/bench/docs.json?_search=zebra&_size=100&_nocount="
	if err := waitOK(ctx, rep.APIURL+search+"1", 60*time.Second); err != nil {
		return nil, fmt.Errorf("search on the replica: %w", err)
	}
	// Every target ends in "_nocount=" for wrk's key, a parameter
	// tablecast ignores (no other "_" parameter would be: a 400).
	bare, stopBare, err := serveBare()
	if err != nil {
		return nil, err
	}
	defer stopBare()
	counted := "/bench/docs.json?_search=" + url.QueryEscape("zebra crossing") + "&_extra=count&_size=100&_nocount="
	targets := []struct{ name, base, path string }{
		{"bare net/http 200 B", bare, "/x="},
		{"search, page of 100, no cache", rep.BenchURL, "/nocache" + search},
		{"search of two words with count, no cache", rep.BenchURL, "/nocache" + counted},
		{"search, page of 100, cached", rep.APIURL, search},
	}
	r := &Report{reportHead: newHead("search", map[string]any{"duration": o.Duration.String(), "connections": o.Connections,
		"threads": o.Threads, "rows": searchRows, "module": module}), Ratios: map[string]float64{}}
	fmt.Printf("load: wrk -t%d -c%d, %s per target\n", o.Threads, o.Connections, o.Duration)
	for _, t := range targets {
		res, err := wrkRun(ctx, o, t.name, t.base, t.path, "", 1)
		if err != nil {
			return nil, err
		}
		r.Results = append(r.Results, res)
	}
	b := r.Results[0].ReqPerS
	for _, x := range r.Results[1:] {
		r.Ratios[x.Name+" / bare"] = x.ReqPerS / b
	}
	r.Notes = append(r.Notes, "replica "+rep.Name+"; no cache: the replica's bench listener (gate on, cache off), reads through LiteFS FUSE",
		fmt.Sprintf("index: %s docs_fts (content=docs) over title and body; 'zebra' is in 1 row of 100 (%d rows), 'crossing' in 1 of 7", module, searchRows/100),
		"Datasette 0.65's same page: measure it by hand with the same wrk settings (README, Benchmarks)")
	return r, nil
}

// loadDocs creates and publishes bench.docs: searchRows rows of a few
// words each.
func loadDocs(ctx context.Context, c *cluster) error {
	if err := c.Post(ctx, "/bench/-/create", map[string]any{"table": "docs", "pk": "id",
		"columns": []map[string]string{{"name": "id", "type": "integer"}, {"name": "title", "type": "text"}, {"name": "body", "type": "text"}}}); err != nil {
		return err
	}
	words := []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"}
	for start := 1; start <= searchRows; start += 1000 {
		rows := make([]map[string]any, 0, 1000)
		for i := start; i < start+1000 && i <= searchRows; i++ {
			body := fmt.Sprintf("%s %s %s", words[i%10], words[(i/10)%10], words[(i/100)%10])
			if i%100 == 7 {
				body += " zebra"
			}
			if i%7 == 0 {
				body += " crossing"
			}
			rows = append(rows, map[string]any{"id": i, "title": fmt.Sprintf("doc %06d", i), "body": body})
		}
		if err := c.Post(ctx, "/bench/docs/-/insert", map[string]any{"rows": rows}); err != nil {
			return err
		}
	}
	return c.Post(ctx, "/bench/docs/-/publish", map[string]any{})
}

// indexDocs makes docs_fts through the write API (POST
// /bench/docs/-/enable-fts: FTS5, content=docs, triggers, as sqlite-utils
// makes it; the bench binary is built with sqlite_fts5) and returns the
// module used.
func indexDocs(ctx context.Context, c *cluster) (string, error) {
	p := c.Nodes[0].APIURL
	if _, err := c.PostTo(ctx, p+"/bench/docs/-/enable-fts", map[string]any{"columns": []string{"title", "body"}}, 0); err != nil {
		return "", fmt.Errorf("index docs: %w", err)
	}
	return "FTS5", nil
}
