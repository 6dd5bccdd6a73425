package replica

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mattn/go-sqlite3"
	"github.com/tablecast/tablecast/replica/gate"
)

// importFile replaces the content of db with a new file made of stmts, as
// LiteFS's import does: one write transaction (SQLite's backup API here),
// the schema cookie left at 0.
func (f *fixture) importFile(db string, stmts ...string) {
	f.t.Helper()
	src := filepath.Join(f.t.TempDir(), "src.db")
	s, err := sql.Open("sqlite3", "file:"+src)
	if err != nil {
		f.t.Fatal(err)
	}
	defer s.Close()
	for _, q := range stmts {
		if _, err := s.Exec(q); err != nil {
			f.t.Fatalf("%s: %v", q, err)
		}
	}
	ctx := context.Background()
	sc, err := s.Conn(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	defer sc.Close()
	dc, err := f.dbs[db].Conn(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	defer dc.Close()
	err = dc.Raw(func(d any) error {
		return sc.Raw(func(s any) error {
			bk, err := d.(*sqlite3.SQLiteConn).Backup("main", s.(*sqlite3.SQLiteConn), "main")
			if err != nil {
				return err
			}
			if _, err := bk.Step(-1); err != nil {
				return err
			}
			return bk.Finish()
		})
	})
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := dc.ExecContext(ctx, "PRAGMA schema_version = 0"); err != nil {
		f.t.Fatal(err)
	}
	f.pos.mu.Lock()
	f.pos.txid[db]++
	f.pos.mu.Unlock()
}

// TestReader_ImportedTwice: a reader that read one imported file (schema
// cookie 0) reads the next imported file (cookie 0 again) whole, not
// through the schema it kept of the first.
func TestReader_ImportedTwice(t *testing.T) {
	f := newFixture(t)
	f.MustExec("shop", `CREATE TABLE seed (x)`)
	f.importFile("shop", gate.PublicTablesDDL,
		`CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)`,
		`INSERT INTO items VALUES (1, 'first file')`, publish("items"))
	if code, _, raw := f.MustGet("/shop/items.json"); code != 200 || !strings.Contains(raw, "first file") {
		t.Fatalf("first file: %d %s", code, raw)
	}
	// The second file's tables sit on other pages.
	f.importFile("shop",
		`CREATE TABLE filler (a, b, c)`, `INSERT INTO filler VALUES (1, 2, 3)`,
		`CREATE TABLE more (x)`, `INSERT INTO more VALUES ('not items')`,
		gate.PublicTablesDDL,
		`CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, extra TEXT)`,
		`INSERT INTO items VALUES (7, 'second file', 'x')`, publish("items"))
	code, body, raw := f.MustGet("/shop/items.json")
	if code != 200 {
		t.Fatalf("second file: %d %s", code, raw)
	}
	if rows, _ := body["rows"].([]any); len(rows) != 1 || !strings.Contains(raw, "second file") || !strings.Contains(raw, `"extra"`) {
		t.Fatalf("second file: %s", raw)
	}
}
