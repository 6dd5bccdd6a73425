package primary

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tablecast/tablecast"
)

// testSecret is the secret of the token "alice" in every test writer.
const testSecret = "tc_test-secret"

// fakePositions reports as TXID the global write counter that every
// tablecast transaction bumps in _table_versions, read through its own
// read-only connection: a number that grows by one with each commit, as a
// LiteFS TXID does.
type fakePositions struct {
	dir string
	mu  sync.Mutex
	dbs map[string]*sql.DB
}

var _ tablecast.Positions = (*fakePositions)(nil)

func (p *fakePositions) TXID(db string) (tablecast.TXID, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	conn, err := p.open(db)
	if err != nil {
		return 0, false
	}
	var v int64
	q := `SELECT version FROM _table_versions WHERE table_name = ''`
	if err := conn.QueryRow(q).Scan(&v); err != nil {
		return 0, false
	}
	return tablecast.TXID(v), true
}

func (p *fakePositions) open(db string) (*sql.DB, error) {
	if conn := p.dbs[db]; conn != nil {
		return conn, nil
	}
	path := filepath.Join(p.dir, tablecast.DBFileName(db))
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	conn, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		return nil, err
	}
	if p.dbs == nil {
		p.dbs = make(map[string]*sql.DB)
	}
	p.dbs[db] = conn
	return conn, nil
}

func (p *fakePositions) Databases() []string { return nil }

func (p *fakePositions) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, conn := range p.dbs {
		_ = conn.Close()
	}
}

// testEnv is a Writer on a temp dir, with one token "alice".
type testEnv struct {
	tb  testing.TB
	dir string
	w   *Writer
}

func newTestEnv(tb testing.TB) *testEnv {
	tb.Helper()
	dir := tb.TempDir()
	tokens, err := NewTokens([]Token{{Name: "alice", Hash: HashToken(testSecret)}})
	if err != nil {
		tb.Fatal(err)
	}
	pos := &fakePositions{dir: dir}
	w := NewWriter(dir, pos, &tablecast.CommitFence{}, tokens)
	w.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	tb.Cleanup(func() {
		if err := w.Close(); err != nil {
			tb.Error(err)
		}
		pos.close()
	})
	return &testEnv{tb: tb, dir: dir, w: w}
}

// post sends a POST with alice's token.
func (e *testEnv) post(path, body string) *httptest.ResponseRecorder {
	return e.request(http.MethodPost, path, body, "Bearer "+testSecret)
}

func (e *testEnv) request(method, path, body, auth string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	e.w.ServeHTTP(rec, r)
	return rec
}

// mustPost posts and fails unless the status is want; it returns the body.
func (e *testEnv) mustPost(path, body string, want int) map[string]any {
	e.tb.Helper()
	rec := e.post(path, body)
	if rec.Code != want {
		e.tb.Fatalf("POST %s: status %d, want %d: %s", path, rec.Code, want, rec.Body)
	}
	return decodeJSON(e.tb, rec)
}

func decodeJSON(tb testing.TB, rec *httptest.ResponseRecorder) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		tb.Fatalf("decode response %q: %s", rec.Body, err)
	}
	return m
}

// assertError checks a Datasette-style JSON error response.
func assertError(tb testing.TB, rec *httptest.ResponseRecorder, status int, msg string) {
	tb.Helper()
	if rec.Code != status {
		tb.Errorf("status %d, want %d: %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		tb.Errorf("content type %q, want JSON", ct)
	}
	m := decodeJSON(tb, rec)
	if m["ok"] != false {
		tb.Errorf("ok = %v, want false", m["ok"])
	}
	if got, _ := m["status"].(float64); int(got) != status {
		tb.Errorf("status field %v, want %d", m["status"], status)
	}
	if got, _ := m["error"].(string); !strings.Contains(got, msg) {
		tb.Errorf("error %q, want it to contain %q", got, msg)
	}
}

// query runs a query on a database file through a separate read-only
// connection and returns the rows, values formatted with %v.
func (e *testEnv) query(db, q string, args ...any) [][]string {
	e.tb.Helper()
	conn, err := sql.Open("sqlite3", "file:"+filepath.Join(e.dir, tablecast.DBFileName(db))+"?mode=ro")
	if err != nil {
		e.tb.Fatal(err)
	}
	defer conn.Close()
	rows, err := conn.Query(q, args...)
	if err != nil {
		e.tb.Fatalf("query %q: %s", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			e.tb.Fatal(err)
		}
		row := make([]string, len(vals))
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				v = fmt.Sprintf("blob:%x", b)
			}
			row[i] = fmt.Sprintf("%v", v)
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		e.tb.Fatal(err)
	}
	return out
}

// queryString runs a query and formats the result as one string.
func (e *testEnv) queryString(db, q string, args ...any) string {
	e.tb.Helper()
	var lines []string
	for _, r := range e.query(db, q, args...) {
		lines = append(lines, strings.Join(r, "|"))
	}
	return strings.Join(lines, "\n")
}

// snapshot describes everything in a database: its files, schema and every
// row of every table, so that tests can tell that nothing was written.
func (e *testEnv) snapshot(db string) string {
	e.tb.Helper()
	path := filepath.Join(e.dir, tablecast.DBFileName(db))
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		matches, _ := filepath.Glob(path + "*")
		return fmt.Sprintf("no database file; other files: %v", matches)
	}
	var b strings.Builder
	tables := e.query(db, `SELECT name, sql FROM sqlite_master ORDER BY name`)
	for _, t := range tables {
		fmt.Fprintf(&b, "%s: %s\n", t[0], t[1])
		if strings.HasPrefix(t[1], "CREATE TABLE") {
			fmt.Fprintf(&b, "%s\n", e.queryString(db, "SELECT * FROM "+tablecast.QuoteIdent(t[0])))
		}
	}
	return b.String()
}

// badCase is a request that must be refused without writing anything.
type badCase struct {
	name   string
	path   string
	body   string
	status int
	msg    string // part of the error message
}

// checkBad runs a bad case and checks the error and that db is unchanged.
func (e *testEnv) checkBad(t *testing.T, db string, c badCase) {
	t.Helper()
	before := e.snapshot(db)
	rec := e.post(c.path, c.body)
	assertError(t, rec, c.status, c.msg)
	if rec.Header().Get(tablecast.HeaderTXID) != "" {
		t.Errorf("error response carries a TXID header")
	}
	if after := e.snapshot(db); after != before {
		t.Errorf("database changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// exec runs statements on a database file through a separate connection,
// as another program would.
func (e *testEnv) exec(db, q string) {
	e.tb.Helper()
	conn, err := sql.Open("sqlite3", "file:"+filepath.Join(e.dir, tablecast.DBFileName(db))+"?mode=rw&_busy_timeout=5000")
	if err != nil {
		e.tb.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Exec(q); err != nil {
		e.tb.Fatalf("exec %q: %s", q, err)
	}
}

// newZooEnv is a test writer with database "zoo" holding tables dogs (pk
// id), notes (rowid) and pairs (pk a, b), and the view dog_names.
func newZooEnv(tb testing.TB) *testEnv {
	tb.Helper()
	e := newTestEnv(tb)
	e.mustPost("/zoo/-/create", `{"table": "dogs", "pk": "id", "columns": [
		{"name": "id", "type": "integer"}, {"name": "name", "type": "text"},
		{"name": "weight", "type": "float"}, {"name": "photo", "type": "blob"},
		{"name": "meta", "type": "text"}, {"name": "age", "type": "integer"}],
		"rows": [{"id": 1, "name": "Cleo", "weight": 5.5}, {"id": 2, "name": "Pancakes", "weight": 4}]}`, http.StatusCreated)
	e.mustPost("/zoo/-/create", `{"table": "notes", "columns": [{"name": "body"}]}`, http.StatusCreated)
	e.mustPost("/zoo/-/create", `{"table": "pairs", "pks": ["a", "b"], "columns": [
		{"name": "a"}, {"name": "b"}, {"name": "v", "type": "integer"}],
		"rows": [{"a": "x,y", "b": "1/2", "v": 1}]}`, http.StatusCreated)
	e.exec("zoo", `CREATE VIEW dog_names AS SELECT name FROM dogs`)
	return e
}
