package primary

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriter_Create(t *testing.T) {
	t.Run("ColumnsAndPK", func(t *testing.T) {
		e := newTestEnv(t)
		rec := e.post("/zoo/-/create", `{"table": "dogs", "pk": "id", "columns": [
			{"name": "id", "type": "integer"}, {"name": "name", "type": "TEXT"},
			{"name": "weight", "type": "float"}, {"name": "photo", "type": "blob"}, {"name": "note"}]}`)
		if rec.Code != http.StatusCreated {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		m := decodeJSON(t, rec)
		want := map[string]any{"ok": true, "database": "zoo", "table": "dogs", "table_url": "/zoo/dogs", "row_count": 0.0}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("%s = %v, want %v", k, m[k], v)
			}
		}
		wantSchema := "CREATE TABLE \"dogs\" (\n   \"id\" INTEGER PRIMARY KEY,\n   \"name\" TEXT,\n" +
			"   \"weight\" FLOAT,\n   \"photo\" BLOB,\n   \"note\" TEXT\n)"
		if m["schema"] != wantSchema {
			t.Errorf("schema\n%v\nwant\n%s", m["schema"], wantSchema)
		}
		if m["txid"] != "0000000000000001" || rec.Header().Get("Tablecast-Txid") != "0000000000000001" {
			t.Errorf("txid %v, header %q; want 0000000000000001", m["txid"], rec.Header().Get("Tablecast-Txid"))
		}
		got := e.queryString("zoo", `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
		if want := "_public_audit\n_public_tables\n_table_versions\ndogs"; got != want {
			t.Errorf("tables %q, want %q", got, want)
		}
		if got := e.queryString("zoo", `SELECT * FROM _table_versions ORDER BY 1`); got != "|1\ndogs|1" {
			t.Errorf("versions %q", got)
		}
		if got := e.queryString("zoo", `PRAGMA journal_mode`); got != "wal" {
			t.Errorf("journal mode %q, want wal", got)
		}
	})
	t.Run("RowsInferred", func(t *testing.T) {
		e := newTestEnv(t)
		m := e.mustPost("/zoo/-/create", `{"table": "t", "pk": "id", "rows": [
			{"id": 1, "name": "a", "meta": {"x": [1, 2]}, "score": 1, "good": true},
			{"id": 2, "name": null, "meta": null, "score": 2.5, "good": false}]}`, http.StatusCreated)
		if m["row_count"] != 2.0 {
			t.Errorf("row_count %v, want 2", m["row_count"])
		}
		if s, _ := m["schema"].(string); !strings.Contains(s, `"id" INTEGER PRIMARY KEY`) || !strings.Contains(s, `"score" FLOAT`) {
			t.Errorf("schema %s", s)
		}
		got := e.queryString("zoo", `SELECT id, name, meta, score, typeof(score), good FROM t ORDER BY id`)
		want := "1|a|{\"x\":[1,2]}|1|real|1\n2|<nil>|<nil>|2.5|real|0"
		if got != want {
			t.Errorf("rows\n%s\nwant\n%s", got, want)
		}
	})
	t.Run("CompoundPK", func(t *testing.T) {
		e := newTestEnv(t)
		m := e.mustPost("/zoo/-/create", `{"table": "p", "pks": ["a", "B"], "rows": [{"a": "x", "b": 1, "v": 1.5}]}`, http.StatusCreated)
		if s, _ := m["schema"].(string); !strings.Contains(s, `PRIMARY KEY ("a", "b")`) {
			t.Errorf("schema %s", s)
		}
		if got := e.queryString("zoo", `SELECT name, pk FROM pragma_table_info('p') ORDER BY cid`); got != "a|1\nb|2\nv|0" {
			t.Errorf("columns %q", got)
		}
	})
	t.Run("RowidTable", func(t *testing.T) {
		e := newTestEnv(t)
		m := e.mustPost("/zoo/-/create", `{"table": "notes", "row": {"body": "hi"}}`, http.StatusCreated)
		if s, _ := m["schema"].(string); strings.Contains(s, "PRIMARY KEY") {
			t.Errorf("schema %s has a primary key", s)
		}
		if got := e.queryString("zoo", `SELECT rowid, body FROM notes`); got != "1|hi" {
			t.Errorf("rows %q", got)
		}
	})
	t.Run("SecondTable", func(t *testing.T) {
		e := newZooEnv(t)
		m := e.mustPost("/zoo/-/create", `{"table": "cats", "columns": [{"name": "id"}]}`, http.StatusCreated)
		if got := e.queryString("zoo", `SELECT version FROM _table_versions WHERE table_name IN ('', 'cats') ORDER BY 1`); got != "1\n4" {
			t.Errorf("versions %q, want 1 and 4", got)
		}
		if m["txid"] != "0000000000000004" {
			t.Errorf("txid %v", m["txid"])
		}
	})
}

// badCreates are create requests refused whatever the database.
var badCreates = []badCase{
	{name: "MalformedJSON", body: `{"table": "t",`, msg: "Invalid JSON"},
	{name: "NotAnObject", body: `["t"]`, msg: "Request body must be a JSON object"},
	{name: "EmptyBody", body: ``, msg: "invalid table name: empty"},
	{name: "UnknownKey", body: `{"table": "t", "columns": [{"name": "a"}], "alter": true}`, msg: `Invalid parameter: "alter"`},
	{name: "DuplicateKey", body: `{"table": "t", "table": "u", "columns": [{"name": "a"}]}`, msg: `duplicate key "table"`},
	{name: "TableNotString", body: `{"table": 1, "columns": [{"name": "a"}]}`, msg: `"table" must be a string`},
	{name: "ReservedTable", body: `{"table": "_public_tables", "columns": [{"name": "a"}]}`, msg: "reserved"},
	{name: "SQLiteTable", body: `{"table": "sqlite_stat1", "columns": [{"name": "a"}]}`, msg: "reserved"},
	{name: "BadTableName", body: `{"table": "a b", "columns": [{"name": "a"}]}`, msg: `invalid table name "a b"`},
	{name: "NoColumns", body: `{"table": "t"}`, msg: `Request must have "columns", "row" or "rows"`},
	{name: "EmptyColumns", body: `{"table": "t", "columns": []}`, msg: `"columns" must be a non-empty list`},
	{name: "ColumnNotObject", body: `{"table": "t", "columns": ["a"]}`, msg: "Column 0 must be a JSON object"},
	{name: "ColumnUnknownKey", body: `{"table": "t", "columns": [{"name": "a", "size": 3}]}`, msg: `Column 0: invalid key "size"`},
	{name: "BadColumnType", body: `{"table": "t", "columns": [{"name": "a", "type": "varchar"}]}`, msg: `invalid type "varchar"`},
	{name: "BadColumnName", body: `{"table": "t", "columns": [{"name": "a-b"}]}`, msg: `invalid column name "a-b"`},
	{name: "RowidColumn", body: `{"table": "t", "columns": [{"name": "rowid"}]}`, msg: "reserved by SQLite"},
	{name: "DuplicateColumn", body: `{"table": "t", "columns": [{"name": "a"}, {"name": "A"}]}`, msg: "Duplicate column name: A"},
	{name: "PKNotAColumn", body: `{"table": "t", "pk": "id", "columns": [{"name": "a"}]}`, msg: "Primary key column not found: id"},
	{name: "PKAndPKs", body: `{"table": "t", "pk": "a", "pks": ["a"], "columns": [{"name": "a"}]}`, msg: `Use either "pk" or "pks"`},
	{name: "EmptyPKs", body: `{"table": "t", "pks": [], "columns": [{"name": "a"}]}`, msg: `"pks" must be a non-empty list`},
	{name: "PKTwice", body: `{"table": "t", "pks": ["a", "a"], "columns": [{"name": "a"}]}`, msg: "Primary key column given twice: a"},
	{name: "EmptyRows", body: `{"table": "t", "rows": []}`, msg: `"rows" is empty`},
	{name: "RowAndRows", body: `{"table": "t", "row": {"a": 1}, "rows": [{"a": 1}]}`, msg: `Use either "row" or "rows"`},
	{name: "RowWrongType", body: `{"table": "t", "columns": [{"name": "id", "type": "integer"}], "row": {"id": "x"}}`, msg: `Row 0: column "id" expects integer, got string`},
	{name: "RowInvalidColumn", body: `{"table": "t", "columns": [{"name": "id"}], "rows": [{"id": "x"}, {"foo": 1}]}`, msg: "Row 1 has invalid columns: foo"},
	{name: "InferredBadName", body: `{"table": "t", "rows": [{"a b": 1}]}`, msg: `invalid column name "a b"`},
	{name: "InferredConflict", body: `{"table": "t", "rows": [{"a": 1}, {"a": 2}, {"a": "x"}]}`, msg: `Row 2: column "a" expects integer, got string`},
	{name: "DuplicatePKInRows", body: `{"table": "t", "pk": "id", "rows": [{"id": 1}, {"id": 1}]}`, msg: "Row 1: UNIQUE constraint failed: t.id"},
	{name: "NullTextPK", body: `{"table": "t", "pk": "code", "columns": [{"name": "code"}], "row": {"code": null}}`, msg: "Row 0: NOT NULL constraint failed: t.code"},
	{name: "TooManyRows", body: `{"table": "t", "rows": [` + strings.TrimSuffix(strings.Repeat(`{"a": 1},`, DefaultMaxRows+1), ",") + `]}`, msg: fmt.Sprintf("Too many rows: %d, the limit is %d", DefaultMaxRows+1, DefaultMaxRows)},
}

func TestWriter_Create_Bad(t *testing.T) {
	t.Run("NewDatabase", func(t *testing.T) {
		for _, c := range badCreates {
			t.Run(c.name, func(t *testing.T) {
				e := newTestEnv(t)
				c.path, c.status = "/fresh/-/create", http.StatusBadRequest
				e.checkBad(t, "fresh", c)
				if entries, _ := os.ReadDir(e.dir); len(entries) != 0 {
					t.Errorf("files left in %s: %v", e.dir, entries)
				}
			})
		}
	})
	t.Run("ExistingDatabase", func(t *testing.T) {
		e := newZooEnv(t)
		cases := append([]badCase{
			{name: "TableExists", body: `{"table": "dogs", "columns": [{"name": "a"}]}`, msg: "Table already exists: dogs"},
			{name: "TableExistsOtherCase", body: `{"table": "DOGS", "columns": [{"name": "a"}]}`, msg: "Table already exists: DOGS"},
			{name: "ViewExists", body: `{"table": "dog_names", "columns": [{"name": "a"}]}`, msg: "Table already exists: dog_names"},
		}, badCreates...)
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				c.path, c.status = "/zoo/-/create", http.StatusBadRequest
				e.checkBad(t, "zoo", c)
			})
		}
	})
	t.Run("BadDatabaseName", func(t *testing.T) {
		e := newTestEnv(t)
		for _, db := range []string{"_x", "-x", "a.b", "a%2Fb", "..", strings.Repeat("a", 65)} {
			c := badCase{path: "/" + db + "/-/create", body: `{"table": "t", "columns": [{"name": "a"}]}`,
				status: http.StatusBadRequest, msg: "invalid database name"}
			e.checkBad(t, db, c)
		}
		if entries, _ := os.ReadDir(e.dir); len(entries) != 0 {
			t.Errorf("files left in %s: %v", e.dir, entries)
		}
	})
}

func TestWriter_Create_DirectoryMissing(t *testing.T) {
	e := newTestEnv(t)
	e.w.Dir = filepath.Join(e.dir, "missing")
	rec := e.post("/zoo/-/create", `{"table": "t", "columns": [{"name": "a"}]}`)
	assertError(t, rec, http.StatusInternalServerError, "Internal error")
	if _, err := os.Stat(e.w.Dir); !os.IsNotExist(err) {
		t.Errorf("stat %s: %v, want not exist", e.w.Dir, err)
	}
}
