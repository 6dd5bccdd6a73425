package main

import (
	"database/sql"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/replica"
	"github.com/tablecast/tablecast/replica/gate"
)

// onePosition is a node holding one database at TXID 1.
type onePosition string

func (p onePosition) TXID(db string) (tablecast.TXID, bool) { return 1, db == string(p) }
func (p onePosition) Databases() []string                   { return []string{string(p)} }

// A visitor opens a table page with two facets: the facet boxes stand
// above the table with their counts, a foreign key's values show the
// labels of a public table as links (and a private table's keys stay raw),
// clicking a facet value filters the page and marks it selected, and its
// cross takes the filter off again. The reader serves a plain SQLite file
// (no cluster: the write API makes no foreign keys yet).
func TestReader_FacetsBrowser(t *testing.T) {
	ctx := newBrowser(t)
	dir := t.TempDir()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, tablecast.DBFileName("zoo")))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{gate.PublicTablesDDL,
		`CREATE TABLE owners (id INTEGER PRIMARY KEY, name TEXT)`,
		`INSERT INTO owners VALUES (1, 'Ann'), (2, 'Ben')`,
		`CREATE TABLE vaults (id INTEGER PRIMARY KEY, name TEXT)`,
		`INSERT INTO vaults VALUES (1, 'Zurich')`,
		`CREATE TABLE pets (id INTEGER PRIMARY KEY, name TEXT, kind TEXT, owner_id INTEGER REFERENCES owners(id), vault_id INTEGER REFERENCES vaults(id))`,
		`INSERT INTO pets VALUES (1, 'Tom', 'cat', 1, 1), (2, 'Rex', 'dog', 2, 1), (3, 'Kit', 'cat', 2, NULL), (4, 'Nemo', 'fish', 1, 1), (5, 'Zoe', 'cat', NULL, 1)`,
		`INSERT INTO _public_tables VALUES ('pets', 'now', 'test'), ('owners', 'now', 'test')`,
	} {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	db.Close()
	r := replica.NewReader(dir, onePosition("zoo"), &tablecast.CommitFence{})
	srv := httptest.NewServer(r)
	t.Cleanup(func() { srv.Close(); _ = r.Close() })

	// The plain page suggests facets; following one adds its box.
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/zoo/pets"), chromedp.WaitVisible(chromedp.ID("count"))); err != nil {
		t.Fatal(err)
	}
	suggested, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector(".suggested-facets") || {}).innerText || ""`))
	if err != nil || suggested != "Suggested facets: kind, owner_id" {
		t.Fatalf("suggested facets %q %v", suggested, err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`.suggested-facets a`)), chromedp.WaitVisible(chromedp.CSS(".facet-results"))); err != nil {
		t.Fatal(err)
	}
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.HasSuffix(loc, "/zoo/pets?_facet=kind") {
		t.Fatalf("suggestion led to %s", loc)
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/zoo/pets?_facet=kind&_facet=owner_id"),
		chromedp.WaitVisible(chromedp.CSS(".facet-results"))); err != nil {
		t.Fatal(err)
	}
	boxes, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll(".facet-info")).map(b => b.innerText.replace(/\s+/g, " ").trim())`))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"kind 3 ✖ cat 3 dog 1 fish 1", "owner_id 2 ✖ Ann 2 Ben 2"}; strings.Join(boxes, "|") != strings.Join(want, "|") {
		t.Fatalf("facet boxes %q, want %q", boxes, want)
	}
	cells, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll("table.rows tbody tr:first-child td")).map(td => td.innerHTML)`))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cells, "|"); !strings.Contains(got, `<a href="/zoo/owners/1">Ann</a>&nbsp;<em>1</em>|1`) {
		t.Fatalf("first row %q: want owner 1 labelled Ann with a link, vault 1 raw (vaults is private)", got)
	}
	saveScreenshot(t, ctx, "facets-table.png")

	// Clicking "cat" filters the page, and its box shows it selected.
	before, _ := chromedp.Run(ctx, chromedp.Location())
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`a[data-facet-value="cat"]`))); err != nil {
		t.Fatal(err)
	}
	waitNavigated(t, ctx, before)
	count, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("count")))
	if !strings.HasPrefix(count, `3 rows where kind = "cat"`) {
		t.Fatalf("after clicking cat: %q", count)
	}
	boxes, _ = chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll(".facet-info")).map(b => b.innerText.replace(/\s+/g, " ").trim())`))
	if want := "kind 1 ✖ cat · 3 ✖|owner_id 2 ✖ Ann 1 Ben 1"; strings.Join(boxes, "|") != want {
		t.Fatalf("after clicking cat: boxes %q, want %q", boxes, want)
	}
	saveScreenshot(t, ctx, "facets-selected.png")

	// The selected value's cross takes the filter off.
	before, _ = chromedp.Run(ctx, chromedp.Location())
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`.facet-info[data-column="kind"] li a.cross`))); err != nil {
		t.Fatal(err)
	}
	waitNavigated(t, ctx, before)
	if count, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("count"))); !strings.HasPrefix(count, "5 rows") {
		t.Fatalf("after the cross: %q", count)
	}

	// A label links to the referenced row's page.
	href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("table.rows a[href^='/zoo/owners/']").href`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(href))
	if err != nil || resp.Status != 200 {
		t.Fatalf("label link %s: %v %v", href, resp, err)
	}
	if text, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main"))); !strings.Contains(text, "Ann") {
		t.Fatalf("owner page %s: %q", href, text)
	}
}
