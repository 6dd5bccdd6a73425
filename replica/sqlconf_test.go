package replica

import (
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/tablecast/tablecast/replica/gate"
)

// privateMarkers are values only private tables hold: no public SQL
// answer may contain one.
var privateMarkers = []string{"hunter", "31337313", "MARKJSON"}

// seedConf is seedSQL plus what the confinement attacks aim at: a private
// number, a private json column, tablecast's audit table, a private
// r-tree, a public table with a column named json, a private table's
// trigger and a public view of public rows.
func seedConf(f *fixture) {
	seedSQL(f)
	f.MustExec("demo",
		`CREATE TABLE privnum (id INTEGER PRIMARY KEY, n INTEGER)`,
		`INSERT INTO privnum VALUES (1, 31337313)`,
		`CREATE TABLE privjson (id INTEGER PRIMARY KEY, json TEXT)`,
		`INSERT INTO privjson VALUES (1, '{"k":"MARKJSON"}')`,
		`CREATE TABLE _public_audit (id INTEGER PRIMARY KEY, what TEXT)`,
		`INSERT INTO _public_audit (what) VALUES ('hunter-a'), ('hunter-b'), ('hunter-c'), ('hunter-d'), ('hunter-e')`,
		`CREATE VIRTUAL TABLE privrt USING rtree(id, a, b)`,
		`INSERT INTO privrt VALUES (31337313, 1, 2)`,
		`CREATE TABLE pubjson (id INTEGER PRIMARY KEY, json TEXT)`,
		`INSERT INTO pubjson VALUES (1, '{"a":1}')`,
		`CREATE TRIGGER privtrg AFTER INSERT ON privnum BEGIN INSERT INTO secrets VALUES (NULL, 'x'); END`,
		publish("pubjson"))
	f.MustExec("demo", publicExtras...)
	seedTwin(f, "twin")
}

// seedTwin makes db with demo's public tables, views, rows and switches,
// and no private table: every name private in demo is missing in it.
func seedTwin(f *fixture, db string) {
	f.MustExec(db, append([]string{gate.PublicTablesDDL,
		`CREATE TABLE cities (id INTEGER PRIMARY KEY, name TEXT, pop INTEGER)`,
		`INSERT INTO cities VALUES (1, 'London', 9), (2, 'Sydney', 5), (3, 'Oslo', 1)`,
		`CREATE VIEW big AS SELECT name FROM cities WHERE pop > 2`,
		`CREATE TABLE pubjson (id INTEGER PRIMARY KEY, json TEXT)`,
		`INSERT INTO pubjson VALUES (1, '{"a":1}')`,
		publish("cities"), publish("big"), publish("leak"), publish("leak2"), publish("pubjson")}, publicDB(false, true)...)...)
	f.MustExec(db, publicExtras...)
}

// publicExtras are public objects demo and twin share that take other
// paths through the program check: an index, a WITHOUT ROWID table and
// an r-tree (a virtual table with a schema entry).
var publicExtras = []string{
	`CREATE INDEX cities_pop ON cities (pop)`,
	`CREATE TABLE wr (k TEXT PRIMARY KEY, v INTEGER) WITHOUT ROWID`,
	`INSERT INTO wr VALUES ('a', 1), ('b', 2)`,
	`CREATE VIRTUAL TABLE pubrt USING rtree(id, a, b)`,
	`INSERT INTO pubrt VALUES (1, 2, 3)`,
	publish("wr"), publish("pubrt"),
}

// sqlPaths are every way public SQL answers: JSON, CSV, streamed CSV and
// the HTML query page.
var sqlPaths = []string{"/%s/-/query.json?", "/%s/-/query.csv?", "/%s/-/query.csv?_stream=on&", "/%s/-/query?"}

// answer (private_test.go) is what a visitor sees of one request.

func (f *fixture) fetchSQL(pathFmt, db, q string) answer {
	f.t.Helper()
	status, h, body := f.MustFetch(strings.Replace(pathFmt, "%s", db, 1) + "sql=" + url.QueryEscape(q))
	keep := http.Header{}
	for _, k := range []string{"Content-Type", "Content-Disposition", "Cache-Control", "X-Content-Type-Options", "Content-Security-Policy"} {
		if v, ok := h[k]; ok {
			keep[k] = v
		}
	}
	return answer{status, keep, body}
}

// sameAsTwin asserts q answers on demo exactly as on twin, where every
// private name of demo is missing, on every path, and never shows a
// private marker. It returns demo's JSON answer.
func sameAsTwin(t *testing.T, f *fixture, q string) answer {
	t.Helper()
	var first answer
	for i, p := range sqlPaths {
		a := f.fetchSQL(p, "demo", q)
		b := f.fetchSQL(p, "twin", q)
		for _, m := range privateMarkers {
			if strings.Contains(a.body, m) {
				t.Fatalf("%s %q read private data: %d %s", p, q, a.status, a.body)
			}
		}
		norm := strings.ReplaceAll(b.body, "twin", "demo")
		if a.status != b.status || a.body != norm || !reflect.DeepEqual(a.header, b.header) {
			t.Fatalf("%s %q: private and missing differ:\ndemo %d %v %s\ntwin %d %v %s", p, q, a.status, a.header, a.body, b.status, b.header, b.body)
		}
		if i == 0 {
			first = a
		}
	}
	return first
}

// TestReader_SQLSmuggling: a second statement hidden where our tokenizer
// and SQLite's disagree must never run; SQLite finds it, and the query is
// refused whole, on every path.
func TestReader_SQLSmuggling(t *testing.T) {
	f := newFixture(t)
	seedConf(f)
	f.reader.Cache = nil
	for _, q := range []string{
		`select $a(') ; select count(*) as n from secrets --'`,
		`select :a(') ; select count(*) as n from secrets --'`,
		`select @a(') ; select count(*) as n from secrets --'`,
		`select $a(') ; select secret from secrets --'`,
		`select $a(') ; select n from privnum --'`,
		`select $a(') ; select count(*) as n from _public_audit --'`,
		`select $a(') ; select json from privjson --'`,
		`select $a::b(');select secret from secrets;--')`,
		`select $a(x);select secret from secrets`,
		`select ?1 ; select secret from secrets`,
		`select ?;select secret from secrets`,
		`select 1 /* ; */ ; select secret from secrets`,
		`select 1 -- ;` + "\n" + `; select secret from secrets`,
		`select 'a;b' ; select secret from secrets`,
		`select 'it''s;' ; select secret from secrets`,
		`select "a;" from (select 1 as "a;"); select secret from secrets`,
		"select `a;` from (select 1 as `a;`); select secret from secrets",
		`select [x;] from (select 1 as [x;]); select secret from secrets`,
		`select 1;;select secret from secrets`,
		`select 1; /* c */ select secret from secrets`,
		`select 1; -- c` + "\n" + `select secret from secrets`,
		`select 1; select 2`,
		`select $a(') ; select 2 --'`,
		`with x as (select 1) select * from x; select secret from secrets`,
	} {
		t.Run(q, func(t *testing.T) {
			a := sameAsTwin(t, f, q)
			if a.status != 400 || !strings.Contains(a.body, "Exactly one SQL statement") {
				t.Fatalf("%q: %d %s, want 400 one statement", q, a.status, a.body)
			}
			// The same with the private names swapped for missing ones,
			// on the database that has them.
			missing := strings.NewReplacer("secrets", "nosuchtbl", "privnum", "nosuchnum", "_public_audit", "_nosuch_audit", "privjson", "nosuchjson").Replace(q)
			back := strings.NewReplacer("nosuchtbl", "secrets", "nosuchnum", "privnum", "_nosuch_audit", "_public_audit", "nosuchjson", "privjson")
			for _, p := range sqlPaths {
				if a, b := f.fetchSQL(p, "demo", q), f.fetchSQL(p, "demo", missing); a.status != b.status || a.body != back.Replace(b.body) {
					t.Fatalf("%s %q: %d %s\nmissing: %d %s", p, q, a.status, a.body, b.status, b.body)
				}
			}
		})
	}
	t.Run("TrailingAllowed", func(t *testing.T) {
		for _, q := range []string{"select 1 as one;", "select 1 as one; ", "select 1 as one; -- x", "select 1 as one; /* x */",
			"select 1 as one;;", "select 1 as one; ; -- x\n;", "/* lead */ select 1 as one", "-- lead\nselect 1 as one -- trail"} {
			if status, raw := f.sqlGet("demo", q); status != 200 || !strings.Contains(raw, `"rows":[{"one":1}]`) {
				t.Fatalf("%q: %d %s", q, status, raw)
			}
		}
	})
	t.Run("ParamsBySQLite", func(t *testing.T) {
		// SQLite's names bind: "$a(x)" is one variable named "a(x)".
		for _, tc := range []struct{ q, key, want string }{
			{"select $a(x) as v", "a(x)", `"rows":[{"v":"7"}]`},
			{"select :a as v", "a", `"rows":[{"v":"7"}]`},
			{"select @a as v", "a", `"rows":[{"v":"7"}]`},
			{"select $a as v", "a", `"rows":[{"v":"7"}]`},
			{"select :b as v", "a", `"rows":[{"v":""}]`},
			{"select ?1 as v", "a", `"rows":[{"v":""}]`},
		} {
			status, raw := f.sqlGet("demo", tc.q, tc.key, "7")
			if status != 200 || !strings.Contains(raw, tc.want) {
				t.Fatalf("%q: %d %s, want %s", tc.q, status, raw, tc.want)
			}
		}
	})
}

// confinedSQL are queries that name no private table yet aim at private
// rows or names: schema oracles by value, hidden columns, natural joins.
// Each answers on demo exactly as on twin.
var confinedSQL = []string{
	// sqlite_master by value, by NATURAL join, USING, IN.
	"with x(name) as (values ('secrets'),('users')) select name from x natural join sqlite_master",
	"with x(name) as (values ('secrets'),('users')) select name from x natural join sqlite_schema",
	"with x(name) as (values ('secrets'),('users')) select name from x natural join sqlite_temp_master",
	"with x(name) as (values ('secrets')) select count(*) from x join sqlite_master using (name)",
	"with x(tbl_name) as (values ('secrets')) select 1 from x natural join main.sqlite_master",
	"select 1 where 'secrets' in (select name from sqlite_master)",
	"select count(*) from sqlite_master",
	"select (select count(*) from sqlite_schema) as n",
	// Functions that take a table's name.
	"select rtreecheck('secrets')",
	"select rtreecheck('SECRETS')",
	"select rtreecheck('privrt')",
	"select rtreenode(2, x'00')",
	"select fts3_tokenizer('simple')",
	"select load_extension('secrets')",
	"select sqlite_offset(id) from cities",
	"select sqlite_compileoption_used('ENABLE_RTREE')",
	"select changes()",
	// Table-valued functions and their hidden columns.
	"select * from json_each('[1]') where json = 'secrets'",
	"select json, root from json_tree('{\"a\":1}')",
	"select * from pubjson join json_tree using (json)",
	"select * from pubjson natural join json_each",
	"select count(*) from json_each",
	"select count(*) from cities natural join json_each('[\"secrets\"]')",
	"select * from pragma_table_info('secrets')",
	"select * from pragma_table_list",
	"select * from privrt",
	"select * from rtree_i32",
	"select * from fts3tokenize",
	// Private tables through joins, CTEs, subqueries in every clause.
	"select * from cities natural join secrets",
	"select * from cities join secrets using (id)",
	"select * from cities natural join privjson",
	"with secrets(secret) as (select 'mine') select * from secrets",
	"with x as (select * from secrets) select count(*) from x",
	"select (select secret from secrets) from cities",
	"select * from (select * from secrets)",
	"select * from cities where id in (select id from secrets)",
	"select count(*) from cities group by (select secret from secrets)",
	"select count(*) from cities group by pop having (select count(*) from secrets)",
	"select * from cities order by (select secret from secrets)",
	"select * from cities limit (select count(*) from secrets)",
	"select * from cities limit 1 offset (select count(*) from secrets)",
	"select * from cities join big on (select 1 from secrets)",
	"select case when exists (select 1 from secrets) then 1 end",
	"select sum(id) over (order by (select count(*) from secrets)) from cities",
	"select count(*) from _public_audit",
	"select count(*) from _public_tables",
	"select count(*) from _table_versions",
	"select count(*) from _public_database",
	// Views and triggers over private tables.
	"select * from leak",
	"select count(*) from leak2",
	"select * from privview",
	"select * from cities, big where big.name = cities.name",
	// Not SELECT.
	"explain select * from cities",
	"explain query plan select * from cities",
	"pragma table_list",
	"insert into cities values (9, 'x', 1)",
	"attach ':memory:' as x",
	"with x as (select 1) select * from x",
	"select * from cities",
}

// TestReader_SQLConfined: every query of confinedSQL answers on a
// database with private tables byte for byte as on its twin without them.
func TestReader_SQLConfined(t *testing.T) {
	f := newFixture(t)
	seedConf(f)
	f.reader.Cache = nil
	for _, q := range append(confinedSQL, adversarialSQL...) {
		t.Run(q, func(t *testing.T) { sameAsTwin(t, f, q) })
	}
	// What works keeps working.
	for _, q := range []string{"with x as (select 1) select * from x", "select * from cities", "select * from big",
		"select * from pubjson join json_tree using (json)", "select count(*) from json_each", "with secrets(secret) as (select 'mine') select * from secrets",
		"select * from cities join big on (select 1 from cities)", "select name from cities where pop > 2 order by pop",
		"select v from wr where k = 'b'", "select * from pubrt where a > 1",
		"select count(*) from pubrt natural join cities"} {
		if status, raw := f.sqlGet("demo", q); status != 200 {
			t.Fatalf("%q: %d %s", q, status, raw)
		}
	}
}

// TestReader_SQLFunctionsPrivateName calls every function and table
// module of this build with a private table's name as text: each answers
// as on the twin, where the name is missing.
func TestReader_SQLFunctionsPrivateName(t *testing.T) {
	f := newFixture(t)
	seedConf(f)
	f.reader.Cache = nil
	list := func(q string) []string {
		rows, err := f.dbs["demo"].Query(q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		return out
	}
	funcs := list(`SELECT DISTINCT name FROM pragma_function_list WHERE name NOT IN ('random', 'randomblob') ORDER BY name`)
	modules := list(`SELECT name FROM pragma_module_list ORDER BY name`)
	if len(funcs) < 50 || len(modules) < 3 {
		t.Fatalf("functions %v, modules %v", funcs, modules)
	}
	ident := regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
	for _, fn := range funcs {
		if !ident.MatchString(fn) {
			fn = `"` + fn + `"`
		}
		for _, q := range []string{"select " + fn + "('secrets')", "select " + fn + "('secrets', 'secret')", "select " + fn + "('privrt', 1, 2)",
			"select count(*) from cities where " + fn + "('secrets') is null"} {
			a := sameAsTwin(t, f, q)
			if strings.Contains(a.body, "not authorized") {
				t.Fatalf("%q: %s", q, a.body)
			}
		}
	}
	for _, m := range modules {
		for _, q := range []string{"select * from " + m + "('secrets')", "select count(*) from " + m} {
			sameAsTwin(t, f, q)
		}
	}
}

// TestReader_SQLTableFunctionHidden: a private table named like an
// allowed table-valued function hides it. The function is then
// unavailable (SQLite itself would read the table): refused as a missing
// name is (json_each swapped for nosuch_each), and never the table's rows.
func TestReader_SQLTableFunctionHidden(t *testing.T) {
	f := newFixture(t)
	f.MustExec("tvf", append([]string{gate.PublicTablesDDL, `CREATE TABLE json_each (value TEXT)`, `INSERT INTO json_each VALUES ('hunter7')`,
		`CREATE TABLE pub (x)`, publish("pub")}, publicDB(false, true)...)...)
	for _, q := range []string{"select * from json_each('[1]')", "select count(*) from json_each", "select * from json_each",
		"select * from JSON_EACH('[1]')", "select value from pub, json_each(pub.x)", "select $a(') ; select * from json_each --'"} {
		for _, p := range sqlPaths {
			a := f.fetchSQL(p, "tvf", q)
			b := f.fetchSQL(p, "tvf", strings.NewReplacer("json_each", "nosuch_each", "JSON_EACH", "NOSUCH_EACH").Replace(q))
			back := strings.NewReplacer("nosuch_each", "json_each", "NOSUCH_EACH", "JSON_EACH").Replace(b.body)
			if a.status != 400 || strings.Contains(a.body, "hunter") || a.status != b.status || a.body != back {
				t.Fatalf("%s %q: %d %s\nmissing name: %d %s", p, q, a.status, a.body, b.status, b.body)
			}
		}
	}
	if status, raw := f.sqlGet("tvf", "select * from json_tree('[1]')"); status != 200 {
		t.Fatalf("json_tree: %d %s", status, raw)
	}
}

// TestReader_SQLPrivateDatabase: a database with public SQL off and only
// private tables answers as a missing one, on every path, headers too.
func TestReader_SQLPrivateDatabase(t *testing.T) {
	f := newFixture(t)
	f.MustExec("privdb", gate.PublicTablesDDL, `CREATE TABLE t (x)`, `INSERT INTO t VALUES ('hunter8')`)
	for _, q := range []string{"select 1", "select * from t", "select $a(') ; select * from t --'"} {
		for _, p := range sqlPaths {
			a, b := f.fetchSQL(p, "privdb", q), f.fetchSQL(p, "nosuchd", q)
			if a.status != 404 || a.status != b.status || a.body != strings.ReplaceAll(b.body, "nosuchd", "privdb") || !reflect.DeepEqual(a.header, b.header) {
				t.Fatalf("%s %q: private %d %v %s\nmissing %d %v %s", p, q, a.status, a.header, a.body, b.status, b.header, b.body)
			}
		}
	}
}

// TestReader_SQLVerdictCache: a remembered pass never outlives the public
// set or the schema it was made for.
func TestReader_SQLVerdictCache(t *testing.T) {
	f := newFixture(t)
	f.MustExec("vc", append([]string{gate.PublicTablesDDL, `CREATE TABLE t (x)`, `INSERT INTO t VALUES ('hunter5')`, publish("t")}, publicDB(false, true)...)...)
	f.reader.Cache = nil
	q := "select count(*) as n from t"
	if status, raw := f.sqlGet("vc", q); status != 200 || !strings.Contains(raw, `{"n":1}`) {
		t.Fatalf("public: %d %s", status, raw)
	}
	f.MustExec("vc", `DELETE FROM _public_tables WHERE table_name = 't'`)
	if status, raw := f.sqlGet("vc", q); status != 400 || !strings.Contains(raw, "no such table: t") {
		t.Fatalf("after unpublishing: %d %s", status, raw)
	}
	// Same public set and DDL, another table behind the name: the schema
	// version moves, the verdict goes.
	f.MustExec("vc", publish("t"))
	if status, raw := f.sqlGet("vc", q); status != 200 {
		t.Fatalf("republished: %d %s", status, raw)
	}
	f.MustExec("vc", `ALTER TABLE t RENAME TO priv`, `CREATE TABLE t (x)`)
	if status, raw := f.sqlGet("vc", "select count(*) as n from t"); status != 200 || !strings.Contains(raw, `{"n":0}`) {
		t.Fatalf("new t: %d %s", status, raw)
	}
}
