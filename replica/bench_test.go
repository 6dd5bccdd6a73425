package replica

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/tablecast/tablecast/replica/gate"
)

// BenchmarkReader_PointRead measures the gated point-read handler on a
// plain SQLite file, in process (no network, no FUSE), against the same
// handler with the gate's snapshot checks off.
func BenchmarkReader_PointRead(b *testing.B) {
	f := newFixture(b)
	f.MustExec("demo", gate.PublicTablesDDL, `CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL)`,
		`WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 10000) INSERT INTO items SELECT i, 'item ' || i, i / 100.0 FROM c`,
		publish("items"))
	for _, ungated := range []bool{false, true} {
		name := "gated"
		if ungated {
			name = "ungated"
		}
		b.Run(name, func(b *testing.B) {
			f.reader.Ungated = ungated
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					req := httptest.NewRequest("GET", "/demo/items/"+strconv.Itoa(i%10000+1)+".json", nil)
					w := httptest.NewRecorder()
					f.reader.ServeHTTP(w, req)
					if w.Code != 200 {
						b.Fatalf("status %d: %s", w.Code, w.Body)
					}
				}
			})
		})
	}
}

// BenchmarkReader_CachedHit measures a point read answered from the
// response cache: what a hot public read costs in this package, apart from
// net/http. Requests are built once; the writer keeps one header map.
func BenchmarkReader_CachedHit(b *testing.B) {
	benchCachedHit(b, func(i int) string { return "/demo/items/" + strconv.Itoa(i+1) + ".json" })
}

// BenchmarkReader_CachedHitPage: the same for pages of a table, whose
// cache key holds the base of their absolute next_url (baseurl.go).
func BenchmarkReader_CachedHitPage(b *testing.B) {
	benchCachedHit(b, func(i int) string { return "/demo/items.json?_size=10&id__gte=" + strconv.Itoa(i+1) })
}

func benchCachedHit(b *testing.B, path func(int) string) {
	f := newFixture(b)
	f.MustExec("demo", gate.PublicTablesDDL, `CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL)`,
		`WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 1000) INSERT INTO items SELECT i, 'item ' || i, i / 100.0 FROM c`,
		publish("items"))
	f.reader.Cache = NewCache(DefaultCacheBytes)
	reqs := make([]*http.Request, 1000)
	for i := range reqs {
		reqs[i] = httptest.NewRequest("GET", path(i), nil)
		w := &discardWriter{h: http.Header{}}
		f.reader.ServeHTTP(w, reqs[i])
	}
	h0 := f.reader.Cache.Stats().Hits
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := &discardWriter{h: http.Header{}}
		i := 0
		for pb.Next() {
			i++
			clear(w.h)
			w.code = 0
			f.reader.ServeHTTP(w, reqs[i%len(reqs)])
			if w.code != 200 {
				b.Fatalf("status %d", w.code)
			}
		}
	})
	b.StopTimer()
	if hits := f.reader.Cache.Stats().Hits - h0; hits < int64(b.N) {
		b.Fatalf("%d cache hits for %d reads", hits, b.N)
	}
}

// discardWriter is a ResponseWriter that keeps only the status.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}
func (w *discardWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = 200
	}
	return len(p), nil
}

// BenchmarkReader_SQL measures an uncached public SQL query (a filtered
// aggregate over a public table, one parameter): every check it passes
// plus the query itself. same-text repeats one text (its program check
// is remembered per schema version); new-text changes the text each time
// (EXPLAIN and the program check every time).
func BenchmarkReader_SQL(b *testing.B) {
	f := newFixture(b)
	seedSQL(f)
	f.reader.Cache = nil
	for _, fresh := range []bool{false, true} {
		name := "same-text"
		if fresh {
			name = "new-text"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				q := "select+count(*)+as+n,+max(name)+from+cities+where+pop+>+:min"
				if fresh {
					q += "+or+id+=+" + strconv.Itoa(1000+i)
				}
				req := httptest.NewRequest("GET", "/demo/-/query.json?sql="+q+"&min="+strconv.Itoa(i%10), nil)
				w := httptest.NewRecorder()
				f.reader.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}

// BenchmarkReader_NotFound compares the work of a 404 for what a visitor
// may not see and for what does not exist: a database with only private
// tables against a missing one, a private table of a public database
// against a missing one. Compare each pair's ns/op (the ratio should be
// about 1: timing must not tell them apart).
func BenchmarkReader_NotFound(b *testing.B) {
	f := newFixture(b)
	seedPrivacy(f)
	for _, bc := range []struct{ name, path string }{
		{"db=private", "/ghost/t.json"},
		{"db=missing", "/nodbx/t.json"},
		{"table=private", "/demo/secrets.json"},
		{"table=missing", "/demo/missing.json"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", bc.path, nil)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				w := &discardWriter{h: http.Header{}}
				for pb.Next() {
					clear(w.h)
					w.code = 0
					f.reader.ServeHTTP(w, req)
					if w.code != 404 {
						b.Fatalf("status %d", w.code)
					}
				}
			})
		})
	}
}
