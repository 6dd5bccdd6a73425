package main

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/deploy/devcluster"
	"github.com/tablecast/tablecast/routing"
)

// On real nodes (LiteFS, FUSE, the replica's own TXIDs), a database with
// only private tables answers as one that does not exist, bookmarks
// included: same status, body (but the name), headers (but Date, lag and
// Content-Length), on the primary and on a replica, GET and HEAD.
func TestCluster_PrivateDatabaseAsMissing(t *testing.T) {
	c := devcluster.MustStart(t, binPath, func(o *devcluster.Options) {
		o.Regions = []string{"lhr", "syd"}
		o.StaleReads = routing.StaleRefuse // a stale read is refused where it was asked
	})
	ctx := context.Background()
	p, syd := c.Nodes[0].APIURL, c.Nodes[1].APIURL
	if _, err := postJSON(ctx, p+"/ghost/-/create", c.Token, map[string]any{"table": "t", "pk": "id", "rows": []any{map[string]any{"id": 1, "v": "secret"}}}); err != nil {
		t.Fatal(err)
	}
	var last map[string]any
	for i := 2; i < 6; i++ { // a few writes: ghost's TXID is well past 1
		out, err := postJSON(ctx, p+"/ghost/t/-/insert", c.Token, map[string]any{"row": map[string]any{"id": i, "v": "secret"}})
		if err != nil {
			t.Fatal(err)
		}
		last = out
	}
	txid, err := tablecast.ParseTXID(last["txid"].(string))
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		st, err := callJSON(ctx, cliClient, http.MethodGet, syd+"/-/status.json", c.Token, nil)
		if err != nil {
			t.Fatal(err)
		}
		have, _ := st["txids"].(map[string]any)["ghost"].(string)
		if got, err := tablecast.ParseTXID(have); err == nil && got >= txid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica has ghost at %q, want %s", have, txid)
		}
	}
	// fetch is one request: status, body with the name replaced, headers.
	type answer struct {
		status int
		body   string
		hdr    []string
		err    error
	}
	fetch := func(method, url, name string) answer {
		req, _ := http.NewRequest(method, url, nil)
		resp, err := noRedirect.Do(req)
		if err != nil {
			return answer{err: err}
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var hdr []string
		for k, v := range resp.Header {
			switch k {
			case "Date", "Content-Length":
			case routing.HeaderLag:
				hdr = append(hdr, k)
			default:
				hdr = append(hdr, k+"="+strings.Join(v, ","))
			}
		}
		slices.Sort(hdr)
		return answer{status: resp.StatusCode, body: strings.ReplaceAll(string(b), name, "NAME"), hdr: hdr}
	}
	// Every pair at once: the bookmarked ones each wait bookmark-wait (2 s).
	type pair struct {
		method, ghost string
		a, b          answer
	}
	var pairs []*pair
	var wg sync.WaitGroup
	for _, base := range []string{p, syd} {
		for _, path := range []string{".json", "/t.json", "/t/1.json", "/t.csv", "", "/t",
			".json?_txid=1", "/t.json?_txid=1", "/t.json?_txid=" + txid.String(), "/t.json?_txid=ffffffffffffffff", "/t.json?_txid=zz",
			"/t.json?_max_lag=1s", "/t.json?_max_lag=5ms"} {
			for _, method := range []string{"GET", "HEAD"} {
				pr := &pair{method: method, ghost: base + "/ghost" + path}
				pairs = append(pairs, pr)
				wg.Add(2)
				go func() { defer wg.Done(); pr.a = fetch(method, base+"/ghost"+path, "ghost") }()
				go func() { defer wg.Done(); pr.b = fetch(method, base+"/nodbx"+path, "nodbx") }()
			}
		}
	}
	wg.Wait()
	for _, pr := range pairs {
		a, b := pr.a, pr.b
		if a.err != nil || b.err != nil {
			t.Fatalf("%s %s: %v %v", pr.method, pr.ghost, a.err, b.err)
		}
		if a.status != b.status || a.body != b.body || !slices.Equal(a.hdr, b.hdr) {
			t.Errorf("%s %s: %d %v %q\n\tnodbx: %d %v %q", pr.method, pr.ghost, a.status, a.hdr, a.body, b.status, b.hdr, b.body)
		}
		// No TXID of ghost but the one the request itself sent.
		if a.status == 200 || (strings.Contains(a.body, txid.String()) && !strings.Contains(pr.ghost, txid.String())) ||
			slices.ContainsFunc(a.hdr, func(h string) bool { return strings.HasPrefix(h, tablecast.HeaderTXID) || strings.HasPrefix(h, "Etag") }) {
			t.Errorf("%s %s tells something: %d %v %q", pr.method, pr.ghost, a.status, a.hdr, a.body)
		}
	}
	t.Logf("%d pairs compared", len(pairs))
}
