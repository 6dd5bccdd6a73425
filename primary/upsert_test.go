package primary

import (
	"net/http"
	"strings"
	"testing"
)

func TestWriter_Upsert(t *testing.T) {
	t.Run("UpdateAndInsert", func(t *testing.T) {
		e := newZooEnv(t)
		m := e.mustPost("/zoo/dogs/-/upsert", `{"rows": [{"id": 1, "name": "Cleopaws"}, {"id": 5, "name": "New", "weight": 2}]}`, http.StatusOK)
		if m["ok"] != true || m["txid"] == nil {
			t.Errorf("body %v", m)
		}
		got := e.queryString("zoo", `SELECT id, name, weight FROM dogs ORDER BY id`)
		if want := "1|Cleopaws|5.5\n2|Pancakes|4\n5|New|2"; got != want {
			t.Errorf("rows\n%s\nwant\n%s", got, want)
		}
		if got := e.queryString("zoo", `SELECT version FROM _table_versions WHERE table_name = 'dogs'`); got != "2" {
			t.Errorf("dogs version %q, want 2", got)
		}
	})
	t.Run("PKOnly", func(t *testing.T) {
		e := newZooEnv(t)
		e.mustPost("/zoo/dogs/-/upsert", `{"rows": [{"id": 1}, {"id": 6}]}`, http.StatusOK)
		if got := e.queryString("zoo", `SELECT id, name FROM dogs ORDER BY id`); got != "1|Cleo\n2|Pancakes\n6|<nil>" {
			t.Errorf("rows %q", got)
		}
	})
	t.Run("CompoundPK", func(t *testing.T) {
		e := newZooEnv(t)
		e.mustPost("/zoo/pairs/-/upsert", `{"rows": [{"a": "x,y", "B": "1/2", "v": 10}, {"a": "x,y", "b": "3", "v": 3}]}`, http.StatusOK)
		if got := e.queryString("zoo", `SELECT a, b, v FROM pairs ORDER BY b`); got != "x,y|1/2|10\nx,y|3|3" {
			t.Errorf("rows %q", got)
		}
	})
	t.Run("Return", func(t *testing.T) {
		e := newZooEnv(t)
		rec := e.post("/zoo/dogs/-/upsert", `{"return": true, "row": {"id": 2, "age": 3}}`)
		want := `"rows":[{"id":2,"name":"Pancakes","weight":4,"photo":null,"meta":null,"age":3}]`
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("body %s, want %s", rec.Body, want)
		}
	})
}

func TestWriter_Upsert_Bad(t *testing.T) {
	e := newZooEnv(t)
	for _, c := range []badCase{
		{name: "MalformedJSON", body: `{"row": `, msg: "Invalid JSON"},
		{name: "UnknownKey", body: `{"row": {"id": 1}, "ignore": true}`, msg: `Invalid parameter: "ignore"`},
		{name: "NoRows", body: `{}`, msg: `Request must have "row" or "rows"`},
		{name: "EmptyRows", body: `{"rows": []}`, msg: `"rows" is empty`},
		{name: "MissingPK", body: `{"rows": [{"id": 1, "name": "a"}, {"name": "b"}]}`, msg: "Row 1 is missing primary key column: id"},
		{name: "NullPK", body: `{"row": {"id": null, "name": "b"}}`, msg: `Row 0: primary key column "id" is null`},
		{name: "MissingCompoundPK", path: "/zoo/pairs/-/upsert", body: `{"row": {"a": "x,y", "v": 2}}`, msg: "Row 0 is missing primary key column: b"},
		{name: "InvalidColumns", body: `{"row": {"id": 1, "foo": 1}}`, msg: "Row 0 has invalid columns: foo"},
		{name: "WrongType", body: `{"rows": [{"id": 1, "name": "ok"}, {"id": 2, "weight": [1]}]}`, msg: `Row 1: column "weight" expects float, got array`},
		{name: "RowidTable", path: "/zoo/notes/-/upsert", body: `{"row": {"body": "x"}}`, msg: "Table has no primary key, cannot upsert: notes"},
		{name: "TableNotFound", path: "/zoo/cats/-/upsert", body: `{"row": {"id": 1}}`, status: http.StatusNotFound, msg: "Table not found: cats"},
		{name: "View", path: "/zoo/dog_names/-/upsert", body: `{"row": {"name": "x"}}`, msg: "Cannot write to a view"},
		{name: "ReservedTable", path: "/zoo/_public_audit/-/upsert", body: `{"row": {"id": 1}}`, msg: "reserved"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.path == "" {
				c.path = "/zoo/dogs/-/upsert"
			}
			if c.status == 0 {
				c.status = http.StatusBadRequest
			}
			e.checkBad(t, "zoo", c)
		})
	}
	t.Run("DatabaseNotFound", func(t *testing.T) {
		e.checkBad(t, "nodb", badCase{path: "/nodb/dogs/-/upsert", body: `{"row": {"id": 1}}`,
			status: http.StatusNotFound, msg: "Database not found: nodb"})
	})
}
