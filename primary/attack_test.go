package primary

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tablecast/tablecast/replica/gate"
)

// newAttackEnv is the zoo writer with a write-only token "writer" and a
// schema-only token "schemer"; dogs is private, notes public.
func newAttackEnv(t *testing.T) (e *testEnv, writer, schemer string) {
	t.Helper()
	e = newZooEnv(t)
	tokens, err := NewTokens([]Token{{Name: "alice", Hash: HashToken(testSecret)},
		{Name: "writer", Hash: HashToken("tc_writer"), Scopes: []string{ScopeWrite}},
		{Name: "schemer", Hash: HashToken("tc_schemer"), Scopes: []string{ScopeSchema}}})
	if err != nil {
		t.Fatal(err)
	}
	e.w.Tokens = tokens
	writer, schemer = "tc_writer", "tc_schemer"
	e.mustPost("/zoo/notes/-/publish", ``, http.StatusOK)
	e.mustPost("/zoo/dogs/1/-/update", `{"update":{"meta":"hunter2"}}`, http.StatusOK)
	return e, writer, schemer
}

// TestAttack_WriteTokenCannotPublish: a token with the write scope only
// cannot run SQL, make views, indexes or FTS, drop, define, publish or
// set metadata; cannot write tablecast's own tables by any write route;
// and "return": true of a private table's rows gives their keys only,
// never the secret of a column it did not write.
func TestAttack_WriteTokenCannotPublish(t *testing.T) {
	e, writer, _ := newAttackEnv(t)
	before := e.snapshot("zoo")
	for _, c := range []struct{ path, body string }{
		{"/zoo/-/execute", `{"sql":"INSERT INTO _public_tables VALUES ('dogs', 'now', 'x')"}`},
		{"/zoo/-/execute", `{"sql":"SELECT 1"}`},
		{"/zoo/-/create-view", `{"name":"v","sql":"SELECT * FROM dogs"}`},
		{"/zoo/dogs/-/enable-fts", `{"columns":["meta"]}`},
		{"/zoo/dogs/-/create-index", `{"columns":["meta"]}`},
		{"/zoo/dogs/-/drop", `{"confirm":true}`},
		{"/zoo/-/define-query", `{"name":"q","sql":"SELECT * FROM dogs"}`},
		{"/zoo/-/publish-query", `{"name":"q"}`},
		{"/zoo/-/metadata", `{"table":"dogs","title":"x"}`},
		{"/zoo/dogs/-/publish", ``},
		{"/zoo/-/publish", `{"all_tables":true}`},
		{"/zoo/-/import", `x`},
		{"/zoo/dogs/1/-/update", `{"update":{"secret2":"x"},"alter":true}`},
		{"/zoo/dogs/-/insert", `{"row":{"id":9,"secret2":"x"},"alter":true}`},
	} {
		rec := e.request(http.MethodPost, c.path, c.body, "Bearer "+writer)
		if rec.Code != http.StatusForbidden {
			t.Errorf("%s %s as writer: %d %s", c.path, c.body, rec.Code, rec.Body)
		}
	}
	for _, name := range []string{"_public_tables", "_public_database", "_canned_queries", "_metadata", "_table_versions", "_public_audit", "sqlite_master"} {
		for _, c := range []struct{ path, body string }{
			{"/zoo/" + name + "/-/insert", `{"row":{"table_name":"dogs","name":"q","sql":"SELECT * FROM dogs","public":1,"id":1,"all_tables":1}}`},
			{"/zoo/" + name + "/-/upsert", `{"row":{"table_name":"dogs","name":"q","sql":"SELECT * FROM dogs","public":1,"id":1,"all_tables":1}}`},
			{"/zoo/" + name + "/1/-/update", `{"update":{"public":1,"all_tables":1}}`},
			{"/zoo/" + name + "/dogs/-/update", `{"update":{"table_name":"dogs"}}`},
			{"/zoo/-/create", `{"table":"` + name + `","columns":[{"name":"table_name"}]}`},
		} {
			rec := e.request(http.MethodPost, c.path, c.body, "Bearer "+writer)
			if rec.Code < 400 || rec.Code >= 500 {
				t.Errorf("%s as writer: %d %s", c.path, rec.Code, rec.Body)
			}
		}
	}
	if after := e.snapshot("zoo"); after != before {
		t.Fatalf("the writer changed zoo:\n%s\n----\n%s", before, after)
	}
	// "return": true on the private dogs: keys only.
	for _, c := range []struct{ path, body string }{
		{"/zoo/dogs/1/-/update", `{"update":{"name":"Cleo"},"return":true}`},
		{"/zoo/dogs/-/upsert", `{"row":{"id":1,"name":"Cleo"},"return":true}`},
		{"/zoo/dogs/-/insert", `{"row":{"id":1,"name":"Cleo"},"return":true,"replace":true}`},
		{"/zoo/dogs/-/insert", `{"row":{"id":1,"name":"Cleo"},"return":true,"ignore":true}`},
	} {
		rec := e.request(http.MethodPost, c.path, c.body, "Bearer "+writer)
		if rec.Code >= 500 || strings.Contains(rec.Body.String(), "hunter2") || strings.Contains(rec.Body.String(), "5.5") {
			t.Errorf("%s %s as writer: %d %s", c.path, c.body, rec.Code, rec.Body)
		}
	}
}

// TestAttack_SchemaTokenTriggerOnGate: a schema token's execute cannot
// leave a trigger or view that later writes or reads tablecast's own
// tables (the gate, canned queries, metadata) when a writer's insert
// fires it outside execute's authorizer.
func TestAttack_SchemaTokenTriggerOnGate(t *testing.T) {
	for _, target := range []string{
		`INSERT INTO _public_tables VALUES ('dogs', 'now', 'x')`,
		`INSERT OR REPLACE INTO _public_database (id, all_tables, allow_sql, updated_at, updated_by) VALUES (1, 1, 1, 'now', 'x')`,
		`INSERT INTO "_PUBLIC_TABLES" VALUES ('dogs', 'now', 'x')`,
		`INSERT INTO main.[_public_tables] VALUES ('dogs', 'now', 'x')`,
		`INSERT INTO _canned_queries (name, sql, public, updated_at, updated_by) VALUES ('leak', 'SELECT * FROM dogs', 1, 'now', 'x')`,
		`UPDATE _canned_queries SET public = 1`,
		`INSERT INTO _metadata (table_name, column_name, key, value, updated_at, updated_by) VALUES ('', '', 'title', 'x', 'now', 'x')`,
		`DELETE FROM _table_versions`,
	} {
		t.Run(target[:20], func(t *testing.T) {
			e, writer, schemer := newAttackEnv(t)
			e.mustPost("/zoo/-/define-query", `{"name":"q","sql":"SELECT meta FROM dogs"}`, http.StatusOK)
			e.mustPost("/zoo/-/metadata", `{"title":"Zoo"}`, http.StatusOK)
			body := `{"sql":` + quoteJSON(`CREATE TRIGGER tr AFTER INSERT ON notes BEGIN `+target+`; END`) + `}`
			rec := e.request(http.MethodPost, "/zoo/-/execute", body, "Bearer "+schemer)
			if rec.Code == http.StatusOK {
				t.Errorf("execute made a trigger that writes tablecast's tables: %s", rec.Body)
			}
			before := e.snapshot("zoo")
			for _, view := range []string{
				`CREATE VIEW v AS SELECT sql FROM _canned_queries`, `CREATE VIEW v AS SELECT * FROM "_METADATA"`,
			} {
				rec := e.request(http.MethodPost, "/zoo/-/execute", `{"sql":`+quoteJSON(view)+`}`, "Bearer "+schemer)
				if rec.Code == http.StatusOK {
					t.Errorf("execute made a view of tablecast's tables: %s", rec.Body)
				}
				rec = e.request(http.MethodPost, "/zoo/-/create-view", `{"name":"v","sql":`+quoteJSON(strings.TrimPrefix(view, "CREATE VIEW v AS "))+`}`, "Bearer "+schemer)
				if rec.Code == http.StatusOK {
					t.Errorf("create-view made a view of tablecast's tables: %s", rec.Body)
				}
			}
			e.request(http.MethodPost, "/zoo/notes/-/insert", `{"row":{"body":"fire"}}`, "Bearer "+writer)
			for _, q := range []string{
				`SELECT count(*) FROM _public_tables WHERE table_name = 'dogs'`,
				`SELECT count(*) FROM _canned_queries WHERE public = 1`,
			} {
				if got := e.queryString("zoo", q); got != "0" {
					t.Errorf("%s: %s\nbefore the insert:\n%s", q, got, before)
				}
			}
			if strings.Contains(target, "_metadata") {
				if got := e.queryString("zoo", `SELECT count(*) FROM _metadata WHERE value = 'x'`); got != "0" {
					t.Errorf("the trigger wrote metadata: %s", got)
				}
			}
		})
	}
}

func quoteJSON(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

// TestAttack_ReturnThroughFTSOverPrivate: an FTS index published over
// the private dogs reads its rows from dogs; "return": true of a write
// to it (by a write-only token) gives keys only, as for dogs itself.
func TestAttack_ReturnThroughFTSOverPrivate(t *testing.T) {
	e, writer, _ := newAttackEnv(t)
	e.exec("zoo", `CREATE VIRTUAL TABLE dogs_fts USING fts4(meta, content="dogs")`)
	e.exec("zoo", `INSERT INTO dogs_fts (rowid, meta) SELECT id, meta FROM dogs`)
	e.mustPost("/zoo/dogs_fts/-/publish", ``, http.StatusOK)
	for _, c := range []struct{ path, body string }{
		{"/zoo/dogs_fts/-/insert", `{"row":{"rowid":1,"meta":"x"},"return":true}`},
		{"/zoo/dogs_fts/-/insert", `{"row":{"docid":1,"meta":"x"},"return":true}`},
		{"/zoo/dogs_fts/-/insert", `{"row":{"meta":"x"},"return":true}`},
		{"/zoo/dogs_fts/-/upsert", `{"row":{"rowid":1,"meta":"x"},"return":true}`},
		{"/zoo/dogs_fts/1/-/update", `{"update":{"meta":"x"},"return":true}`},
	} {
		rec := e.request(http.MethodPost, c.path, c.body, "Bearer "+writer)
		if strings.Contains(rec.Body.String(), "hunter2") {
			t.Errorf("%s as writer: %d %s", c.path, rec.Code, rec.Body)
		}
	}
	t.Run("UpdateIsNo500", func(t *testing.T) {
		rec := e.request(http.MethodPost, "/zoo/dogs_fts/1/-/update", `{"update":{"meta":"x"}}`, "Bearer "+writer)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "Cannot write to a virtual table") {
			t.Fatalf("update of an external-content FTS row: %d %s, want a 400", rec.Code, rec.Body)
		}
	})
}

// TestAttack_ImportCarriesGate: an imported file (without keep_public)
// is wholly private: its own _canned_queries rows marked public stay
// private, and a trigger or view of the file that refers to tablecast's
// tables (which would publish when a mere writer fires it) is refused.
func TestAttack_ImportCarriesGate(t *testing.T) {
	base := []string{
		`CREATE TABLE dogs (id INTEGER PRIMARY KEY, name TEXT)`,
		`CREATE TABLE secrets (k TEXT PRIMARY KEY, v TEXT)`,
		`INSERT INTO secrets VALUES ('pin', '1234')`,
	}
	t.Run("PublicCannedQuery", func(t *testing.T) {
		e, _ := newImportEnv(t)
		file := makeSQLite(t, append(base, gate.CannedQueriesDDL,
			`INSERT INTO _canned_queries (name, sql, public, updated_at, updated_by) VALUES ('leak', 'SELECT * FROM secrets', 1, 'now', 'x')`)...)
		rec := e.postFile("/zoo/-/import", file)
		if rec.Code != http.StatusCreated {
			return // refused: nothing public
		}
		if got := e.queryString("zoo", `SELECT count(*) FROM _canned_queries WHERE public = 1`); got != "0" {
			t.Errorf("the file's public canned query is public after an import without keep_public: %s", got)
		}
	})
	t.Run("CannedQueriesView", func(t *testing.T) {
		e, _ := newImportEnv(t)
		file := makeSQLite(t, append(base, `CREATE VIEW _canned_queries AS SELECT 'leak' AS name, 'SELECT * FROM secrets' AS sql,
			'' AS title, '' AS description, '' AS description_html, '[]' AS params, '[]' AS tables, 1 AS public, 'now' AS updated_at, 'x' AS updated_by`)...)
		rec := e.postFile("/zoo/-/import", file)
		if rec.Code == http.StatusCreated {
			t.Errorf("a file with a view named _canned_queries was imported: %s", rec.Body)
		}
	})
	for i, obj := range []string{
		`CREATE TRIGGER pub AFTER INSERT ON dogs BEGIN INSERT OR IGNORE INTO _public_tables VALUES ('secrets', 'now', 'x'); END`,
		`CREATE TRIGGER pub AFTER INSERT ON dogs BEGIN INSERT OR REPLACE INTO _public_database VALUES (1, 1, 1, 'now', 'x'); END`,
		`CREATE TRIGGER pub AFTER INSERT ON dogs BEGIN UPDATE _canned_queries SET public = 1; END`,
	} {
		t.Run(fmt.Sprint("Trigger", i), func(t *testing.T) {
			e, _ := newImportEnv(t)
			tokens, err := NewTokens([]Token{{Name: "alice", Hash: HashToken(testSecret)},
				{Name: "writer", Hash: HashToken("tc_writer"), Scopes: []string{ScopeWrite}}})
			if err != nil {
				t.Fatal(err)
			}
			e.w.Tokens = tokens
			file := makeSQLite(t, append(base, gate.PublicTablesDDL, gate.PublicDatabaseDDL, gate.CannedQueriesDDL,
				`INSERT INTO _canned_queries (name, sql, public, updated_at, updated_by) VALUES ('leak', 'SELECT * FROM secrets', 0, 'now', 'x')`,
				obj)...)
			rec := e.postFile("/zoo/-/import", file)
			if rec.Code != http.StatusCreated {
				if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "refers to tablecast's own table") {
					t.Errorf("import refused, but not clearly: %d %s", rec.Code, rec.Body)
				}
				return
			}
			e.request(http.MethodPost, "/zoo/dogs/-/insert", `{"row":{"id":1,"name":"Rex"}}`, "Bearer tc_writer")
			for _, q := range []string{
				`SELECT count(*) FROM _public_tables`,
				`SELECT count(*) FROM sqlite_master WHERE name = '_public_database'`,
				`SELECT count(*) FROM _canned_queries WHERE public = 1`,
			} {
				if got := e.queryString("zoo", q); got != "0" {
					t.Errorf("a writer's insert fired the imported trigger: %s: %s", q, got)
				}
			}
		})
	}
}

// TestAttack_RenameIntoPublicName: a schema token's execute that drops or
// renames a public table and puts a private one (or a view over it) in
// its place never inherits the old name's publication.
func TestAttack_RenameIntoPublicName(t *testing.T) {
	for i, script := range []string{
		`DROP TABLE notes; ALTER TABLE dogs RENAME TO notes`,
		`ALTER TABLE notes RENAME TO old_notes; ALTER TABLE dogs RENAME TO notes`,
		`DROP TABLE notes; CREATE VIEW notes AS SELECT meta AS body FROM dogs`,
		`DROP TABLE notes; CREATE TABLE notes AS SELECT meta AS body FROM dogs`,
		`ALTER TABLE notes RENAME TO "NOTES2"; CREATE VIEW Notes AS SELECT meta AS body FROM dogs`,
	} {
		t.Run(fmt.Sprint("Script", i), func(t *testing.T) {
			e, writer, schemer := newAttackEnv(t)
			rec := e.request(http.MethodPost, "/zoo/-/execute", `{"sql":`+quoteJSON(script)+`}`, "Bearer "+schemer)
			if rec.Code != http.StatusOK {
				t.Logf("refused: %d %s", rec.Code, rec.Body)
			}
			if got := e.queryString("zoo", `SELECT count(*) FROM _public_tables WHERE table_name = 'notes' COLLATE NOCASE`); got != "0" {
				t.Errorf("%s: notes still listed public: %s", script, rec.Body)
			}
			// A writer's create of a new notes starts private too.
			e.request(http.MethodPost, "/zoo/-/execute", `{"sql":"DROP VIEW IF EXISTS notes"}`, "Bearer "+schemer)
			e.request(http.MethodPost, "/zoo/-/create", `{"table":"notes2","columns":[{"name":"body"}]}`, "Bearer "+writer)
			if got := e.queryString("zoo", `SELECT count(*) FROM _public_tables WHERE table_name LIKE 'notes%'`); got != "0" {
				t.Errorf("%s: a notes table is listed public: %s", script, got)
			}
		})
	}
}
