package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tablecast/tablecast/deploy/devcluster"
	"github.com/tablecast/tablecast/routing"
)

// fetchStatus GETs url and returns its status, Retry-After and body.
func fetchStatus(tb testing.TB, url string) (int, string, string) {
	tb.Helper()
	resp, err := noRedirect.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(b)
}

// A replica cut off from the primary (its LiteFS stream and its API
// traffic held by a partition that keeps connections up) stops serving
// public reads within revocation-bound, fails /-/readyz, and serves again
// only once it hears from the primary: after the unpublish made meanwhile.
func TestCluster_RevocationBound(t *testing.T) {
	const bound = 2 * time.Second
	c := devcluster.MustStart(t, binPath, func(o *devcluster.Options) {
		o.Lease = "static" // the delay proxies sit on the static primary's URLs
		o.Regions = []string{"lhr", "syd"}
		o.Delays = map[string]time.Duration{"syd": time.Millisecond}
		o.StaleReads = routing.StaleRefuse
		o.RevocationBound = bound
	})
	ctx := context.Background()
	p, syd := c.Nodes[0].APIURL, c.Nodes[1].APIURL
	for _, step := range []struct {
		path string
		body any
	}{
		{"/rv/-/create", map[string]any{"table": "items", "pk": "id", "rows": []any{map[string]any{"id": 1, "v": "x"}}}},
		{"/rv/items/-/publish", map[string]any{}},
	} {
		if _, err := postJSON(ctx, p+step.path, c.Token, step.body); err != nil {
			t.Fatalf("%s: %v", step.path, err)
		}
	}
	devcluster.WaitFor(t, syd+"/rv/items.json", 200, 10*time.Second)
	devcluster.WaitFor(t, syd+"/-/readyz", 200, 10*time.Second)

	partition := c.Partition
	cut := time.Now()
	partition(true)
	t.Cleanup(func() { partition(false) })
	var status int
	var retry, body string
	for {
		status, retry, body = fetchStatus(t, syd+"/rv/items.json")
		if status != 200 || time.Since(cut) > bound+5*time.Second {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(cut)
	t.Logf("replica refused %s after the partition (bound %s)", took.Round(time.Millisecond), bound)
	if status != http.StatusServiceUnavailable || retry == "" || !strings.Contains(body, `"status":503`) ||
		!strings.Contains(body, "revocation-bound") || !strings.Contains(body, `"ok":false`) {
		t.Fatalf("partitioned replica: %d Retry-After %q %s", status, retry, body)
	}
	// It heard from the primary at most a heartbeat (1 s) before the cut,
	// so it must stop between bound-1s and bound after it (the margin
	// covers polling and one request).
	if took > bound+400*time.Millisecond || took < bound-time.Second-100*time.Millisecond {
		t.Fatalf("refused %s after the partition, want within (%s-1s, %s]", took, bound, bound)
	}
	if s, _, b := fetchStatus(t, syd+"/-/readyz"); s != 503 || !strings.Contains(b, "not heard from the primary") {
		t.Fatalf("readyz of the partitioned replica: %d %s", s, b)
	}
	if s, _, b := fetchStatus(t, syd+"/rv/items/1.json"); s != 503 {
		t.Fatalf("row read on the partitioned replica: %d %s", s, b)
	}
	// The primary is exempt: it is the source of every revocation.
	if s, _, b := fetchStatus(t, p+"/rv/items.json"); s != 200 {
		t.Fatalf("primary during the partition: %d %s", s, b)
	}
	if s, _, b := fetchStatus(t, p+"/-/readyz"); s != 200 {
		t.Fatalf("primary readyz during the partition: %d %s", s, b)
	}
	// Unpublished while the replica cannot hear. The partition heals more
	// than the bound later: the frames held meanwhile (heartbeats before
	// the unpublish, then the unpublish) come in order, each stamped by the
	// primary, and the replica may serve data only while its newest stamp
	// is within the bound. So from the heal on it never serves the table
	// again: 503 until it has applied the unpublish, then 404.
	unpublished := time.Now()
	if _, err := postJSON(ctx, p+"/rv/items/-/unpublish", c.Token, map[string]any{}); err != nil {
		t.Fatal(err)
	}
	for time.Since(unpublished) <= bound+100*time.Millisecond {
		if s, _, b := fetchStatus(t, syd+"/rv/items.json"); s != 503 {
			t.Fatalf("partitioned replica after the unpublish: %d %s", s, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	partition(false)
	healed := time.Now()
	for {
		s, _, b := fetchStatus(t, syd+"/rv/items.json")
		if s == 404 {
			break
		}
		if s != 503 || time.Since(healed) > 10*time.Second {
			t.Fatalf("healed replica: %d %s", s, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("healed replica serves (the unpublish applied) %s after the partition ended", time.Since(healed).Round(time.Millisecond))
	devcluster.WaitFor(t, syd+"/-/readyz", 200, 5*time.Second)
}
