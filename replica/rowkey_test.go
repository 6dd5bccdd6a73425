package replica

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/replica/gate"
)

// awkward are text keys a row URL must carry: the separators of the URL
// grammar and of both encodings, spaces, unicode, and a number.
var awkward = []string{"plain", "a,b", "c/d", "t~x", "p.json", "two words", "ünï ✓", "50%", "1+1", "~2C", "%2C", "-_", "1"}

// seedKeys makes a database with a table of every kind of key.
func seedKeys(f *fixture) {
	stmts := []string{gate.PublicTablesDDL,
		`CREATE TABLE ints (id INTEGER PRIMARY KEY, v TEXT)`,
		`CREATE TABLE tpk (code TEXT PRIMARY KEY, v TEXT)`, // a rowid table keyed by text
		`CREATE TABLE cpk (k TEXT, n INTEGER, v TEXT, PRIMARY KEY (k, n))`,
		`CREATE TABLE wr (k TEXT, n INTEGER, v TEXT, PRIMARY KEY (k, n)) WITHOUT ROWID`,
		`CREATE TABLE plain (v TEXT)`,
		`CREATE VIEW vw AS SELECT v FROM plain`,
	}
	// Keys inserted out of order, so that rowid order is not key order.
	for i, k := range slices.Backward(awkward) {
		q := strings.ReplaceAll(k, "'", "''")
		stmts = append(stmts,
			fmt.Sprintf(`INSERT INTO ints VALUES (%d, '%s')`, 100-i, q),
			fmt.Sprintf(`INSERT INTO tpk VALUES ('%s', '%s')`, q, q),
			fmt.Sprintf(`INSERT INTO cpk VALUES ('%s', %d, '%s'), ('%s', %d, '%s')`, q, 2, q+"#2", q, 1, q+"#1"),
			fmt.Sprintf(`INSERT INTO wr VALUES ('%s', %d, '%s')`, q, i, q),
			fmt.Sprintf(`INSERT INTO plain VALUES ('%s')`, q))
	}
	// SQLite lets a rowid table's text key hold NULLs, more than one.
	stmts = append(stmts, `INSERT INTO tpk VALUES (NULL, 'null1'), (NULL, 'null2')`, `INSERT INTO cpk VALUES (NULL, 1, 'null1'), ('a,b', NULL, 'null2')`)
	for _, t := range []string{"ints", "tpk", "cpk", "wr", "plain", "vw"} {
		stmts = append(stmts, publish(t))
	}
	f.MustExec("keys", stmts...)
}

// percentEncode escapes every byte but letters and digits as %XX.
func percentEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func firstRow(t *testing.T, f *fixture, path string) map[string]any {
	t.Helper()
	status, body, raw := f.MustGet(path)
	if status != 200 {
		t.Fatalf("%s: status %d: %s", path, status, raw)
	}
	rows, _ := body["rows"].([]any)
	if len(rows) != 1 {
		t.Fatalf("%s: rows %s", path, raw)
	}
	return rows[0].(map[string]any)
}

func TestReader_RowByKey(t *testing.T) {
	f := newFixture(t)
	seedKeys(f)
	t.Run("TextKey", func(t *testing.T) {
		for _, k := range awkward {
			for _, seg := range []string{tablecast.PKSegment([]string{k}), percentEncode(k)} {
				if row := firstRow(t, f, "/keys/tpk/"+seg+".json"); row["code"] != k || row["v"] != k {
					t.Fatalf("/keys/tpk/%s.json: got %v, want code %q", seg, row, k)
				}
			}
		}
	})
	t.Run("CompoundKey", func(t *testing.T) {
		for _, k := range awkward {
			for _, tbl := range []string{"cpk", "wr"} {
				want, n := k+"#2", "2"
				if tbl == "wr" {
					want, n = k, fmt.Sprint(slices.Index(awkward, k))
				}
				path := "/keys/" + tbl + "/" + tablecast.PKSegment([]string{k, n}) + ".json"
				if row := firstRow(t, f, path); row["v"] != want {
					t.Fatalf("%s: got %v, want v %q", path, row, want)
				}
			}
		}
	})
	t.Run("IntegerAndRowid", func(t *testing.T) {
		if row := firstRow(t, f, "/keys/ints/100.json"); row["v"] != awkward[0] {
			t.Fatalf("ints/100: %v", row)
		}
		_, body, raw := f.MustGet("/keys/plain/1.json")
		if !strings.HasPrefix(raw, `{"database":"keys","ok":true,"primary_key_values":["1"],"primary_keys":["rowid"],"rows":[{"rowid":1,"v":`) {
			t.Fatalf("plain/1: %s", raw)
		}
		if row := body["rows"].([]any)[0].(map[string]any); row["v"] != awkward[len(awkward)-1] {
			t.Fatalf("plain/1: %v", row)
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		_, _, want := f.MustGet("/keys/ints/999.json")
		for _, path := range []string{
			"/keys/tpk/1.json", // rowid 1 exists; key "1" is a row too, but not rowid 1's
			"/keys/tpk/nosuch.json",
			"/keys/tpk/a,b.json",   // two parts for a one-column key
			"/keys/cpk/plain.json", // one part for two
			"/keys/cpk/plain,1,2.json",
			"/keys/ints/abc.json",
			"/keys/plain/abc.json",
			"/keys/plain/1.5.json",
			"/keys/tpk/bad~zz.json", // a malformed escape
			"/keys/vw/1.json",       // views have no row pages
		} {
			if path == "/keys/tpk/1.json" {
				continue // "1" is one of the awkward keys: below
			}
			status, _, raw := f.MustGet(path)
			if status != 404 || raw != want {
				t.Errorf("%s: %d %s, want 404 %s", path, status, raw, want)
			}
		}
		// A text key that reads as a number is that text, not a rowid.
		if row := firstRow(t, f, "/keys/tpk/1.json"); row["code"] != "1" {
			t.Fatalf("tpk/1: %v", row)
		}
		if row := firstRow(t, f, "/keys/tpk/plain.json"); row["code"] != "plain" {
			t.Fatalf("tpk/plain: %v", row)
		}
		if row := firstRow(t, f, "/keys/cpk/plain,1.json"); row["v"] != "plain#1" {
			t.Fatalf("cpk/plain,1: %v", row)
		}
	})
}

func TestReader_RowShapes(t *testing.T) {
	f := newFixture(t)
	seedKeys(f)
	seg := tablecast.PKSegment([]string{"a,b", "1"})
	for _, tc := range []struct{ path, want string }{
		{"/keys/cpk/" + seg + ".json", `{"database":"keys","ok":true,"primary_key_values":["a,b","1"],"primary_keys":["k","n"],"rows":[{"k":"a,b","n":1,"v":"a,b#1"}],"table":"cpk"}`},
		{"/keys/cpk/" + seg + ".json?_shape=array", `[{"k":"a,b","n":1,"v":"a,b#1"}]`},
		{"/keys/cpk/" + seg + ".json?_shape=object", `{"a~2Cb,1":{"k":"a,b","n":1,"v":"a,b#1"}}`},
		{"/keys/cpk/" + seg + ".json?_shape=arrays", `{"database":"keys","ok":true,"primary_key_values":["a,b","1"],"primary_keys":["k","n"],"rows":[["a,b",1,"a,b#1"]],"table":"cpk"}`},
		{"/keys/cpk/" + seg + ".json?_shape=arrayfirst", `["a,b"]`},
		{"/keys/cpk/" + seg + ".json?_shape=array&_nl=on", `{"k":"a,b","n":1,"v":"a,b#1"}`},
		{"/keys/cpk/" + seg + ".json?_shape=objects&_extra=columns", `{"columns":["k","n","v"],"database":"keys","ok":true,"primary_key_values":["a,b","1"],"primary_keys":["k","n"],"rows":[{"k":"a,b","n":1,"v":"a,b#1"}],"table":"cpk"}`},
		{"/keys/plain/3.json?_shape=object", `{"3":{"rowid":3,"v":"%2C"}}`},
		{"/keys/cpk/" + seg + ".csv", "k,n,v\r\n\"a,b\",1,\"a,b#1\"\r\n"},
		{"/keys/cpk/" + seg + ".csv?_header=off", "\"a,b\",1,\"a,b#1\"\r\n"},
		{"/keys/cpk/" + seg + ".json?_shape=nope", `{"error":"Invalid _shape: nope (use objects, arrays, array, arrayfirst or object)","ok":false,"status":400}`},
	} {
		_, raw := getRaw(t, f, tc.path)
		if raw != tc.want && strings.TrimSuffix(raw, "\n") != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.path, raw, tc.want)
		}
	}
}

// getRaw fetches path: status and body as they are.
func getRaw(t *testing.T, f *fixture, path string) (int, string) {
	t.Helper()
	a := observe(t, f.reader, "GET", path, "\x00")
	return a.status, a.body
}

func TestReader_KeyOrder(t *testing.T) {
	f := newFixture(t)
	seedKeys(f)
	sorted := slices.Clone(awkward)
	slices.Sort(sorted)
	t.Run("DefaultOrderAndObjectKeys", func(t *testing.T) {
		_, body, raw := f.MustGet("/keys/tpk.json?_size=max")
		var got []any
		for _, r := range body["rows"].([]any) {
			got = append(got, r.(map[string]any)["code"])
		}
		want := []any{nil, nil}
		for _, k := range sorted {
			want = append(want, k)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("tpk order: got %q, want %q: %s", got, want, raw)
		}
		_, raw = getRaw(t, f, "/keys/cpk.json?_shape=object&k=a,b")
		if want := `{"a~2Cb,":{"k":"a,b","n":null,"v":"null2"},"a~2Cb,1":{"k":"a,b","n":1,"v":"a,b#1"},"a~2Cb,2":{"k":"a,b","n":2,"v":"a,b#2"}}`; strings.TrimSpace(raw) != want {
			t.Fatalf("cpk object:\n got %s\nwant %s", raw, want)
		}
		_, raw = getRaw(t, f, "/keys/tpk.json?_shape=object&code=c/d")
		if want := `{"c~2Fd":{"code":"c/d","v":"c/d"}}`; strings.TrimSpace(raw) != want {
			t.Fatalf("tpk object: got %s, want %s", raw, want)
		}
	})
	t.Run("HTMLLinks", func(t *testing.T) {
		a := observe(t, f.reader, "GET", "/keys/cpk?k=a,b", "\x00")
		if !strings.Contains(a.body, `href="/keys/cpk/a~2Cb,1"`) {
			t.Fatalf("cpk page lacks the row link: %s", a.body)
		}
		a = observe(t, f.reader, "GET", "/keys/cpk/a~2Cb,1", "\x00")
		if a.status != 200 || !strings.Contains(a.body, `href="/keys/cpk/a~2Cb,1.json"`) {
			t.Fatalf("cpk row page: %d %s", a.status, a.body)
		}
	})
	t.Run("PagingExact", func(t *testing.T) {
		for _, tbl := range []string{"ints", "tpk", "cpk", "wr", "plain", "vw"} {
			for _, q := range []string{"", "&_sort=v", "&_sort_desc=v", "&_sort=k", "&_sort_desc=n"} {
				if (tbl != "cpk" && tbl != "wr") && (strings.HasSuffix(q, "=k") || strings.HasSuffix(q, "=n")) {
					continue
				}
				_, all, _ := f.MustGet("/keys/" + tbl + ".json?_size=max" + q)
				want := len(all["rows"].([]any))
				for _, size := range []string{"1", "2", "3"} {
					seen := map[string]int{}
					path := "/keys/" + tbl + ".json?_size=" + size + q
					for path != "" {
						status, body, raw := f.MustGet(path)
						if status != 200 {
							t.Fatalf("%s: %d %s", path, status, raw)
						}
						for _, r := range body["rows"].([]any) {
							seen[fmt.Sprint(r)]++
						}
						path, _ = body["next_url"].(string)
						if u, err := url.Parse(path); err == nil && u.IsAbs() {
							path = u.RequestURI()
						}
					}
					n := 0
					for r, c := range seen {
						if c != 1 {
							t.Fatalf("%s _size=%s%s: row %s seen %d times", tbl, size, q, r, c)
						}
						n++
					}
					if n != want {
						t.Fatalf("%s _size=%s%s: saw %d rows, want %d", tbl, size, q, n, want)
					}
				}
			}
		}
	})
	t.Run("TokenKeys", func(t *testing.T) {
		// An INTEGER PRIMARY KEY is the rowid: no tiebreak after it; any
		// other key of a rowid table is followed by the rowid.
		f.MustExec("keys", `CREATE TABLE descpk (id INTEGER PRIMARY KEY DESC, v TEXT)`, `INSERT INTO descpk VALUES (1, 'a'), (2, 'b')`, publish("descpk"))
		for tbl, want := range map[string]int{"ints": 1, "tpk": 2, "cpk": 3, "wr": 2, "plain": 1, "descpk": 2} {
			_, body, raw := f.MustGet("/keys/" + tbl + ".json?_size=1")
			next, err := decodeNext(fmt.Sprint(body["next"]))
			if err != nil || len(next) != want {
				t.Errorf("%s: next %v, %v; want %d values: %s", tbl, next, err, want, raw)
			}
		}
	})
	t.Run("DatasetteTokens", func(t *testing.T) {
		for _, tc := range []struct {
			path string
			want []any // the first rows' field
			col  string
		}{
			{"/keys/plain.json?_size=2&_next=2", []any{3.0, 4.0}, "rowid"},
			{"/keys/ints.json?_size=2&_next=89", []any{90.0, 91.0}, "id"},
			{"/keys/tpk.json?_size=2&_next=" + url.QueryEscape(tablecast.PKSegment([]string{sorted[0]})), []any{sorted[1], sorted[2]}, "code"},
			{"/keys/cpk.json?_size=2&_next=" + url.QueryEscape(tablecast.PKSegment([]string{"a,b", "1"})), []any{"a,b#2", "c/d#1"}, "v"},
			{"/keys/cpk.json?_size=2&_sort=v&_next=" + url.QueryEscape(tablecast.PKSegment([]string{"a,b#2", "a,b", "2"})), []any{"c/d#1", "c/d#2"}, "v"},
			{"/keys/tpk.json?_size=2&_sort_desc=v&_next=" + url.QueryEscape(tablecast.PKSegment([]string{"a,b", "a,b"})), []any{"50%", "1+1"}, "v"},
			{"/keys/plain.json?_size=1&_sort=v&_next=$null,1", []any{"%2C"}, "v"},
			{"/keys/vw.json?_size=1&_next=1", []any{awkward[len(awkward)-2]}, "v"},
		} {
			status, body, raw := f.MustGet(tc.path)
			if status != 200 {
				t.Fatalf("%s: %d %s", tc.path, status, raw)
			}
			var got []any
			for _, r := range body["rows"].([]any) {
				got = append(got, r.(map[string]any)[tc.col])
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("%s: got %q, want %q", tc.path, got, tc.want)
			}
		}
		for _, bad := range []string{"/keys/plain.json?_next=x", "/keys/cpk.json?_next=a", "/keys/vw.json?_next=-1", "/keys/tpk.json?_next=a!"} {
			if status, _, raw := f.MustGet(bad); status != 400 || !strings.Contains(raw, "_next") {
				t.Errorf("%s: %d %s, want 400", bad, status, raw)
			}
		}
	})
}
