package replica

import (
	"net/url"
	"strings"
	"testing"

	"github.com/tablecast/tablecast/replica/gate"
)

// whereGet fetches a table page with each _where fragment, escaped.
func (f *fixture) whereGet(path string, where ...string) (int, string) {
	f.t.Helper()
	q := url.Values{"_where": where}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	status, _, raw := f.MustFetch(path + sep + q.Encode())
	return status, raw
}

func TestReader_Where(t *testing.T) {
	f := newFixture(t)
	seedSQL(f)
	for _, tc := range []struct {
		path  string
		where []string
		want  string
	}{
		{"/demo/cities.json?_shape=arrayfirst", []string{"pop > 2"}, `[1,2]`},
		{"/demo/cities.json?_shape=arrayfirst", []string{"pop > 2", "name like 'S%'"}, `[2]`},
		{"/demo/cities.json?_shape=arrayfirst&name=London", []string{"pop > 2"}, `[1]`},
		{"/demo/cities.json?_shape=arrayfirst&_sort_desc=pop", []string{"pop < 9 -- a comment ends with its line"}, `[2,3]`},
		{"/demo/cities.json?_shape=arrayfirst", []string{"pop > 2 or id = 3", "id != 1"}, `[2,3]`}, // each fragment in parentheses
		{"/demo/cities.json?_shape=arrayfirst", []string{"id in (select value from json_each('[1,3]'))"}, `[1,3]`},
		{"/demo/cities.json?_extra=count&_size=1", []string{"pop > 2"}, `"count":2`},
		{"/demo/cities.json?_size=1", []string{"pop > 2"}, `/demo/cities.json?_next=`},
		{"/demo/big.json?_shape=arrayfirst", []string{"name != 'London'"}, `["Sydney"]`},
		{"/demo/cities.csv", []string{"pop = 5"}, "id,name,pop\r\n2,Sydney,5\r\n"},
		{"/demo/cities.csv?_stream=on", []string{"pop = 5"}, "id,name,pop\r\n2,Sydney,5\r\n"},
		{"/demo/cities", []string{"pop = 5"}, "Sydney"},
	} {
		status, raw := f.whereGet(tc.path, tc.where...)
		if status != 200 || !strings.Contains(raw, tc.want) {
			t.Fatalf("%s %q: %d %s, want %s", tc.path, tc.where, status, raw, tc.want)
		}
	}
	t.Run("Next", func(t *testing.T) {
		status, raw := f.whereGet("/demo/cities.json?_size=1&_shape=arrayfirst", "pop > 2")
		if status != 200 || raw != "[1]\n" {
			t.Fatalf("first page: %d %s", status, raw)
		}
	})
	t.Run("Refused", func(t *testing.T) {
		for _, tc := range []struct {
			where []string
			want  string
		}{
			{[]string{"id = :x"}, "_where cannot use SQL parameters"},
			{[]string{"id = ?"}, "_where cannot use SQL parameters"},
			{[]string{"1); delete from cities; select (1"}, ""},
			{[]string{"1) union select 1, secret, 1 from secrets --"}, ""},
			{[]string{"nosuchcol = 1"}, "no such column"},
			{[]string{"load_extension('x')"}, ""},
		} {
			status, raw := f.whereGet("/demo/cities.json", tc.where...)
			if status != 400 || !strings.Contains(raw, tc.want) || !strings.Contains(raw, `"ok":false`) {
				t.Fatalf("%q: %d %s, want 400 with %q", tc.where, status, raw, tc.want)
			}
		}
		if status, raw := f.whereGet("/demo/cities.json", make([]string, MaxWhereClauses+1)...); status != 400 || !strings.Contains(raw, "Too many _where") {
			t.Fatalf("too many: %d %s", status, raw)
		}
	})
	// A private table, view or column answers as a missing one, byte for
	// byte, whatever the fragment reaches it by.
	t.Run("PrivateIsMissing", func(t *testing.T) {
		for _, tmpl := range []string{
			"id in (select id from X)",
			"exists (select 1 from X)",
			"id in (select 1 from cities join X on 1)",
			"1) union select * from X --",
			"(select count(*) from X) > 0",
			"id in (select rowid from X where secret like 'h%')",
			"exists (select 1 from pragma_table_info('X'))",
			"exists (select 1 from sqlite_master where name = 'X')",
			"exists (select 1 from sqlite_schema where tbl_name = 'X')",
			"exists (select 1 from pragma_index_list('X'))",
			"exists (select 1 from json_each((select secret from X)))",
			"(select sql from sqlite_master where name = 'X') is not null",
		} {
			for _, private := range []string{"secrets", "leak", "MixedCase", "privview", "secrets_secret"} {
				s1, b1 := f.whereGet("/demo/cities.json", strings.ReplaceAll(tmpl, "X", private))
				s2, b2 := f.whereGet("/demo/cities.json", strings.ReplaceAll(tmpl, "X", "nosuch"))
				if s1 != s2 || strings.ReplaceAll(b1, private, "Y") != strings.ReplaceAll(b2, "nosuch", "Y") {
					t.Fatalf("%s with %s: %d %s\nmissing: %d %s", tmpl, private, s1, b1, s2, b2)
				}
				if strings.Contains(b1, "hunter") {
					t.Fatalf("%s with %s leaked: %s", tmpl, private, b1)
				}
			}
		}
		// And so does the table itself, with any _where.
		for _, where := range []string{"1", "secret = 'hunter2'", "x"} {
			s1, b1 := f.whereGet("/demo/secrets.json", where)
			s2, b2 := f.whereGet("/demo/nosuch.json", where)
			if s1 != 404 || strings.ReplaceAll(b1, "secrets", "Y") != strings.ReplaceAll(b2, "nosuch", "Y") {
				t.Fatalf("%q: private %d %s, missing %d %s", where, s1, b1, s2, b2)
			}
		}
	})
}

func TestReader_WhereNeedsPublicSQL(t *testing.T) {
	f := newFixture(t)
	seedPeople(f)
	for _, path := range []string{"/demo/people.json", "/demo/people.csv", "/demo/people.csv?_stream=on", "/demo/people"} {
		status, raw := f.whereGet(path, "1")
		if status != 400 || !strings.Contains(raw, "_where needs public SQL on this database") {
			t.Fatalf("%s: %d %s", path, status, raw)
		}
	}
	s1, b1 := f.whereGet("/demo/secrets.json", "1")
	s2, b2 := f.whereGet("/demo/nosuch.json", "1")
	if s1 != 404 || strings.ReplaceAll(b1, "secrets", "Y") != strings.ReplaceAll(b2, "nosuch", "Y") {
		t.Fatalf("private %d %s, missing %d %s", s1, b1, s2, b2)
	}
}

// A _where may read another public table: its page is cached on the
// database's TXID, not on its own table's version.
func TestReader_WhereCache(t *testing.T) {
	f := newFixture(t)
	f.MustExec("c", versionedWrite("a", append([]string{gate.PublicTablesDDL, gate.TableVersionsDDL,
		`CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT)`, `CREATE TABLE b (id INTEGER PRIMARY KEY, v TEXT)`,
		`INSERT INTO a VALUES (1, 'a1'), (2, 'a2')`, publish("a"), publish("b")}, publicDB(false, true)...)...)...)
	get := func(want string) {
		t.Helper()
		if status, raw := f.whereGet("/c/a.json?_shape=arrayfirst", "id in (select id from b)"); status != 200 || raw != want {
			t.Fatalf("%d %s, want %s", status, raw, want)
		}
	}
	get("[]\n")
	get("[]\n")
	f.MustExec("c", versionedWrite("b", `INSERT INTO b VALUES (2, 'b2')`)...)
	get("[2]\n")
}

// With a read token, _where follows that token's SQL: it runs on any
// database and may read private tables; anonymous visitors still get
// the 400 and the 404s.
func TestReader_WhereReadToken(t *testing.T) {
	f := newFixture(t)
	seedPeople(f) // public SQL off
	f.reader.Tokens = &fakeReadTokens{secrets: map[string]bool{"reader": true}}
	for _, tc := range []struct{ path, where, want string }{
		{"/demo/people.json?_shape=arrayfirst", "age > 29", "[1,4,5]"},
		{"/demo/people.json?_shape=arrayfirst", "id in (select id from secrets)", "[1]"},
		{"/demo/secrets.json?_shape=arrayfirst", "secret like 'hunt%'", "[1]"},
	} {
		q := url.Values{"_where": {tc.where}}
		status, _, raw := f.MustFetch(tc.path+"&"+q.Encode(), "Authorization", "Bearer reader")
		if status != 200 || raw != tc.want+"\n" {
			t.Fatalf("%s %s: %d %s, want %s", tc.path, tc.where, status, raw, tc.want)
		}
		if status, raw := f.whereGet(tc.path, tc.where); status == 200 {
			t.Fatalf("%s %s anonymous: %d %s", tc.path, tc.where, status, raw)
		}
	}
}
