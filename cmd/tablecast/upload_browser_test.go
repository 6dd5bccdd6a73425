package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/tablecast/tablecast/deploy/devcluster"
)

// A person uploads a CSV in the admin pages through a replica: sees the
// first rows and the detected types, names the table, creates it, sees
// every node apply it; the table is private (anonymous visitors get the
// missing table's answer) and a read token reads its typed rows.
func TestCluster_UploadCSVBrowser(t *testing.T) {
	ctx := newBrowser(t)
	c := devcluster.MustStart(t, binPath, nil)
	syd := c.Nodes[1].APIURL
	csv := filepath.Join(t.TempDir(), "birds.csv")
	data := "id,name,weight,seen\n1,Robin,0.08,2026-12-01\n2,\"Heron, grey\",1.5,2026-12-02\n3,Wren,,2026-12-03\n"
	if err := os.WriteFile(csv, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}

	err := chromedp.Do(ctx,
		chromedp.Navigate(syd+"/-/admin"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), c.Token),
		chromedp.Click(chromedp.CSS("#login button")),
		chromedp.WaitVisible(chromedp.ID("user")),
		chromedp.Navigate(syd+"/-/admin/upload"),
		chromedp.WaitVisible(chromedp.ID("file")),
		chromedp.SetUploadFiles("#file", []string{csv}),
		chromedp.SendKeys(chromedp.ID("new_db"), "nature"),
	)
	if err != nil {
		t.Fatalf("upload form: %v", err)
	}
	saveScreenshot(t, ctx, "upload-form.png")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#upload button")), chromedp.WaitVisible(chromedp.ID("preview"))); err != nil {
		t.Fatalf("preview: %v", err)
	}
	preview, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("preview")))
	if err != nil || !strings.Contains(preview, "Heron, grey") || !strings.Contains(preview, "integer") || !strings.Contains(preview, "float") {
		t.Fatalf("preview: %q %v", preview, err)
	}
	saveScreenshot(t, ctx, "upload-preview.png")
	err = chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("table"), "birds"),
		chromedp.SetValue(chromedp.ID("pk"), "id"),
		chromedp.Click(chromedp.CSS("#create button")),
	)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	waitElement(t, ctx, "done", 20*time.Second)
	if text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main p"))); err != nil || !strings.Contains(text, "nature.birds was created, private,") {
		t.Fatalf("after the create: %q %v", text, err)
	}
	saveScreenshot(t, ctx, "upload-applied.png")

	// Applied everywhere: private on the replica, readable with a token.
	s1, _, b1 := readAs(t, syd+"/nature/birds.json", "")
	s2, _, b2 := readAs(t, syd+"/nature/nosuch.json", "")
	if s1 != 404 || s1 != s2 || strings.ReplaceAll(b1, "birds", "X") != strings.ReplaceAll(b2, "nosuch", "X") {
		t.Fatalf("uploaded table: %d %s; missing one: %d %s", s1, b1, s2, b2)
	}
	status, _, body := readAs(t, c.Nodes[0].APIURL+"/nature/birds/2.json?_shape=array", c.Token)
	if want := `[{"id":2,"name":"Heron, grey","weight":1.5,"seen":"2026-12-02"}]`; status != 200 || strings.TrimSpace(body) != want {
		t.Fatalf("row 2: %d %s, want %s", status, body, want)
	}
}
