package primary

import (
	"net/http"
	"strings"
	"testing"
)

func TestWriter_Update(t *testing.T) {
	t.Run("Columns", func(t *testing.T) {
		e := newZooEnv(t)
		m := e.mustPost("/zoo/dogs/1/-/update", `{"update": {"NAME": "Cleopaws", "age": 4, "meta": {"a": [1]}}}`, http.StatusOK)
		if m["ok"] != true || m["txid"] == nil || len(m) != 2 {
			t.Errorf("body %v, want ok and txid alone (as Datasette's {\"ok\": true})", m)
		}
		if got := e.queryString("zoo", `SELECT id, name, weight, meta, age FROM dogs ORDER BY id`); got != "1|Cleopaws|5.5|{\"a\":[1]}|4\n2|Pancakes|4|<nil>|<nil>" {
			t.Errorf("rows %q", got)
		}
		if got := e.queryString("zoo", `SELECT version FROM _table_versions WHERE table_name = 'dogs'`); got != "2" {
			t.Errorf("dogs version %q, want 2", got)
		}
	})
	t.Run("Return", func(t *testing.T) {
		e := newZooEnv(t)
		rec := e.post("/zoo/dogs/2/-/update", `{"update": {"weight": 4.5, "photo": {"$base64": true, "encoded": "AAE="}}, "return": true}`)
		want := `"rows":[{"id":2,"name":"Pancakes","weight":4.5,"photo":{"$base64":true,"encoded":"AAE="},"meta":null,"age":null}]`
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), want) {
			t.Errorf("%d %s, want %s", rec.Code, rec.Body, want)
		}
	})
	t.Run("ChangesThePK", func(t *testing.T) {
		e := newZooEnv(t)
		rec := e.post("/zoo/dogs/2/-/update", `{"update": {"id": 20}, "return": true}`)
		if want := `"rows":[{"id":20,"name":"Pancakes",`; !strings.Contains(rec.Body.String(), want) {
			t.Errorf("%d %s, want %s", rec.Code, rec.Body, want)
		}
		if got := e.queryString("zoo", `SELECT id FROM dogs ORDER BY id`); got != "1\n20" {
			t.Errorf("ids %q", got)
		}
	})
	t.Run("CompoundPK", func(t *testing.T) {
		e := newZooEnv(t)
		// Key values tilde-encoded as Datasette's row URLs: "x,y" and "1/2".
		e.mustPost("/zoo/pairs/x~2Cy,1~2F2/-/update", `{"update": {"v": 7}}`, http.StatusOK)
		if got := e.queryString("zoo", `SELECT a, b, v FROM pairs`); got != "x,y|1/2|7" {
			t.Errorf("rows %q", got)
		}
	})
	t.Run("RowidTable", func(t *testing.T) {
		e := newZooEnv(t)
		e.mustPost("/zoo/notes/-/insert", `{"rows": [{"body": "a"}, {"body": "b"}]}`, http.StatusCreated)
		rec := e.post("/zoo/notes/2/-/update", `{"update": {"body": "B"}, "return": true}`)
		if want := `"rows":[{"rowid":2,"body":"B"}]`; !strings.Contains(rec.Body.String(), want) {
			t.Errorf("%d %s, want %s", rec.Code, rec.Body, want)
		}
	})
	t.Run("Alter", func(t *testing.T) {
		e := newZooEnv(t)
		rec := e.post("/zoo/dogs/1/-/update", `{"update": {"owner": "Ann", "visits": 3}, "alter": true, "return": true}`)
		if want := `"age":null,"owner":"Ann","visits":3}]`; !strings.Contains(rec.Body.String(), want) {
			t.Errorf("%d %s, want %s", rec.Code, rec.Body, want)
		}
		if got := e.queryString("zoo", `SELECT name, type FROM pragma_table_info('dogs') WHERE cid >= 6`); got != "owner|TEXT\nvisits|INTEGER" {
			t.Errorf("new columns %q", got)
		}
	})
	t.Run("Empty", func(t *testing.T) {
		// Datasette answers an empty update of an existing row as done.
		e := newZooEnv(t)
		before := e.queryString("zoo", `SELECT * FROM dogs`)
		rec := e.post("/zoo/dogs/1/-/update", `{"update": {}, "return": true}`)
		if want := `"rows":[{"id":1,"name":"Cleo","weight":5.5,`; !strings.Contains(rec.Body.String(), want) {
			t.Errorf("%d %s, want %s", rec.Code, rec.Body, want)
		}
		if after := e.queryString("zoo", `SELECT * FROM dogs`); after != before {
			t.Errorf("rows changed: %s", after)
		}
		e.checkBad(t, "zoo", badCase{path: "/zoo/dogs/9/-/update", body: `{"update": {}}`, status: http.StatusNotFound, msg: "Row not found: 9"})
	})
}

func TestWriter_Update_Bad(t *testing.T) {
	e := newZooEnv(t)
	for _, c := range []badCase{
		{name: "RowNotFound", body: `{"update": {"name": "x"}}`, path: "/zoo/dogs/9/-/update", status: http.StatusNotFound, msg: "Row not found: 9"},
		{name: "RowNotFoundReturn", body: `{"update": {"name": "x"}, "return": true}`, path: "/zoo/dogs/9/-/update", status: http.StatusNotFound, msg: "Row not found: 9"},
		{name: "RowidNotANumber", body: `{"update": {"body": "x"}}`, path: "/zoo/notes/x/-/update", status: http.StatusNotFound, msg: "Row not found: x"},
		{name: "TableNotFound", path: "/zoo/cats/1/-/update", body: `{"update": {"name": "x"}}`, status: http.StatusNotFound, msg: "Table not found: cats"},
		{name: "MalformedJSON", body: `{"update": `, msg: "Invalid JSON"},
		{name: "NotAnObject", body: `[1]`, msg: "Request body must be a JSON object"},
		{name: "NoUpdate", body: `{"return": true}`, msg: `Request must have "update"`},
		{name: "EmptyBody", body: ``, msg: `Request must have "update"`},
		{name: "UpdateNotAnObject", body: `{"update": [1]}`, msg: `"update" must be a JSON object`},
		{name: "UnknownKey", body: `{"update": {"name": "x"}, "row": {}}`, msg: `Invalid parameter: "row"`},
		{name: "ReturnNotBool", body: `{"update": {"name": "x"}, "return": "yes"}`, msg: `"return" must be true or false`},
		{name: "InvalidColumns", body: `{"update": {"name": "x", "colour": 1, "size": 2}}`, msg: "Update has invalid columns: colour, size"},
		{name: "TwiceByCase", body: `{"update": {"name": "x", "Name": "y"}}`, msg: `Update: column "name" given twice`},
		{name: "WrongType", body: `{"update": {"weight": "heavy"}}`, msg: `Update: column "weight" expects float, got string`},
		{name: "NullRowidAlias", body: `{"update": {"id": null}}`, msg: "datatype mismatch"},
		{name: "Unique", body: `{"update": {"id": 2}}`, msg: "UNIQUE constraint failed"},
		{name: "NotNullPK", path: "/zoo/pairs/x~2Cy,1~2F2/-/update", body: `{"update": {"a": null}}`, msg: "NOT NULL constraint failed"},
		{name: "WrongKeyCount", path: "/zoo/pairs/x/-/update", body: `{"update": {"v": 1}}`, msg: "Expected 2 primary key value(s), got 1"},
		{name: "View", path: "/zoo/dog_names/1/-/update", body: `{"update": {"name": "x"}}`, msg: "Cannot write to a view"},
		{name: "Reserved", path: "/zoo/_public_tables/1/-/update", body: `{"update": {"table_name": "x"}}`, msg: "reserved"},
		{name: "AlterBadName", body: `{"update": {"a b": 1}, "alter": true}`, msg: `invalid column name "a b"`},
		{name: "AlterRowNotFound", path: "/zoo/dogs/9/-/update", body: `{"update": {"colour": "red"}, "alter": true}`, status: http.StatusNotFound, msg: "Row not found: 9"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.path == "" {
				c.path = "/zoo/dogs/1/-/update"
			}
			if c.status == 0 {
				c.status = http.StatusBadRequest
			}
			e.checkBad(t, "zoo", c)
		})
	}
	t.Run("DatabaseNotFound", func(t *testing.T) {
		e.checkBad(t, "nodb", badCase{path: "/nodb/dogs/1/-/update", body: `{"update": {"name": "x"}}`,
			status: http.StatusNotFound, msg: "Database not found: nodb"})
	})
}

// Update needs write; "alter": true needs schema too. "return": true
// gives a write token without read the row's key alone, unless the table
// is public, as insert does.
func TestWriter_Update_Scopes(t *testing.T) {
	e, schemer, builder := newSchemaScopeEnv(t)
	update := func(auth, body string) (int, string) {
		rec := e.request(http.MethodPost, "/zoo/dogs/1/-/update", body, auth)
		return rec.Code, rec.Body.String()
	}
	alter := `{"update": {"colour": "red"}, "alter": true}`
	for _, tok := range []struct{ auth, msg string }{
		{"Bearer tc_writer", `lacks the schema scope, which "alter": true needs`},
		{"Bearer " + schemer, "lacks the write scope"},
		{"Bearer tc_reader", "lacks the write scope"},
	} {
		assertError(t, e.request(http.MethodPost, "/zoo/dogs/1/-/update", alter, tok.auth), http.StatusForbidden, tok.msg)
	}
	if code, body := update("Bearer "+builder, alter); code != http.StatusOK {
		t.Errorf("write+schema token: %d %s", code, body)
	}
	ret := `{"update": {"name": "Cleo"}, "return": true}`
	if code, body := update("Bearer tc_writer", ret); code != http.StatusOK || !strings.Contains(body, `"rows":[{"id":1}]`) {
		t.Errorf("write token on a private table: %d %s, want the key alone", code, body)
	}
	e.mustPost("/zoo/dogs/-/publish", ``, http.StatusOK)
	if code, body := update("Bearer tc_writer", ret); code != http.StatusOK || !strings.Contains(body, `"rows":[{"id":1,"name":"Cleo",`) {
		t.Errorf("write token on a public table: %d %s, want the whole row", code, body)
	}
}
