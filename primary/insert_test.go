package primary

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestWriter_Insert(t *testing.T) {
	t.Run("Row", func(t *testing.T) {
		e := newZooEnv(t)
		m := e.mustPost("/zoo/dogs/-/insert", `{"row": {"id": 3, "name": "Rex", "weight": 7, "age": true}}`, http.StatusCreated)
		if m["ok"] != true || m["txid"] == nil || m["rows"] != nil {
			t.Errorf("body %v", m)
		}
		got := e.queryString("zoo", `SELECT id, name, weight, typeof(weight), age FROM dogs WHERE id = 3`)
		if got != "3|Rex|7|real|1" {
			t.Errorf("row %q", got)
		}
		if got := e.queryString("zoo", `SELECT version FROM _table_versions WHERE table_name = 'dogs'`); got != "2" {
			t.Errorf("dogs version %q, want 2", got)
		}
	})
	t.Run("Rows", func(t *testing.T) {
		e := newZooEnv(t)
		e.mustPost("/zoo/dogs/-/insert", `{"rows": [{"id": 3, "NAME": "a"}, {"id": 4, "meta": {"k": "v"}}, {"id": 5, "photo": {"$base64": true, "encoded": "AAEC"}}]}`, http.StatusCreated)
		got := e.queryString("zoo", `SELECT id, name, meta, photo FROM dogs WHERE id > 2 ORDER BY id`)
		want := "3|a|<nil>|<nil>\n4|<nil>|{\"k\":\"v\"}|<nil>\n5|<nil>|<nil>|blob:000102"
		if got != want {
			t.Errorf("rows\n%s\nwant\n%s", got, want)
		}
	})
	t.Run("Return", func(t *testing.T) {
		e := newZooEnv(t)
		rec := e.post("/zoo/dogs/-/insert", `{"return": true, "rows": [
			{"id": 3, "name": "<b>", "photo": {"$base64": true, "encoded": "AAEC"}}, {"name": "auto"}]}`)
		if rec.Code != http.StatusCreated {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		var body struct{ Rows []json.RawMessage }
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		want := []string{
			`{"id":3,"name":"<b>","weight":null,"photo":{"$base64":true,"encoded":"AAEC"},"meta":null,"age":null}`,
			`{"id":4,"name":"auto","weight":null,"photo":null,"meta":null,"age":null}`,
		}
		if len(body.Rows) != len(want) {
			t.Fatalf("got %d rows, want %d: %s", len(body.Rows), len(want), rec.Body)
		}
		for i := range want {
			if string(body.Rows[i]) != want[i] {
				t.Errorf("row %d\n%s\nwant\n%s", i, body.Rows[i], want[i])
			}
		}
	})
	t.Run("ReturnRowid", func(t *testing.T) {
		e := newZooEnv(t)
		rec := e.post("/zoo/notes/-/insert", `{"return": true, "row": {}}`)
		if want := `"rows":[{"rowid":1,"body":null}]`; !strings.Contains(rec.Body.String(), want) {
			t.Errorf("body %s, want %s", rec.Body, want)
		}
	})
	t.Run("Ignore", func(t *testing.T) {
		e := newZooEnv(t)
		e.mustPost("/zoo/dogs/-/insert", `{"ignore": true, "rows": [{"id": 1, "name": "Other"}, {"id": 3, "name": "New"}]}`, http.StatusCreated)
		if got := e.queryString("zoo", `SELECT id, name FROM dogs ORDER BY id`); got != "1|Cleo\n2|Pancakes\n3|New" {
			t.Errorf("rows %q", got)
		}
	})
	t.Run("Replace", func(t *testing.T) {
		e := newZooEnv(t)
		e.mustPost("/zoo/dogs/-/insert", `{"replace": true, "row": {"id": 1, "name": "Other"}}`, http.StatusCreated)
		if got := e.queryString("zoo", `SELECT id, name, weight FROM dogs ORDER BY id`); got != "1|Other|<nil>\n2|Pancakes|4" {
			t.Errorf("rows %q", got)
		}
	})
	t.Run("ForeignKeys", func(t *testing.T) {
		e := newZooEnv(t)
		e.exec("zoo", `CREATE TABLE toys (id INTEGER PRIMARY KEY, dog INTEGER REFERENCES dogs(id))`)
		e.mustPost("/zoo/toys/-/insert", `{"row": {"id": 1, "dog": 1}}`, http.StatusCreated)
		e.checkBad(t, "zoo", badCase{path: "/zoo/toys/-/insert", body: `{"row": {"id": 2, "dog": 99}}`,
			status: http.StatusBadRequest, msg: "Row 0: FOREIGN KEY constraint failed"})
	})
	t.Run("GeneratedColumn", func(t *testing.T) {
		e := newZooEnv(t)
		e.exec("zoo", `CREATE TABLE g (a INTEGER, b INTEGER GENERATED ALWAYS AS (a * 2))`)
		rec := e.post("/zoo/g/-/insert", `{"return": true, "row": {"a": 2}}`)
		if want := `"rows":[{"rowid":1,"a":2,"b":4}]`; !strings.Contains(rec.Body.String(), want) {
			t.Errorf("body %s, want %s", rec.Body, want)
		}
		e.checkBad(t, "zoo", badCase{path: "/zoo/g/-/insert", body: `{"row": {"a": 1, "b": 2}}`,
			status: http.StatusBadRequest, msg: "Row 0 has invalid columns: b"})
	})
}

func TestWriter_Insert_Bad(t *testing.T) {
	e := newZooEnv(t)
	for _, c := range []badCase{
		{name: "MalformedJSON", body: `{"row": {"id": 3}`, msg: "Invalid JSON"},
		{name: "TrailingData", body: `{"row": {"id": 3}} {}`, msg: "Invalid JSON"},
		{name: "EmptyBody", body: ``, msg: `Request must have "row" or "rows"`},
		{name: "NotAnObject", body: `[{"id": 3}]`, msg: "Request body must be a JSON object"},
		{name: "UnknownKey", body: `{"row": {"id": 3}, "foo": 1}`, msg: `Invalid parameter: "foo"`},
		{name: "NoRows", body: `{"return": true}`, msg: `Request must have "row" or "rows"`},
		{name: "RowAndRows", body: `{"row": {"id": 3}, "rows": [{"id": 4}]}`, msg: `Use either "row" or "rows"`},
		{name: "EmptyRows", body: `{"rows": []}`, msg: `"rows" is empty`},
		{name: "RowsNotList", body: `{"rows": {"id": 3}}`, msg: `"rows" must be a list`},
		{name: "RowsNull", body: `{"rows": null}`, msg: `"rows" must be a list`},
		{name: "RowNotObject", body: `{"row": [3]}`, msg: "Row 0 must be a JSON object"},
		{name: "RowsItemNotObject", body: `{"rows": [{"id": 3}, 4]}`, msg: "Row 1 must be a JSON object"},
		{name: "TooManyRows", body: `{"rows": [` + strings.TrimSuffix(strings.Repeat(`{},`, DefaultMaxRows+1), ",") + `]}`, msg: fmt.Sprintf("Too many rows: %d, the limit is %d", DefaultMaxRows+1, DefaultMaxRows)},
		{name: "InvalidColumns", body: `{"rows": [{"id": 3}, {"id": 4, "foo": 1, "bar": 2}]}`, msg: "Row 1 has invalid columns: foo, bar"},
		{name: "RowidColumn", body: `{"row": {"rowid": 3}}`, msg: "Row 0 has invalid columns: rowid"},
		{name: "WrongTypeLastRow", body: `{"rows": [{"id": 3}, {"id": 4}, {"id": 5, "age": "old"}]}`, msg: `Row 2: column "age" expects integer, got string`},
		{name: "FloatForInteger", body: `{"row": {"id": 3.5}}`, msg: `Row 0: column "id" expects integer, got float`},
		{name: "BigInteger", body: `{"row": {"id": 92233720368547758070}}`, msg: `expects integer, got integer out of 64-bit range`},
		{name: "HugeFloat", body: `{"row": {"weight": 1e999}}`, msg: `Row 0: column "weight": number out of range`},
		{name: "StringForFloat", body: `{"row": {"weight": "5"}}`, msg: `Row 0: column "weight" expects float, got string`},
		{name: "BoolForFloat", body: `{"row": {"weight": true}}`, msg: `expects float, got boolean`},
		{name: "NumberForText", body: `{"row": {"name": 5}}`, msg: `Row 0: column "name" expects text, got integer`},
		{name: "BadBase64", body: `{"row": {"photo": {"$base64": true, "encoded": "%%"}}}`, msg: `column "photo" has invalid base64`},
		{name: "ObjectForBlob", body: `{"row": {"photo": {"x": 1}}}`, msg: `column "photo" expects blob, got object`},
		{name: "DuplicateKeyInRow", body: `{"row": {"id": 3, "id": 4}}`, msg: `Row 0: duplicate key "id"`},
		{name: "ColumnTwice", body: `{"row": {"name": "a", "NAME": "b"}}`, msg: `Row 0: column "name" given twice`},
		{name: "IgnoreAndReplace", body: `{"row": {"id": 3}, "ignore": true, "replace": true}`, msg: `Use either "ignore" or "replace"`},
		{name: "IgnoreNotBool", body: `{"row": {"id": 3}, "ignore": "yes"}`, msg: `"ignore" must be true or false`},
		{name: "DuplicatePK", body: `{"rows": [{"id": 3}, {"id": 1}]}`, msg: "Row 1: UNIQUE constraint failed: dogs.id"},
		{name: "DuplicatePKInRequest", body: `{"rows": [{"id": 3}, {"id": 3}]}`, msg: "Row 1: UNIQUE constraint failed: dogs.id"},
		{name: "NullPKInCompound", path: "/zoo/pairs/-/insert", body: `{"row": {"a": "q", "b": null}}`, msg: "Row 0: NOT NULL constraint failed: pairs.b"},
		{name: "TableNotFound", path: "/zoo/cats/-/insert", body: `{"row": {"id": 3}}`, status: http.StatusNotFound, msg: "Table not found: cats"},
		{name: "View", path: "/zoo/dog_names/-/insert", body: `{"row": {"name": "x"}}`, msg: "Cannot write to a view: dog_names"},
		{name: "ReservedTable", path: "/zoo/_public_tables/-/insert", body: `{"row": {"table_name": "dogs"}}`, msg: "reserved"},
		{name: "VersionsTable", path: "/zoo/_table_versions/-/insert", body: `{"row": {"table_name": "x"}}`, msg: "reserved"},
		{name: "SQLiteTable", path: "/zoo/sqlite_master/-/insert", body: `{"row": {"name": "x"}}`, msg: "reserved"},
		{name: "BadTableName", path: "/zoo/a%20b/-/insert", body: `{"row": {"id": 3}}`, msg: `invalid table name "a b"`},
		{name: "BadDBName", path: "/zo.o/dogs/-/insert", body: `{"row": {"id": 3}}`, msg: "invalid database name"},
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
	t.Run("DatabaseNotFound", func(t *testing.T) {
		e.checkBad(t, "nodb", badCase{path: "/nodb/dogs/-/insert", body: `{"row": {"id": 3}}`,
			status: http.StatusNotFound, msg: "Database not found: nodb"})
	})
	t.Run("MaxRows", func(t *testing.T) {
		e := newZooEnv(t)
		e.w.MaxRows = 2
		e.checkBad(t, "zoo", badCase{path: "/zoo/dogs/-/insert", body: `{"rows": [{"id": 3}, {"id": 4}, {"id": 5}]}`,
			status: http.StatusBadRequest, msg: "Too many rows: 3, the limit is 2"})
	})
}
