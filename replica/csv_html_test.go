package replica

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tablecast/tablecast/replica/gate"
)

func TestReader_CSV(t *testing.T) {
	f := newFixture(t)
	f.MustExec("demo", gate.PublicTablesDDL,
		`CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT, r REAL, b BLOB)`,
		`INSERT INTO t VALUES (1, 'plain', 1.0, NULL), (2, 'a,b', 2.5, x'00ff'), (3, 'say "hi"', 1e20, NULL),
			(4, 'two
lines', NULL, NULL), (5, '', 0.0001, NULL)`,
		`CREATE TABLE n (id INTEGER PRIMARY KEY, v INTEGER)`,
		`WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 2500) INSERT INTO n SELECT i, i % 10 FROM c`,
		`CREATE TABLE secrets (x)`,
		publish("t"), publish("n"))
	t.Run("Quoting", func(t *testing.T) {
		status, h, raw := f.MustFetch("/demo/t.csv")
		// A blob is the URL that downloads it, as in Datasette's CSV.
		want := "id,s,r,b\r\n1,plain,1.0,\r\n2,\"a,b\",2.5," + f.srv.URL + "/demo/t/2.blob?_blob_column=b\r\n3,\"say \"\"hi\"\"\",1e+20,\r\n4,\"two\nlines\",,\r\n5,,0.0001,\r\n"
		if status != 200 || raw != want {
			t.Fatalf("%d\n got %q\nwant %q", status, raw, want)
		}
		if ct := h.Get("Content-Type"); ct != contentCSVText {
			t.Fatalf("content type %q", ct)
		}
		recs, err := csv.NewReader(strings.NewReader(raw)).ReadAll()
		if err != nil || len(recs) != 6 || recs[4][1] != "two\nlines" {
			t.Fatalf("reparse: %v %q", err, recs)
		}
	})
	t.Run("FiltersSortDownload", func(t *testing.T) {
		status, h, raw := f.MustFetch("/demo/t.csv?_col=s&_sort_desc=id&id__lte=2&_dl=1&_header=off")
		if want := "2,\"a,b\"\r\n1,plain\r\n"; status != 200 || raw != want {
			t.Fatalf("%d %q, want %q", status, raw, want)
		}
		if h.Get("Content-Type") != contentCSV || !strings.Contains(h.Get("Content-Disposition"), `filename="t.csv"`) {
			t.Fatalf("headers %v", h)
		}
	})
	t.Run("OnePageUnlessStreamed", func(t *testing.T) {
		_, _, raw := f.MustFetch("/demo/n.csv")
		if got := strings.Count(raw, "\r\n"); got != 101 {
			t.Fatalf("page: %d lines, want 101", got)
		}
		status, h, raw := f.MustFetch("/demo/n.csv?_stream=on&v=3")
		if got := strings.Count(raw, "\r\n"); status != 200 || got != 251 || h.Get("Tablecast-Txid") == "" {
			t.Fatalf("stream: %d, %d lines, want 251", status, got)
		}
		_, _, raw = f.MustFetch("/demo/n.csv?_stream=on&_sort_desc=v")
		if got := strings.Count(raw, "\r\n"); got != 2501 || !strings.HasPrefix(raw, "id,v\r\n9,9\r\n") {
			t.Fatalf("sorted stream: %d lines: %.40q", got, raw)
		}
	})
	t.Run("PrivateSameAsMissing", func(t *testing.T) {
		for _, q := range []string{"", "?_stream=on", "?x=1", "?_sort=zz"} {
			s1, _, b1 := f.MustFetch("/demo/secrets.csv" + q)
			s2, _, b2 := f.MustFetch("/demo/nosuch.csv" + q)
			if s1 != 404 || s2 != 404 || strings.ReplaceAll(b1, "secrets", "X") != strings.ReplaceAll(b2, "nosuch", "X") {
				t.Fatalf("%s: %d %s / %d %s", q, s1, b1, s2, b2)
			}
		}
	})
}

func TestReader_HTML(t *testing.T) {
	f := newFixture(t)
	seedSQL(f)
	f.MustExec("demo", `CREATE TABLE pairs (a TEXT, b INTEGER, v TEXT, PRIMARY KEY (a, b)) WITHOUT ROWID`,
		`INSERT INTO pairs VALUES ('x,y', 1, '<script>alert(1)</script>'), ('p.json', 2, 'two')`,
		`CREATE TABLE files (name TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID`, `INSERT INTO files VALUES ('f.json', 'eff')`,
		publish("pairs"), publish("files"))
	var t0 = t
	page := func(path string, want ...string) string {
		t := t0
		t.Helper()
		status, h, raw := f.MustFetch(path)
		if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
			t.Fatalf("%s: %d %s", path, status, raw)
		}
		for _, w := range want {
			if !strings.Contains(raw, w) {
				t.Fatalf("%s lacks %q:\n%s", path, w, raw)
			}
		}
		return raw
	}
	t.Run("Pages", func(t *testing.T) {
		page("/", `href="/demo"`)
		page("/demo", `href="/demo/cities"`, `href="/demo/-/query"`, "3 rows")
		page("/demo/cities?_size=2", "3 rows", `href="/demo/cities/1"`, `rel="next"`, `name="_filter_column"`)
		page("/demo/cities/2", "Sydney")
		page("/demo/pairs/x%2Cy,1", "&lt;script&gt;") // escaped, never markup
		raw := page("/demo/pairs", `href="/demo/pairs/p~2Ejson,2"`)
		if strings.Contains(raw, "<script>") {
			t.Fatal("unescaped value")
		}
		page("/demo/pairs/p.json,2", "two")
		page("/demo/files", `href="/demo/files/f~2Ejson"`)
		page("/demo/files/f%2Ejson", "eff")
		page("/demo/-/query?sql="+url.QueryEscape("select name from cities where pop > :min")+"&min=4", "London", `name="min"`)
		page("/demo/-/query", "<textarea")
	})
	t.Run("NextPage", func(t *testing.T) {
		raw := page("/demo/cities?_size=2&_sort_desc=pop")
		i := strings.Index(raw, `id="next" rel="next" href="`)
		href := raw[i+len(`id="next" rel="next" href="`):]
		href = strings.ReplaceAll(href[:strings.IndexByte(href, '"')], "&amp;", "&")
		page(href, "Oslo", "Last page")
	})
	t.Run("FilterForm", func(t *testing.T) {
		status, h, _ := f.MustFetch("/demo/cities?_filter_column=pop&_filter_op=gt&_filter_value=4&_sort=name")
		if status != http.StatusFound || h.Get("Location") != "/demo/cities?_sort=name&pop__gt=4" {
			t.Fatalf("%d %q", status, h.Get("Location"))
		}
		raw := page(h.Get("Location"), "London", "Sydney", `pop &gt; &#34;4&#34;`)
		if strings.Contains(raw, "Oslo") {
			t.Fatal("filter ignored")
		}
	})
	t.Run("PrivateSameAsMissing", func(t *testing.T) {
		for _, pair := range [][2]string{
			{"/demo/secrets", "/demo/nosuch"},
			{"/demo/secrets/1", "/demo/nosuch/1"},
			{"/demo/secrets?_sort=x", "/demo/nosuch?_sort=x"},
			{"/demo/privview", "/demo/nosuchview"},
			{"/private", "/nosuchdb"},
			{"/private/-/query?sql=select+1", "/nosuchdb/-/query?sql=select+1"},
			{"/demo/-/query?sql=select+*+from+secrets", "/demo/-/query?sql=select+*+from+nosuch"},
		} {
			s1, _, b1 := f.MustFetch(pair[0])
			s2, _, b2 := f.MustFetch(pair[1])
			n1 := strings.NewReplacer("secrets", "X", "privview", "X", "private", "X").Replace(b1)
			n2 := strings.NewReplacer("nosuchview", "X", "nosuchdb", "X", "nosuch", "X").Replace(b2)
			if s1 != s2 || s1 < 400 || n1 != n2 {
				t.Fatalf("%s: %d, %s: %d\n%s\n%s", pair[0], s1, pair[1], s2, b1, b2)
			}
		}
		// The list of databases and tables never shows private ones.
		for _, p := range []string{"/", "/demo"} {
			if raw := page(p); strings.Contains(raw, "secrets") || strings.Contains(raw, "privview") {
				t.Fatalf("%s shows a private table", p)
			}
		}
	})
	t.Run("Cached", func(t *testing.T) {
		page("/demo/cities?_sort=name")
		h := f.reader.Cache.Stats().Hits
		page("/demo/cities?_sort=name")
		if f.reader.Cache.Stats().Hits != h+1 {
			t.Fatal("second page view was not a cache hit")
		}
	})
}

func TestReader_CacheControl(t *testing.T) {
	f := newFixture(t)
	seedDemo(f)
	if _, h, _ := f.MustFetch("/demo/cities.json"); h.Get("Cache-Control") != "" {
		t.Fatalf("default: Cache-Control %q, want none", h.Get("Cache-Control"))
	}
	f.reader.MaxAge = 30 * time.Second
	for _, path := range []string{"/demo/cities.json", "/demo/cities.json", "/demo/cities", "/demo/cities/1.json"} {
		if _, h, _ := f.MustFetch(path); h.Get("Cache-Control") != "public, max-age=30" {
			t.Fatalf("%s: Cache-Control %q", path, h.Get("Cache-Control"))
		}
	}
	if _, h, _ := f.MustFetch("/demo/secrets.json"); h.Get("Cache-Control") != "" {
		t.Fatalf("404: Cache-Control %q", h.Get("Cache-Control"))
	}
}
