package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tablecast/tablecast/deploy/devcluster"
)

// TestWriteAPI_UpdateDropAlter: the rest of Datasette's write API on a
// real cluster (issue 17 §4). An update is seen on a replica; "alter":
// true shows its new column in a page the replica had cached; a dropped
// public table answers on a replica, every format, byte for byte as a
// missing table does, the page it had cached included, and a new table of
// its name stays private.
func TestWriteAPI_UpdateDropAlter(t *testing.T) {
	c := devcluster.MustStart(t, binPath, nil)
	ctx := context.Background()
	p, r := c.Nodes[0].APIURL, c.Nodes[1].APIURL
	post := func(url string, body any) map[string]any {
		t.Helper()
		out, err := c.PostTo(ctx, url, body, http.StatusOK)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, table := range []string{"products", "stores"} {
		if _, err := c.PostTo(ctx, p+"/shop/-/create", map[string]any{"table": table, "pk": "id",
			"rows": []map[string]any{{"id": 1, "name": "kettle"}, {"id": 2, "name": "teapot"}}}, http.StatusCreated); err != nil {
			t.Fatal(err)
		}
		post(p+"/shop/"+table+"/-/publish", map[string]any{})
	}
	devcluster.WaitFor(t, r+"/shop/products.json", 200, 10*time.Second)
	devcluster.WaitFor(t, r+"/shop/stores.json", 200, 10*time.Second)
	// seen waits until the replica has applied txid (a bookmarked read of
	// the table that stays public).
	seen := func(txid any) {
		t.Helper()
		resp := getRaw(t, fmt.Sprintf("%s/shop/stores.json?_txid=%v", r, txid))
		if resp.status != 200 || resp.header.Get("Tablecast-Served-By") == "primary" {
			t.Fatalf("bookmarked read %v: %d, served by %q", txid, resp.status, resp.header.Get("Tablecast-Served-By"))
		}
	}

	t.Run("UpdateSeenOnReplica", func(t *testing.T) {
		// Sent to the replica: its forwarder takes it to the primary.
		out := post(r+"/shop/products/1/-/update", map[string]any{"update": map[string]any{"name": "mug"}, "return": true})
		if got := fmt.Sprint(out["rows"]); got != "[map[id:1 name:mug]]" {
			t.Fatalf("returned rows %s", got)
		}
		seen(out["txid"])
		if _, _, body := get(t, r+"/shop/products/1.json"); !strings.Contains(fmt.Sprint(body["rows"]), "mug") {
			t.Fatalf("replica row after update: %v", body)
		}
	})

	page := r + "/shop/products.json?_sort=id"
	t.Run("AlterShowsInCachedPage", func(t *testing.T) {
		getRaw(t, page)
		hits := cacheHits(t, c, r)
		before := getRaw(t, page)
		if cacheHits(t, c, r) != hits+1 {
			t.Fatalf("the page was not cached")
		}
		out := post(p+"/shop/products/-/upsert", map[string]any{"rows": []map[string]any{{"id": 2, "colour": "blue"}}, "alter": true})
		seen(out["txid"])
		after := getRaw(t, page)
		if after.status != 200 || !strings.Contains(string(after.body), `"colour"`) || !strings.Contains(string(after.body), `"blue"`) {
			t.Fatalf("page after alter:\n%s\nbefore:\n%s", after.body, before.body)
		}
	})

	t.Run("DropAnswersAsMissing", func(t *testing.T) {
		preview := post(r+"/shop/products/-/drop", map[string]any{})
		if preview["row_count"] != 2.0 || preview["message"] != `Pass "confirm": true to confirm` {
			t.Fatalf("preview %v", preview)
		}
		out := post(r+"/shop/products/-/drop", map[string]any{"confirm": true})
		seen(out["txid"])
		assertAnswersAsMissing(t, r, "products")
	})

	t.Run("NewTableOfTheNameIsPrivate", func(t *testing.T) {
		out, err := c.PostTo(ctx, p+"/shop/-/create", map[string]any{"table": "products", "pk": "id",
			"rows": []map[string]any{{"id": 1, "secret": "s3cret"}}}, http.StatusCreated)
		if err != nil {
			t.Fatal(err)
		}
		seen(out["txid"])
		assertAnswersAsMissing(t, r, "products")
	})
}

// rawAnswer is a GET's status, headers and body.
type rawAnswer struct {
	status int
	header http.Header
	body   []byte
}

func getRaw(tb testing.TB, url string) rawAnswer {
	tb.Helper()
	resp, err := noRedirect.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return rawAnswer{status: resp.StatusCode, header: resp.Header, body: body}
}

// assertAnswersAsMissing compares every read of table on base, each
// format, with the same read of a table that never existed: the same
// status, content type and body byte for byte, once the name is swapped.
func assertAnswersAsMissing(t *testing.T, base, table string) {
	t.Helper()
	const missing = "nosuchtable"
	for _, suffix := range []string{".json", ".json?_sort=id", ".csv", "", "/1.json", "/1.csv", "/1", "/1.json?_shape=array"} {
		got := getRaw(t, base+"/shop/"+table+suffix)
		want := getRaw(t, base+"/shop/"+missing+suffix)
		wantBody := bytes.ReplaceAll(want.body, []byte(missing), []byte(table))
		if got.status != 404 || got.status != want.status || !bytes.Equal(got.body, wantBody) ||
			got.header.Get("Content-Type") != want.header.Get("Content-Type") {
			t.Errorf("%s%s: %d %s\n%s\nmissing table: %d %s\n%s", table, suffix, got.status, got.header.Get("Content-Type"), got.body,
				want.status, want.header.Get("Content-Type"), want.body)
		}
	}
}

// cacheHits reads the node's tablecast_cache_hits_total.
func cacheHits(tb testing.TB, c *devcluster.Cluster, base string) int {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := noRedirect.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "tablecast_cache_hits_total "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return int(n)
		}
	}
	tb.Fatalf("%s/metrics: no tablecast_cache_hits_total (%s)", base, resp.Status)
	return 0
}
