package replica

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/replica/gate"
)

// fakePositions gives every database a TXID that the test bumps after each
// write, as LiteFS does after each commit.
type fakePositions struct {
	mu   sync.Mutex
	txid map[string]tablecast.TXID
}

func (p *fakePositions) TXID(db string) (tablecast.TXID, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.txid[db]
	return t, ok
}

func (p *fakePositions) Databases() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for db := range p.txid {
		out = append(out, db)
	}
	return out
}

// fixture is a folder of plain SQLite databases behind a Reader.
type fixture struct {
	t      testing.TB
	dir    string
	pos    *fakePositions
	reader *Reader
	srv    *httptest.Server
	dbs    map[string]*sql.DB
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir(), pos: &fakePositions{txid: map[string]tablecast.TXID{}}, dbs: map[string]*sql.DB{}}
	f.reader = NewReader(f.dir, f.pos, &tablecast.CommitFence{})
	f.srv = httptest.NewServer(f.reader)
	t.Cleanup(func() {
		f.srv.Close()
		_ = f.reader.Close()
		for _, db := range f.dbs {
			_ = db.Close()
		}
	})
	return f
}

// MustExec runs statements on db (creating it) and bumps its TXID.
func (f *fixture) MustExec(db string, stmts ...string) {
	f.t.Helper()
	h, ok := f.dbs[db]
	if !ok {
		var err error
		h, err = sql.Open("sqlite3", "file:"+filepath.Join(f.dir, tablecast.DBFileName(db))+"?_journal_mode=WAL")
		if err != nil {
			f.t.Fatal(err)
		}
		f.dbs[db] = h
	}
	for _, s := range stmts {
		if _, err := h.Exec(s); err != nil {
			f.t.Fatalf("%s: %v", s, err)
		}
	}
	f.pos.mu.Lock()
	f.pos.txid[db]++
	f.pos.mu.Unlock()
}

// MustGet fetches path and decodes its JSON body.
func (f *fixture) MustGet(path string) (int, map[string]any, string) {
	f.t.Helper()
	if !strings.HasPrefix(path, "http") {
		path = f.srv.URL + path // else an absolute next_url
	}
	resp, err := http.Get(path)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		f.t.Fatalf("GET %s: not JSON: %s", path, raw)
	}
	return resp.StatusCode, body, string(raw)
}

func publish(name string) string {
	return fmt.Sprintf(`INSERT OR IGNORE INTO _public_tables VALUES ('%s', 'now', 'test')`, name)
}

func seedDemo(f *fixture) {
	f.MustExec("demo", gate.PublicTablesDDL,
		`CREATE TABLE cities (id INTEGER PRIMARY KEY, name TEXT, born DATETIME)`,
		`INSERT INTO cities VALUES (1, 'London', '2020-01-02 03:04:05'), (2, 'Sydney', NULL), (3, 'Oslo', 'x')`,
		`CREATE TABLE secrets (id INTEGER PRIMARY KEY, secret TEXT)`,
		`INSERT INTO secrets VALUES (1, 'hunter2')`,
		`CREATE TABLE _tokens (hash TEXT)`,
		`CREATE VIEW big AS SELECT name FROM cities WHERE id < 3`,
		`CREATE VIEW leak AS SELECT secret FROM secrets`,
		publish("cities"), publish("big"), publish("_tokens"), publish("sqlite_master"))
}

func TestReader_Gate(t *testing.T) {
	f := newFixture(t)
	seedDemo(f)
	f.MustExec("private", gate.PublicTablesDDL, `CREATE TABLE t (x)`, `INSERT INTO t VALUES (1)`)

	t.Run("PublicTableServed", func(t *testing.T) {
		status, body, _ := f.MustGet("/demo/cities.json")
		if status != 200 {
			t.Fatalf("status=%d body=%v", status, body)
		}
		rows := body["rows"].([]any)
		if got, want := len(rows), 3; got != want {
			t.Fatalf("rows: got %d, want %d", got, want)
		}
		// Text in a DATETIME column is returned as stored.
		if got, want := rows[0].(map[string]any)["born"], "2020-01-02 03:04:05"; got != want {
			t.Fatalf("born: got %v, want %v", got, want)
		}
	})
	t.Run("PrivateSameAsMissing", func(t *testing.T) {
		for _, pair := range [][2]string{
			{"/demo/secrets.json", "/demo/nosuch.json"},
			{"/demo/secrets/1.json", "/demo/nosuch/1.json"},
			{"/demo/leak.json", "/demo/nosuch2.json"},
			{"/demo/_tokens.json", "/demo/_nosuch.json"},
			{"/demo/_public_tables.json", "/demo/_nosuch.json"},
			{"/demo/sqlite_master.json", "/demo/sqlite_nosuch.json"},
			{"/private.json", "/nosuchdb.json"},
			{"/private/t.json", "/nosuchdb/t.json"},
			{"/private/t/1.json", "/nosuchdb/t/1.json"},
		} {
			s1, _, b1 := f.MustGet(pair[0])
			s2, _, b2 := f.MustGet(pair[1])
			if s1 != 404 || s2 != 404 {
				t.Fatalf("%s: %d, %s: %d; want 404 both", pair[0], s1, pair[1], s2)
			}
			// Same body but for the name the visitor typed.
			if norm(b1, pair[0]) != norm(b2, pair[1]) {
				t.Fatalf("bodies differ:\n%s\n%s", b1, b2)
			}
		}
	})
	t.Run("DatabaseListsOnlyPublic", func(t *testing.T) {
		_, body, raw := f.MustGet("/demo.json")
		tables := body["tables"].([]any)
		if got, want := len(tables), 2; got != want { // big, cities
			t.Fatalf("tables: got %d, want %d: %s", got, want, raw)
		}
		_, body, raw = f.MustGet("/.json")
		if dbs := body["databases"].([]any); len(dbs) != 1 || dbs[0].(map[string]any)["name"] != "demo" {
			t.Fatalf("/.json lists %s", raw)
		}
	})
	t.Run("UnpublishRefusesAtNextTXID", func(t *testing.T) {
		f.MustExec("demo", `DELETE FROM _public_tables WHERE table_name = 'cities'`)
		if status, _, _ := f.MustGet("/demo/cities.json"); status != 404 {
			t.Fatalf("after unpublish: status %d, want 404", status)
		}
		f.MustExec("demo", publish("cities"))
		if status, _, _ := f.MustGet("/demo/cities/2.json"); status != 200 {
			t.Fatalf("after publish: status %d, want 200", status)
		}
	})
}

// norm removes the requested name from an error body.
func norm(body, path string) string {
	var m map[string]any
	_ = json.Unmarshal([]byte(body), &m)
	return fmt.Sprint(m["status"], m["ok"], len(m))
}

func TestReader_Row(t *testing.T) {
	f := newFixture(t)
	seedDemo(f)
	f.MustExec("demo", `CREATE TABLE pairs (a TEXT, b INTEGER, v TEXT, PRIMARY KEY (a, b)) WITHOUT ROWID`,
		`INSERT INTO pairs VALUES ('x,y', 1, 'one'), ('x', 2, 'two')`,
		`CREATE TABLE plain (v TEXT)`, `INSERT INTO plain VALUES ('p')`,
		publish("pairs"), publish("plain"))
	for _, tc := range []struct {
		path string
		want int
		v    any
	}{
		{"/demo/cities/2.json", 200, "Sydney"},
		{"/demo/cities/9.json", 404, nil},
		{"/demo/cities/abc.json", 404, nil},
		{"/demo/pairs/x%2Cy,1.json", 200, "one"},
		{"/demo/pairs/x,2.json", 200, "two"},
		{"/demo/pairs/x.json", 404, nil},
		{"/demo/plain/1.json", 200, "p"},
		{"/demo/big/1.json", 404, nil},
	} {
		status, body, raw := f.MustGet(tc.path)
		if status != tc.want {
			t.Fatalf("%s: status %d, want %d: %s", tc.path, status, tc.want, raw)
		}
		if tc.v == nil {
			continue
		}
		row := body["rows"].([]any)[0].(map[string]any)
		got := row["v"]
		if got == nil {
			got = row["name"]
		}
		if got != tc.v {
			t.Fatalf("%s: got %v, want %v", tc.path, got, tc.v)
		}
	}
}

func TestReader_Pagination(t *testing.T) {
	f := newFixture(t)
	f.MustExec("big", gate.PublicTablesDDL, `CREATE TABLE n (id INTEGER PRIMARY KEY, v INTEGER)`,
		`WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 2500) INSERT INTO n SELECT i, i*2 FROM c`,
		`CREATE TABLE w (k TEXT PRIMARY KEY, v INTEGER) WITHOUT ROWID`,
		`WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 1234) INSERT INTO w SELECT printf('k%05d', i), i FROM c`,
		`CREATE VIEW odd AS SELECT id FROM n WHERE id % 2 = 1 ORDER BY id`,
		publish("n"), publish("w"), publish("odd"))
	for _, tc := range []struct {
		table string
		want  int
	}{{"n", 2500}, {"w", 1234}, {"odd", 1250}} {
		seen := map[string]bool{}
		path := "/big/" + tc.table + ".json?_size=333"
		for pages := 0; path != ""; pages++ {
			status, body, raw := f.MustGet(path)
			if status != 200 || pages > 20 {
				t.Fatalf("%s: status %d: %s", path, status, raw)
			}
			for _, r := range body["rows"].([]any) {
				key := fmt.Sprint(r)
				if seen[key] {
					t.Fatalf("%s: row %s twice", tc.table, key)
				}
				seen[key] = true
			}
			path, _ = body["next_url"].(string)
		}
		if got := len(seen); got != tc.want {
			t.Fatalf("%s: saw %d rows, want %d", tc.table, got, tc.want)
		}
	}
	for _, bad := range []string{"_size=-1", "_size=1001", "_size=x", "_next=%21%21", "_next=WzEsMl0", "_next=WzEsMiwzXQ"} {
		if status, _, raw := f.MustGet("/big/n.json?" + bad); status != 400 {
			t.Fatalf("%s: status %d, want 400: %s", bad, status, raw)
		}
	}
}

func TestReader_Methods(t *testing.T) {
	f := newFixture(t)
	seedDemo(f)
	resp, err := http.Post(f.srv.URL+"/demo/cities.json", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST: status %d, want 405", resp.StatusCode)
	}
}
