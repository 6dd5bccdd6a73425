package replica

import (
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
	) {
		f.Add(q)
	}
	fx := newFixture(f)
	seedSQL(fx)
	// The twin: the same public tables, views and switches, no private table.
	fx.MustExec("twin", append([]string{gateDDL,
		`CREATE TABLE cities (id INTEGER PRIMARY KEY, name TEXT, pop INTEGER)`,
		`INSERT INTO cities VALUES (1, 'London', 9), (2, 'Sydney', 5), (3, 'Oslo', 1)`,
		`CREATE VIEW big AS SELECT name FROM cities WHERE pop > 2`,
		publish("cities"), publish("big"), publish("leak"), publish("leak2")}, publicDB(false, true)...)...)
	fx.reader.SQLTimeLimit = 50 * time.Millisecond
	fx.reader.Cache = nil
	get := func(db, q string) (int, string) {
		req := httptest.NewRequest("GET", "/"+db+"/-/query.json?sql="+url.QueryEscape(q), nil)
		w := httptest.NewRecorder()
		fx.reader.ServeHTTP(w, req)
		return w.Code, strings.ReplaceAll(w.Body.String(), `"database":"`+db+`"`, `"database":"X"`)
	}
	f.Fuzz(func(t *testing.T, q string) {
		start := time.Now()
		defer func() {
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("%q took %s", q, d)
			}
		}()
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
