package primary

import (
	"net/http"
	"regexp"
	"testing"
)

// tsPattern matches UTC RFC 3339 timestamps with milliseconds.
var tsPattern = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

func TestWriter_Publish(t *testing.T) {
	e := newZooEnv(t)
	versions := func() string {
		return e.queryString("zoo", `SELECT table_name, version FROM _table_versions WHERE table_name IN ('', 'dogs', 'dog_names') ORDER BY 1`)
	}
	audit := func() string {
		return e.queryString("zoo", `SELECT id, action, table_name, token_name FROM _public_audit ORDER BY id`)
	}
	public := func() string {
		return e.queryString("zoo", `SELECT table_name, published_by FROM _public_tables ORDER BY 1`)
	}
	step := func(t *testing.T, path string, wantTable string, wantPublic bool) {
		t.Helper()
		m := e.mustPost(path, ``, http.StatusOK)
		if m["ok"] != true || m["table"] != wantTable || m["public"] != wantPublic || m["txid"] == nil {
			t.Errorf("body %v", m)
		}
	}

	t.Run("Publish", func(t *testing.T) {
		step(t, "/zoo/dogs/-/publish", "dogs", true)
		if got := public(); got != "dogs|alice" {
			t.Errorf("public %q", got)
		}
		if got := audit(); got != "1|publish|dogs|alice" {
			t.Errorf("audit %q", got)
		}
		if got := versions(); got != "|4\ndogs|2" {
			t.Errorf("versions %q", got)
		}
		row := e.query("zoo", `SELECT published_at, at FROM _public_tables, _public_audit`)
		if !tsPattern.MatchString(row[0][0]) || !tsPattern.MatchString(row[0][1]) {
			t.Errorf("timestamps %v, want UTC RFC 3339 with milliseconds", row[0])
		}
	})
	t.Run("PublishAgain", func(t *testing.T) {
		before := e.queryString("zoo", `SELECT * FROM _public_tables`)
		step(t, "/zoo/DOGS/-/publish", "dogs", true)
		if got := e.queryString("zoo", `SELECT * FROM _public_tables`); got != before {
			t.Errorf("public %q, want unchanged %q", got, before)
		}
		if got := audit(); got != "1|publish|dogs|alice\n2|publish|dogs|alice" {
			t.Errorf("audit %q", got)
		}
		if got := versions(); got != "|5\ndogs|3" {
			t.Errorf("versions %q", got)
		}
	})
	t.Run("PublishView", func(t *testing.T) {
		m := e.mustPost("/zoo/dog_names/-/publish", `{}`, http.StatusOK)
		if m["public"] != true {
			t.Errorf("body %v", m)
		}
		if got := public(); got != "dog_names|alice\ndogs|alice" {
			t.Errorf("public %q", got)
		}
	})
	t.Run("Unpublish", func(t *testing.T) {
		step(t, "/zoo/dogs/-/unpublish", "dogs", false)
		if got := public(); got != "dog_names|alice" {
			t.Errorf("public %q", got)
		}
		if got := e.queryString("zoo", `SELECT action, table_name FROM _public_audit ORDER BY id DESC LIMIT 1`); got != "unpublish|dogs" {
			t.Errorf("last audit %q", got)
		}
		if got := versions(); got != "|7\ndog_names|1\ndogs|4" {
			t.Errorf("versions %q", got)
		}
	})
	t.Run("UnpublishAgain", func(t *testing.T) {
		step(t, "/zoo/dogs/-/unpublish", "dogs", false)
		if got := public(); got != "dog_names|alice" {
			t.Errorf("public %q", got)
		}
		if got := e.queryString("zoo", `SELECT count(*) FROM _public_audit`); got != "5" {
			t.Errorf("audit rows %q, want 5", got)
		}
	})
	t.Run("UnpublishDropped", func(t *testing.T) {
		e.mustPost("/zoo/-/create", `{"table": "gone", "columns": [{"name": "a"}]}`, http.StatusCreated)
		step(t, "/zoo/gone/-/publish", "gone", true)
		e.exec("zoo", `DROP TABLE gone`)
		step(t, "/zoo/gone/-/unpublish", "gone", false)
		if got := public(); got != "dog_names|alice" {
			t.Errorf("public %q", got)
		}
		e.checkBad(t, "zoo", badCase{path: "/zoo/gone/-/publish", status: http.StatusNotFound, msg: "Table not found: gone"})
	})
}

func TestWriter_Publish_Bad(t *testing.T) {
	e := newZooEnv(t)
	e.mustPost("/zoo/dogs/-/publish", ``, http.StatusOK)
	e.exec("zoo", `CREATE INDEX dogs_name ON dogs(name)`)
	for _, action := range []string{"publish", "unpublish"} {
		for _, c := range []badCase{
			{name: "TableNotFound", path: "/zoo/cats/-/", status: http.StatusNotFound, msg: "Table not found: cats"},
			{name: "Index", path: "/zoo/dogs_name/-/", status: http.StatusNotFound, msg: "Table not found: dogs_name"},
			{name: "PublicTables", path: "/zoo/_public_tables/-/", msg: "reserved"},
			{name: "Audit", path: "/zoo/_public_audit/-/", msg: "reserved"},
			{name: "Versions", path: "/zoo/_table_versions/-/", msg: "reserved"},
			{name: "SQLiteMaster", path: "/zoo/sqlite_master/-/", msg: "reserved"},
			{name: "SQLiteMasterUpper", path: "/zoo/SQLITE_MASTER/-/", msg: "reserved"},
			{name: "BadTableName", path: "/zoo/dogs%3B/-/", msg: `invalid table name "dogs;"`},
			{name: "UnknownKey", path: "/zoo/dogs/-/", body: `{"public": true}`, msg: `Invalid parameter: "public"`},
			{name: "MalformedJSON", path: "/zoo/dogs/-/", body: `{"`, msg: "Invalid JSON"},
			{name: "NotAnObject", path: "/zoo/dogs/-/", body: `"dogs"`, msg: "Request body must be a JSON object"},
		} {
			t.Run(action+"/"+c.name, func(t *testing.T) {
				c.path += action
				if c.status == 0 {
					c.status = http.StatusBadRequest
				}
				e.checkBad(t, "zoo", c)
			})
		}
		t.Run(action+"/DatabaseNotFound", func(t *testing.T) {
			e.checkBad(t, "nodb", badCase{path: "/nodb/dogs/-/" + action, status: http.StatusNotFound, msg: "Database not found: nodb"})
		})
	}
}
