package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/tablecast/tablecast/deploy/devcluster"
)

// A visitor opens a public table's page on a replica, pages forward to the
// end seeing every row once, and finds no trace of a private table.
func TestCluster_PublicPagesBrowser(t *testing.T) {
	ctx := newBrowser(t)
	c := devcluster.MustStart(t, binPath, nil)
	p, syd := c.Nodes[0].APIURL, c.Nodes[1].APIURL
	rows := make([]map[string]any, 250)
	for i := range rows {
		rows[i] = map[string]any{"id": i + 1, "name": fmt.Sprintf("item %d", i+1)}
	}
	body, _ := json.Marshal(map[string]any{"table": "items", "pk": "id", "rows": rows})
	for _, b := range []string{string(body), `{"table":"secrets","pk":"id","rows":[{"id":1,"secret":"hunter2"}]}`} {
		if resp, out := send(t, http.DefaultClient, p+"/shop/-/create", c.Token, b); resp.StatusCode != 201 {
			t.Fatalf("create: %d %v", resp.StatusCode, out)
		}
	}
	if resp, out := send(t, http.DefaultClient, p+"/shop/items/-/publish", c.Token, `{}`); resp.StatusCode != 200 {
		t.Fatalf("publish: %d %v", resp.StatusCode, out)
	}
	devcluster.WaitFor(t, syd+"/shop/items.json", 200, 10*time.Second)

	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(syd+"/shop/items?_size=100"))
	if err != nil || resp.Status != 200 {
		t.Fatalf("table page: %v %v", resp, err)
	}
	seen := map[string]bool{}
	for pages := 1; ; pages++ {
		ids, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
			`Array.from(document.querySelectorAll("table.rows tbody tr td:first-child")).map(td => td.textContent)`))
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if seen[id] {
				t.Fatalf("page %d: row %s again", pages, id)
			}
			seen[id] = true
		}
		if pages == 1 {
			saveScreenshot(t, ctx, "public-table.png")
		}
		hasNext, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("next") !== null`))
		if err != nil || !hasNext || pages > 5 {
			break
		}
		before, _ := chromedp.Run(ctx, chromedp.Location())
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("next"))); err != nil {
			t.Fatalf("next page: %v", err)
		}
		waitNavigated(t, ctx, before)
	}
	if len(seen) != 250 {
		t.Fatalf("saw %d rows paging forward, want 250", len(seen))
	}

	// The database page lists the public table and not the private one.
	if err := chromedp.Do(ctx, chromedp.Navigate(syd+"/shop"), chromedp.WaitVisible(chromedp.CSS("ul.tables"))); err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	if err != nil || !strings.Contains(text, "items") || strings.Contains(text, "secrets") {
		t.Fatalf("database page: %q %v", text, err)
	}
	// The private table's page reads exactly as a missing table's.
	texts := map[string]string{}
	for _, name := range []string{"secrets", "nosuchtable"} {
		resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(syd+"/shop/"+name))
		if err != nil || resp.Status != 404 {
			t.Fatalf("%s page: %v %v", name, resp, err)
		}
		text, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
		texts[name] = strings.ReplaceAll(text, name, "X")
	}
	if texts["secrets"] != texts["nosuchtable"] || strings.Contains(texts["secrets"], "hunter2") {
		t.Fatalf("private page %q, missing page %q", texts["secrets"], texts["nosuchtable"])
	}
}

// waitNavigated polls until the tab left URL before and finished loading.
func waitNavigated(t *testing.T, ctx context.Context, before string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		loc, err := chromedp.Run(ctx, chromedp.Location())
		if err == nil && loc != before {
			ready, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.readyState === "complete" && document.getElementById("count") !== null`))
			if err == nil && ready {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("still on %s after clicking next", before)
}
