package primary

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"
	"github.com/tablecast/tablecast"
)

// newImportEnv is a test writer whose Import copies the prepared file over
// the database file as LiteFS's import does (schema cookie and change
// counter set to 0), counting its calls.
func newImportEnv(tb testing.TB) (*testEnv, *atomic.Int32) {
	tb.Helper()
	e := newTestEnv(tb)
	var calls atomic.Int32
	e.w.Imports = &Imports{
		TempDir: filepath.Join(tb.TempDir(), "import"),
		Wait:    2 * time.Second,
		Import: func(ctx context.Context, db, path string) (tablecast.TXID, error) {
			calls.Add(1)
			return 7, backupInto(ctx, filepath.Join(e.dir, tablecast.DBFileName(db)), path)
		},
	}
	return e, &calls
}

// backupInto copies the database at src over dst with SQLite's backup
// API, as one write transaction of dst (LiteFS's import stands in).
func backupInto(ctx context.Context, dst, src string) error {
	open := func(path string) (*sql.DB, *sql.Conn, error) {
		db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
		if err != nil {
			return nil, nil, err
		}
		c, err := db.Conn(ctx)
		return db, c, err
	}
	ddb, dc, err := open(dst)
	if err != nil {
		return err
	}
	defer ddb.Close()
	defer dc.Close()
	sdb, sc, err := open(src)
	if err != nil {
		return err
	}
	defer sdb.Close()
	defer sc.Close()
	return dc.Raw(func(d any) error {
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
}

// makeSQLite makes a SQLite file with stmts and returns its bytes.
func makeSQLite(tb testing.TB, stmts ...string) []byte {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "src.db")
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=DELETE")
	if err != nil {
		tb.Fatal(err)
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			tb.Fatalf("%s: %s", s, err)
		}
	}
	if err := db.Close(); err != nil {
		tb.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// zooFile is a file with two tables, a view, an index, a trigger and
// datasette-public 0.2's _public_tables listing dogs and a missing table.
func zooFile(tb testing.TB) []byte {
	return makeSQLite(tb,
		`CREATE TABLE dogs (id INTEGER PRIMARY KEY, name TEXT)`,
		`INSERT INTO dogs VALUES (1, 'Cleo'), (2, 'Pancakes')`,
		`CREATE TABLE secrets (k TEXT PRIMARY KEY, v TEXT)`,
		`INSERT INTO secrets VALUES ('pin', '1234')`,
		`CREATE VIEW dog_names AS SELECT name FROM dogs`,
		`CREATE INDEX dogs_name ON dogs(name)`,
		`CREATE TABLE log (msg TEXT)`,
		`CREATE TRIGGER dogs_log AFTER INSERT ON dogs BEGIN INSERT INTO log VALUES (new.name); END`,
		`CREATE TABLE _public_tables (table_name TEXT PRIMARY KEY)`,
		`INSERT INTO _public_tables VALUES ('dogs'), ('gone')`,
	)
}

func (e *testEnv) postFile(path string, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(string(body)))
	r.Header.Set("Authorization", "Bearer "+testSecret)
	rec := httptest.NewRecorder()
	e.w.ServeHTTP(rec, r)
	return rec
}

func TestWriter_Import(t *testing.T) {
	e, calls := newImportEnv(t)
	rec := e.postFile("/zoo/-/import", zooFile(t))
	if rec.Code != http.StatusCreated {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	m := decodeJSON(t, rec)
	if got := fmt.Sprint(m["tables"], m["views"], m["indexes"], m["triggers"], m["public"]); got != "[dogs log secrets] [dog_names] 1 1 []" {
		t.Errorf("answer: %s", got)
	}
	if rec.Header().Get(tablecast.HeaderTXID) == "" || calls.Load() != 1 {
		t.Errorf("txid header %q, imports %d", rec.Header().Get(tablecast.HeaderTXID), calls.Load())
	}
	// Every object arrived; nothing public; the trigger works.
	if got := e.queryString("zoo", `SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE '\_%' ESCAPE '\' ORDER BY name`); got != "view|dog_names\ntable|dogs\ntrigger|dogs_log\nindex|dogs_name\ntable|log\ntable|secrets" {
		t.Errorf("schema:\n%s", got)
	}
	if got := e.queryString("zoo", `SELECT count(*) FROM _public_tables`); got != "0" {
		t.Errorf("_public_tables rows: %s, want 0", got)
	}
	e.mustPost("/zoo/dogs/-/insert", `{"row": {"id": 3, "name": "Rex"}}`, http.StatusCreated)
	if got := e.queryString("zoo", `SELECT msg FROM log`); got != "Rex" {
		t.Errorf("trigger log: %q", got)
	}
	// The schema cookie moved off LiteFS's 0 (bumpSchema).
	if got := e.queryString("zoo", `PRAGMA schema_version`); got == "0" {
		t.Errorf("schema_version 0 after import")
	}
}

func TestWriter_Import_KeepPublic(t *testing.T) {
	e, _ := newImportEnv(t)
	m := decodeJSON(t, e.postFile("/zoo/-/import?keep_public=1", zooFile(t)))
	if got := fmt.Sprint(m["public"], m["public_skipped"]); got != "[dogs] [gone]" {
		t.Errorf("public, skipped: %s", got)
	}
	if got := e.queryString("zoo", `SELECT table_name, published_by FROM _public_tables`); got != "dogs|alice" {
		t.Errorf("_public_tables: %q", got)
	}
	if got := e.queryString("zoo", `SELECT action, table_name, token_name FROM _public_audit`); got != "publish|dogs|alice" {
		t.Errorf("_public_audit: %q", got)
	}
}

func TestWriter_Import_Replace(t *testing.T) {
	e, _ := newImportEnv(t)
	e.mustPost("/zoo/-/create", `{"table": "old", "row": {"id": 1}}`, http.StatusCreated)
	before := e.snapshot("zoo")
	assertError(t, e.postFile("/zoo/-/import", zooFile(t)), http.StatusConflict, "exists")
	if after := e.snapshot("zoo"); after != before {
		t.Fatalf("database changed by a refused import")
	}
	rec := e.postFile("/zoo/-/import?replace=1", zooFile(t))
	if rec.Code != http.StatusOK || decodeJSON(t, rec)["replaced"] != true {
		t.Fatalf("replace: %d %s", rec.Code, rec.Body)
	}
	if got := e.queryString("zoo", `SELECT count(*) FROM sqlite_master WHERE name = 'old'`); got != "0" {
		t.Errorf("old table still there")
	}
	// The writer's handle of the old file was dropped: writes reach the new one.
	e.mustPost("/zoo/dogs/-/insert", `{"row": {"id": 3, "name": "Rex"}}`, http.StatusCreated)
	if got := e.queryString("zoo", `SELECT count(*) FROM dogs`); got != "3" {
		t.Errorf("dogs: %s rows, want 3", got)
	}
}

func TestWriter_Import_Refused(t *testing.T) {
	good := zooFile(t)
	wal := make([]byte, 64)
	binary.BigEndian.PutUint32(wal, walMagicLE)
	corrupt := append([]byte(nil), good...)
	pageSize := int(binary.BigEndian.Uint16(good[16:]))
	for i := pageSize + 8; i < 2*pageSize; i++ { // page 2 (dogs' b-tree), past its header
		corrupt[i] = 0xA5
	}
	cases := []struct {
		name, path string
		body       []byte
		status     int
		msg        string
	}{
		{"not sqlite", "/zoo/-/import", []byte("id,name\n1,Cleo\n"), 400, "not a SQLite database"},
		{"wal file", "/zoo/-/import", wal, 400, "WAL file"},
		{"empty", "/zoo/-/import", nil, 400, "empty"},
		{"truncated", "/zoo/-/import", good[:len(good)-100], 400, "truncated"},
		{"corrupt", "/zoo/-/import", corrupt, 400, "integrity_check"},
		{"unknown parameter", "/zoo/-/import?force=1", good, 400, "Unknown parameter"},
		{"bad boolean", "/zoo/-/import?replace=yes", good, 400, "must be 1 or 0"},
		{"bad name", "/z%20o/-/import", good, 400, "invalid database name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, calls := newImportEnv(t)
			assertError(t, e.postFile(c.path, c.body), c.status, c.msg)
			if calls.Load() != 0 {
				t.Errorf("LiteFS import called")
			}
			if _, err := os.Stat(filepath.Join(e.dir, tablecast.DBFileName("zoo"))); err == nil {
				t.Errorf("database file made")
			}
			left, _ := os.ReadDir(e.w.Imports.TempDir)
			if len(left) != 0 {
				t.Errorf("temporary files left: %v", left)
			}
		})
	}
}

func TestWriter_Import_Limits(t *testing.T) {
	t.Run("too large", func(t *testing.T) {
		e, calls := newImportEnv(t)
		e.w.Imports.MaxBytes = 4096
		assertError(t, e.postFile("/zoo/-/import", zooFile(t)), http.StatusRequestEntityTooLarge, "max-import-bytes")
		if calls.Load() != 0 {
			t.Errorf("LiteFS import called")
		}
	})
	t.Run("disk floor", func(t *testing.T) {
		e, calls := newImportEnv(t)
		file := zooFile(t)
		// Room for the floor and the file twice, not three times.
		free := uint64(64<<20 + 2*len(file))
		e.w.Space = &SpaceFloor{Dirs: []string{e.dir}, MinFree: 64 << 20, Statfs: func(string) (uint64, error) { return free, nil }}
		assertError(t, e.postFile("/zoo/-/import", file), http.StatusInsufficientStorage, "three times")
		if calls.Load() != 0 {
			t.Errorf("LiteFS import called")
		}
	})
	t.Run("scope", func(t *testing.T) {
		e, _ := newImportEnv(t)
		tokens, err := NewTokens([]Token{{Name: "w", Hash: HashToken("tc_w"), Scopes: []string{ScopeWrite, ScopePublish}}})
		if err != nil {
			t.Fatal(err)
		}
		e.w.Tokens = tokens
		r := httptest.NewRequest(http.MethodPost, "/zoo/-/import", strings.NewReader(string(zooFile(t))))
		r.Header.Set("Authorization", "Bearer tc_w")
		rec := httptest.NewRecorder()
		e.w.ServeHTTP(rec, r)
		assertError(t, rec, http.StatusForbidden, "admin")
	})
	t.Run("lease lost during the import", func(t *testing.T) {
		e, calls := newImportEnv(t)
		e.w.CanCommit = func() error {
			if calls.Load() > 0 {
				return tablecast.Errorf(tablecast.EUNAVAILABLE, "not the primary")
			}
			return nil
		}
		assertError(t, e.postFile("/zoo/-/import", zooFile(t)), http.StatusBadGateway, "may or may not")
	})
	t.Run("import failed", func(t *testing.T) {
		e, _ := newImportEnv(t)
		e.w.Imports.Import = func(context.Context, string, string) (tablecast.TXID, error) {
			return 0, fmt.Errorf("boom")
		}
		assertError(t, e.postFile("/zoo/-/import", zooFile(t)), http.StatusInternalServerError, "nothing was imported")
	})
}
