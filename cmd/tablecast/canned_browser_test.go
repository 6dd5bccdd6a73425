package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/tablecast/tablecast/deploy/devcluster"
)

// A visitor on a replica reads the database's and a table's metadata
// (title, rendered description, source and licence links, column notes),
// opens a public canned query's form, fills its parameter and runs it.
func TestCanned_PagesBrowser(t *testing.T) {
	ctx := newBrowser(t)
	c := devcluster.MustStart(t, binPath, nil)
	p, syd := c.Nodes[0].APIURL, c.Nodes[1].APIURL
	for _, s := range []struct{ path, body string }{
		{"/shop/-/create", `{"table":"orders","pk":"id","rows":[{"id":1,"customer":"ann","total":5},{"id":2,"customer":"bob","total":50},{"id":3,"customer":"cid","total":75}]}`},
		{"/shop/-/create", `{"table":"products","pk":"id","rows":[{"id":1,"name":"kettle","price":20},{"id":2,"name":"teapot","price":35}]}`},
		{"/shop/products/-/publish", `{}`},
		{"/shop/-/define-query", `{"name":"big_orders","title":"Big orders","description":"Orders of at least **min** euros, from the private *orders* table.","sql":"SELECT id, total FROM orders WHERE total >= CAST(:min AS INTEGER) ORDER BY id"}`},
		{"/shop/-/publish-query", `{"name":"big_orders"}`},
		{"/shop/-/metadata", `{"title":"The shop","description":"What we **sell**, and a <script>alert(1)</script> that never runs.","license":"CC BY 4.0","license_url":"https://creativecommons.org/licenses/by/4.0/","source":"Shop records","source_url":"https://example.org/shop"}`},
		{"/shop/-/metadata", `{"table":"products","title":"Products on sale","description":"Prices in *euros*."}`},
		{"/shop/-/metadata", `{"table":"products","column":"price","unit":"EUR","description":"Price with VAT"}`},
	} {
		if resp, out := send(t, http.DefaultClient, p+s.path, c.Token, s.body); resp.StatusCode/100 != 2 {
			t.Fatalf("%s: %d %v", s.path, resp.StatusCode, out)
		}
	}
	devcluster.WaitFor(t, syd+"/shop/big_orders.json", 200, 10*time.Second)
	devcluster.WaitFor(t, syd+"/shop/products.json?_extra=metadata", 200, 10*time.Second)

	// The database page: its metadata and the public query.
	if err := chromedp.Do(ctx, chromedp.Navigate(syd+"/shop"), chromedp.WaitVisible(chromedp.CSS("ul.queries"))); err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	if err != nil || !strings.Contains(text, "The shop") || !strings.Contains(text, "Big orders") || !strings.Contains(text, "CC BY 4.0") {
		t.Fatalf("database page: %q %v", text, err)
	}
	bold, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(".description strong").textContent`))
	if err != nil || bold != "sell" {
		t.Fatalf("rendered description: %q %v", bold, err)
	}
	scripts, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("main script").length`))
	if err != nil || scripts != 0 {
		t.Fatalf("scripts in the page: %d %v", scripts, err)
	}
	saveScreenshot(t, ctx, "canned-database.png")

	// The query's form: fill the parameter, run it.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`a[href="/shop/big_orders"]`)), chromedp.WaitVisible(chromedp.CSS(`input[name="min"]`))); err != nil {
		t.Fatal(err)
	}
	before, _ := chromedp.Run(ctx, chromedp.Location())
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`input[name="min"]`), "40"), chromedp.Submit(chromedp.CSS(`input[name="min"]`))); err != nil {
		t.Fatal(err)
	}
	waitNavigated(t, ctx, before)
	ids, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll("table.rows tbody tr td:first-child")).map(td => td.textContent)`))
	if err != nil || strings.Join(ids, ",") != "2,3" {
		t.Fatalf("query rows: %v %v", ids, err)
	}
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	if !strings.HasSuffix(loc, "/shop/big_orders?min=40") {
		t.Fatalf("form went to %s", loc)
	}
	saveScreenshot(t, ctx, "canned-query.png")

	// The table page: title, description, column notes.
	if err := chromedp.Do(ctx, chromedp.Navigate(syd+"/shop/products"), chromedp.WaitVisible(chromedp.CSS("dl.columns"))); err != nil {
		t.Fatal(err)
	}
	text, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	if err != nil || !strings.Contains(text, "Products on sale") || !strings.Contains(text, "Price with VAT") || !strings.Contains(text, "EUR") {
		t.Fatalf("table page: %q %v", text, err)
	}
	saveScreenshot(t, ctx, "canned-table.png")

	// The admin page lists the query, the tables it reads, and makes it
	// private; the replica then answers it as a missing one.
	err = chromedp.Do(ctx,
		chromedp.Navigate(syd+"/-/admin"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), c.Token),
		chromedp.Click(chromedp.CSS("#login button")),
		chromedp.WaitVisible(chromedp.CSS("#toggle-query-shop-big_orders button")),
	)
	if err != nil {
		t.Fatalf("admin: %v", err)
	}
	row, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("query-shop-big_orders")))
	if err != nil || !strings.Contains(row, "orders") || !strings.Contains(row, ":min") || !strings.Contains(row, "public") {
		t.Fatalf("admin query row: %q %v", row, err)
	}
	saveScreenshot(t, ctx, "canned-admin.png")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#toggle-query-shop-big_orders button"))); err != nil {
		t.Fatal(err)
	}
	waitElement(t, ctx, "done", 20*time.Second)
	if status, _, body := get(t, syd+"/shop/big_orders.json"); status != 404 {
		t.Fatalf("private query on the replica after the page said applied: %d %v", status, body)
	}
}
