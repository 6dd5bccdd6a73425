package primary

import (
	"context"
	"database/sql"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/replica/gate"
)

func TestWriter_Drop(t *testing.T) {
	t.Run("Preview", func(t *testing.T) {
		// Datasette's answer without "confirm": the rows that would go.
		e := newZooEnv(t)
		for _, body := range []string{``, `{}`, `{"confirm": false}`} {
			before := e.snapshot("zoo")
			m := e.mustPost("/zoo/DOGS/-/drop", body, http.StatusOK)
			want := map[string]any{"ok": true, "database": "zoo", "table": "dogs", "row_count": 2.0,
				"message": `Pass "confirm": true to confirm`, "txid": "0000000000000003"}
			if len(m) != len(want) {
				t.Errorf("body %v, want %v", m, want)
			}
			for k, v := range want {
				if m[k] != v {
					t.Errorf("%q: %s = %v, want %v", body, k, m[k], v)
				}
			}
			if after := e.snapshot("zoo"); after != before {
				t.Errorf("%q: database changed:\n%s", body, after)
			}
		}
		// ?_sync=1 has nothing to wait for: no write.
		if rec := e.post("/zoo/dogs/-/drop?_sync=1", ``); rec.Code != http.StatusOK {
			t.Errorf("preview with _sync: %d %s", rec.Code, rec.Body)
		}
	})
	t.Run("Confirm", func(t *testing.T) {
		e := newZooEnv(t)
		m := e.mustPost("/zoo/dogs/-/drop", `{"confirm": true}`, http.StatusOK)
		if m["ok"] != true || m["txid"] == nil || len(m) != 2 {
			t.Errorf("body %v, want ok and txid alone (as Datasette's {\"ok\": true})", m)
		}
		if got := e.queryString("zoo", `SELECT name FROM sqlite_master WHERE name IN ('dogs', 'dog_names') ORDER BY 1`); got != "dog_names" {
			t.Errorf("left %q, want the view alone", got)
		}
		// The version row stays, one higher: versions only grow.
		if got := e.queryString("zoo", `SELECT version FROM _table_versions WHERE table_name = 'dogs'`); got != "2" {
			t.Errorf("dogs version %q, want 2", got)
		}
		// A private table's drop leaves the gate alone.
		if got := e.queryString("zoo", `SELECT count(*) FROM _public_audit`); got != "0" {
			t.Errorf("%s audit rows, want 0", got)
		}
		e.mustPost("/zoo/-/create", `{"table": "dogs", "columns": [{"name": "x"}]}`, http.StatusCreated)
		if got := e.queryString("zoo", `SELECT version FROM _table_versions WHERE table_name = 'dogs'`); got != "3" {
			t.Errorf("dogs version after a new create %q, want 3", got)
		}
	})
	t.Run("View", func(t *testing.T) {
		e := newZooEnv(t)
		m := e.mustPost("/zoo/dog_names/-/drop", ``, http.StatusOK)
		if m["row_count"] != 2.0 || m["table"] != "dog_names" {
			t.Errorf("preview %v", m)
		}
		e.mustPost("/zoo/dog_names/-/publish", ``, http.StatusOK)
		e.mustPost("/zoo/dog_names/-/drop", `{"confirm": true}`, http.StatusOK)
		if got := e.queryString("zoo", `SELECT count(*) FROM sqlite_master WHERE name = 'dog_names'`); got != "0" {
			t.Errorf("view still there")
		}
		if got := e.queryString("zoo", `SELECT count(*) FROM _public_tables`); got != "0" {
			t.Errorf("view still listed")
		}
	})
	t.Run("BrokenView", func(t *testing.T) {
		// A view over a table dropped since cannot be counted, but goes.
		e := newZooEnv(t)
		e.mustPost("/zoo/dogs/-/drop", `{"confirm": true}`, http.StatusOK)
		m := e.mustPost("/zoo/dog_names/-/drop", ``, http.StatusOK)
		if v, ok := m["row_count"]; !ok || v != nil {
			t.Errorf("row_count %v, want null", v)
		}
		e.mustPost("/zoo/dog_names/-/drop", `{"confirm": true}`, http.StatusOK)
	})
}

// Dropping a public table takes it off the gate in the same transaction,
// audited as a drop, and its name never comes back public.
func TestWriter_Drop_Public(t *testing.T) {
	e := newZooEnv(t)
	e.mustPost("/zoo/dogs/-/publish", ``, http.StatusOK)
	gateBefore := e.queryString("zoo", `SELECT version FROM _table_versions WHERE table_name = '_public_tables'`)
	m := e.mustPost("/zoo/dogs/-/drop", `{"confirm": true}`, http.StatusOK)
	if got := e.queryString("zoo", `SELECT count(*) FROM _public_tables`); got != "0" {
		t.Errorf("%s listings left", got)
	}
	if got := e.queryString("zoo", `SELECT action, table_name, token_name FROM _public_audit ORDER BY id`); got != "publish|dogs|alice\ndrop|dogs|alice" {
		t.Errorf("audit %q", got)
	}
	if got := e.queryString("zoo", `SELECT version FROM _table_versions WHERE table_name = '_public_tables'`); got == gateBefore {
		t.Errorf("gate version %s unchanged", got)
	}
	// The admin audit log has the drop, with its TXID.
	entries, err := e.w.Control().Audit(context.Background(), 0, 1)
	if err != nil || len(entries) != 1 {
		t.Fatalf("admin audit %v %v", entries, err)
	}
	if got := entries[0]; got.Action != tablecast.ActionDrop || got.DB != "zoo" || got.Target != "dogs" || got.TXID != m["txid"] || got.Token != "alice" {
		t.Errorf("admin audit %+v", got)
	}
	// A new table of that name is private.
	e.mustPost("/zoo/-/create", `{"table": "Dogs", "columns": [{"name": "secret"}], "rows": [{"secret": "s"}]}`, http.StatusCreated)
	if public := tablePublicIn(t, e, "zoo", "Dogs"); public {
		t.Errorf("a new table named as a dropped public one is public")
	}
}

// A listing that outlived a drop made outside tablecast (through the FUSE
// mount), under any spelling of the name, goes when a table of that name
// is created or dropped.
func TestWriter_Drop_StaleListing(t *testing.T) {
	e := newZooEnv(t)
	e.mustPost("/zoo/notes/-/publish", ``, http.StatusOK)
	e.exec("zoo", `DROP TABLE notes; INSERT INTO _public_tables VALUES ('NOTES', 'x', 'y')`)
	e.mustPost("/zoo/-/create", `{"table": "notes", "columns": [{"name": "secret"}]}`, http.StatusCreated)
	if got := e.queryString("zoo", `SELECT count(*) FROM _public_tables`); got != "0" {
		t.Errorf("%s stale listings left", got)
	}
	if got := e.queryString("zoo", `SELECT action, table_name FROM _public_audit ORDER BY id DESC LIMIT 1`); got != "drop|notes" {
		t.Errorf("audit %q", got)
	}
	if tablePublicIn(t, e, "zoo", "notes") {
		t.Errorf("the new table is public")
	}

	e.exec("zoo", `INSERT INTO _public_tables VALUES ('PAIRS', 'x', 'y')`)
	e.mustPost("/zoo/pairs/-/drop", `{"confirm": true}`, http.StatusOK)
	if got := e.queryString("zoo", `SELECT count(*) FROM _public_tables`); got != "0" {
		t.Errorf("a listing of another spelling survived the drop")
	}
}

// tablePublicIn asks the gate (gate.TablePublic) whether table is public.
func tablePublicIn(tb testing.TB, e *testEnv, db, table string) bool {
	tb.Helper()
	conn, err := sql.Open("sqlite3", "file:"+filepath.Join(e.dir, tablecast.DBFileName(db))+"?mode=ro")
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	tx, err := conn.Begin()
	if err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	public, err := gate.TablePublic(context.Background(), tx, table)
	if err != nil {
		tb.Fatal(err)
	}
	return public
}

func TestWriter_Drop_Bad(t *testing.T) {
	e := newZooEnv(t)
	e.exec("zoo", `CREATE TABLE owners (id INTEGER PRIMARY KEY, dog INTEGER REFERENCES dogs(id)); INSERT INTO owners VALUES (1, 1)`)
	for _, c := range []badCase{
		{name: "TableNotFound", path: "/zoo/cats/-/drop", body: `{"confirm": true}`, status: http.StatusNotFound, msg: "Table not found: cats"},
		{name: "TableNotFoundPreview", path: "/zoo/cats/-/drop", body: ``, status: http.StatusNotFound, msg: "Table not found: cats"},
		{name: "MalformedJSON", body: `{"confirm": `, msg: "Invalid JSON"},
		{name: "ConfirmNotBool", body: `{"confirm": 1}`, msg: `"confirm" must be true or false`},
		{name: "ConfirmString", body: `{"confirm": "true"}`, msg: `"confirm" must be true or false`},
		{name: "UnknownKey", body: `{"confirm": true, "cascade": true}`, msg: `Invalid parameter: "cascade"`},
		{name: "Reserved", path: "/zoo/_public_tables/-/drop", body: `{"confirm": true}`, msg: "reserved"},
		{name: "SQLite", path: "/zoo/sqlite_master/-/drop", body: `{"confirm": true}`, msg: "reserved"},
		{name: "Referenced", body: `{"confirm": true}`, msg: "FOREIGN KEY constraint failed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.path == "" {
				c.path = "/zoo/dogs/-/drop"
			}
			if c.status == 0 {
				c.status = http.StatusBadRequest
			}
			e.checkBad(t, "zoo", c)
		})
	}
	t.Run("DatabaseNotFound", func(t *testing.T) {
		e.checkBad(t, "nodb", badCase{path: "/nodb/dogs/-/drop", body: `{"confirm": true}`,
			status: http.StatusNotFound, msg: "Database not found: nodb"})
	})
}

// Drop needs the schema scope, preview included; write is not enough.
func TestWriter_Drop_Scope(t *testing.T) {
	e, schemer, builder := newSchemaScopeEnv(t)
	for _, body := range []string{``, `{"confirm": true}`} {
		before := e.snapshot("zoo")
		for _, name := range []string{"writer", "reader", "publisher", "admin"} {
			assertError(t, e.request(http.MethodPost, "/zoo/dogs/-/drop", body, "Bearer tc_"+name), http.StatusForbidden, "lacks the schema scope")
		}
		if after := e.snapshot("zoo"); after != before {
			t.Errorf("database changed")
		}
	}
	for _, secret := range []string{schemer, builder} {
		if rec := e.request(http.MethodPost, "/zoo/dogs/-/drop", ``, "Bearer "+secret); rec.Code != http.StatusOK {
			t.Errorf("preview with schema: %d %s", rec.Code, rec.Body)
		}
	}
	rec := e.request(http.MethodPost, "/zoo/dogs/-/drop", `{"confirm": true}`, "Bearer "+schemer)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"ok":true`) {
		t.Errorf("drop with schema: %d %s", rec.Code, rec.Body)
	}
}
