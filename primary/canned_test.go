package primary

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tablecast/tablecast/replica/gate"
)

func TestCanned_DefineQuery(t *testing.T) {
	e := newZooEnv(t)
	got := e.mustPost("/zoo/-/define-query", `{"name": "heavy", "sql": "SELECT name FROM dog_names JOIN dogs USING (name) WHERE weight > :min AND name != @not", "title": "Heavy dogs", "description": "Dogs **heavier** than *min*"}`, 200)
	if fmt.Sprint(got["params"]) != "[min not]" || fmt.Sprint(got["tables"]) != "[dog_names dogs]" || got["query"] != "heavy" {
		t.Fatalf("define: %v", got)
	}
	rows := e.query("zoo", `SELECT name, sql, title, description_html, params, tables, public FROM _canned_queries`)
	if fmt.Sprint(rows) != `[[heavy SELECT name FROM dog_names JOIN dogs USING (name) WHERE weight > :min AND name != @not Heavy dogs <p>Dogs <strong>heavier</strong> than <em>min</em></p> ["min","not"] ["dog_names","dogs"] 0]]` {
		t.Fatalf("stored: %v", rows)
	}
	e.mustPost("/zoo/-/publish-query", `{"name": "heavy"}`, 200)
	// Redefining keeps it public.
	e.mustPost("/zoo/-/define-query", `{"name": "heavy", "sql": "SELECT 1"}`, 200)
	if got := e.queryString("zoo", `SELECT public || sql FROM _canned_queries`); got != "1SELECT 1" {
		t.Fatalf("after redefine: %s", got)
	}
	e.mustPost("/zoo/-/unpublish-query", `{"name": "heavy"}`, 200)
	audit := e.query("zoo", `SELECT action, table_name, token_name FROM _public_audit WHERE table_name LIKE 'query:%' ORDER BY id`)
	if fmt.Sprint(audit) != "[[define-query query:heavy alice] [publish query:heavy alice] [define-query query:heavy alice] [unpublish query:heavy alice]]" {
		t.Fatalf("audit: %v", audit)
	}
	e.mustPost("/zoo/-/drop-query", `{"name": "heavy"}`, 200)
	if got := e.queryString("zoo", `SELECT count(*) FROM _canned_queries`); got != "0" {
		t.Fatalf("after drop: %s", got)
	}
	for _, path := range []string{"/zoo/-/drop-query", "/zoo/-/publish-query", "/zoo/-/unpublish-query"} {
		assertError(t, e.post(path, `{"name": "heavy"}`), 404, "Canned query not found: heavy")
	}
}

func TestCanned_DefineQueryRefuses(t *testing.T) {
	e := newZooEnv(t)
	e.mustPost("/zoo/-/define-query", `{"name": "ok", "sql": "SELECT 1"}`, 200)
	for _, c := range []struct{ body, msg string }{
		{`{"name": "q", "sql": "DELETE FROM dogs"}`, "must be a SELECT"},
		{`{"name": "q", "sql": "WITH x AS (SELECT 1) DELETE FROM dogs"}`, "must only read"},
		{`{"name": "q", "sql": "SELECT 1; DELETE FROM dogs"}`, "one statement"},
		{`{"name": "q", "sql": "SELECT * FROM _public_tables"}`, "may not read tablecast's or SQLite's tables: _public_tables"},
		{`{"name": "q", "sql": "SELECT * FROM _canned_queries"}`, "may not read tablecast's"},
		{`{"name": "q", "sql": "SELECT * FROM dogs WHERE id IN (SELECT rowid FROM sqlite_master)"}`, "may not read tablecast's or SQLite's tables: sqlite_master"},
		{`{"name": "q", "sql": "SELECT * FROM nosuch"}`, "no such table: nosuch"},
		{`{"name": "q", "sql": "PRAGMA table_info(dogs)"}`, "must be a SELECT"},
		{`{"name": "q", "sql": "ATTACH 'x.db' AS x"}`, "must be a SELECT"},
		{`{"name": "q", "sql": ""}`, ""},
		{`{"name": "q", "sql": "SELECT * FROM dogs WHERE id = ?"}`, "parameters must be named"},
		{`{"name": "q", "sql": "SELECT * FROM dogs WHERE id = :a OR id = @a"}`, "parameters must be named"},
		{`{"name": "q", "sql": "SELECT * FROM dogs WHERE id = :_a"}`, `Invalid parameter name "_a"`},
		{`{"name": "q", "sql": "SELECT * FROM dogs WHERE id = :1"}`, `Invalid parameter name "1"`},
		{`{"name": "_q", "sql": "SELECT 1"}`, "invalid canned query name"},
		{`{"name": "sqlite_q", "sql": "SELECT 1"}`, "invalid canned query name"},
		{`{"name": "a/b", "sql": "SELECT 1"}`, "invalid canned query name"},
		{`{"sql": "SELECT 1"}`, `"name" is required`},
		{`{"name": "q", "sql": "SELECT 1", "public": true}`, `Invalid parameter: "public"`},
	} {
		assertError(t, e.post("/zoo/-/define-query", c.body), 400, c.msg)
	}
	if got := e.queryString("zoo", `SELECT group_concat(name) FROM _canned_queries`); got != "ok" {
		t.Fatalf("refused queries stored: %s", got)
	}
	assertError(t, e.post("/nosuch/-/define-query", `{"name": "q", "sql": "SELECT 1"}`), 404, "Database not found")
}

func TestCanned_Scopes(t *testing.T) {
	e := newScopeEnv(t)
	schema := Token{Name: "schemer", Hash: HashToken("tc_schemer"), Scopes: []string{ScopeSchema}}
	pub := Token{Name: "pub", Hash: HashToken("tc_pub"), Scopes: []string{ScopePublish}}
	tokens, err := NewTokens([]Token{schema, pub})
	if err != nil {
		t.Fatal(err)
	}
	e.w.Tokens = tokens
	req := func(path, body, tok string) int {
		return e.request(http.MethodPost, path, body, "Bearer tc_"+tok).Code
	}
	if c := req("/zoo/-/define-query", `{"name":"q","sql":"SELECT 1"}`, "pub"); c != 403 {
		t.Fatalf("define with publish scope: %d", c)
	}
	if c := req("/zoo/-/define-query", `{"name":"q","sql":"SELECT 1"}`, "schemer"); c != 200 {
		t.Fatalf("define with schema scope: %d", c)
	}
	if c := req("/zoo/-/publish-query", `{"name":"q"}`, "schemer"); c != 403 {
		t.Fatalf("publish with schema scope: %d", c)
	}
	if c := req("/zoo/-/publish-query", `{"name":"q"}`, "pub"); c != 200 {
		t.Fatalf("publish with publish scope: %d", c)
	}
	if c := req("/zoo/-/metadata", `{"title":"Zoo"}`, "schemer"); c != 403 {
		t.Fatalf("metadata with schema scope: %d", c)
	}
	if c := req("/zoo/-/metadata", `{"title":"Zoo"}`, "pub"); c != 200 {
		t.Fatalf("metadata with publish scope: %d", c)
	}
	if c := req("/zoo/-/drop-query", `{"name":"q"}`, "pub"); c != 403 {
		t.Fatalf("drop with publish scope: %d", c)
	}
}

func TestCanned_Metadata(t *testing.T) {
	e := newZooEnv(t)
	e.mustPost("/zoo/-/metadata", `{"title": "Zoo", "description": "Hello **bold** <script>alert(1)</script> [x](javascript:alert(1)) <img src=x onerror=alert(1)> [ok](https://example.org)\n\n<script>alert(2)</script>\n\n<a href=\"javascript:alert(3)\">y</a>", "license": "CC0", "license_url": "https://creativecommons.org/publicdomain/zero/1.0/"}`, 200)
	html := e.queryString("zoo", `SELECT value FROM _metadata WHERE table_name = '' AND key = 'description_html'`)
	for _, bad := range []string{"<script", "javascript:", "onerror", "<img"} {
		if strings.Contains(html, bad) {
			t.Fatalf("description_html keeps %q: %s", bad, html)
		}
	}
	if !strings.Contains(html, "<strong>bold</strong>") || !strings.Contains(html, `href="https://example.org"`) {
		t.Fatalf("description_html: %s", html)
	}
	got := e.mustPost("/zoo/-/metadata", `{"table": "DOGS", "title": "Dogs", "label_column": "name", "source": "Shelter", "source_url": "http://shelter.example/"}`, 200)
	if got["table"] != "dogs" {
		t.Fatalf("table as spelled in the schema: %v", got)
	}
	e.mustPost("/zoo/-/metadata", `{"table": "dogs", "column": "weight", "unit": "kg", "description": "Weight *today*"}`, 200)
	e.mustPost("/zoo/-/metadata", `{"table": "dogs", "source": null, "source_url": ""}`, 200)
	rows := e.query("zoo", `SELECT table_name, column_name, key, value FROM _metadata WHERE table_name != '' ORDER BY 1, 2, 3`)
	if fmt.Sprint(rows) != "[[dogs  label_column name] [dogs  title Dogs] [dogs weight description Weight *today*] [dogs weight unit kg]]" {
		t.Fatalf("stored: %v", rows)
	}
	audit := e.query("zoo", `SELECT action, table_name FROM _public_audit WHERE action = ? ORDER BY id`, gate.ActionSetMetadata)
	if len(audit) != 4 || audit[2][1] != "metadata:dogs.weight" {
		t.Fatalf("audit: %v", audit)
	}
	for _, c := range []struct {
		body   string
		status int
		msg    string
	}{
		{`{"description_html": "<b>x</b>"}`, 400, `"description_html" is not accepted`},
		{`{"table": "dogs", "column": "weight", "title": "x"}`, 400, `Invalid metadata key "title" here`},
		{`{"label_column": "x"}`, 400, `Invalid metadata key "label_column" here`},
		{`{"license_url": "javascript:alert(1)"}`, 400, `"license_url" must be an http or https URL`},
		{`{"about_url": "//evil.example"}`, 400, "must be an http or https URL"},
		{`{"title": 3}`, 400, "must be a string or null"},
		{`{"table": "nosuch", "title": "x"}`, 404, "Table not found: nosuch"},
		{`{"table": "_public_tables", "title": "x"}`, 404, "Table not found: _public_tables"},
		{`{"table": "dogs", "column": "nosuch", "unit": "x"}`, 400, "Table dogs has no column nosuch"},
		{`{"table": "dogs", "label_column": "nosuch"}`, 400, "label_column: table dogs has no column nosuch"},
		{`{"column": "weight", "unit": "x"}`, 400, `"column" needs "table"`},
		{`{}`, 400, "No metadata key to set"},
		{`{"whatever": "x"}`, 400, `Invalid parameter: "whatever"`},
	} {
		assertError(t, e.post("/zoo/-/metadata", c.body), c.status, c.msg)
	}
}

// Below the free-space floor a canned query can still be made private or
// dropped (down to the reserve), not defined, published or described.
func TestCanned_SpaceFloor(t *testing.T) {
	e := newZooEnv(t)
	e.mustPost("/zoo/-/define-query", `{"name": "q", "sql": "SELECT 1"}`, 200)
	e.mustPost("/zoo/-/publish-query", `{"name": "q"}`, 200)
	var free atomic.Uint64
	free.Store(64<<20 - 1)
	e.w.Space = &SpaceFloor{Dirs: []string{"/data"}, MinFree: 64 << 20, Logger: e.w.Logger,
		Statfs: func(string) (uint64, error) { return free.Load(), nil }}
	for _, w := range []struct{ path, body string }{
		{"/zoo/-/define-query", `{"name": "r", "sql": "SELECT 1"}`},
		{"/zoo/-/publish-query", `{"name": "q"}`},
		{"/zoo/-/metadata", `{"title": "Zoo"}`},
	} {
		assertError(t, e.post(w.path, w.body), http.StatusInsufficientStorage, "Writes need 64.0 MiB free")
	}
	e.mustPost("/zoo/-/unpublish-query", `{"name": "q"}`, 200)
	e.mustPost("/zoo/-/drop-query", `{"name": "q"}`, 200)
}
