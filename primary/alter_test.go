package primary

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// newSchemaScopeEnv is newScopeEnv with two stored tokens more: "schemer"
// (schema scope alone) and "builder" (write and schema). It returns their
// secrets.
func newSchemaScopeEnv(tb testing.TB) (e *testEnv, schemer, builder string) {
	tb.Helper()
	e = newScopeEnv(tb)
	ctx := context.Background()
	var err error
	if _, schemer, _, err = e.w.Tokens.Create(ctx, NewToken{Name: "schemer", Scopes: []string{ScopeSchema}}, "alice"); err != nil {
		tb.Fatal(err)
	}
	if _, builder, _, err = e.w.Tokens.Create(ctx, NewToken{Name: "builder", Scopes: []string{ScopeWrite, ScopeSchema}}, "alice"); err != nil {
		tb.Fatal(err)
	}
	return e, schemer, builder
}

func TestWriter_InsertAlter(t *testing.T) {
	t.Run("AddsColumns", func(t *testing.T) {
		e := newZooEnv(t)
		m := e.mustPost("/zoo/dogs/-/insert", `{"alter": true, "return": true, "rows": [
			{"id": 3, "name": "Rex", "colour": null, "toys": 2},
			{"id": 4, "Colour": "brown", "toys": 2.5, "tags": ["a"], "good": true}]}`, http.StatusCreated)
		if m["ok"] != true || m["txid"] == nil {
			t.Errorf("body %v", m)
		}
		// Types as /-/create infers them: the first non-null value's,
		// integers widened to floats; null-only or JSON columns are text.
		got := e.queryString("zoo", `SELECT name, type FROM pragma_table_info('dogs') WHERE cid >= 6`)
		if want := "colour|TEXT\ntoys|FLOAT\ntags|TEXT\ngood|INTEGER"; got != want {
			t.Errorf("new columns\n%s\nwant\n%s", got, want)
		}
		got = e.queryString("zoo", `SELECT id, colour, toys, tags, good FROM dogs WHERE id > 2 ORDER BY id`)
		if want := "3|<nil>|2|<nil>|<nil>\n4|brown|2.5|[\"a\"]|1"; got != want {
			t.Errorf("rows\n%s\nwant\n%s", got, want)
		}
		rows, _ := m["rows"].([]any)
		if last, _ := rows[len(rows)-1].(map[string]any); len(rows) != 2 || last["good"] != 1.0 || last["Colour"] != nil || last["colour"] != "brown" {
			t.Errorf("returned rows %v, want the new columns", m["rows"])
		}
		if got := e.queryString("zoo", `SELECT version FROM _table_versions WHERE table_name = 'dogs'`); got != "2" {
			t.Errorf("dogs version %q, want 2", got)
		}
	})
	t.Run("Upsert", func(t *testing.T) {
		e := newZooEnv(t)
		e.mustPost("/zoo/dogs/-/upsert", `{"alter": true, "rows": [{"id": 1, "owner": "Ann"}, {"id": 7, "owner": "Bo", "legs": 4}]}`, http.StatusOK)
		if got := e.queryString("zoo", `SELECT id, name, owner, legs FROM dogs ORDER BY id`); got != "1|Cleo|Ann|<nil>\n2|Pancakes|<nil>|<nil>\n7|<nil>|Bo|4" {
			t.Errorf("rows %q", got)
		}
	})
	t.Run("NothingMissing", func(t *testing.T) {
		e := newZooEnv(t)
		before := e.queryString("zoo", `SELECT sql FROM sqlite_master WHERE name = 'dogs'`)
		e.mustPost("/zoo/dogs/-/insert", `{"alter": true, "row": {"id": 3, "NAME": "x"}}`, http.StatusCreated)
		if after := e.queryString("zoo", `SELECT sql FROM sqlite_master WHERE name = 'dogs'`); after != before {
			t.Errorf("schema changed: %s", after)
		}
	})
	t.Run("RowidTable", func(t *testing.T) {
		e := newZooEnv(t)
		e.mustPost("/zoo/notes/-/insert", `{"alter": true, "row": {"body": "x", "n": 1}}`, http.StatusCreated)
		if got := e.queryString("zoo", `SELECT rowid, body, n FROM notes`); got != "1|x|1" {
			t.Errorf("rows %q", got)
		}
	})
}

func TestWriter_InsertAlter_Bad(t *testing.T) {
	e := newZooEnv(t)
	for _, c := range []badCase{
		// Without "alter", an unknown column stays an error.
		{name: "NoAlter", body: `{"row": {"id": 3, "colour": "red"}}`, msg: "Row 0 has invalid columns: colour"},
		{name: "AlterFalse", body: `{"alter": false, "row": {"id": 3, "colour": "red"}}`, msg: "Row 0 has invalid columns: colour"},
		{name: "AlterNotBool", body: `{"alter": 1, "row": {"id": 3}}`, msg: `"alter" must be true or false`},
		{name: "BadName", body: `{"alter": true, "row": {"id": 3, "a b": 1}}`, msg: `invalid column name "a b"`},
		{name: "Rowid", path: "/zoo/notes/-/insert", body: `{"alter": true, "row": {"rowid": 3}}`, msg: `invalid column name "rowid"`},
		// A column added for a row that then fails is not left behind.
		{name: "LaterRowFails", body: `{"alter": true, "rows": [{"id": 3, "colour": "red"}, {"id": 3}]}`, msg: "UNIQUE constraint failed"},
		{name: "WrongTypeElsewhere", body: `{"alter": true, "rows": [{"id": 3, "colour": "red", "weight": "heavy"}]}`, msg: `column "weight" expects float`},
		{name: "View", path: "/zoo/dog_names/-/insert", body: `{"alter": true, "row": {"x": 1}}`, msg: "Cannot write to a view"},
		{name: "UpsertMissingPK", path: "/zoo/dogs/-/upsert", body: `{"alter": true, "row": {"colour": "red"}}`, msg: "Row 0 is missing primary key column: id"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.path == "" {
				c.path = "/zoo/dogs/-/insert"
			}
			if c.status == 0 {
				c.status = http.StatusBadRequest
			}
			e.checkBad(t, "zoo", c)
		})
	}
	t.Run("TooManyColumns", func(t *testing.T) {
		var b strings.Builder
		b.WriteString(`{"alter": true, "row": {"id": 3`)
		for i := range maxColumns {
			b.WriteString(`, "c` + strconv.Itoa(i) + `": 1`)
		}
		b.WriteString(`}}`)
		e.checkBad(t, "zoo", badCase{path: "/zoo/dogs/-/insert", body: b.String(), status: http.StatusBadRequest, msg: "Too many columns"})
	})
}

// "alter": true needs the schema scope besides write, whether or not a
// column is missing (as Datasette's alter-table permission).
func TestWriter_InsertAlter_Scope(t *testing.T) {
	e, schemer, builder := newSchemaScopeEnv(t)
	for _, path := range []string{"/zoo/dogs/-/insert", "/zoo/dogs/-/upsert"} {
		for _, body := range []string{`{"alter": true, "row": {"id": 3, "colour": "red"}}`, `{"alter": true, "row": {"id": 3}}`} {
			before := e.snapshot("zoo")
			assertError(t, e.request(http.MethodPost, path, body, "Bearer tc_writer"), http.StatusForbidden,
				`Token "writer" lacks the schema scope, which "alter": true needs`)
			assertError(t, e.request(http.MethodPost, path, body, "Bearer "+schemer), http.StatusForbidden,
				`Token "schemer" lacks the write scope`)
			if after := e.snapshot("zoo"); after != before {
				t.Errorf("%s %s: database changed", path, body)
			}
		}
	}
	rec := e.request(http.MethodPost, "/zoo/dogs/-/insert", `{"alter": true, "row": {"id": 3, "colour": "red"}}`, "Bearer "+builder)
	if rec.Code != http.StatusCreated {
		t.Fatalf("write+schema token: %d %s", rec.Code, rec.Body)
	}
	// Without "alter" a write token needs nothing more.
	if rec := e.request(http.MethodPost, "/zoo/dogs/-/insert", `{"row": {"id": 4, "colour": "blue"}}`, "Bearer tc_writer"); rec.Code != http.StatusCreated {
		t.Errorf("write token without alter: %d %s", rec.Code, rec.Body)
	}
}
