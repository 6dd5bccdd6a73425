package replica

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/replica/gate"
)

// seedTokenSQL is seedSQL (public SQL on "demo": public tables and views,
// private ones, views over private tables), with a private table named
// like a table function, plus "privdb" (a gate, no public table, public
// SQL off) and "nogate" (no tablecast table at all).
func seedTokenSQL(f *fixture) *fakeReadTokens {
	seedSQL(f)
	f.MustExec("demo", `CREATE TABLE json_tree (v TEXT)`, `INSERT INTO json_tree VALUES ('shadowed')`)
	f.MustExec("privdb", gate.PublicTablesDDL, `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)`,
		`INSERT INTO notes VALUES (1, 'only for readers')`)
	f.MustExec("nogate", `CREATE TABLE t (x)`, `INSERT INTO t VALUES ('no gate')`)
	tokens := &fakeReadTokens{secrets: map[string]bool{"reader": true, "writer": false}}
	f.reader.Tokens = tokens
	return tokens
}

// sqlPath is the path of a query on db in one of the SQL answers' forms.
func sqlPath(db, form, query string) string {
	q := url.Values{"sql": {query}}.Encode()
	switch form {
	case "stream":
		return "/" + db + "/-/query.csv?" + q + "&_stream=on"
	case "html":
		return "/" + db + "/-/query?" + q
	}
	return "/" + db + "/-/query." + form + "?" + q
}

// sqlForms are every way a query is answered: JSON, CSV, streamed CSV,
// the HTML page.
var sqlForms = []string{"json", "csv", "stream", "html"}

// fetched is an answer, all of it but its Date.
func fetched(f *fixture, path string, hdr ...string) string {
	f.t.Helper()
	status, h, body := f.MustFetch(path, hdr...)
	h = h.Clone()
	h.Del("Date")
	var b strings.Builder
	b.WriteString(http.StatusText(status) + "\n")
	_ = h.Write(&b)
	return b.String() + "\n" + body
}

// A read token runs SQL over every table and view of the database,
// private ones included, on every SQL route, even where public SQL is
// off; never over tablecast's or SQLite's own tables, which answer as
// missing ones; still one read-only statement with allowed functions,
// the same limits; private, uncached answers.
func TestReader_TokenSQL(t *testing.T) {
	f := newFixture(t)
	seedTokenSQL(f)
	if status, _, body := f.MustFetch("/demo/-/query"); status != 200 || !strings.Contains(body, "Reads public tables only") {
		t.Errorf("anonymous /demo/-/query: %d %s", status, body)
	}
	entries := f.reader.Cache.Stats().Entries
	read := func(path string) (int, http.Header, string) {
		t.Helper()
		status, h, body := f.MustFetch(path, "Authorization", "Bearer reader")
		if h.Get("Cache-Control") != "private, no-store" || h.Get("Vary") != "Authorization" || h.Get("Etag") != "" {
			t.Errorf("%s: Cache-Control %q, Vary %q, ETag %q; want private, no-store, Authorization and none",
				path, h.Get("Cache-Control"), h.Get("Vary"), h.Get("Etag"))
		}
		return status, h, body
	}

	t.Run("ReadsPrivate", func(t *testing.T) {
		for _, tc := range []struct{ db, sql, want string }{
			{"demo", "select secret from secrets", "hunter2"},
			{"demo", "select name from privview order by name limit 1", "London"}, // a private view
			{"demo", "select * from leak", "hunter2"},                             // a public view of a private table
			{"demo", "select c.name || ':' || s.secret as x from cities c join secrets s on s.id = c.id", "London:hunter2"},
			{"demo", "select s from MixedCase", "hunter3"},
			{"demo", "select v from json_tree", "shadowed"},                  // a private table hiding a table function
			{"demo", "select count(*) as n from secrets", "1"},               // a read of no column
			{"demo", "select value from json_each('[\"jv\"]')", "jv"},        // table functions still work
			{"privdb", "select body from notes", "only for readers"},         // public SQL off
			{"nogate", "select x from t", "no gate"},                         // no gate at all
			{"demo", "select secret from secrets where id = :id", "hunter2"}, // parameters
		} {
			for _, form := range sqlForms {
				path := sqlPath(tc.db, form, tc.sql)
				if tc.sql == "select secret from secrets where id = :id" {
					path += "&id=1"
				}
				status, h, body := read(path)
				if status != 200 || !strings.Contains(body, tc.want) {
					t.Errorf("%s: %d %s, want 200 with %s", path, status, body, tc.want)
				}
				if h.Get(tablecast.HeaderTXID) == "" {
					t.Errorf("%s: no TXID", path)
				}
			}
		}
		// The query form of a database with public SQL off.
		if status, _, body := read("/privdb/-/query"); status != 200 || !strings.Contains(body, "<form") || !strings.Contains(body, "Reads every table and view") {
			t.Errorf("/privdb/-/query: %d %s", status, body)
		}
	})

	t.Run("ReservedAsMissing", func(t *testing.T) {
		// Each answers the token as the query of a missing table does (the
		// name swapped), and as it answers an anonymous visitor.
		for _, tc := range []struct{ sql, name, missing string }{
			{"select * from sqlite_master", "sqlite_master", "sqlite_nosuch"},
			{"select * from _public_tables", "_public_tables", "_public_nosuch"},
			{"select * from _public_database", "_public_database", "_public_nosuchxxx"},
			{"select * from _table_versions", "_table_versions", "_table_nosuchxx"},
			{"select count(*) from _public_tables", "_public_tables", "_public_nosuch"},
			{"select * from cities, _public_tables", "_public_tables", "_public_nosuch"},
			{"select name from sqlite_master where name = 'secrets'", "sqlite_master", "sqlite_nosuch"},
			{"select * from pragma_table_info('secrets')", "pragma_table_info", "pragma_nosuch_info"},
			// SQLite names sqlite_schema sqlite_master: no missing twin.
			{"select * from sqlite_schema", "", ""},
		} {
			for _, form := range sqlForms {
				path := sqlPath("demo", form, tc.sql)
				status, _, got := read(path)
				// The form says what it reads: the one line that differs.
				asAnon := strings.Replace(got, "Reads every table and view (your token)", "Reads public tables only", 1)
				if _, _, anon := f.MustFetch(path); status != 400 || asAnon != anon {
					t.Errorf("%s %s: %d\n%s\nanonymous:\n%s", form, tc.sql, status, got, anon)
				}
				if tc.name == "" {
					continue
				}
				_, _, want := read(sqlPath("demo", form, strings.ReplaceAll(tc.sql, tc.name, tc.missing)))
				if strings.ReplaceAll(got, tc.name, tc.missing) != want {
					t.Errorf("%s %s:\n%s\nwant, as for a missing table,\n%s", form, tc.sql, got, want)
				}
			}
		}
		// A private view over tablecast's table is no view at all.
		f.MustExec("demo", `CREATE VIEW gate AS SELECT * FROM _public_tables`)
		_, _, got := read(sqlPath("demo", "json", "select * from gate"))
		_, _, want := read(sqlPath("demo", "json", "select * from gatx"))
		if strings.ReplaceAll(got, "gate", "gatx") != want {
			t.Errorf("view over _public_tables: %s, want %s", got, want)
		}
		// Views over SQLite's own tables and pragmas (the shadow has its
		// own sqlite_master, so they survive there): refused all the same.
		f.MustExec("demo", `CREATE VIEW schemaview AS SELECT * FROM sqlite_master`,
			`CREATE VIEW pragmaview AS SELECT * FROM pragma_table_list`)
		for _, q := range []string{"select * from schemaview", "select sql from schemaview", "select * from pragmaview"} {
			if status, _, body := read(sqlPath("demo", "json", q)); status != 400 || strings.Contains(body, "CREATE") || strings.Contains(body, "secrets") {
				t.Errorf("%s: %d %s, want 400", q, status, body)
			}
		}
	})

	t.Run("StillConfined", func(t *testing.T) {
		for _, tc := range []struct{ sql, want string }{
			{"select 1; select secret from secrets", "Exactly one SQL statement is allowed"},
			{"delete from secrets", "Statement must be a SELECT"},
			{"with x as (select 1) delete from secrets", "Statement must be a SELECT"},
			{"with x as (select 1) insert into secrets select 2, 'x'", "Statement must be a SELECT"},
			{"select load_extension('x')", "no such function: load_extension"},
			{"select sqlite_offset(secret) from secrets", "no such function: sqlite_offset"},
			{"select * from pragma_database_list", "no such table: pragma_database_list"},
		} {
			status, _, body := read(sqlPath("demo", "json", tc.sql))
			if status != 400 || !strings.Contains(body, tc.want) {
				t.Errorf("%s: %d %s, want 400 %s", tc.sql, status, body, tc.want)
			}
		}
		if _, _, body := read(sqlPath("demo", "json", "select secret from secrets")); !strings.Contains(body, "hunter2") {
			t.Fatalf("the refusals broke the next query: %s", body)
		}
	})

	t.Run("Limits", func(t *testing.T) {
		defer func(n int) { f.reader.SQLMaxRows = n }(f.reader.SQLMaxRows)
		f.reader.SQLMaxRows = 2
		status, _, body := read(sqlPath("demo", "json", "select * from secrets, cities"))
		if status != 200 || !strings.Contains(body, `"truncated":true`) {
			t.Errorf("row limit: %d %s", status, body)
		}
		defer func(d time.Duration) { f.reader.SQLTimeLimit = d }(f.reader.SQLTimeLimit)
		f.reader.SQLTimeLimit = 50 * time.Millisecond
		status, _, body = read(sqlPath("demo", "json", "with recursive c(i) as (select 1 union all select i+1 from c) select count(*) from c, secrets"))
		if status != 400 || !strings.Contains(body, "SQL query took too long: the limit is 50ms") {
			t.Errorf("time limit: %d %s", status, body)
		}
	})

	t.Run("NotCached", func(t *testing.T) {
		if got := f.reader.Cache.Stats().Entries; got != entries {
			t.Errorf("cache entries %d, were %d: a token's SQL was cached", got, entries)
		}
	})

	t.Run("WriteOnlyTokenAsAnonymous", func(t *testing.T) {
		for _, form := range sqlForms {
			for _, q := range []string{"select secret from secrets", "select name from cities order by id"} {
				path := sqlPath("demo", form, q)
				_, _, anon := f.MustFetch(path)
				status, h, body := f.MustFetch(path, "Authorization", "Bearer writer")
				if body != anon || strings.Contains(body, "hunter2") {
					t.Errorf("%s with a write-only token: %d %s, want %s", path, status, body, anon)
				}
				if h.Get("Cache-Control") != "private, no-store" {
					t.Errorf("%s with a write-only token: Cache-Control %q", path, h.Get("Cache-Control"))
				}
			}
			path := sqlPath("privdb", form, "select 1")
			_, _, anon := f.MustFetch(path)
			if status, _, body := f.MustFetch(path, "Authorization", "Bearer writer"); status != 404 || body != anon {
				t.Errorf("%s with a write-only token: %d %s, want %s", path, status, body, anon)
			}
		}
	})

	t.Run("BadToken", func(t *testing.T) {
		for _, form := range sqlForms {
			for _, auth := range []string{"Bearer nobody", "Basic cmVhZGVyOg=="} {
				path := sqlPath("demo", form, "select secret from secrets")
				status, h, body := f.MustFetch(path, "Authorization", auth)
				if status != 401 || h.Get("WWW-Authenticate") != "Bearer" || body != `{"error":"Invalid token","ok":false,"status":401}`+"\n" {
					t.Errorf("%s with %q: %d %s, want 401", path, auth, status, body)
				}
			}
		}
	})

	t.Run("Visible", func(t *testing.T) {
		for _, tc := range []struct {
			auth string
			want bool
		}{{"", false}, {"Bearer reader", true}, {"Bearer writer", false}, {"Bearer nobody", false}} {
			req := httptest.NewRequest("GET", sqlPath("privdb", "json", "select 1"), nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			if got := f.reader.Visible(req, "privdb"); got != tc.want {
				t.Errorf("Visible(privdb) with %q: %t, want %t", tc.auth, got, tc.want)
			}
		}
	})
}

// A token's query runs first, on cold caches (shadow, verdicts, root
// pages); the same text then answers anonymously exactly as the query of
// a missing table does, on every SQL route: headers and body, byte for
// byte but for the name. And every anonymous answer, public queries'
// included, is byte for byte what it was before any token query.
func TestReader_TokenSQLNeverLeaks(t *testing.T) {
	for _, tc := range []struct{ sql, name, missing string }{
		{"select secret from secrets", "secrets", "nosuchx"},
		{"select * from privview", "privview", "nosuchvw"},
		{"select c.name, s.secret from cities c join secrets s on s.id = c.id", "secrets", "nosuchx"},
		{"select * from leak", "leak", "nosu"},
		{"select count(*) from secrets", "secrets", "nosuchx"},
		{"select * from json_tree", "json_tree", "json_tres"},
	} {
		// Subtest names end up in database paths: no "#".
		t.Run(strings.ReplaceAll(tc.sql, " ", "_"), func(t *testing.T) {
			// Two fixtures of the same history (and ETag key): one sees a
			// token's queries first, the other never.
			f, clean := newFixture(t), newFixture(t)
			seedTokenSQL(f)
			seedTokenSQL(clean)
			f.reader.ETagKey, clean.reader.ETagKey = []byte("same key"), []byte("same key")
			for _, form := range sqlForms {
				if status, _, body := f.MustFetch(sqlPath("demo", form, tc.sql), "Authorization", "Bearer reader"); status != 200 {
					t.Fatalf("%s with a token: %d %s", form, status, body)
				}
			}
			for _, form := range sqlForms {
				got := fetched(f, sqlPath("demo", form, tc.sql))
				want := fetched(f, sqlPath("demo", form, strings.ReplaceAll(tc.sql, tc.name, tc.missing)))
				if strings.ReplaceAll(got, tc.name, tc.missing) != want {
					t.Errorf("%s anonymous after a token:\n%s\nwant, as for a missing table,\n%s", form, got, want)
				}
				if never := fetched(clean, sqlPath("demo", form, tc.sql)); got != never {
					t.Errorf("%s anonymous after a token:\n%s\nwithout one:\n%s", form, got, never)
				}
			}
			// Public queries: the same answers (ETags, TXIDs) with or
			// without token queries before them.
			for _, form := range sqlForms {
				for _, q := range []string{"select name from cities order by id", "select * from big"} {
					if got, never := fetched(f, sqlPath("demo", form, q)), fetched(clean, sqlPath("demo", form, q)); got != never {
						t.Errorf("%s %s after a token:\n%s\nwithout one:\n%s", form, q, got, never)
					}
				}
			}
		})
	}
}

// A virtual table's own tables (FTS4's docs_content for docs) are in the
// private view, and in a whole public database, beside the virtual table
// that makes them in the shadow: its shadow builds, and SQL runs.
func TestReader_SQLShadowOfVirtualTables(t *testing.T) {
	f := newFixture(t)
	seedTokenSQL(f)
	f.MustExec("fts", gate.PublicTablesDDL, `CREATE VIRTUAL TABLE docs USING fts4(body)`, `INSERT INTO docs VALUES ('hello world')`,
		`CREATE TABLE plain (x)`, `INSERT INTO plain VALUES ('plain row')`)
	f.MustExec("ftspub", append([]string{`CREATE VIRTUAL TABLE docs USING fts4(body)`, `INSERT INTO docs VALUES ('public hello')`},
		publicDB(true, true)...)...)
	for _, tc := range []struct{ db, sql, want, auth string }{
		{"fts", "select x from plain", "plain row", "Bearer reader"},
		{"fts", "select c0body from docs_content", "hello world", "Bearer reader"},
		{"ftspub", "select c0body from docs_content", "public hello", ""},
	} {
		var hdr []string
		if tc.auth != "" {
			hdr = []string{"Authorization", tc.auth}
		}
		if status, _, body := f.MustFetch(sqlPath(tc.db, "json", tc.sql), hdr...); status != 200 || !strings.Contains(body, tc.want) {
			t.Errorf("%s %s: %d %s, want 200 with %s", tc.db, tc.sql, status, body, tc.want)
		}
	}
}

// _tablecast.db (tokens, sessions, audit) is no database to SQL either,
// with a read token: it answers exactly as a missing database. (The name
// is primary.ControlDBName, spelled out: replica does not import primary.)
func TestReader_TokenSQLNoControlDB(t *testing.T) {
	const controlDB = "_tablecast"
	f := newFixture(t)
	seedTokenSQL(f)
	f.MustExec(controlDB, `CREATE TABLE tokens (hash TEXT)`, `INSERT INTO tokens VALUES ('tokenhash')`)
	for _, form := range sqlForms {
		for _, auth := range []string{"", "Bearer reader"} {
			var hdr []string
			if auth != "" {
				hdr = []string{"Authorization", auth}
			}
			got := fetched(f, sqlPath(controlDB, form, "select * from tokens"), hdr...)
			want := fetched(f, sqlPath("nosuchdb12", form, "select * from tokens"), hdr...)
			if strings.ReplaceAll(got, controlDB, "nosuchdb12") != want || strings.Contains(got, "tokenhash") {
				t.Errorf("%s %q:\n%s\nwant, as a missing database,\n%s", form, auth, got, want)
			}
		}
	}
}
