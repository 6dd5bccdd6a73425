package main

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/tablecast/tablecast/deploy/devcluster"
)

// chromiumPath finds Debian's chromium (scripts/setup.sh installs it).
func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// newBrowser starts headless Chromium with its own profile folder and
// returns a tab's context, ended when the test ends.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		t.Skip("chromium is not installed (apt-get install chromium, as scripts/setup.sh does): skipping the browser test")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 900),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	tab, tcancel := chromedp.NewContext(actx)
	t.Cleanup(tcancel)
	return tab
}

// waitElement polls for an element by id across page loads (the page
// after a toggle reloads itself every second).
func waitElement(t *testing.T, ctx context.Context, id string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		found, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById(`+"`"+id+"`"+`) !== null`))
		if err == nil && found {
			return
		}
		if time.Now().After(deadline) {
			html, _ := chromedp.Run(ctx, chromedp.OuterHTML("html"))
			t.Fatalf("no #%s after %s (last error %v); page:\n%s", id, timeout, err, html)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// saveScreenshot writes a PNG of the tab under the test's TempDir and,
// when TABLECAST_ARTIFACTS is set, into that folder too.
func saveScreenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	paths := []string{filepath.Join(t.TempDir(), name)}
	if dir := os.Getenv("TABLECAST_ARTIFACTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, filepath.Join(dir, name))
	}
	for _, p := range paths {
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", p)
	}
}

// A person signs in to the admin pages through a replica, makes a table
// public, sees the page report every node applied it and the replica
// serve it, then makes it private again and the replica refuse it.
func TestCluster_AdminBrowser(t *testing.T) {
	ctx := newBrowser(t)
	c := devcluster.MustStart(t, binPath, nil)
	p, syd := c.Nodes[0].APIURL, c.Nodes[1].APIURL
	if resp, out := send(t, http.DefaultClient, p+"/shop/-/create", c.Token, `{"table":"products","pk":"id","rows":[{"id":1,"name":"kettle"},{"id":2,"name":"teapot"}]}`); resp.StatusCode != 201 {
		t.Fatalf("create: %d %v", resp.StatusCode, out)
	}
	table := syd + "/shop/products.json"
	if status, _, body := get(t, table); status != 404 {
		t.Fatalf("private table on the replica: %d %v", status, body)
	}

	err := chromedp.Do(ctx,
		chromedp.Navigate(syd+"/-/admin"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), c.Token),
		chromedp.Click(chromedp.CSS("#login button")),
		chromedp.WaitVisible(chromedp.ID("user")),
	)
	if err != nil {
		t.Fatalf("sign in: %v", err)
	}
	saveScreenshot(t, ctx, "admin-databases.png")

	toggle := func(want string) {
		t.Helper()
		err := chromedp.Do(ctx,
			chromedp.Navigate(syd+"/-/admin"),
			chromedp.WaitVisible(chromedp.CSS("#toggle-shop-products button")),
			chromedp.Click(chromedp.CSS("#toggle-shop-products button")),
		)
		if err != nil {
			t.Fatalf("toggle: %v", err)
		}
		waitElement(t, ctx, "done", 20*time.Second)
		text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main p")))
		if err != nil || !strings.Contains(text, want) {
			t.Fatalf("after the toggle: %q %v, want %q", text, err, want)
		}
	}

	toggle("made public")
	saveScreenshot(t, ctx, "admin-applied-public.png")
	// Applied on every node: the replica serves it now, without waiting.
	if status, _, body := get(t, table); status != 200 {
		t.Fatalf("public table on the replica after the page said applied: %d %v", status, body)
	}

	toggle("made private")
	saveScreenshot(t, ctx, "admin-applied-private.png")
	if status, _, body := get(t, table); status != 404 {
		t.Fatalf("private table on the replica after the page said applied: %d %v", status, body)
	}

	// The audit log shows both changes, by the dev token, with TXIDs.
	if err := chromedp.Do(ctx, chromedp.Navigate(syd+"/-/admin/audit"), chromedp.WaitVisible(chromedp.ID("audit"))); err != nil {
		t.Fatal(err)
	}
	audit, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("audit")))
	if err != nil || !strings.Contains(audit, "unpublish") || !strings.Contains(audit, "products") || !strings.Contains(audit, "sign-in") {
		t.Fatalf("audit log: %q %v", audit, err)
	}
	saveScreenshot(t, ctx, "admin-audit.png")
}
