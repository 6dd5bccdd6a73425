package replica

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/replica/gate"
	"github.com/tablecast/tablecast/routing"
)

// routedNode is the routing.Node of a fixture: the primary (so a read it
// cannot serve fresh enough is refused, not forwarded), with the fixture's
// TXIDs. They do not move during a request: WaitTXID returns at once when
// the TXID is there, else when ctx ends.
type routedNode struct{ pos *fakePositions }

func (n routedNode) Ready() bool                           { return true }
func (n routedNode) IsPrimary() bool                       { return true }
func (n routedNode) PrimaryURL() string                    { return "" }
func (n routedNode) PrimaryNodeURL() string                { return "" }
func (n routedNode) PrimaryName() string                   { return "" }
func (n routedNode) Lag() time.Duration                    { return 0 }
func (n routedNode) TXID(db string) (tablecast.TXID, bool) { return n.pos.TXID(db) }
func (n routedNode) WaitTXID(ctx context.Context, db string, want tablecast.TXID) error {
	if have, _ := n.pos.TXID(db); have >= want {
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}

// seedPrivacy makes "ghost", a database with only private tables (written
// to several times: its TXID is well past 1), and "demo" with a public
// table and a private one.
func seedPrivacy(f *fixture) {
	f.MustExec("ghost", gate.PublicTablesDDL, `CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)`)
	for range 5 {
		f.MustExec("ghost", `INSERT INTO t (v) VALUES ('secret')`)
	}
	seedDemo(f)
}

// answer is what a visitor can observe of a response, the name asked for
// written as NAME.
type answer struct {
	status int
	header http.Header
	body   string
}

func observe(t *testing.T, h http.Handler, method, path, name string, hdr ...string) answer {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	resp := w.Result()
	b, _ := io.ReadAll(resp.Body)
	hd := resp.Header.Clone()
	hd.Del("Date")
	return answer{resp.StatusCode, hd, strings.ReplaceAll(string(b), name, "NAME")}
}

// A database with no public table and one that does not exist answer the
// same, byte for byte but for the name asked for, through the router and
// the reader: every route and format, with bookmarks (small, huge,
// malformed; query, header, cookie), _max_lag, HEAD. So do a private
// table and a missing one of a public database. Neither carries a TXID or
// an ETag, and neither is cached.
func TestPrivateAnswersAsMissing(t *testing.T) {
	f := newFixture(t)
	seedPrivacy(f)
	rt := routing.New(routedNode{f.pos}, routing.Config{BookmarkWait: 5 * time.Millisecond, StaleMode: routing.StaleRefuse})
	rt.Reads, rt.Name, rt.Region = f.reader, "n1", "r1"
	entries := f.reader.Cache.Stats().Entries

	pairs := []struct{ private, missing, name1, name2 string }{
		{"/ghost", "/nodbx", "ghost", "nodbx"},                   // databases: private-only vs missing
		{"/demo/secrets", "/demo/missing", "secrets", "missing"}, // tables of a public database
		{"/ghost/t", "/nodbx/t", "ghost", "nodbx"},               // a private table of a private database
	}
	suffixes := []string{".json", "", ".csv", "/1.json", "/1", ".csv?_stream=on", "/-/query.json?sql=select+1", "/-/query.csv?sql=select+1", "/-/query?sql=select+1",
		".json?sql=select+1", "?sql=select+1", "/1.blob?_blob_column=v", "/1.blob", ".json?sql=select+1&_shape=array", "?sql=select+%2A+from+t", ".csv?sql=select+1", ".csv",
		"/1.json?_bogus=1", "/1.csv?_size=1", "/-/query.json?sql=select+1&_bogus=1", ".json?_bogus=1", "?_facet=x",
		".json?_facet=id", ".json?_facet=x", "?_facet=id&_facet_size=max", ".json?_facet_date=id&_facet_array=id", ".json?_labels=on", "?_labels=off", ".csv?_label=id",
		".json?_extra=suggested_facets,expandable_columns", ".json?_facet=id&_facet_size=zz",
		".json?_sort=nope&_size=zz", ".json?id__in=1,2",
		"/1.csv", "/1.json?_shape=array", "/1?_shape=object", "/a~2Cb,1.json", "/x%2Cy~7E.csv?_dl=1", "/1.json?_shape=nope", ".json?_next=1", ".json?_sort=id&_next=$null,1"}
	variants := []struct {
		query string
		hdr   []string
	}{
		{"", nil},
		{"_txid=1", nil},
		{"_txid=ffffffffffffffff", nil},
		{"_txid=zz", nil},
		{"_txid=0000000000000003", nil},
		{"_max_lag=1s", nil},
		{"_max_lag=1ms", nil},
		{"", []string{routing.HeaderTXIDIn, "0000000000000002"}},
		{"", []string{"Cookie", routing.CookieName + "=ghost:0000000000000001.nodbx:0000000000000001.demo:0000000000000001"}},
		{"", []string{"If-None-Match", "*"}},
	}
	n := 0
	for _, p := range pairs {
		for _, suf := range suffixes {
			for _, v := range variants {
				for _, method := range []string{"GET", "HEAD"} {
					paths := [2]string{p.private + suf, p.missing + suf}
					if v.query != "" {
						for i := range paths {
							sep := "?"
							if strings.Contains(paths[i], "?") {
								sep = "&"
							}
							paths[i] += sep + v.query
						}
					}
					a := observe(t, rt, method, paths[0], p.name1, v.hdr...)
					b := observe(t, rt, method, paths[1], p.name2, v.hdr...)
					if a.status != b.status || a.body != b.body || !sameHeaders(a.header, b.header) {
						t.Errorf("%s %s vs %s:\n  %d %v %q\n  %d %v %q", method, paths[0], paths[1], a.status, a.header, a.body, b.status, b.header, b.body)
					}
					for _, x := range []answer{a, b} {
						if x.header.Get(tablecast.HeaderTXID) != "" || x.header.Get("ETag") != "" || x.status == 200 {
							t.Errorf("%s %s: %d with TXID %q, ETag %q", method, paths[0], x.status, x.header.Get(tablecast.HeaderTXID), x.header.Get("ETag"))
						}
						if strings.Contains(x.body, "0000000000000006") || strings.Contains(x.body, "0000000000000007") {
							t.Errorf("%s %s: a TXID of ghost in %q", method, paths[0], x.body)
						}
					}
					n++
				}
			}
		}
	}
	if got := f.reader.Cache.Stats().Entries; got != entries {
		t.Errorf("the cache went from %d to %d entries on not-found answers", entries, got)
	}
	t.Logf("%d pairs compared", n)

	// The public table itself still answers, with its TXID and ETag; its
	// bookmark is honoured (the database is visible), a future one refused.
	if a := observe(t, rt, "GET", "/demo/cities.json?_txid=1", ""); a.status != 200 || a.header.Get(tablecast.HeaderTXID) == "" || a.header.Get("ETag") == "" {
		t.Fatalf("public table: %d %v", a.status, a.header)
	}
	if a := observe(t, rt, "GET", "/demo/cities.json?_txid=ffffffffffffffff", ""); a.status != 504 {
		t.Fatalf("public table with a future bookmark: %d %s", a.status, a.body)
	}
}

// sameHeaders compares header names and values, but Content-Length (the
// name asked for is in the body).
func sameHeaders(a, b http.Header) bool {
	keys := func(h http.Header) []string {
		var out []string
		for k, v := range h {
			if k != "Content-Length" {
				out = append(out, k+"="+strings.Join(v, ","))
			}
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(keys(a), keys(b))
}

// After a write to a private table, its 404 is the missing table's: it
// does not depend on the private table's version (not cached, so no miss
// either), and the write's TXID shows nowhere.
func TestPrivateWriteKeepsNotFound(t *testing.T) {
	f := newFixture(t)
	seedPrivacy(f)
	before := [2]answer{observe(t, f.reader, "GET", "/demo/secrets.json", "secrets"), observe(t, f.reader, "GET", "/demo/missing.json", "missing")}
	f.MustExec("demo", `INSERT INTO secrets VALUES (2, 'more')`)
	after := [2]answer{observe(t, f.reader, "GET", "/demo/secrets.json", "secrets"), observe(t, f.reader, "GET", "/demo/missing.json", "missing")}
	for i := range before {
		if before[i].status != 404 || before[i].body != after[i].body || before[i].body != before[0].body {
			t.Fatalf("before %v, after %v", before, after)
		}
	}
}
