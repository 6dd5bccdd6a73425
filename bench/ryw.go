package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"time"

	"github.com/tablecast/tablecast/deploy/devcluster"
)

// rywRounds is the number of write-then-read rounds per replica.
const rywRounds = 200

// runReadYourWrites: a client writes through a replica (forwarded to the
// primary) and reads its write back on the same replica with the returned
// bookmark; one replica next to the primary, one at 50 ms one way (the dev
// cluster's delay proxy on its LiteFS stream and forwarded requests).
func runReadYourWrites(ctx context.Context, o Options) (*Report, error) {
	fmt.Println("starting a local cluster: sjc at 0 ms, syd at 50 ms one way from the primary…")
	c, err := startCluster(ctx, func(o *devcluster.Options) {
		o.Delays = map[string]time.Duration{"syd": 50 * time.Millisecond, "sjc": 0}
	})
	if err != nil {
		return nil, err
	}
	defer c.Stop()
	if err := c.Post(ctx, "/ryw/-/create", map[string]any{"table": "t", "pk": "id",
		"columns": []map[string]string{{"name": "id", "type": "integer"}, {"name": "v", "type": "text"}}}); err != nil {
		return nil, err
	}
	if err := c.Post(ctx, "/ryw/t/-/publish", map[string]any{}); err != nil {
		return nil, err
	}
	r := &Report{reportHead: newHead("ryw", map[string]any{"rounds": rywRounds}), Ratios: map[string]float64{}}
	id := 0
	for _, region := range []string{"sjc", "syd"} {
		node, ok := c.Node(region)
		if !ok {
			return nil, fmt.Errorf("no node in %s", region)
		}
		var writes, reads, total []time.Duration
		stale := 0
		for range rywRounds {
			id++
			w, rd, fresh, err := rywRound(ctx, node.APIURL, c.Token, id)
			if err != nil {
				return nil, err
			}
			if !fresh {
				stale++
			}
			writes, reads, total = append(writes, w), append(reads, rd), append(total, w+rd)
		}
		for _, x := range []struct {
			name string
			d    []time.Duration
		}{{"write via replica", writes}, {"read back (bookmark)", reads}, {"write + read back", total}} {
			res := Result{Name: fmt.Sprintf("%s %s", region, x.name), URL: node.APIURL, Requests: int64(len(x.d)),
				P50Ms: pct(x.d, 0.50), P99Ms: pct(x.d, 0.99)}
			r.Results = append(r.Results, res)
			fmt.Printf("  %-32s p50 %7.2f ms  p99 %7.2f ms\n", res.Name, res.P50Ms, res.P99Ms)
		}
		r.Notes = append(r.Notes, fmt.Sprintf("%s: %d rounds, %d stale reads", region, rywRounds, stale))
	}
	r.Notes = append(r.Notes, "each round: POST insert through the replica (forwarded to the primary), then GET the row on the same replica with header Tablecast-Txid = the write's TXID; the replica waits until it has applied it",
		"req/s columns are not used in this scenario")
	return r, nil
}

// rywRound writes row id through base and reads it back with its bookmark.
func rywRound(ctx context.Context, base, token string, id int) (write, read time.Duration, fresh bool, err error) {
	body := fmt.Sprintf(`{"row":{"id":%d,"v":"v%d"}}`, id, id)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/ryw/t/-/insert", bytes.NewReader([]byte(body)))
	req.Header.Set("Authorization", "Bearer "+token)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, false, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	txid := resp.Header.Get("Tablecast-Txid")
	if resp.StatusCode != 201 || txid == "" {
		return 0, 0, false, fmt.Errorf("insert %d: %s", id, resp.Status)
	}
	write = time.Since(start)
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/ryw/t/%d.json", base, id), nil)
	req.Header.Set("Tablecast-Txid", txid)
	start = time.Now()
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, false, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return write, time.Since(start), resp.StatusCode == 200, nil
}

func pct(d []time.Duration, p float64) float64 {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(p*float64(len(s)-1) + 0.5)
	return float64(s[i].Microseconds()) / 1000
}
