package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tablecast/tablecast/deploy/devcluster"
)

// A canned query defined through a replica (forwarded to the primary),
// private until published, runs with a parameter on every replica; its
// metadata and the database's reach /-/metadata.json there.
func TestCanned_DefinePublishRunOnReplica(t *testing.T) {
	c := devcluster.MustStart(t, binPath, nil)
	ctx := context.Background()
	last := c.Nodes[len(c.Nodes)-1].APIURL
	mustPost := func(base, path string, body any) map[string]any {
		t.Helper()
		out, err := postJSON(ctx, base+path, c.Token, body)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		return out
	}
	mustPost(c.Nodes[0].APIURL, "/shop/-/create", map[string]any{"table": "orders", "pk": "id",
		"rows": []map[string]any{{"id": 1, "email": "a@example.com", "total": 5}, {"id": 2, "email": "b@example.com", "total": 50}}})
	mustPost(c.Nodes[0].APIURL, "/shop/-/create", map[string]any{"table": "products", "pk": "id", "rows": []map[string]any{{"id": 1, "name": "kettle"}}})
	mustPost(c.Nodes[0].APIURL, "/shop/products/-/publish", map[string]any{})
	out := mustPost(last, "/shop/-/define-query", map[string]any{"name": "big_orders", "title": "Big orders",
		"sql": "SELECT count(*) AS n FROM orders WHERE total >= :min"})
	if fmt.Sprint(out["params"]) != "[min]" || fmt.Sprint(out["tables"]) != "[orders]" {
		t.Fatalf("define-query: %v", out)
	}
	mustPost(last, "/shop/-/metadata", map[string]any{"title": "The shop", "license": "CC0"})
	for _, r := range c.Nodes[1:] {
		devcluster.WaitFor(t, r.APIURL+"/shop/products.json", 200, 10*time.Second)
		// Private: the same answer as a missing query.
		s1, _, b1 := get(t, r.APIURL+"/shop/big_orders.json?min=10")
		s2, _, b2 := get(t, r.APIURL+"/shop/nosuchqry.json?min=10")
		if s1 != 404 || strings.ReplaceAll(fmt.Sprint(b1), "big_orders", "X") != strings.ReplaceAll(fmt.Sprint(b2), "nosuchqry", "X") {
			t.Fatalf("%s: private query %d %v; missing %d %v", r.Region, s1, b1, s2, b2)
		}
	}
	mustPost(c.Nodes[1].APIURL, "/shop/-/publish-query", map[string]any{"name": "big_orders"})
	for _, r := range c.Nodes[1:] {
		path := r.APIURL + "/shop/big_orders.json?min=" + url.QueryEscape("10")
		took := devcluster.WaitFor(t, path, 200, 5*time.Second)
		status, _, body := get(t, path)
		if status != 200 || fmt.Sprint(body["rows"]) != "[map[n:1]]" || body["query_name"] != "big_orders" {
			t.Fatalf("%s: %d %v", r.Region, status, body)
		}
		// The parameter is bound: an injection matches nothing.
		_, _, body = get(t, r.APIURL+"/shop/big_orders.json?min="+url.QueryEscape("0 OR 1=1"))
		if fmt.Sprint(body["rows"]) != "[map[n:0]]" {
			t.Fatalf("%s: injected parameter: %v", r.Region, body)
		}
		// The query reads orders; orders itself stays private.
		for _, suffix := range []string{".json", "/1.json"} {
			s1, _, b1 := get(t, r.APIURL+"/shop/orders"+suffix)
			s2, _, b2 := get(t, r.APIURL+"/shop/nosuch"+suffix)
			if s1 != 404 || strings.ReplaceAll(fmt.Sprint(b1), "orders", "X") != strings.ReplaceAll(fmt.Sprint(b2), "nosuch", "X") {
				t.Fatalf("%s: orders%s: %d %v; missing: %d %v", r.Region, suffix, s1, b1, s2, b2)
			}
		}
		_, _, md := get(t, r.APIURL+"/-/metadata.json")
		if got := fmt.Sprint(md); !strings.Contains(got, "The shop") || !strings.Contains(got, "big_orders") || strings.Contains(got, "tables:") {
			t.Fatalf("%s: /-/metadata.json: %s", r.Region, got)
		}
		t.Logf("%s runs the published query %s after publish", r.Region, took)
	}
}
