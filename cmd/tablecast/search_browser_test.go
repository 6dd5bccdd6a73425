package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/deploy/devcluster"
)

// A visitor searches a public table on a replica with the page's search
// box, pages through the matches (the search kept in every link), and
// clears it; the table's index stays private.
func TestCluster_SearchBrowser(t *testing.T) {
	ctx := newBrowser(t)
	c := devcluster.MustStart(t, binPath, nil)
	p, syd := c.Nodes[0].APIURL, c.Nodes[1].APIURL
	rows := make([]map[string]any, 300)
	for i := range rows {
		title := fmt.Sprintf("note %d", i+1)
		if i%2 == 0 {
			title += " about a zebra"
		}
		rows[i] = map[string]any{"id": i + 1, "title": title}
	}
	body, _ := json.Marshal(map[string]any{"table": "articles", "pk": "id", "rows": rows})
	if resp, out := send(t, http.DefaultClient, p+"/shop/-/create", c.Token, string(body)); resp.StatusCode != 201 {
		t.Fatalf("create: %d %v", resp.StatusCode, out)
	}
	if resp, out := send(t, http.DefaultClient, p+"/shop/articles/-/publish", c.Token, `{}`); resp.StatusCode != 200 {
		t.Fatalf("publish: %d %v", resp.StatusCode, out)
	}
	// The index, as sqlite-utils' enable_fts makes it, on the primary's
	// mount (no write route makes one on this branch).
	mustIndex(t, filepath.Join(c.Nodes[0].FUSEDir, tablecast.DBFileName("shop")),
		`CREATE VIRTUAL TABLE [articles_fts] USING FTS4 ([title], content=[articles])`,
		`INSERT INTO articles_fts (rowid, title) SELECT rowid, title FROM articles`)
	devcluster.WaitFor(t, syd+"/shop/articles.json?_search=zebra", 200, 10*time.Second)

	if err := chromedp.Do(ctx, chromedp.Navigate(syd+"/shop/articles?_size=50"), chromedp.WaitVisible(chromedp.ID("_search"))); err != nil {
		t.Fatalf("table page: %v", err)
	}
	before, _ := chromedp.Run(ctx, chromedp.Location())
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("_search"), "zebra"), chromedp.Submit(chromedp.ID("_search"))); err != nil {
		t.Fatalf("search: %v", err)
	}
	waitNavigated(t, ctx, before)
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	if u, err := url.Parse(loc); err != nil || u.Query().Get("_search") != "zebra" || u.Query().Get("_size") != "50" {
		t.Fatalf("after the search: %s", loc)
	}
	count, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("count")))
	if !strings.HasPrefix(count, "150 rows where search matches \"zebra\"") {
		t.Fatalf("count line: %q", count)
	}
	saveScreenshot(t, ctx, "search-results.png")
	seen := map[string]bool{}
	for pages := 1; pages <= 5; pages++ {
		titles, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
			`Array.from(document.querySelectorAll("table.rows tbody tr td:nth-child(2)")).map(td => td.textContent)`))
		if err != nil {
			t.Fatal(err)
		}
		for _, title := range titles {
			if !strings.Contains(title, "zebra") || seen[title] {
				t.Fatalf("page %d: %q (seen: %t)", pages, title, seen[title])
			}
			seen[title] = true
		}
		hasNext, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("next") !== null`))
		if err != nil || !hasNext {
			break
		}
		before, _ := chromedp.Run(ctx, chromedp.Location())
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("next"))); err != nil {
			t.Fatalf("next page: %v", err)
		}
		waitNavigated(t, ctx, before)
		if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.Contains(loc, "_search=zebra") {
			t.Fatalf("page %d lost the search: %s", pages+1, loc)
		}
		if pages == 1 {
			saveScreenshot(t, ctx, "search-page-2.png")
		}
	}
	if len(seen) != 150 {
		t.Fatalf("saw %d matches paging forward, want 150", len(seen))
	}
	// The index itself is no page of the replica: a missing table's.
	for _, name := range []string{"articles_fts", "articles_fts_segdir"} {
		status, _, body := get(t, syd+"/shop/"+name+".json")
		if status != 404 || body["error"] != "Table not found: "+name {
			t.Fatalf("%s: %d %v", name, status, body)
		}
	}
}

// mustIndex runs statements on the database file at path (the primary's
// LiteFS mount).
func mustIndex(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+(&url.URL{Path: path}).EscapedPath()+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}
