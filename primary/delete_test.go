package primary

import (
	"net/http"
	"testing"
)

func TestWriter_Delete(t *testing.T) {
	for _, tt := range []struct {
		name, path, table, left string
		version                 string // create, the notes insert, then delete
	}{
		{"PK", "/zoo/dogs/1/-/delete", "dogs", "2", "2"},
		{"CompoundPKEscaped", "/zoo/pairs/x%2Cy,1%2F2/-/delete", "pairs", "", "2"},
		{"Rowid", "/zoo/notes/1/-/delete", "notes", "2", "3"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newZooEnv(t)
			e.mustPost("/zoo/notes/-/insert", `{"rows": [{"body": "a"}, {"body": "b"}]}`, http.StatusCreated)
			m := e.mustPost(tt.path, ``, http.StatusOK)
			if m["ok"] != true || m["txid"] == nil {
				t.Errorf("body %v", m)
			}
			if got := e.queryString("zoo", `SELECT rowid FROM `+tt.table); got != tt.left {
				t.Errorf("rows left %q, want %q", got, tt.left)
			}
			q := `SELECT version FROM _table_versions WHERE table_name = ?`
			if got := e.queryString("zoo", q, tt.table); got != tt.version {
				t.Errorf("%s version %q, want %q", tt.table, got, tt.version)
			}
		})
	}
	t.Run("EmptyObjectBody", func(t *testing.T) {
		e := newZooEnv(t)
		e.mustPost("/zoo/dogs/2/-/delete", `{}`, http.StatusOK)
	})
}

func TestWriter_Delete_Bad(t *testing.T) {
	e := newZooEnv(t)
	e.mustPost("/zoo/notes/-/insert", `{"row": {"body": "a"}}`, http.StatusCreated)
	for _, c := range []badCase{
		{name: "RowNotFound", path: "/zoo/dogs/99/-/delete", status: http.StatusNotFound, msg: "Row not found: 99"},
		{name: "RowNotFoundText", path: "/zoo/dogs/abc/-/delete", status: http.StatusNotFound, msg: "Row not found: abc"},
		{name: "RowidNotInteger", path: "/zoo/notes/x/-/delete", status: http.StatusNotFound, msg: "Row not found: x"},
		{name: "CommaNotEscaped", path: "/zoo/pairs/x,y,1%2F2/-/delete", msg: "Expected 2 primary key value(s), got 3"},
		{name: "CompoundUnescaped", path: "/zoo/pairs/x%2Cy,1%252F2/-/delete", status: http.StatusNotFound, msg: "Row not found: x,y,1%2F2"},
		{name: "TooFewValues", path: "/zoo/pairs/a/-/delete", msg: "Expected 2 primary key value(s), got 1"},
		{name: "TooManyValues", path: "/zoo/dogs/1,2/-/delete", msg: "Expected 1 primary key value(s), got 2"},
		{name: "UnknownKey", path: "/zoo/dogs/1/-/delete", body: `{"cascade": true}`, msg: `Invalid parameter: "cascade"`},
		{name: "MalformedJSON", path: "/zoo/dogs/1/-/delete", body: `{`, msg: "Invalid JSON"},
		{name: "TableNotFound", path: "/zoo/cats/1/-/delete", status: http.StatusNotFound, msg: "Table not found: cats"},
		{name: "View", path: "/zoo/dog_names/1/-/delete", msg: "Cannot write to a view"},
		{name: "ReservedTable", path: "/zoo/_public_tables/dogs/-/delete", msg: "reserved"},
		{name: "SQLiteTable", path: "/zoo/sqlite_master/1/-/delete", msg: "reserved"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.status == 0 {
				c.status = http.StatusBadRequest
			}
			e.checkBad(t, "zoo", c)
		})
	}
	t.Run("ForeignKey", func(t *testing.T) {
		e.exec("zoo", `CREATE TABLE toys (id INTEGER PRIMARY KEY, dog INTEGER REFERENCES dogs(id));
			INSERT INTO toys VALUES (1, 1)`)
		e.checkBad(t, "zoo", badCase{path: "/zoo/dogs/1/-/delete", status: http.StatusBadRequest, msg: "FOREIGN KEY constraint failed"})
	})
	t.Run("DatabaseNotFound", func(t *testing.T) {
		e.checkBad(t, "nodb", badCase{path: "/nodb/dogs/1/-/delete", status: http.StatusNotFound, msg: "Database not found: nodb"})
	})
}
