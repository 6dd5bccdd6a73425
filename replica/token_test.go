package replica

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/replica/gate"
)

// fakeReadTokens is a TokenChecker: secret → may read private tables.
type fakeReadTokens struct {
	mu      sync.Mutex
	secrets map[string]bool
	checks  int
}

func (f *fakeReadTokens) ReadsPrivate(req *http.Request) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checks++
	secret, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	read, known := f.secrets[secret]
	if !ok || !known {
		return false, tablecast.Errorf(tablecast.EUNAUTHORIZED, "Invalid token")
	}
	return read, nil
}

func (f *fakeReadTokens) revoke(secret string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.secrets, secret)
}

// anonymousAnswers is what anonymous visitors get from the routes a read
// token changes: status, the headers that matter, and the body.
func anonymousAnswers(f *fixture) string {
	var b strings.Builder
	for _, path := range []string{"/.json", "/", "/demo.json", "/demo", "/demo/secrets.json", "/demo/secrets",
		"/demo/secrets.csv", "/demo/secrets.csv?_stream=on", "/demo/secrets/1.json", "/demo/nosuch.json",
		"/demo/cities.json", "/privdb.json", "/privdb/notes.json"} {
		status, h, body := f.MustFetch(path)
		b.WriteString(path + " " + http.StatusText(status) + " " + h.Get("Content-Type") + " " + h.Get("Cache-Control") +
			" " + h.Get("Vary") + " " + h.Get("Etag") + " " + h.Get(tablecast.HeaderTXID) + "\n" + body + "\n")
	}
	return b.String()
}

// A token with the read scope reads private tables (JSON, CSV, streamed
// CSV, rows, HTML, the database and database lists); its answers are
// private and never cached, so anonymous answers stay byte for byte the
// same, a private table still answering as a missing one.
func TestReader_ReadToken(t *testing.T) {
	f := newFixture(t)
	seedDemo(f)
	f.MustExec("privdb", gate.PublicTablesDDL, `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)`, `INSERT INTO notes VALUES (1, 'only for readers')`)
	tokens := &fakeReadTokens{secrets: map[string]bool{"reader": true, "writer": false}}
	f.reader.Tokens = tokens
	before := anonymousAnswers(f)
	if tokens.checks != 0 {
		t.Fatalf("anonymous reads checked %d tokens", tokens.checks)
	}
	_, _, missing := f.MustFetch("/demo/nosuch.json")
	if _, _, private := f.MustFetch("/demo/secrets.json"); private != strings.Replace(missing, "nosuch", "secrets", 1) {
		t.Fatalf("private table %s, missing one %s", private, missing)
	}
	entries := f.reader.Cache.Stats().Entries
	read := func(path string) (int, http.Header, string) {
		t.Helper()
		return f.MustFetch(path, "Authorization", "Bearer reader")
	}
	// Answers read for a token have no ETag (they are not cached); a
	// write-only token gets the anonymous answer, ETag and all.
	assertPrivate := func(t *testing.T, path string, h http.Header) {
		t.Helper()
		if h.Get("Cache-Control") != "private, no-store" || h.Get("Vary") != "Authorization" ||
			(h.Get("Etag") != "" && !strings.Contains(path, "writer:")) {
			t.Errorf("%s: Cache-Control %q, Vary %q, ETag %q; want private, no-store, Authorization and none",
				path, h.Get("Cache-Control"), h.Get("Vary"), h.Get("Etag"))
		}
	}

	t.Run("ReadsPrivate", func(t *testing.T) {
		for _, tt := range []struct{ path, want string }{
			{"/demo/secrets.json", `"rows":[{"id":1,"secret":"hunter2"}]`},
			{"/demo/secrets.json?_shape=array", `[{"id":1,"secret":"hunter2"}]`},
			{"/demo/secrets.json?secret__contains=hunt&_extra=count", `"count":1`},
			{"/demo/secrets/1.json", `"rows":[{"id":1,"secret":"hunter2"}]`},
			{"/demo/secrets.csv", "id,secret\r\n1,hunter2\r\n"},
			{"/demo/secrets.csv?_stream=on", "id,secret\r\n1,hunter2\r\n"},
			{"/demo/secrets", "hunter2"},
			{"/demo/leak.json", `"rows":[{"secret":"hunter2"}]`}, // a private view
			{"/demo.json", `"name":"secrets"`},
			{"/demo", "secrets"},
			{"/privdb.json", `"name":"notes"`},
			{"/privdb/notes.json", "only for readers"},
			{"/.json", `"name":"privdb"`},
			{"/", "privdb"},
		} {
			status, h, body := read(tt.path)
			if status != 200 || !strings.Contains(body, tt.want) {
				t.Errorf("%s: %d %s, want 200 with %s", tt.path, status, body, tt.want)
			}
			assertPrivate(t, tt.path, h)
			if tt.path != "/.json" && tt.path != "/" && h.Get(tablecast.HeaderTXID) == "" {
				t.Errorf("%s: no TXID", tt.path)
			}
		}
	})
	t.Run("NeverTablecastsOwn", func(t *testing.T) {
		for _, path := range []string{"/demo/_tokens.json", "/demo/_public_tables.json", "/demo/sqlite_master.json", "/demo/nosuch.json"} {
			status, h, body := read(path)
			if status != 404 || !strings.Contains(body, "Table not found") {
				t.Errorf("%s: %d %s, want 404", path, status, body)
			}
			assertPrivate(t, path, h)
		}
		if _, _, body := read("/demo.json"); strings.Contains(body, "_tokens") || strings.Contains(body, "_public_tables") {
			t.Errorf("/demo.json lists tablecast's tables: %s", body)
		}
	})
	t.Run("SQLReadsPrivate", func(t *testing.T) {
		f.MustExec("demo", `CREATE TABLE _public_database (id INTEGER PRIMARY KEY, all_tables INTEGER, allow_sql INTEGER)`,
			`INSERT INTO _public_database VALUES (1, 0, 1)`)
		_, _, anon := f.MustFetch("/demo/-/query.json?sql=select+*+from+secrets")
		status, h, body := read("/demo/-/query.json?sql=select+*+from+secrets")
		if status != 200 || !strings.Contains(body, "hunter2") || strings.Contains(anon, "hunter2") {
			t.Errorf("SQL with a read token: %d %s (anonymous: %s), want the private rows", status, body, anon)
		}
		if _, _, again := f.MustFetch("/demo/-/query.json?sql=select+*+from+secrets"); again != anon {
			t.Errorf("anonymous SQL after a token's: %s, was %s", again, anon)
		}
		assertPrivate(t, "query", h)
		before = anonymousAnswers(f) // the database changed
		entries = f.reader.Cache.Stats().Entries
	})
	t.Run("WriteOnlyTokenReadsAsAnonymous", func(t *testing.T) {
		for _, path := range []string{"/demo/secrets.json", "/demo/cities.json", "/demo.json", "/privdb.json", "/.json"} {
			_, _, anon := f.MustFetch(path)
			_, h, body := f.MustFetch(path, "Authorization", "Bearer writer")
			if body != anon {
				t.Errorf("%s with a write-only token: %s, want %s", path, body, anon)
			}
			assertPrivate(t, "writer:"+path, h)
		}
	})
	t.Run("BadToken", func(t *testing.T) {
		for _, auth := range []string{"Bearer nobody", "Bearer ", "Basic cmVhZGVyOg==", ""} {
			for _, path := range []string{"/demo/cities.json", "/demo/secrets.csv", "/demo", "/.json", "/nope/x/y/z"} {
				status, h, body := f.MustFetch(path, "Authorization", auth)
				if status != 401 || h.Get("WWW-Authenticate") != "Bearer" || body != `{"error":"Invalid token","ok":false,"status":401}`+"\n" {
					t.Errorf("%s with %q: %d %q %s, want 401", path, auth, status, h.Get("WWW-Authenticate"), body)
				}
				assertPrivate(t, path, h)
			}
		}
	})
	t.Run("Revoked", func(t *testing.T) {
		tokens.revoke("reader")
		if status, _, body := read("/demo/secrets.json"); status != 401 || strings.Contains(body, "hunter2") {
			t.Errorf("revoked token: %d %s", status, body)
		}
	})
	t.Run("AnonymousUnchanged", func(t *testing.T) {
		if got := f.reader.Cache.Stats().Entries; got != entries {
			t.Errorf("cache entries %d, were %d: a token read was cached", got, entries)
		}
		if after := anonymousAnswers(f); after != before {
			t.Errorf("anonymous answers changed after token reads:\n%s\nwere\n%s", after, before)
		}
	})
}

// With a max-age, public answers say they vary by Authorization (a shared
// cache must not answer a token with them); a token's are never public.
func TestReader_ReadTokenMaxAge(t *testing.T) {
	f := newFixture(t)
	seedDemo(f)
	f.reader.Tokens = &fakeReadTokens{secrets: map[string]bool{"reader": true}}
	f.reader.MaxAge = 30 * time.Second
	for _, path := range []string{"/demo/cities.json", "/demo/cities.csv?_stream=on"} {
		_, h, _ := f.MustFetch(path)
		if h.Get("Cache-Control") != "public, max-age=30" || h.Get("Vary") != "Authorization" {
			t.Errorf("%s anonymous: Cache-Control %q, Vary %q", path, h.Get("Cache-Control"), h.Get("Vary"))
		}
		_, h, _ = f.MustFetch(path, "Authorization", "Bearer reader")
		if h.Get("Cache-Control") != "private, no-store" || h.Get("Vary") != "Authorization" {
			t.Errorf("%s with a token: Cache-Control %q, Vary %q", path, h.Get("Cache-Control"), h.Get("Vary"))
		}
	}
}

// BenchmarkReader_TokenRead measures a point read of a private table with
// a read token (checked by a fake: the token lookup itself is not in it):
// never cached, so a pinned read transaction each time. Compare with
// BenchmarkReader_PointRead/gated, the uncached anonymous read.
func BenchmarkReader_TokenRead(b *testing.B) {
	f := newFixture(b)
	f.MustExec("demo", gate.PublicTablesDDL, `CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL)`,
		`WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 1000) INSERT INTO items SELECT i, 'item ' || i, i / 100.0 FROM c`)
	f.reader.Tokens = &fakeReadTokens{secrets: map[string]bool{"reader": true}}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := &discardWriter{h: http.Header{}}
		i := 0
		for pb.Next() {
			i++
			req := httptest.NewRequest("GET", "/demo/items/"+strconv.Itoa(i%1000+1)+".json", nil)
			req.Header.Set("Authorization", "Bearer reader")
			clear(w.h)
			w.code = 0
			f.reader.ServeHTTP(w, req)
			if w.code != 200 {
				b.Fatalf("status %d", w.code)
			}
		}
	})
}
