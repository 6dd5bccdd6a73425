package replica

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tablecast/tablecast"
)

// FuzzParseRoute feeds URLs to the route and table parameter parsers: no
// panic, a canonical URL that parses to itself, and only EINVALID errors
// from the parameters.
func FuzzParseRoute(f *testing.F) {
	for _, s := range []string{
		"/.json", "/", "/db", "/db.json", "/db/t.json?_sort=a&_size=5", "/db/t/1,2.json", "/a/b/c/d.json",
		"/db/t.csv?_stream=on&name__contains=x&_col=a&_nocol=b", "/db/-/query.json?sql=select+:a&a=1",
		"/db/t.json?a__in=[1,%22x%22]&b__gt=1.5&_next=WzFd&_shape=object&_extra=count,columns",
		"/%zz.json", "/db/t%2Ejson", "/db/t.json?__=1&a____gt=2&_size=max",
		"/db/t/a~2Cb,1.json?_shape=object&x=1", "/db/t/1.csv?_dl=1&_header=off", "/db/t.json?_next=a~2C,1&_sort=a",
		"/db/t.json?_where=a>1&_where=b&_shape=arrayfirst&_size=0&_col=b&_col=a&_sort=a&_sort_by_desc=1",
		"/db/t.csv?a__notlike=x&b__isblank=1&a__notblank=&b__date=2024-01-01&a__arraycontains=1&b__arraynotcontains=2",
		"/db/t?_facet=a&_x=1&_nocount=1&_txid=1&_search_a=x&_shape=array",
	} {
		f.Add(s)
	}
	t := &table{Name: "t", Columns: []string{"a", "b", "a__gt", "id"}, PKs: []string{"id"}, Rowid: true}
	f.Fuzz(func(tt *testing.T, raw string) {
		u, err := url.ParseRequestURI(raw)
		if err != nil {
			return
		}
		rt, ok := parseRoute(u)
		if !ok {
			return
		}
		u2, err := url.ParseRequestURI(rt.canonical)
		if err != nil {
			tt.Fatalf("%q: canonical %q does not parse: %v", raw, rt.canonical, err)
		}
		rt2, ok := parseRoute(u2)
		if !ok || rt2.canonical != rt.canonical || rt2.kind != rt.kind || rt2.db != rt.db || rt2.table != rt.table {
			tt.Fatalf("%q: canonical %q parses to %+v", raw, rt.canonical, rt2)
		}
		if rt.kind == routeTable {
			if _, err := parseTableQuery(t, rt.query, rt.format); err != nil && tablecast.ErrorCode(err) != tablecast.EINVALID {
				tt.Fatalf("%q: %v", raw, err)
			}
		}
		_ = scanSQL(rt.query.Get("sql"))
	})
}

// FuzzPublicSQL runs queries on a database with private tables and on its
// twin without them: the answers must be the same, and never hold a
// secret. A private table is then exactly a missing one, for any query.
func FuzzPublicSQL(f *testing.F) {
	for _, q := range append(adversarialSQL,
		"select * from cities", "select name from big", "select count(*) from cities",
		"select * from leak", "select :a", "select * from json_each('[1]')", "select * from sqlite_master",
		"with x as (select 1) select * from x", "select group_concat(name) from cities",
		"select * from _public_audit", "select sql from sqlite_master", "select * from secrets join _public_audit using (id)",
	) {
		f.Add(q)
	}
	fx := newFixture(f)
	seedConf(fx) // demo, and twin: the same public tables, views and switches, no private table
	fx.reader.SQLTimeLimit = 50 * time.Millisecond
	fx.reader.Cache = nil
	get := fuzzSQLGetter(fx)
	f.Fuzz(func(t *testing.T, q string) {
		start := time.Now()
		defer func() {
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("%q took %s", q, d)
			}
		}()
		// A read token's query first: never tablecast's or SQLite's own
		// tables, and (below) the anonymous answer is as if it never ran.
		if l := strings.ToLower(q); !strings.Contains(l, "hunter") && !strings.Contains(l, "create") {
			checkTokenSQL(t, get, q)
		}
		s1, b1 := get("demo", q)
		if strings.Contains(b1, "hunter") {
			t.Fatalf("%q read a secret: %d %s", q, s1, b1)
		}
		s2, b2 := get("twin", q)
		lower := strings.ToLower(q)
		if strings.Contains(b1+b2, "too long") || strings.Contains(lower, "random") || strings.Contains(lower, "now") ||
			strings.Contains(lower, "current_") || strings.Contains(lower, "julianday") || strings.Contains(lower, "unixepoch") {
			return // time and chance may answer differently
		}
		if s1 != s2 || b1 != b2 {
			t.Fatalf("%q: with private tables %d %s\nwithout %d %s", q, s1, b1, s2, b2)
		}
	})
}

// sqlPieces are what FuzzPublicSQLPieces builds queries from: public and
// private names, SQLite's schema tables, tablecast's own tables, table
// functions with hidden columns, and fragments that split statements
// where a tokenizer might not.
var sqlPieces = []string{
	"select", "*", "count(*)", "from", "where", "join", "natural join", "using (id)", "using (json)", "using (name)",
	"on 1", ",", "(", ")", ";", "union select", "with x(name) as (values ('secrets'))", "x", "as", "in", "exists",
	"group by 1", "order by 1", "limit 1", "=", "1", "'secrets'", "'privnum'", "name", "id", "json", "secret", "n",
	"cities", "big", "pubjson", "secrets", "privnum", "privjson", "privrt", "leak", "privview", "_public_audit",
	"_public_tables", "sqlite_master", "sqlite_schema", "main.", "json_each('[1]')", "json_tree('{\"a\":[1]}')",
	"json_each", "rtreecheck('secrets')", "$a(')", ":a(')", "@a(')", "?1", ":a", "'", "\"", "--", "/*", "*/", "\n",
	"select secret from secrets", "select n from privnum", "select json from privjson", "values (1)",
}

// FuzzPublicSQLPieces builds queries from sqlPieces (each input byte
// picks one) and runs them on demo and on twin: no answer holds a private
// marker, demo answers as twin, and demo answers a query as it answers
// the query with every private name swapped for a missing one.
func FuzzPublicSQLPieces(f *testing.F) {
	idx := func(pieces ...string) []byte {
		var out []byte
		for _, p := range pieces {
			for i, q := range sqlPieces {
				if q == p {
					out = append(out, byte(i))
				}
			}
		}
		return out
	}
	f.Add(idx("select", "$a(')", ";", "select secret from secrets", "--", "'"))
	f.Add(idx("with x(name) as (values ('secrets'))", "select", "name", "from", "x", "natural join", "sqlite_master"))
	f.Add(idx("select", "*", "from", "pubjson", "join", "json_tree('{\"a\":[1]}')", "using (json)"))
	f.Add(idx("select", "count(*)", "from", "cities", "natural join", "secrets"))
	f.Add(idx("select", "rtreecheck('secrets')"))
	f.Add(idx("select", "count(*)", "from", "_public_audit"))
	f.Add(idx("select", "*", "from", "_public_audit"))
	f.Add(idx("select", "*", "from", "secrets", "natural join", "_public_audit"))
	fx := newFixture(f)
	seedConf(fx)
	fx.reader.SQLTimeLimit = 50 * time.Millisecond
	fx.reader.Cache = nil
	get := fuzzSQLGetter(fx)
	f.Fuzz(func(t *testing.T, picks []byte) {
		parts, ok := pickPieces(picks)
		if !ok {
			return
		}
		q := strings.Join(parts, " ")
		if len(parts) == 0 || (parts[0] != "select" && !strings.HasPrefix(parts[0], "with") && !strings.HasPrefix(parts[0], "values")) {
			q = "select " + q // most other starts stop at the first keyword
		}
		checkTokenSQL(t, get, q)
		s1, b1 := get("demo", q)
		for _, m := range privateMarkers {
			if strings.Contains(b1, m) {
				t.Fatalf("%q read private data: %d %s", q, s1, b1)
			}
		}
		s2, b2 := get("twin", q)
		s3, b3 := get("demo", toMissing.Replace(q))
		if strings.Contains(b1+b2+b3, "too long") {
			return
		}
		if s1 != s2 || b1 != b2 {
			t.Fatalf("%q: with private tables %d %s\nwithout %d %s", q, s1, b1, s2, b2)
		}
		if s1 != s3 || b1 != back.Replace(b3) {
			t.Fatalf("%q: %d %s\nnames missing: %d %s", q, s1, b1, s3, b3)
		}
	})
}

// FuzzWherePieces builds _where fragments from sqlPieces and reads a
// public table with them on demo and on twin, as FuzzPublicSQLPieces
// runs queries: a fragment reaches no private table, view or column, and
// demo answers as twin and as with every private name swapped for a
// missing one.
func FuzzWherePieces(f *testing.F) {
	for _, seed := range [][]byte{{6, 5, 22, 40}, {4, 5, 0, 1, 2, 41}, {5, 47, 10, 21}, {60, 62}, {4, 0, 2, 57, 36, 5}} {
		f.Add(seed)
	}
	fx := newFixture(f)
	seedConf(fx)
	fx.reader.SQLTimeLimit = 50 * time.Millisecond
	fx.reader.Cache = nil
	fx.reader.Tokens = &fakeReadTokens{secrets: map[string]bool{"reader": true}}
	get := func(db, where string, hdr ...string) (int, string) {
		req := httptest.NewRequest("GET", "/"+db+"/cities.json?_extra=count&_where="+url.QueryEscape(where), nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		w := httptest.NewRecorder()
		fx.reader.ServeHTTP(w, req)
		return w.Code, strings.ReplaceAll(w.Body.String(), `"database":"`+db+`"`, `"database":"X"`)
	}
	f.Fuzz(func(t *testing.T, picks []byte) {
		parts, ok := pickPieces(picks)
		if !ok {
			return
		}
		where := strings.Join(parts, " ")
		if status, body := get("demo", where, "Authorization", "Bearer reader"); status == http.StatusInternalServerError ||
			strings.Contains(body, reservedMarkers[0]) || strings.Contains(body, reservedMarkers[1]) {
			t.Fatalf("%q with a read token: %d %s", where, status, body)
		}
		s1, b1 := get("demo", where)
		for _, m := range privateMarkers {
			if strings.Contains(b1, m) {
				t.Fatalf("%q read private data: %d %s", where, s1, b1)
			}
		}
		if s1 == http.StatusInternalServerError {
			t.Fatalf("%q: %d %s", where, s1, b1)
		}
		s2, b2 := get("twin", where)
		s3, b3 := get("demo", toMissing.Replace(where))
		if strings.Contains(b1+b2+b3, "too long") {
			return
		}
		if s1 != s2 || b1 != b2 {
			t.Fatalf("%q: with private tables %d %s\nwithout %d %s", where, s1, b1, s2, b2)
		}
		if s1 != s3 || b1 != back.Replace(b3) {
			t.Fatalf("%q: %d %s\nnames missing: %d %s", where, s1, b1, s3, b3)
		}
	})
}

// fuzzSQLGetter runs a query on db's JSON endpoint, with the headers
// given (a read token "reader" is known), the database's name masked.
func fuzzSQLGetter(fx *fixture) func(db, q string, hdr ...string) (int, string) {
	fx.reader.Tokens = &fakeReadTokens{secrets: map[string]bool{"reader": true}}
	return func(db, q string, hdr ...string) (int, string) {
		req := httptest.NewRequest("GET", "/"+db+"/-/query.json?sql="+url.QueryEscape(q), nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		w := httptest.NewRecorder()
		fx.reader.ServeHTTP(w, req)
		return w.Code, strings.ReplaceAll(w.Body.String(), `"database":"`+db+`"`, `"database":"X"`)
	}
}

// reservedMarkers are values only tablecast's and SQLite's own tables of
// seedConf's demo hold (_public_audit's rows, sqlite_master's DDL): no
// answer, not even a read token's, may contain one.
var reservedMarkers = []string{"hunter-", "CREATE "}

// checkTokenSQL runs q with a read token on demo: it may read private
// tables, never reserved ones.
func checkTokenSQL(t *testing.T, get func(db, q string, hdr ...string) (int, string), q string) {
	t.Helper()
	status, body := get("demo", q, "Authorization", "Bearer reader")
	for _, m := range reservedMarkers {
		if strings.Contains(body, m) {
			t.Fatalf("%q with a read token read a reserved table: %d %s", q, status, body)
		}
	}
	if status == http.StatusInternalServerError {
		t.Fatalf("%q with a read token: %d %s", q, status, body)
	}
}

// toMissing renames the private names of seedConf's database to names
// that exist nowhere, and back undoes it: a fuzzed query's answer for the
// private names must equal its answer for the missing ones.
var (
	toMissing = strings.NewReplacer("secrets", "nosuchtbl", "privnum", "nosuchnum", "privjson", "nosuchjson", "privrt", "nosuchrt",
		"privview", "nosuchview", "_public_audit", "_nosuch_audit")
	back = strings.NewReplacer("nosuchtbl", "secrets", "nosuchnum", "privnum", "nosuchjson", "privjson", "nosuchrt", "privrt",
		"nosuchview", "privview", "_nosuch_audit", "_public_audit")
)

// pickPieces turns fuzz bytes into SQL pieces (sqlPieces), at most 40.
func pickPieces(picks []byte) ([]string, bool) {
	if len(picks) > 40 {
		return nil, false
	}
	parts := make([]string, len(picks))
	for i, b := range picks {
		parts[i] = sqlPieces[int(b)%len(sqlPieces)]
	}
	return parts, true
}
