package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tablecast/tablecast/deploy/devcluster"
)

// binPath is the tablecast binary built once for the end-to-end tests.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tablecast-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "tablecast")
	args := []string{"build", "-tags", "sqlite_fts5", "-o", binPath} // FTS5: enable-fts, _search
	if raceBuild {
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build tablecast: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// get fetches url without following redirects.
func get(tb testing.TB, url string) (int, http.Header, map[string]any) {
	tb.Helper()
	resp, err := noRedirect.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		tb.Fatalf("GET %s: %d, not JSON: %q", url, resp.StatusCode, raw)
	}
	return resp.StatusCode, resp.Header, body
}

var noRedirect = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func TestCluster_PublicGateOnReplicas(t *testing.T) {
	c := devcluster.MustStart(t, binPath, nil)
	ctx := context.Background()
	p := c.Nodes[0].APIURL
	mustPost := func(path string, body any) map[string]any {
		t.Helper()
		out, err := postJSON(ctx, p+path, c.Token, body)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	mustPost("/shop/-/create", map[string]any{"table": "products", "pk": "id",
		"rows": []map[string]any{{"id": 1, "name": "kettle"}, {"id": 2, "name": "teapot"}}})
	mustPost("/shop/-/create", map[string]any{"table": "orders", "pk": "id",
		"rows": []map[string]any{{"id": 1, "email": "secret@example.com"}}})
	mustPost("/shop/-/create", map[string]any{"table": "hidden", "rows": []map[string]any{{"x": 1}}})
	out := mustPost("/shop/products/-/publish", map[string]any{})
	if _, ok := out["txid"].(string); !ok {
		t.Fatalf("publish answer has no txid: %v", out)
	}

	for _, r := range c.Nodes[1:] {
		t.Run("Replica_"+r.Region, func(t *testing.T) {
			devcluster.WaitFor(t, r.APIURL+"/shop/products.json", 200, 10*time.Second)
			status, h, body := get(t, r.APIURL+"/shop/products.json")
			if status != 200 || len(body["rows"].([]any)) != 2 {
				t.Fatalf("products: %d %v", status, body)
			}
			if h.Get("Tablecast-Txid") == "" || h.Get("Tablecast-Region") != r.Region {
				t.Fatalf("headers: %v", h)
			}
			if status, _, body := get(t, r.APIURL+"/shop/products/2.json"); status != 200 || !strings.Contains(fmt.Sprint(body), "teapot") {
				t.Fatalf("row: %d %v", status, body)
			}
			assertPrivate(t, r.APIURL, "orders")
			assertPrivate(t, r.APIURL, "hidden")
			_, _, body = get(t, r.APIURL+"/shop.json")
			if got := fmt.Sprint(body["tables"]); strings.Contains(got, "orders") || !strings.Contains(got, "products") {
				t.Fatalf("/shop.json: %s", got)
			}
			_, _, body = get(t, r.APIURL+"/.json")
			if !strings.Contains(fmt.Sprint(body), "shop") {
				t.Fatalf("/.json: %v", body)
			}
		})
	}

	t.Run("UnpublishReachesReplicasWithin2s", func(t *testing.T) {
		mustPost("/shop/products/-/unpublish", map[string]any{})
		for _, r := range c.Nodes[1:] {
			took := devcluster.WaitFor(t, r.APIURL+"/shop/products.json", 404, 2*time.Second)
			t.Logf("%s refuses products %s after unpublish", r.Region, took)
			assertPrivate(t, r.APIURL, "products")
		}
		mustPost("/shop/products/-/publish", map[string]any{})
		for _, r := range c.Nodes[1:] {
			devcluster.WaitFor(t, r.APIURL+"/shop/products/1.json", 200, 2*time.Second)
		}
	})

	t.Run("WholeDatabase", func(t *testing.T) {
		r := c.Nodes[1].APIURL
		q := "/shop/-/query.json?sql=" + url.QueryEscape("select count(*) as n from orders")
		mustPost("/shop/-/publish", map[string]any{"sql": true})
		devcluster.WaitFor(t, r+"/shop/orders.json", 200, 2*time.Second)
		if status, _, body := get(t, r+q); status != 200 || !strings.Contains(fmt.Sprint(body), "n:1") {
			t.Fatalf("public SQL on a public database: %d %v", status, body)
		}
		mustPost("/shop/-/unpublish", map[string]any{})
		devcluster.WaitFor(t, r+"/shop/orders.json", 404, 2*time.Second)
		assertPrivate(t, r, "orders")
		if status, _, body := get(t, r+q); status == 200 {
			t.Fatalf("public SQL after unpublish: %d %v", status, body)
		}
		devcluster.WaitFor(t, r+"/shop/products.json", 200, 2*time.Second) // listed one by one: still public
	})
	t.Run("WriteOnReplicaForwardedToPrimary", func(t *testing.T) {
		r := c.Nodes[1]
		req, _ := http.NewRequest(http.MethodPost, r.APIURL+"/shop/products/-/insert", strings.NewReader(`{"row":{"id":3,"name":"cup"}}`))
		req.Header.Set("Authorization", "Bearer "+c.Token)
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 201 || resp.Header.Get("Tablecast-Served-By") != "primary" {
			t.Fatalf("status %d served by %q, want 201 from the primary", resp.StatusCode, resp.Header.Get("Tablecast-Served-By"))
		}
		devcluster.WaitFor(t, r.APIURL+"/shop/products/3.json", 200, 2*time.Second)
	})
}

// assertPrivate checks every public route answers for table exactly as
// for a table that does not exist.
func assertPrivate(t *testing.T, base, table string) {
	t.Helper()
	for _, suffix := range []string{".json", "/1.json", "/1.json?_size=1", ".json?_size=5"} {
		s1, _, b1 := get(t, base+"/shop/"+table+suffix)
		s2, _, b2 := get(t, base+"/shop/nosuchtable"+suffix)
		e1 := strings.ReplaceAll(fmt.Sprint(b1), table, "X")
		e2 := strings.ReplaceAll(fmt.Sprint(b2), "nosuchtable", "X")
		if s1 != 404 || s2 != 404 || e1 != e2 {
			t.Fatalf("%s%s: %d %v; missing table: %d %v", table, suffix, s1, b1, s2, b2)
		}
	}
	if status, _, body := get(t, base+"/shop.json"); status == 200 && strings.Contains(fmt.Sprint(body), table) {
		t.Fatalf("/shop.json lists %s: %v", table, body)
	}
}
