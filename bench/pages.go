package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// runPages: a page of 100 rows with a filter and a sort, the 100th page
// against the first (keyset paging must not slow down with depth), and a
// public SQL point query; through the gate without the cache (/nocache/)
// and through the public API (cached), against the bare ceiling.
func runPages(ctx context.Context, o Options) (*Report, error) {
	c, err := startWithItems(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Stop()
	if err := c.Post(ctx, "/bench/-/publish", map[string]any{"all_tables": false, "sql": true}); err != nil {
		return nil, err
	}
	rep := c.Replica()
	if err := waitOK(ctx, rep.APIURL+"/bench/-/query.json?sql=select+1", 30*time.Second); err != nil {
		return nil, err
	}
	deep, err := pageToken(ctx, rep.APIURL, 99)
	if err != nil {
		return nil, err
	}
	bare, stopBare, err := serveBare()
	if err != nil {
		return nil, err
	}
	defer stopBare()
	// wrk's Lua script sets the whole path: the bench listener's /nocache
	// prefix goes into the path, not the base URL.
	// Every target is a fixed URL behind the same one-key Lua script
	// (an ignored "_x=1" at the end), so wrk's cost is the same for all.
	filtered := "/bench/items.json?_size=100&price__gt=10&_sort_desc=price&_x="
	first := "/bench/items.json?_size=100&_x="
	deepPath := "/bench/items.json?_size=100&_next=" + url.QueryEscape(deep) + "&_x="
	sql := "/bench/-/query.json?sql=" + url.QueryEscape("select * from items where id = 5000") + "&_x="
	targets := []struct{ name, base, path string }{
		{"bare net/http 200 B", bare, "/x="},
		{"page of 100, filter + sort, no cache", rep.BenchURL, "/nocache" + filtered},
		{"page 1 of 100 rows, no cache", rep.BenchURL, "/nocache" + first},
		{"page 100 of 100 rows, no cache", rep.BenchURL, "/nocache" + deepPath},
		{"public SQL point query, no cache", rep.BenchURL, "/nocache" + sql},
		{"page of 100, filter + sort, cached", rep.APIURL, filtered},
		{"public SQL point query, cached", rep.APIURL, sql},
	}
	r := &Report{reportHead: newHead("pages", map[string]any{"duration": o.Duration.String(), "connections": o.Connections, "threads": o.Threads, "rows": benchRows}),
		Ratios: map[string]float64{}}
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
	r.Ratios["page 100 / page 1 (no cache)"] = r.Results[3].ReqPerS / r.Results[2].ReqPerS
	r.Notes = append(r.Notes, "replica "+rep.Name+"; no cache: the replica's bench listener (gate on, cache off), reads through LiteFS FUSE",
		"page 100 is reached with the _next token of page 99 (keyset: WHERE key > ? ORDER BY key LIMIT 101)")
	return r, nil
}

// pageToken follows next tokens n times from the first page of bench.items.
func pageToken(ctx context.Context, base string, n int) (string, error) {
	next := ""
	for range n {
		u := base + "/bench/items.json?_size=100"
		if next != "" {
			u += "&_next=" + url.QueryEscape(next)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", err
		}
		var body struct {
			Next string `json:"next"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil || body.Next == "" {
			return "", fmt.Errorf("page token: %v (next %q)", err, body.Next)
		}
		next = body.Next
	}
	return next, nil
}
