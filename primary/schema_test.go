package primary

import (
	"database/sql"
	"net/http"
	"strings"
	"testing"

	"github.com/tablecast/tablecast"
)

func TestSchema_CreateView(t *testing.T) {
	e := newZooEnv(t)
	got := e.mustPost("/zoo/-/create-view", `{"name": "heavy", "sql": "select id, name from dogs where weight > 5;"}`, http.StatusOK)
	if got["name"] != "heavy" || got["sql"] != "CREATE VIEW \"heavy\" AS select id, name from dogs where weight > 5" {
		t.Errorf("answer %v", got)
	}
	if rows := e.queryString("zoo", `SELECT * FROM heavy`); rows != "1|Cleo" {
		t.Errorf("view rows %q", rows)
	}
	if n := e.queryString("zoo", `SELECT count(*) FROM _public_tables`); n != "0" {
		t.Errorf("a new view is listed public: %s", n)
	}
	// Replacing a public view makes it private again.
	e.mustPost("/zoo/heavy/-/publish", ``, http.StatusOK)
	got = e.mustPost("/zoo/-/create-view", `{"name": "heavy", "sql": "select id from dogs", "replace": true}`, http.StatusOK)
	if u, _ := got["unpublished"].([]any); len(u) != 1 || u[0] != "heavy" {
		t.Errorf("unpublished %v, want [heavy]", got["unpublished"])
	}
	if n := e.queryString("zoo", `SELECT count(*) FROM _public_tables`); n != "0" {
		t.Errorf("a replaced view stays public: %s", n)
	}
	for _, c := range []badCase{
		{"Exists", "/zoo/-/create-view", `{"name": "heavy", "sql": "select 1"}`, http.StatusConflict, "view named heavy already exists"},
		{"TableExists", "/zoo/-/create-view", `{"name": "dogs", "sql": "select 1", "replace": true}`, http.StatusConflict, "table named dogs already exists"},
		{"NotSelect", "/zoo/-/create-view", `{"name": "v", "sql": "delete from dogs"}`, http.StatusBadRequest, "exactly one SELECT"},
		{"TwoStatements", "/zoo/-/create-view", `{"name": "v", "sql": "select 1; drop table dogs"}`, http.StatusBadRequest, "exactly one SELECT"},
		{"Pragma", "/zoo/-/create-view", `{"name": "v", "sql": "pragma table_info(dogs)"}`, http.StatusBadRequest, "exactly one SELECT"},
		{"Empty", "/zoo/-/create-view", `{"name": "v", "sql": " -- nothing"}`, http.StatusBadRequest, "exactly one SELECT"},
		{"Gate", "/zoo/-/create-view", `{"name": "v", "sql": "select * from _public_tables"}`, http.StatusForbidden, "_public_tables is tablecast's own"},
		{"GateInSubquery", "/zoo/-/create-view", `{"name": "v", "sql": "select (select count(*) from _public_audit)"}`, http.StatusForbidden, "_public_audit"},
		{"Params", "/zoo/-/create-view", `{"name": "v", "sql": "select :a"}`, http.StatusBadRequest, "parameters"},
		{"MissingTable", "/zoo/-/create-view", `{"name": "v", "sql": "select * from nosuch"}`, http.StatusBadRequest, "no such table: nosuch"},
		{"BadName", "/zoo/-/create-view", `{"name": "_v", "sql": "select 1"}`, http.StatusBadRequest, "reserved"},
		{"NoSQL", "/zoo/-/create-view", `{"name": "v"}`, http.StatusBadRequest, `"sql" is required`},
		{"UnknownKey", "/zoo/-/create-view", `{"name": "v", "sql": "select 1", "x": 1}`, http.StatusBadRequest, `Invalid parameter: "x"`},
	} {
		t.Run(c.name, func(t *testing.T) { e.checkBad(t, "zoo", c) })
	}
}

func TestSchema_Indexes(t *testing.T) {
	e := newZooEnv(t)
	got := e.mustPost("/zoo/dogs/-/create-index", `{"columns": ["name", "weight desc"]}`, http.StatusOK)
	if got["name"] != "idx_dogs_name_weight" {
		t.Errorf("index name %v", got["name"])
	}
	want := `CREATE INDEX "idx_dogs_name_weight" ON "dogs" ("name", "weight" DESC)`
	if s := e.queryString("zoo", `SELECT sql FROM sqlite_master WHERE name = 'idx_dogs_name_weight'`); s != want {
		t.Errorf("index %q, want %q", s, want)
	}
	e.mustPost("/zoo/dogs/-/create-index", `{"columns": ["name"], "name": "dogs_by_name", "unique": true}`, http.StatusOK)
	for _, c := range []badCase{
		{"Exists", "/zoo/dogs/-/create-index", `{"columns": ["name"], "name": "dogs_by_name"}`, http.StatusConflict, "already exists"},
		{"UnknownColumn", "/zoo/dogs/-/create-index", `{"columns": ["nope"]}`, http.StatusBadRequest, `Unknown column in "columns": nope`},
		{"NoColumns", "/zoo/dogs/-/create-index", `{"columns": []}`, http.StatusBadRequest, `"columns" must be a non-empty list`},
		{"View", "/zoo/dog_names/-/create-index", `{"columns": ["name"]}`, http.StatusBadRequest, "Cannot write to a view"},
		{"MissingTable", "/zoo/nope/-/create-index", `{"columns": ["name"]}`, http.StatusNotFound, "Table not found"},
		{"BadName", "/zoo/dogs/-/create-index", `{"columns": ["name"], "name": "a b"}`, http.StatusBadRequest, "invalid index name"},
		{"Duplicates", "/zoo/notes/-/create-index", `{"columns": ["body"], "unique": true}`, http.StatusOK - 200 + 400, ""},
		{"DropMissing", "/zoo/-/drop-index", `{"name": "nope"}`, http.StatusNotFound, "Index not found: nope"},
		{"DropAutoindex", "/zoo/-/drop-index", `{"name": "sqlite_autoindex_pairs_1"}`, http.StatusBadRequest, "PRIMARY KEY or UNIQUE"},
		{"DropGateIndex", "/zoo/-/drop-index", `{"name": "sqlite_autoindex__public_tables_1"}`, http.StatusNotFound, "Index not found"},
	} {
		if c.name == "Duplicates" {
			e.mustPost("/zoo/notes/-/insert", `{"rows": [{"body": "a"}, {"body": "a"}]}`, http.StatusCreated)
			c.msg = "UNIQUE constraint failed"
		}
		t.Run(c.name, func(t *testing.T) { e.checkBad(t, "zoo", c) })
	}
	e.mustPost("/zoo/-/drop-index", `{"name": "dogs_by_name"}`, http.StatusOK)
	if n := e.queryString("zoo", `SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'dogs' AND sql IS NOT NULL`); n != "1" {
		t.Errorf("indexes left on dogs: %s, want 1", n)
	}
}

// The schema sqlite-utils 3.30 makes with
// `sqlite-utils enable-fts DB docs title body --fts5 --create-triggers --tokenize porter`.
const sqliteUtilsFTS = `CREATE VIRTUAL TABLE [docs_fts] USING FTS5 (
    [title], [body],
    tokenize='porter',
    content=[docs]
)
CREATE TRIGGER [docs_ai] AFTER INSERT ON [docs] BEGIN
  INSERT INTO [docs_fts] (rowid, [title], [body]) VALUES (new.rowid, new.[title], new.[body]);
END
CREATE TRIGGER [docs_ad] AFTER DELETE ON [docs] BEGIN
  INSERT INTO [docs_fts] ([docs_fts], rowid, [title], [body]) VALUES('delete', old.rowid, old.[title], old.[body]);
END
CREATE TRIGGER [docs_au] AFTER UPDATE ON [docs] BEGIN
  INSERT INTO [docs_fts] ([docs_fts], rowid, [title], [body]) VALUES('delete', old.rowid, old.[title], old.[body]);
  INSERT INTO [docs_fts] (rowid, [title], [body]) VALUES (new.rowid, new.[title], new.[body]);
END`

// haveFTS5 reports whether this build has FTS5 (-tags sqlite_fts5).
func haveFTS5(tb testing.TB) bool {
	tb.Helper()
	db, err := sql.Open("sqlite3", ":memory:")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	var have bool
	if err := db.QueryRow(`SELECT count(*) > 0 FROM pragma_module_list WHERE name = 'fts5'`).Scan(&have); err != nil {
		tb.Fatal(err)
	}
	return have
}

func TestSchema_FTS(t *testing.T) {
	e := newTestEnv(t)
	e.mustPost("/db/-/create", `{"table": "docs", "pk": "id", "rows": [
		{"id": 1, "title": "Running dogs", "body": "fast"}, {"id": 2, "title": "Cats", "body": "sleep"}]}`, http.StatusCreated)
	if !haveFTS5(t) {
		e.checkBad(t, "db", badCase{"NoFTS5", "/db/docs/-/enable-fts", `{"columns": ["title"]}`, http.StatusBadRequest, "-tags sqlite_fts5"})
		t.Skip("no FTS5 in this build: go test -tags sqlite_fts5")
	}
	got := e.mustPost("/db/docs/-/enable-fts", `{"columns": ["title", "body"], "tokenize": "porter"}`, http.StatusOK)
	if got["fts_table"] != "docs_fts" {
		t.Errorf("answer %v", got)
	}
	schema := e.queryString("db", `SELECT sql FROM sqlite_master WHERE name = 'docs_fts' OR type = 'trigger' ORDER BY type = 'trigger', name != 'docs_ai', name != 'docs_ad'`)
	if schema != sqliteUtilsFTS {
		t.Errorf("schema:\n%s\nwant sqlite-utils':\n%s", schema, sqliteUtilsFTS)
	}
	match := func() string {
		return e.queryString("db", `SELECT rowid FROM docs_fts WHERE docs_fts MATCH 'run OR fly OR sleep' ORDER BY rowid`)
	}
	if m := match(); m != "1\n2" {
		t.Errorf("populated: %q", m)
	}
	// The triggers keep it in step with writes through the API.
	e.mustPost("/db/docs/-/insert", `{"row": {"id": 3, "title": "Flying", "body": "birds"}}`, http.StatusCreated)
	e.mustPost("/db/docs/-/upsert", `{"row": {"id": 2, "title": "Cats", "body": "awake"}}`, http.StatusOK)
	e.mustPost("/db/docs/1/-/delete", ``, http.StatusOK)
	if m := match(); m != "3" {
		t.Errorf("after writes: %q, want 3", m)
	}
	// And with writes through execute, under its authorizer.
	e.mustPost("/db/-/execute", `{"sql": "insert into docs (id, title, body) values (4, 'Fly fishing', 'rods'); update docs set title = 'Dogs' where id = 3; delete from docs where id = 4"}`, http.StatusOK)
	if m := e.queryString("db", `SELECT rowid FROM docs_fts WHERE docs_fts MATCH 'dogs OR fly'`); m != "3" {
		t.Errorf("after execute: %q, want 3", m)
	}
	if n := e.queryString("db", `SELECT count(*) FROM _public_tables`); n != "0" {
		t.Errorf("the full-text table is listed public: %s", n)
	}
	for _, c := range []badCase{
		{"Exists", "/db/docs/-/enable-fts", `{"columns": ["title"]}`, http.StatusConflict, "docs_fts already exists"},
		{"UnknownColumn", "/db/docs/-/enable-fts", `{"columns": ["nope"], "replace": true}`, http.StatusBadRequest, "Unknown column"},
		{"BadTokenizer", "/db/docs/-/enable-fts", `{"columns": ["title"], "tokenize": "nope", "replace": true}`, http.StatusBadRequest, "Cannot enable full-text search: no such tokenizer: nope"},
		{"QuoteInTokenizer", "/db/docs/-/enable-fts", `{"columns": ["title"], "tokenize": "porter'", "replace": true}`, http.StatusBadRequest, ""},
		{"MissingTable", "/db/nope/-/enable-fts", `{"columns": ["title"]}`, http.StatusNotFound, "Table not found"},
	} {
		t.Run(c.name, func(t *testing.T) { e.checkBad(t, "db", c) })
	}
	// Publishing a full-text table and then replacing it makes it private.
	e.mustPost("/db/docs_fts/-/publish", ``, http.StatusOK)
	got = e.mustPost("/db/docs/-/enable-fts", `{"columns": ["title"], "replace": true}`, http.StatusOK)
	if u, _ := got["unpublished"].([]any); len(u) != 1 || u[0] != "docs_fts" {
		t.Errorf("unpublished %v, want [docs_fts]", got["unpublished"])
	}
	if m := e.queryString("db", `SELECT rowid FROM docs_fts WHERE docs_fts MATCH 'dogs'`); m != "3" {
		t.Errorf("rebuilt: %q", m)
	}
	e.mustPost("/db/docs/-/disable-fts", ``, http.StatusOK)
	if n := e.queryString("db", `SELECT group_concat(name) FROM sqlite_master WHERE name LIKE 'docs_%'`); n != "<nil>" {
		t.Errorf("left after disable-fts: %s", n)
	}
	e.checkBad(t, "db", badCase{"DisableAgain", "/db/docs/-/disable-fts", ``, http.StatusNotFound, "has no full-text index"})
}

func TestSchema_Execute(t *testing.T) {
	e := newZooEnv(t)
	got := e.mustPost("/zoo/-/execute", `{"sql": "update dogs set age = :age where id = :id; insert into notes (body) values (@note || $age);",
		"params": {"age": 7, "id": 1, "note": "age "}}`, http.StatusOK)
	if got["statements"] != 2.0 {
		t.Errorf("answer %v", got)
	}
	if s := e.queryString("zoo", `SELECT (SELECT age FROM dogs WHERE id = 1), (SELECT body FROM notes)`); s != "7|age 7" {
		t.Errorf("rows %q", s)
	}
	for _, c := range []badCase{
		{"GateTable", "/zoo/-/execute", `{"sql": "delete from dogs; insert into _public_tables values ('dogs', 'x', 'y')"}`, http.StatusForbidden, "Statement 2 (insert into _public_tables values ('dogs', 'x', 'y')): Not allowed: _public_tables is tablecast's own"},
		{"GateRead", "/zoo/-/execute", `{"sql": "insert into notes select token_name from _public_audit"}`, http.StatusForbidden, "_public_audit"},
		{"Versions", "/zoo/-/execute", `{"sql": "update _table_versions set version = 0"}`, http.StatusForbidden, "_table_versions"},
		{"DropGate", "/zoo/-/execute", `{"sql": "drop table _public_tables"}`, http.StatusForbidden, "_public_tables"},
		{"Attach", "/zoo/-/execute", `{"sql": "attach database ':memory:' as other"}`, http.StatusForbidden, "ATTACH"},
		{"WritableSchema", "/zoo/-/execute", `{"sql": "pragma writable_schema = 1"}`, http.StatusForbidden, "PRAGMA writable_schema"},
		{"JournalMode", "/zoo/-/execute", `{"sql": "pragma journal_mode = delete"}`, http.StatusForbidden, "PRAGMA journal_mode"},
		{"Commit", "/zoo/-/execute", `{"sql": "delete from dogs; commit; delete from notes"}`, http.StatusForbidden, "Statement 2 (commit)"},
		{"Temp", "/zoo/-/execute", `{"sql": "create temp trigger t after insert on dogs begin delete from notes; end"}`, http.StatusForbidden, "temporary"},
		{"TempTable", "/zoo/-/execute", `{"sql": "create temp table x (a)"}`, http.StatusForbidden, "temporary"},
		{"Trigger", "/zoo/-/execute", `{"sql": "create trigger t after insert on dogs begin delete from _public_tables; end"}`, http.StatusForbidden, "tablecast's own table _public_tables"},
		{"ViewOfGate", "/zoo/-/execute", `{"sql": "create view v as select * from [_PUBLIC_audit]"}`, http.StatusForbidden, "_public_audit"},
		{"FTSContent", "/zoo/-/execute", `{"sql": "create virtual table f using fts4(table_name, content='_public_tables')"}`, http.StatusForbidden, "_public_tables"},
		{"RenameToReserved", "/zoo/-/execute", `{"sql": "alter table notes rename to _notes"}`, http.StatusForbidden, "_notes is tablecast's own"},
		{"CreateReserved", "/zoo/-/execute", `{"sql": "create table _mine (a)"}`, http.StatusForbidden, "_mine"},
		{"LoadExtension", "/zoo/-/execute", `{"sql": "select load_extension('x')"}`, http.StatusForbidden, "load_extension"},
		{"SyntaxSecond", "/zoo/-/execute", `{"sql": "delete from dogs; delete frm notes"}`, http.StatusBadRequest, "Statement 2"},
		{"Failing", "/zoo/-/execute", `{"sql": "delete from dogs; insert into pairs (a, b) values ('x,y', '1/2')"}`, http.StatusBadRequest, "UNIQUE constraint failed"},
		{"MissingParam", "/zoo/-/execute", `{"sql": "delete from dogs where id = :id"}`, http.StatusBadRequest, "Missing parameter: :id"},
		{"UnknownParam", "/zoo/-/execute", `{"sql": "delete from dogs", "params": {"id": 1}}`, http.StatusBadRequest, `Unknown parameter: "id"`},
		{"Positional", "/zoo/-/execute", `{"sql": "delete from dogs where id = ?"}`, http.StatusBadRequest, "Positional parameters"},
		{"BadParam", "/zoo/-/execute", `{"sql": "delete from dogs where id = :id", "params": {"id": [1]}}`, http.StatusBadRequest, `Parameter "id"`},
		{"Empty", "/zoo/-/execute", `{"sql": " ; -- nothing"}`, http.StatusBadRequest, "no statement"},
		{"NoSQL", "/zoo/-/execute", `{}`, http.StatusBadRequest, `"sql" is required`},
	} {
		t.Run(c.name, func(t *testing.T) { e.checkBad(t, "zoo", c) })
	}
}

func TestSchema_ExecuteReconciles(t *testing.T) {
	e := newZooEnv(t)
	for _, name := range []string{"dogs", "notes", "pairs", "dog_names"} {
		e.mustPost("/zoo/"+name+"/-/publish", ``, http.StatusOK)
	}
	got := e.mustPost("/zoo/-/execute", `{"sql": "alter table dogs rename to hounds; drop view dog_names; create view dog_names as select 1; drop table notes; create table notes (body); alter table pairs add column w"}`, http.StatusOK)
	want := "dog_names,dogs,notes"
	var names []string
	for _, n := range got["unpublished"].([]any) {
		names = append(names, n.(string))
	}
	if strings.Join(names, ",") != want {
		t.Errorf("unpublished %v, want %s", names, want)
	}
	if s := e.queryString("zoo", `SELECT group_concat(table_name) FROM _public_tables`); s != "pairs" {
		t.Errorf("public after: %s, want pairs (renamed, dropped and new objects are private)", s)
	}
	if s := e.queryString("zoo", `SELECT count(*) FROM _public_audit WHERE action = 'unpublish' AND token_name = 'alice'`); s != "3" {
		t.Errorf("audited unpublishes: %s, want 3", s)
	}
	// Every table's version moved (the cache keys with it).
	if s := e.queryString("zoo", `SELECT group_concat(table_name) FROM _table_versions WHERE table_name IN ('hounds', 'pairs', 'notes', 'dog_names')`); s == "" {
		t.Errorf("no versions bumped")
	}
	// A public table dropped outside tablecast is taken off at the next schema change.
	e.exec("zoo", `DROP TABLE pairs`)
	got = e.mustPost("/zoo/-/execute", `{"sql": "create table pairs (x)"}`, http.StatusOK)
	if u, _ := got["unpublished"].([]any); len(u) != 1 || u[0] != "pairs" {
		t.Errorf("unpublished %v, want [pairs]", got["unpublished"])
	}
}

func TestSchema_Scope(t *testing.T) {
	e := newScopeEnv(t)
	for _, path := range []string{"/zoo/-/execute", "/zoo/-/create-view", "/zoo/-/drop-index", "/zoo/dogs/-/create-index", "/zoo/dogs/-/enable-fts", "/zoo/dogs/-/disable-fts"} {
		for _, tok := range []string{"writer", "publisher"} {
			rec := e.request(http.MethodPost, path, `{"sql": "delete from dogs"}`, "Bearer tc_"+tok)
			assertError(t, rec, http.StatusForbidden, "schema")
		}
	}
	var rt tablecast.Route
	if rt, _ = tablecast.ParseRoute("/zoo/dogs/-/enable-fts"); rt.Action != tablecast.ActionEnableFTS || rt.Table != "dogs" {
		t.Errorf("route %+v", rt)
	}
}
