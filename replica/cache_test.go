package replica

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/tablecast/tablecast/replica/gate"
)

func TestCache_Budget(t *testing.T) {
	c := NewCache(cacheShards * 1000) // 1000 bytes a shard
	for i := range 200 {
		c.Put(&cacheEntry{key: fmt.Sprint("k", i), status: 200, body: make([]byte, 100)})
	}
	st := c.Stats()
	if st.Bytes > cacheShards*1000 {
		t.Fatalf("bytes %d over budget %d", st.Bytes, cacheShards*1000)
	}
	if st.Evictions == 0 || st.Entries == 0 {
		t.Fatalf("stats %+v: want evictions and entries", st)
	}
	// Least recently used goes first: touch k199's shard mate, then fill.
	if _, ok := c.Get("k199"); !ok {
		t.Fatal("newest entry evicted")
	}
	if _, ok := c.Get("k0"); ok {
		t.Fatal("oldest entry kept")
	}
	c.Put(&cacheEntry{key: "huge", body: make([]byte, 5000)})
	if _, ok := c.Get("huge"); ok {
		t.Fatal("entry larger than a shard was kept")
	}
}

// TestCache_SecondChance checks the clock: a full shard evicts the entry
// the clock finds unread, and an entry read since the clock's last turn
// survives it.
func TestCache_SecondChance(t *testing.T) {
	one := &cacheEntry{key: "k10", status: 200, body: make([]byte, 100)}
	one.prepare()
	per := one.size() + 8                // a little room for longer keys and ETags
	c := NewCache(cacheShards * 4 * per) // four 100-byte entries a shard
	var keys []string                    // keys of one shard
	for i := 0; len(keys) < 6; i++ {
		if k := fmt.Sprint("k", i); c.shard(k) == &c.shards[0] {
			keys = append(keys, k)
		}
	}
	put := func(k string) { c.Put(&cacheEntry{key: k, status: 200, body: make([]byte, 100)}) }
	for _, k := range keys[:5] {
		put(k)
	}
	// The fifth put turned the clock once around: the first is gone.
	if _, ok := c.Get(keys[0]); ok {
		t.Fatal("first entry kept after the shard filled up")
	}
	if _, ok := c.GetBytes([]byte(keys[1])); !ok {
		t.Fatal("second entry evicted too early (or GetBytes looks in another shard than Put)")
	}
	put(keys[5]) // the read keeps keys[1]: keys[2] goes
	for i, want := range []bool{false, true, false, true, true, true} {
		if _, ok := c.Get(keys[i]); ok != want {
			t.Fatalf("after the sixth put, %s present %v, want %v", keys[i], ok, want)
		}
	}
	if st := c.Stats(); st.Entries != 4 || st.Evictions != 2 || st.Bytes > 4*per {
		t.Fatalf("stats %+v", st)
	}
}

// versionedWrite is a write made the way tablecast's write path makes it:
// the table's version and the global counter move in the same transaction.
func versionedWrite(table string, stmts ...string) []string {
	bump := `INSERT INTO _table_versions VALUES (%q, 1) ON CONFLICT (table_name) DO UPDATE SET version = version + 1`
	return append(stmts, fmt.Sprintf(bump, table), fmt.Sprintf(bump, ""))
}

func TestReader_CachePerTable(t *testing.T) {
	f := newFixture(t)
	f.MustExec("c", versionedWrite("a", gate.PublicTablesDDL,
		gate.TableVersionsDDL,
		`CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT)`, `CREATE TABLE b (id INTEGER PRIMARY KEY, v TEXT)`,
		`INSERT INTO a VALUES (1, 'a1')`, `INSERT INTO b VALUES (1, 'b1')`, publish("a"), publish("b"))...)
	hits := func() int64 { return f.reader.Cache.Stats().Hits }
	get := func(path, want string) {
		t.Helper()
		status, _, raw := f.MustGet(path)
		if status != 200 || !strings.Contains(raw, want) {
			t.Fatalf("%s: %d %s, want %q", path, status, raw, want)
		}
	}
	get("/c/a.json", "a1")
	get("/c/b.json", "b1")
	h := hits()
	get("/c/b.json", "b1")
	if hits() != h+1 {
		t.Fatal("second read of b was not a cache hit")
	}

	t.Run("WriteToOtherTableKeepsEntry", func(t *testing.T) {
		f.MustExec("c", versionedWrite("a", `UPDATE a SET v = 'a2'`)...)
		h := hits()
		get("/c/b.json", "b1") // TXID moved: the gate reloads, b's entry is still good
		get("/c/b.json", "b1")
		if got := hits() - h; got != 2 {
			t.Fatalf("b hits after a write to a: got %d, want 2", got)
		}
		get("/c/a.json", "a2")
	})
	t.Run("UnpublishChangesKey", func(t *testing.T) {
		f.MustExec("c", versionedWrite("b", `DELETE FROM _public_tables WHERE table_name = 'b'`)...)
		if status, _, _ := f.MustGet("/c/b.json"); status != 404 {
			t.Fatalf("b after unpublish: %d, want 404", status)
		}
	})
	t.Run("OutsideWriteFlushesDatabase", func(t *testing.T) {
		f.MustExec("c", `UPDATE a SET v = 'a3'`) // no version bump: not through tablecast
		get("/c/a.json", "a3")
	})
	t.Run("ETag304", func(t *testing.T) {
		resp, err := http.Get(f.srv.URL + "/c/a.json")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		etag := resp.Header.Get("ETag")
		req, _ := http.NewRequest("GET", f.srv.URL+"/c/a.json", nil)
		req.Header.Set("If-None-Match", etag)
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if etag == "" || resp.StatusCode != http.StatusNotModified {
			t.Fatalf("etag %q: status %d, want 304", etag, resp.StatusCode)
		}
		f.MustExec("c", versionedWrite("a", `UPDATE a SET v = 'a4'`)...)
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("after a write: status %d, want 200", resp.StatusCode)
		}
	})
}

func TestParseRoute_Canonical(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"/d/t.json?_size=5&_nocount=1&_next=abc", "/d/t.json?_next=abc&_size=5"},
		{"/d/t.json?_size=5&_x=1&_next=abc", "/d/t.json?_next=abc&_size=5&_x=1"}, // kept to be refused
		{"/d/t.json?x=2&_txid=9&x=1&_max_lag=1s", "/d/t.json?x=1&x=2"},
		{"/d/t.json?_sort=a&_col=c&_col=b&_shape=arrays&_stream=on", "/d/t.json?_col=c&_col=b&_shape=arrays&_sort=a"}, // _col keeps its order
		{"/d/t.csv?_stream=on&_shape=arrays&_dl=1", "/d/t.csv?_dl=1&_stream=on"},
		{"/d/t?_sort_desc=a&_shape=array&n__gt=1", "/d/t?_sort_desc=a&n__gt=1"},
		{"/d/-/query.json?sql=select+:a,+@b&a=1&b=2&c=3&_shape=array", "/d/-/query.json?_shape=array&a=1&b=2&sql=select+%3Aa%2C+%40b"},
		{"/d/t.json?_size=5&_size=6", "/d/t.json?_size=5"},
		{"/d/t/1.json?_size=5", "/d/t/1.json?_size=5"}, // kept: refused after the gate
		{"/d/t/1.json?x=1&_txid=1", "/d/t/1.json"},
		{"/d/t/1.csv?_shape=array", "/d/t/1.csv"}, // read by the JSON row page
		{"/d.json?x=1", "/d.json"},
		{"/d.json?_bogus=1&_max_lag=1s", "/d.json?_bogus=1"},
		{"/d/-/query.json?sql=select+1&_stream=on&_zz=1", "/d/-/query.json?_zz=1&sql=select+1"},
	} {
		req, _ := http.NewRequest("GET", tc.url, nil)
		rt, ok := parseRoute(req.URL)
		if !ok || rt.canonical != tc.want {
			t.Fatalf("%s: got %q, want %q", tc.url, rt.canonical, tc.want)
		}
	}
}

// The gate is reloaded when a publish, the schema or an outside write
// moved, and reused (only versions read) otherwise.
func TestReader_GateReuse(t *testing.T) {
	f := newFixture(t)
	f.MustExec("g", versionedWrite("a", gate.PublicTablesDDL,
		gate.TableVersionsDDL,
		`CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT)`, `CREATE TABLE b (id INTEGER PRIMARY KEY, v TEXT)`,
		`INSERT INTO a VALUES (1, 'a1')`, `INSERT INTO b VALUES (1, 'b1')`, publish("a"),
		`INSERT INTO _table_versions VALUES ('_public_tables', 1)`)...)
	status := func(path string) int {
		t.Helper()
		s, _, _ := f.MustGet(path)
		return s
	}
	// The gate reused keeps the very same table descriptions.
	tables := func() *table { t, _ := f.reader.openDB("g").last.Load().Table("a"); return t }
	if status("/g/a.json") != 200 || status("/g/b.json") != 404 {
		t.Fatal("initial gate")
	}
	before := tables()
	f.MustExec("g", versionedWrite("a", `UPDATE a SET v = 'a2'`)...)
	if status("/g/a/1.json") != 200 {
		t.Fatal("after a data write")
	}
	if after := tables(); after == nil || after != before {
		t.Fatal("a data write reloaded the gate")
	}
	// A publish made by tablecast bumps the gate's version: reloaded.
	f.MustExec("g", versionedWrite("b", publish("b"),
		`UPDATE _table_versions SET version = version + 1 WHERE table_name = '_public_tables'`)...)
	if status("/g/b.json") != 200 {
		t.Fatal("b not public after its publish")
	}
	// A schema change reloads too: with every table public, a new table is.
	f.MustExec("g", versionedWrite("_public_database", `CREATE TABLE _public_database (id INTEGER PRIMARY KEY, all_tables INTEGER, allow_sql INTEGER, updated_at TEXT, updated_by TEXT)`,
		`INSERT INTO _public_database VALUES (1, 1, 0, 'now', 'x')`,
		`UPDATE _table_versions SET version = version + 1 WHERE table_name = '_public_tables'`)...)
	f.MustExec("g", versionedWrite("c", `CREATE TABLE c (id INTEGER PRIMARY KEY)`)...)
	if status("/g/c.json") != 200 {
		t.Fatal("a new table of a public database is not served")
	}
	// An outside write (no version bump) moves the offset: reloaded.
	f.MustExec("g", `UPDATE _public_database SET all_tables = 0`, `DELETE FROM _public_tables WHERE table_name = 'a'`)
	if status("/g/a.json") != 404 {
		t.Fatal("a still public after an outside unpublish")
	}
	// _table_versions dropped outside tablecast: the one-statement catch-up
	// fails, the general one reads the gate; b stays public, a private.
	f.MustExec("g", `DROP TABLE _table_versions`)
	if status("/g/b/1.json") != 200 || status("/g/a/1.json") != 404 {
		t.Fatal("gate wrong after _table_versions was dropped")
	}
	if s := f.reader.openDB("g").last.Load(); s.HasVersions || len(s.Versions) != 0 {
		t.Fatalf("snapshot after the drop: versions %v", s.Versions)
	}
	f.MustExec("g", `DELETE FROM _public_tables WHERE table_name = 'b'`)
	if status("/g/b/1.json") != 404 {
		t.Fatal("b still public after an outside unpublish without versions")
	}
}

// TestReader_ContentLength: every answer, small (net/http counts it), large
// (declared) or to HEAD (declared), arrives with its length, never chunked,
// cached or not.
func TestReader_ContentLength(t *testing.T) {
	f := newFixture(t)
	f.MustExec("demo", gate.PublicTablesDDL, `CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)`,
		`WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 500) INSERT INTO items SELECT i, 'item ' || i FROM c`,
		publish("items"))
	f.reader.Cache = NewCache(DefaultCacheBytes)
	srv := httptest.NewServer(f.reader)
	defer srv.Close()
	for _, path := range []string{"/demo/items/1.json", "/demo/items.json?_size=200", "/demo/items.csv?_size=5", "/demo/nope.json"} {
		for round := range 2 { // a miss, then a hit
			resp, err := http.Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.ContentLength != int64(len(body)) || len(resp.TransferEncoding) != 0 {
				t.Fatalf("GET %s (round %d): Content-Length %d, body %d bytes, transfer encoding %v", path, round, resp.ContentLength, len(body), resp.TransferEncoding)
			}
			head, err := http.Head(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			head.Body.Close()
			if head.ContentLength != int64(len(body)) {
				t.Fatalf("HEAD %s: Content-Length %d, GET body %d bytes", path, head.ContentLength, len(body))
			}
		}
	}
}

// TestCache_CountsWhatItHolds fills a cache the way reads do (bodies from
// a bytes.Buffer, keys as long as real ones, headers prepared) and checks
// that what it counts is within 20 % of what the Go heap grew by: the
// budget is what a user plans memory with.
func TestCache_CountsWhatItHolds(t *testing.T) {
	for _, tc := range []struct {
		name     string
		min, max int // body sizes
	}{
		{"point reads", 150, 600},
		{"pages", 2_000, 60_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entries := 20_000
			if tc.max > 10_000 {
				entries = 2_000
			}
			rng := rand.New(rand.NewPCG(1, 2))
			bodies := make([]int, entries)
			for i := range bodies {
				bodies[i] = tc.min + rng.IntN(tc.max-tc.min)
			}
			heap := func() uint64 {
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				return ms.HeapAlloc
			}
			before := heap()
			c := NewCache(1 << 40)
			for i, n := range bodies {
				var buf bytes.Buffer
				for buf.Len() < n {
					buf.WriteString(`{"ok":true,"rows":[{"id":1,"name":"x"}]}`)
				}
				c.Put(&cacheEntry{
					key:         fmt.Sprintf("demo\x00cities\x00%016x\x00%d\x00/demo/cities/%d.json?_shape=objects", i, i, i),
					status:      200,
					contentType: contentJSON,
					body:        buf.Bytes(),
				})
			}
			grew := float64(heap() - before)
			counted := float64(c.Stats().Bytes)
			ratio := counted / grew
			t.Logf("%d entries: heap grew %.1f MiB, cache counts %.1f MiB (%.2f)", entries, grew/(1<<20), counted/(1<<20), ratio)
			if ratio < 0.8 || ratio > 1.2 {
				t.Fatalf("cache counts %.0f bytes for %.0f bytes of heap (ratio %.2f, want 0.8-1.2)", counted, grew, ratio)
			}
			runtime.KeepAlive(c)
		})
	}
}

// A table's cached answers key on SQLite's schema version too: a schema
// change that moved neither the table's version nor the offset (a
// tablecast write that bumped another table) still gives new answers.
func TestReader_CacheKeysOnSchemaVersion(t *testing.T) {
	f := newFixture(t)
	f.MustExec("s", versionedWrite("a", gate.PublicTablesDDL, gate.TableVersionsDDL,
		`CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT)`, `CREATE TABLE b (id INTEGER PRIMARY KEY)`,
		`INSERT INTO a VALUES (1, 'a1')`, publish("a"))...)
	for range 2 {
		if _, _, raw := f.MustGet("/s/a.json"); strings.Contains(raw, `"w"`) {
			t.Fatalf("before: %s", raw)
		}
	}
	f.MustExec("s", versionedWrite("b", `ALTER TABLE a ADD COLUMN w TEXT DEFAULT 'x'`)...)
	if _, _, raw := f.MustGet("/s/a.json"); !strings.Contains(raw, `"w":"x"`) {
		t.Fatalf("after a schema change: %s, want the new column w (a stale cached answer?)", raw)
	}
}
