package replica

import (
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tablecast/tablecast/replica/gate"
)

// publicDB switches the whole database public, with or without SQL.
func publicDB(all, sql bool) []string {
	return []string{
		gate.PublicDatabaseDDL,
		`INSERT OR REPLACE INTO _public_database VALUES (1, ` + map[bool]string{false: "0", true: "1"}[all] + `, ` +
			map[bool]string{false: "0", true: "1"}[sql] + `, 'now', 'test')`,
	}
}

// seedSQL makes a database with public SQL on: public tables and views,
// private ones, and views that read private tables.
func seedSQL(f *fixture) {
	stmts := []string{gate.PublicTablesDDL,
		`CREATE TABLE cities (id INTEGER PRIMARY KEY, name TEXT, pop INTEGER)`,
		`INSERT INTO cities VALUES (1, 'London', 9), (2, 'Sydney', 5), (3, 'Oslo', 1)`,
		`CREATE TABLE secrets (id INTEGER PRIMARY KEY, secret TEXT)`,
		`INSERT INTO secrets VALUES (1, 'hunter2')`,
		`CREATE TABLE MixedCase (id INTEGER PRIMARY KEY, s TEXT)`,
		`INSERT INTO MixedCase VALUES (1, 'hunter3')`,
		`CREATE VIEW big AS SELECT name FROM cities WHERE pop > 2`,
		`CREATE VIEW leak AS SELECT secret FROM secrets`,
		`CREATE VIEW leak2 AS SELECT * FROM leak`,
		`CREATE VIEW privview AS SELECT name FROM cities`,
		`CREATE TRIGGER trg AFTER INSERT ON cities BEGIN INSERT INTO secrets VALUES (NULL, new.name); END`,
		`CREATE INDEX secrets_secret ON secrets (secret)`,
		publish("cities"), publish("big"), publish("leak"), publish("leak2")}
	f.MustExec("demo", append(stmts, publicDB(false, true)...)...)
}

// sqlGet runs a query on the JSON endpoint.
func (f *fixture) sqlGet(db, query string, params ...string) (int, string) {
	f.t.Helper()
	q := url.Values{"sql": {query}}
	for i := 0; i+1 < len(params); i += 2 {
		q.Set(params[i], params[i+1])
	}
	status, _, raw := f.MustFetch("/" + db + "/-/query.json?" + q.Encode())
	return status, raw
}

func TestReader_SQL(t *testing.T) {
	f := newFixture(t)
	seedSQL(f)
	for _, tc := range []struct {
		sql    string
		params []string
		want   string
	}{
		{"select name from cities order by id", nil, `"rows":[{"name":"London"},{"name":"Sydney"},{"name":"Oslo"}]`},
		{"select name, pop from cities where pop > :min order by pop", []string{"min", "4"}, `"rows":[{"name":"Sydney","pop":5},{"name":"London","pop":9}]`},
		{"select :a || @b as x", []string{"a", "1", "b", "2"}, `"rows":[{"x":"12"}]`},
		{"select :missing as x", nil, `"rows":[{"x":""}]`},
		{"select * from big order by name", nil, `"columns":["name"]`},
		{"with recursive c(i) as (select 1 union all select i+1 from c where i < 3) select sum(i) as s from c", nil, `{"s":6}`},
		{"select value from json_each('[1,2]')", nil, `[{"value":1},{"value":2}]`},
		{"select count(*) as n from cities;", nil, `{"n":3}`},
		{"select count(*) as n from cities; -- done", nil, `{"n":3}`},
		{"values (1, 'a')", nil, `"truncated":false`},
		{"select upper(name) as u from cities where id = 1", nil, `"query":{"params":{},"sql":"select upper(name) as u from cities where id = 1"}`},
	} {
		status, raw := f.sqlGet("demo", tc.sql, tc.params...)
		if status != 200 || !strings.Contains(raw, tc.want) {
			t.Fatalf("%s: %d %s\nwant %s", tc.sql, status, raw, tc.want)
		}
	}
	t.Run("Shapes", func(t *testing.T) {
		for _, tc := range []struct{ shape, want string }{
			{"_shape=array", `[{"id":1},{"id":2}]`},
			{"_shape=arrays", `"rows":[[1],[2]]`},
			{"_nl=on", "{\"id\":1}\n{\"id\":2}\n"},
		} {
			status, _, raw := f.MustFetch("/demo/-/query.json?sql=" + url.QueryEscape("select id from cities where id < 3") + "&" + tc.shape)
			if status != 200 || !strings.Contains(raw, tc.want) {
				t.Fatalf("%s: %d %s", tc.shape, status, raw)
			}
		}
	})
	t.Run("RowLimit", func(t *testing.T) {
		f.reader.SQLMaxRows = 10
		defer func() { f.reader.SQLMaxRows = DefaultSQLMaxRows }()
		status, raw := f.sqlGet("demo", "with recursive c(i) as (select 1 union all select i+1 from c where i < 50) select i from c")
		var body struct {
			Rows      []any
			Truncated bool
		}
		_ = json.Unmarshal([]byte(raw), &body)
		if status != 200 || len(body.Rows) != 10 || !body.Truncated {
			t.Fatalf("%d rows, truncated %v: %s", len(body.Rows), body.Truncated, raw)
		}
		_, raw = f.sqlGet("demo", "select 1 as one")
		if !strings.Contains(raw, `"truncated":false`) {
			t.Fatalf("one row: %s", raw)
		}
	})
	t.Run("TimeLimit", func(t *testing.T) {
		f.reader.SQLTimeLimit = 50 * time.Millisecond
		defer func() { f.reader.SQLTimeLimit = DefaultSQLTimeLimit }()
		start := time.Now()
		status, raw := f.sqlGet("demo", "with recursive c(i) as (select 1 union all select i+1 from c) select count(*) from c")
		if status != 400 || !strings.Contains(raw, "took too long") || time.Since(start) > 2*time.Second {
			t.Fatalf("%d %s after %s", status, raw, time.Since(start))
		}
		// The connection is fine afterwards.
		if status, raw := f.sqlGet("demo", "select 1 as one"); status != 200 {
			t.Fatalf("after a timeout: %d %s", status, raw)
		}
	})
	t.Run("Errors", func(t *testing.T) {
		for _, tc := range []struct{ sql, want string }{
			{"", "No SQL query"},
			{"select 1; select 2", "Exactly one SQL statement"},
			{"delete from cities", "Statement must be a SELECT"},
			{"with x as (select 1) delete from cities", "Statement must be a SELECT"},
			{"select nosuch from cities", "no such column: nosuch"},
			{"selec 1", "Statement must be a SELECT"},
			{"select (", "incomplete input"},
		} {
			status, raw := f.sqlGet("demo", tc.sql)
			if status != 400 || !strings.Contains(raw, tc.want) || !strings.Contains(raw, `"ok":false`) || !strings.Contains(raw, `"status":400`) {
				t.Fatalf("%q: %d %s, want 400 %q", tc.sql, status, raw, tc.want)
			}
		}
	})
	t.Run("CSV", func(t *testing.T) {
		status, h, raw := f.MustFetch("/demo/-/query.csv?sql=" + url.QueryEscape(`select id, name, 'a "q", b' as q, null as n, 1.0 as r from cities order by id`))
		want := "id,name,q,n,r\r\n1,London,\"a \"\"q\"\", b\",,1.0\r\n2,Sydney,\"a \"\"q\"\", b\",,1.0\r\n3,Oslo,\"a \"\"q\"\", b\",,1.0\r\n"
		if status != 200 || raw != want || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
			t.Fatalf("%d %q %q", status, h.Get("Content-Type"), raw)
		}
		f.reader.SQLMaxRows = 10
		defer func() { f.reader.SQLMaxRows = DefaultSQLMaxRows }()
		status, h, raw = f.MustFetch("/demo/-/query.csv?_stream=on&_dl=1&sql=" + url.QueryEscape("with recursive c(i) as (select 1 union all select i+1 from c where i < 5000) select i from c"))
		if lines := strings.Count(raw, "\r\n"); status != 200 || lines != 5001 || h.Get("Content-Disposition") == "" {
			t.Fatalf("stream: %d, %d lines, %v", status, lines, h)
		}
	})
}

func TestReader_SQLSwitch(t *testing.T) {
	f := newFixture(t)
	f.MustExec("pub", gate.PublicTablesDDL, `CREATE TABLE t (x)`, publish("t"))
	f.MustExec("priv", gate.PublicTablesDDL, `CREATE TABLE t (x)`)
	f.MustExec("sqlonly", append([]string{`CREATE TABLE t (x)`}, publicDB(false, true)...)...)
	for _, tc := range []struct {
		db   string
		want int
	}{{"pub", 403}, {"priv", 404}, {"nosuchdb", 404}, {"sqlonly", 200}} {
		status, raw := f.sqlGet(tc.db, "select 1")
		if status != tc.want {
			t.Fatalf("%s: %d %s, want %d", tc.db, status, raw, tc.want)
		}
	}
	_, want := f.sqlGet("nosuchdb", "select 1")
	if _, got := f.sqlGet("priv", "select 1"); strings.ReplaceAll(got, "priv", "X") != strings.ReplaceAll(want, "nosuchdb", "X") {
		t.Fatalf("private database: %s, missing: %s", got, want)
	}
	// A database with SQL and no public table is listed, and reads nothing.
	if _, _, raw := f.MustFetch("/.json"); !strings.Contains(raw, "sqlonly") || strings.Contains(raw, "priv") {
		t.Fatalf("/.json: %s", raw)
	}
	if status, raw := f.sqlGet("sqlonly", "select * from t"); status != 400 || !strings.Contains(raw, "no such table: t") {
		t.Fatalf("sqlonly t: %d %s", status, raw)
	}
	// Turning SQL off refuses at the next TXID.
	f.MustExec("sqlonly", publicDB(false, false)...)
	if status, _ := f.sqlGet("sqlonly", "select 1"); status != 404 {
		t.Fatalf("after switching off: %d", status)
	}
}

// TestReader_SQLDatabasePath: "/db.json?sql=…" (Datasette 0.64's query
// URL, which dclient uses), "/db?sql=…" and "/db.csv?sql=…" answer byte
// for byte as "/db/-/query.json?sql=…", "/db/-/query?sql=…" and
// "/db/-/query.csv?sql=…": results, shapes,
// errors, limits, a database without SQL and a private-only one. An empty
// sql is the database page.
func TestReader_SQLDatabasePath(t *testing.T) {
	f := newFixture(t)
	seedSQL(f)
	f.MustExec("pub", gate.PublicTablesDDL, `CREATE TABLE t (x)`, publish("t"))
	f.MustExec("priv", gate.PublicTablesDDL, `CREATE TABLE t (x)`)
	f.reader.SQLMaxRows = 2
	defer func() { f.reader.SQLMaxRows = DefaultSQLMaxRows }()
	for _, db := range []string{"demo", "pub", "priv", "nosuchdb"} {
		for _, q := range []string{
			"sql=" + url.QueryEscape("select name, 1.0 as r from cities order by id"),
			"sql=" + url.QueryEscape("select name from cities where pop > :min") + "&min=4&_shape=array",
			"sql=" + url.QueryEscape("select * from secrets"),
			"sql=" + url.QueryEscape("delete from cities"),
			"sql=select+1&_shape=arrays&_nl=on",
		} {
			for _, ext := range []string{".json", "", ".csv"} {
				s1, h1, b1 := f.MustFetch("/" + db + "/-/query" + ext + "?" + q)
				s2, h2, b2 := f.MustFetch("/" + db + ext + "?" + q)
				if s1 != s2 || b1 != b2 || h1.Get("Content-Type") != h2.Get("Content-Type") {
					t.Errorf("%s%s?%s: %d %q\nquery path: %d %q", db, ext, q, s2, b2, s1, b1)
				}
			}
		}
	}
	if status, _, raw := f.MustFetch("/demo.json?sql=select+1+as+one"); status != 200 || !strings.Contains(raw, `"rows":[{"one":1}]`) {
		t.Fatalf("/demo.json?sql=: %d %s", status, raw)
	}
	s1, _, b1 := f.MustFetch("/pub.csv")
	s2, _, b2 := f.MustFetch("/nosuchdb.csv")
	if s1 != 404 || s1 != s2 || b1 != b2 {
		t.Fatalf("/pub.csv without sql: %d %s, want the 404 of a path that is no route: %d %s", s1, b1, s2, b2)
	}
	_, _, page := f.MustFetch("/pub.json")
	if status, _, raw := f.MustFetch("/pub.json?sql="); status != 200 || raw != page {
		t.Fatalf("empty sql: %d %s, want the database page %s", status, raw, page)
	}
}

// TestReader_SQLAdversarial tries to read a private table every way we
// know; each must fail, and answer exactly as for a table that does not
// exist (the name swapped for the missing one's).
func TestReader_SQLAdversarial(t *testing.T) {
	f := newFixture(t)
	seedSQL(f)
	for _, q := range adversarialSQL {
		t.Run(q, func(t *testing.T) {
			missing := strings.NewReplacer("secrets", "nosuchtbl", "MixedCase", "NoSuchCase", "mixedcase", "nosuchcase", "privview", "nosuchview").Replace(q)
			for _, path := range []string{"/demo/-/query.json", "/demo/-/query.csv", "/demo/-/query.csv?_stream=on&", "/demo/-/query"} {
				sep := "?"
				if strings.HasSuffix(path, "&") {
					sep = ""
				}
				s1, _, b1 := f.MustFetch(path + sep + "sql=" + url.QueryEscape(q))
				s2, _, b2 := f.MustFetch(path + sep + "sql=" + url.QueryEscape(missing))
				if s1 == 200 || strings.Contains(b1, "hunter") {
					t.Fatalf("%s read private data: %d %s", path, s1, b1)
				}
				norm := strings.NewReplacer("nosuchtbl", "secrets", "NoSuchCase", "MixedCase", "nosuchcase", "mixedcase", "nosuchview", "privview").Replace(b2)
				if s1 != s2 || b1 != norm {
					t.Fatalf("%s: private and missing differ:\n%d %s\n%d %s", path, s1, b1, s2, b2)
				}
			}
		})
	}
	t.Run("ViewOverPrivate", func(t *testing.T) {
		// leak is public, but reads secrets: SQL may not read it (the
		// table endpoint serves it: publishing a view publishes its rows).
		for _, q := range []string{"select * from leak", "select * from leak2", "select count(*) from big join leak"} {
			status, raw := f.sqlGet("demo", q)
			if status != 400 || strings.Contains(raw, "hunter") || strings.Contains(raw, "secrets") {
				t.Fatalf("%s: %d %s", q, status, raw)
			}
		}
	})
	t.Run("Refused", func(t *testing.T) {
		for _, tc := range []struct{ sql, want string }{
			{"select * from sqlite_master", "no such table: sqlite_master"},
			{"select name from sqlite_schema", "no such table: sqlite_master"},
			{"select * from sqlite_temp_master", "no such table"},
			{"select * from pragma_table_info('cities')", "no such table: pragma_table_info"},
			{"select * from pragma_database_list", "no such table"},
			{"pragma table_info(cities)", "Statement must be a SELECT"},
			{"attach database ':memory:' as x", "Statement must be a SELECT"},
			{"select load_extension('x')", "no such function: load_extension"},
			{"select sqlite_offset(id) from cities", "no such function: sqlite_offset"},
			{"select * from _public_tables", "no such table: _public_tables"},
			{"select * from _public_database", "no such table: _public_database"},
			{"create temp table x (y)", "Statement must be a SELECT"},
			{"create temp trigger t after insert on cities begin select 1; end", "Statement must be a SELECT"},
			{"select * from cities; create temp trigger t after insert on cities begin select 1; end", "Exactly one SQL statement"},
			{"insert into cities values (9, 'x', 1)", "Statement must be a SELECT"},
			{"with x as (select 1) insert into cities select 9, 'x', 1", "Statement must be a SELECT"},
		} {
			status, raw := f.sqlGet("demo", tc.sql)
			if status != 400 || !strings.Contains(raw, tc.want) {
				t.Fatalf("%s: %d %s, want %q", tc.sql, status, raw, tc.want)
			}
		}
	})
}

// adversarialSQL are attempts to read or detect the private table
// secrets (or MixedCase, or the private view privview).
var adversarialSQL = []string{
	"select * from secrets",
	"select secret from secrets",
	"select nosuchcolumn from secrets",
	"select count(*) from secrets",
	"select * from main.secrets",
	"select * from SECRETS",
	"select * from mixedcase",
	"select * from MixedCase",
	"select * from privview",
	"select * from cities join secrets",
	"select * from cities where id in (select id from secrets)",
	"select (select secret from secrets) as s",
	"select exists (select 1 from secrets) as e",
	"with x as (select * from secrets) select * from x",
	"with recursive c(i) as (select 1 union all select i+1 from c, secrets where i < 2) select * from c",
	"select * from cities union select id, secret, 1 from secrets",
	"select * from json_each((select json_group_array(secret) from secrets))",
	"select json_object('s', (select secret from secrets))",
	"select * from pragma_table_info('secrets')",
	"select * from pragma_index_list('secrets')",
	"select name from sqlite_master where name = 'secrets'",
	"select count(*) from sqlite_master where tbl_name = 'secrets'",
	"select cast((select secret from secrets) as integer)",
	"select abs((select secret from secrets))",
	"select * from secrets where 1 = 0",
	"select * from secrets limit 0",
	"select typeof(secret) from secrets",
	"select * from secrets indexed by secrets_secret",
	"select * from cities, secrets as s where s.id = cities.id",
	"insert into secrets values (2, 'x')",
	"select * from temp.secrets",
	"select * from secrets;",
}

func TestScanSQL(t *testing.T) {
	for _, tc := range []struct {
		in      string
		stmt    string
		keyword string
		params  []string
		more    bool
	}{
		{"select 1", "select 1", "SELECT", nil, false},
		{"select :a, @b, $c, :a", "select :a, @b, $c, :a", "SELECT", []string{"a", "b", "c"}, false},
		{"select ':x;' -- :y;\n, \":z\", [a;b], `q;`;", "select ':x;' -- :y;\n, \":z\", [a;b], `q;`", "SELECT", nil, false},
		{"select 1; /* c */ -- d", "select 1", "SELECT", nil, false},
		{"select 1; select 2", "select 1", "SELECT", nil, true},
		{"/* x */ with a as (select 1) select * from a", "/* x */ with a as (select 1) select * from a", "WITH", nil, false},
		{"select 'it''s :no'", "select 'it''s :no'", "SELECT", nil, false},
		{"(select 1)", "(select 1)", "(", nil, false},
		{"select 1 /* unclosed ;", "select 1 /* unclosed ;", "SELECT", nil, false},
	} {
		st := scanSQL(tc.in)
		if st.stmt != tc.stmt || st.keyword != tc.keyword || !reflect.DeepEqual(st.params, tc.params) || st.more != tc.more {
			t.Fatalf("%q: got %+v", tc.in, st)
		}
	}
}

func TestReader_WholeDatabase(t *testing.T) {
	f := newFixture(t)
	f.MustExec("w", `CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT)`, `INSERT INTO a VALUES (1, 'one')`,
		`CREATE TABLE _tokens (hash TEXT)`, `CREATE VIEW av AS SELECT v FROM a`)
	if status, _, _ := f.MustGet("/w/a.json"); status != 404 {
		t.Fatalf("before: %d", status)
	}
	f.MustExec("w", publicDB(true, false)...)
	for _, path := range []string{"/w/a.json", "/w/av.json", "/w/a/1.json", "/w.json"} {
		if status, _, raw := f.MustGet(path); status != 200 {
			t.Fatalf("%s: %d %s", path, status, raw)
		}
	}
	for _, path := range []string{"/w/_tokens.json", "/w/_public_database.json", "/w/sqlite_master.json"} {
		if status, _, _ := f.MustGet(path); status != 404 {
			t.Fatalf("%s: %d, want 404", path, status)
		}
	}
	if status, _ := f.sqlGet("w", "select 1"); status != 403 {
		t.Fatalf("sql with the switch off: %d, want 403", status)
	}
	f.MustExec("w", publicDB(true, true)...)
	if status, raw := f.sqlGet("w", "select v from av"); status != 200 || !strings.Contains(raw, "one") {
		t.Fatalf("sql: %d %s", status, raw)
	}
	if status, raw := f.sqlGet("w", "select * from _tokens"); status != 400 || !strings.Contains(raw, "no such table: _tokens") {
		t.Fatalf("reserved: %d %s", status, raw)
	}
	// Switching the whole database off makes cached answers unreachable:
	// the switches are part of every key.
	f.MustExec("w", publicDB(false, false)...)
	for _, path := range []string{"/w/a.json", "/w/a/1.json", "/w.json"} {
		if status, _, _ := f.MustGet(path); status != 404 {
			t.Fatalf("%s after switching off: %d, want 404", path, status)
		}
	}
}

// TestReader_SQLConcurrent runs public and refused queries at once, with
// writes moving the TXID: each connection's authorizer and the shared
// shadow must never let a refused query through.
func TestReader_SQLConcurrent(t *testing.T) {
	f := newFixture(t)
	seedSQL(f)
	f.reader.Cache = nil
	done := make(chan error)
	for g := range 6 {
		go func() {
			for i := range 25 {
				q := adversarialSQL[(g*25+i)%len(adversarialSQL)]
				status, raw := f.sqlGet("demo", q)
				if status == 200 || strings.Contains(raw, "hunter") {
					done <- fmt.Errorf("%s: %d %s", q, status, raw)
					return
				}
				if status, raw := f.sqlGet("demo", "select count(*) as n from cities"); status != 200 {
					done <- fmt.Errorf("public query: %d %s", status, raw)
					return
				}
			}
			done <- nil
		}()
	}
	for i := range 5 {
		f.MustExec("demo", fmt.Sprintf(`INSERT INTO secrets VALUES (%d, 'hunter%d')`, 100+i, i))
	}
	for range 6 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
