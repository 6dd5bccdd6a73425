package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
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
	// (an ignored "_nocount=1" at the end: an unknown "_" parameter is a 400), so wrk's cost is the same for all.
	filtered := "/bench/items.json?_size=100&price__gt=10&_sort_desc=price&_nocount="
	first := "/bench/items.json?_size=100&_nocount="
	deepPath := "/bench/items.json?_size=100&_next=" + url.QueryEscape(deep) + "&_nocount="
	sql := "/bench/-/query.json?sql=" + url.QueryEscape("select * from items where id = 5000") + "&_nocount="
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
	if err := indexRounds(ctx, o, c, rep.APIURL, rep.BenchURL, "/nocache"+filtered, r); err != nil {
		return nil, err
	}
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

// indexRounds measures the filtered, sorted page of 100 (no cache) without
// and with an index on items(price), made and dropped through the schema
// API, in alternating rounds (without, with, without, with, …) so that the
// machine's drift weighs on both alike. Each pair of adjacent rounds gives
// a ratio; the report has their median and the ratio of the rounds' sums.
func indexRounds(ctx context.Context, o Options, c *cluster, api, base, path string, r *Report) error {
	const pairs = 3
	var sum [2]float64
	var ratios []float64
	for i := range 2 * pairs {
		indexed := i%2 == 1
		if err := setPriceIndex(ctx, c, api, indexed); err != nil {
			return err
		}
		name := fmt.Sprintf("page of 100, filter + sort, no cache, no index (round %d)", i/2+1)
		if indexed {
			name = fmt.Sprintf("page of 100, filter + sort, no cache, index on price (round %d)", i/2+1)
		}
		res, err := wrkRun(ctx, o, name, base, path, "", 1)
		if err != nil {
			return err
		}
		r.Results = append(r.Results, res)
		sum[i%2] += res.ReqPerS
		if indexed {
			ratios = append(ratios, res.ReqPerS/r.Results[len(r.Results)-2].ReqPerS)
		}
	}
	slices.Sort(ratios)
	r.Ratios["filter + sort page: with an index / without (no cache), median of 3 adjacent pairs"] = ratios[len(ratios)/2]
	r.Ratios["filter + sort page: with an index / without (no cache), sum of rounds"] = sum[1] / sum[0]
	r.Notes = append(r.Notes, "index: POST /bench/items/-/create-index {\"columns\":[\"price\"]} and /bench/-/drop-index between rounds, each run after the replica applied it (_txid)")
	return nil
}

// setPriceIndex creates or drops the index items_price and waits until
// the replica at api has applied the change.
func setPriceIndex(ctx context.Context, c *cluster, api string, on bool) error {
	p := c.Nodes[0].APIURL
	out, err := c.PostTo(ctx, p+"/bench/-/drop-index", map[string]any{"name": "items_price"}, 0)
	if on {
		out, err = c.PostTo(ctx, p+"/bench/items/-/create-index", map[string]any{"columns": []string{"price"}, "name": "items_price"}, 0)
	} else if err != nil && strings.Contains(err.Error(), "Index not found") {
		return nil
	}
	if err != nil {
		return err
	}
	txid, _ := out["txid"].(string)
	return waitOK(ctx, api+"/bench/items.json?_size=1&_txid="+txid, 30*time.Second)
}
