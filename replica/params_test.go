package replica

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/tablecast/tablecast/replica/gate"
)

// MustFetch fetches path and returns its status, headers and raw body.
func (f *fixture) MustFetch(path string, hdr ...string) (int, http.Header, string) {
	f.t.Helper()
	if !strings.HasPrefix(path, "http") {
		path = f.srv.URL + path // else an absolute next_url
	}
	req, err := http.NewRequest("GET", path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := noRedirectClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(raw)
}

var noRedirectClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// seedPeople makes a table with every kind of value for filter tests.
func seedPeople(f *fixture) {
	f.MustExec("demo", gate.PublicTablesDDL,
		`CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, age INTEGER, score REAL, note)`,
		`INSERT INTO people VALUES
			(1, 'Alice', 30, 1.5, 'x%y'),
			(2, 'Bob', 25, NULL, NULL),
			(3, 'alfred', NULL, 3.0, ''),
			(4, 'Carol_1', 41, -2.25, 'a,b'),
			(5, 'Dave', 30, 10, '[1]')`,
		`CREATE TABLE secrets (id INTEGER PRIMARY KEY, secret TEXT)`,
		`INSERT INTO secrets VALUES (1, 'hunter2')`,
		publish("people"))
}

// ids returns the ids of the rows of a JSON table page.
func ids(t *testing.T, raw string) []int {
	t.Helper()
	var body struct {
		Rows []map[string]any `json:"rows"`
	}
	if err := json.Unmarshal([]byte(raw), &body); err != nil {
		t.Fatalf("not JSON: %s", raw)
	}
	out := []int{}
	for _, r := range body.Rows {
		out = append(out, int(r["id"].(float64)))
	}
	return out
}

func TestReader_Filters(t *testing.T) {
	f := newFixture(t)
	seedPeople(f)
	for _, tc := range []struct {
		query string
		want  []int
	}{
		{"", []int{1, 2, 3, 4, 5}},
		{"name=Bob", []int{2}},
		{"name__exact=Bob", []int{2}},
		{"age=30", []int{1, 5}},
		{"age__not=30", []int{2, 4}}, // NULL is neither
		{"name__contains=al", []int{1, 3}},
		{"note__contains=%25", []int{1}}, // % is a character, not a wildcard
		{"name__contains=l_", []int{4}},  // so is _
		{"name__startswith=a", []int{1, 3}},
		{"name__endswith=_1", []int{4}},
		{"age__gt=29", []int{1, 4, 5}},
		{"age__gte=30", []int{1, 4, 5}},
		{"age__lt=30", []int{2}},
		{"age__lte=30", []int{1, 2, 5}},
		{"score__gt=2.5", []int{3, 5}},
		{"score__lt=0", []int{4}},
		{"name__in=Bob,Dave", []int{2, 5}},
		{`name__in=["Bob","Carol_1"]`, []int{2, 4}},
		{"age__in=[25,41]", []int{2, 4}},
		{"name__notin=Bob,Dave", []int{1, 3, 4}},
		{"age__isnull=1", []int{3}},
		{"score__notnull=1", []int{1, 3, 4, 5}},
		{"name__like=A%25", []int{1, 3}},
		{"name__glob=A*", []int{1}},
		{"note=a,b", []int{4}},
		{"age=30&name__startswith=D", []int{5}},
		{"age__gte=25&age__lte=30", []int{1, 2, 5}},
		{"rowid__gt=3", []int{4, 5}},
		{"id__in=", []int{}},
	} {
		t.Run(tc.query, func(t *testing.T) {
			status, _, raw := f.MustFetch("/demo/people.json?" + escapeQuery(tc.query))
			if status != 200 {
				t.Fatalf("status %d: %s", status, raw)
			}
			if got := ids(t, raw); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// escapeQuery escapes the values of a readable query string.
func escapeQuery(q string) string {
	if q == "" {
		return ""
	}
	var parts []string
	for _, kv := range strings.Split(q, "&") {
		k, v, _ := strings.Cut(kv, "=")
		if uv, err := url.QueryUnescape(v); err == nil {
			v = uv
		}
		parts = append(parts, url.QueryEscape(k)+"="+url.QueryEscape(v))
	}
	return strings.Join(parts, "&")
}

func TestReader_SortAndColumns(t *testing.T) {
	f := newFixture(t)
	seedPeople(f)
	for _, tc := range []struct {
		query string
		want  []int
	}{
		{"_sort=age", []int{3, 2, 1, 5, 4}},      // NULL first, ties by id
		{"_sort_desc=age", []int{4, 1, 5, 2, 3}}, // NULL last
		{"_sort=name", []int{1, 2, 4, 5, 3}},     // binary collation
		{"_sort_desc=score", []int{5, 3, 1, 4, 2}},
		{"_sort=age&age__gte=30", []int{1, 5, 4}},
	} {
		_, _, raw := f.MustFetch("/demo/people.json?" + tc.query)
		if got := ids(t, raw); !reflect.DeepEqual(got, tc.want) {
			t.Fatalf("%s: got %v, want %v", tc.query, got, tc.want)
		}
	}
	t.Run("Columns", func(t *testing.T) {
		_, _, raw := f.MustFetch("/demo/people.json?_col=name&_col=age&_extra=columns")
		var body struct{ Columns []string }
		_ = json.Unmarshal([]byte(raw), &body)
		if want := []string{"id", "name", "age"}; !reflect.DeepEqual(body.Columns, want) {
			t.Fatalf("_col: got %v, want %v", body.Columns, want)
		}
		// Rows keep the table's column order.
		if !strings.Contains(raw, `{"id":1,"name":"Alice","age":30}`) {
			t.Fatalf("row order: %s", raw)
		}
		_, _, raw = f.MustFetch("/demo/people.json?_nocol=note&_nocol=id&_shape=arrays")
		_ = json.Unmarshal([]byte(raw), &body)
		if want := []string{"id", "name", "age", "score"}; !reflect.DeepEqual(body.Columns, want) {
			t.Fatalf("_nocol: got %v, want %v", body.Columns, want)
		}
	})
	t.Run("Errors", func(t *testing.T) {
		for _, tc := range []struct{ query, want string }{
			{"nosuch=1", "nosuch"},
			{"nosuch__gt=1", "nosuch"},
			{"_sort=nosuch", "nosuch"},
			{"_sort_desc=zz", "zz"},
			{"_sort=age&_sort_desc=age", "_sort"},
			{"_col=nope", "nope"},
			{"_nocol=nope2", "nope2"},
			{"_shape=bad", "_shape"},
			{"_extra=bad", "_extra"},
			{"_size=1001", "_size"},
			{"_next=bad!", "_next"},
			{"_x=1", "Unknown parameter _x"},
			{"_sort=age&_Sort=age", "Unknown parameter _Sort"},
			{"_search=al", "Table people has no full-text search index"},
			{"_search_name=al", "Table people has no full-text search index"},
			{"_facet=nope", "Invalid _facet: no such column: nope"},
			{"_facet_date=nope", "Invalid _facet_date: no such column: nope"},
			{"_facet=name&_facet_size=x", "_facet_size must be"},
			{"_facet={", "Invalid _facet: a value starting with {"},
			{"_labels=maybe", "Invalid _labels: maybe"},
			{"_label=nope", "Invalid _label: no such column: nope"},
			{"_extra=facet_resultz", "Invalid _extra: facet_resultz"},
			{"_json=note", "Unsupported parameter _json"},
			{"_where=1", "_where needs public SQL on this database"},
			{"_size=-1", "_size"},
			{"name__nosuchop=1", "name__nosuchop"},
			{"age__in=[1,", "age__in"},
			{"age__notin=[{\"a\":1}]", "JSON list"},
		} {
			status, _, raw := f.MustFetch("/demo/people.json?" + tc.query)
			if status != 400 || !strings.Contains(raw, tc.want) || !strings.Contains(raw, `"ok":false`) {
				t.Fatalf("%s: %d %s, want 400 naming %q", tc.query, status, raw, tc.want)
			}
			// The gate answers first: private and missing tables are 404s
			// whatever the parameters.
			s1, _, b1 := f.MustFetch("/demo/secrets.json?" + tc.query)
			s2, _, b2 := f.MustFetch("/demo/nosuch.json?" + tc.query)
			if s1 != 404 || s2 != 404 || strings.ReplaceAll(b1, "secrets", "X") != strings.ReplaceAll(b2, "nosuch", "X") {
				t.Fatalf("%s: private %d %s, missing %d %s", tc.query, s1, b1, s2, b2)
			}
		}
	})
}

func TestReader_Shapes(t *testing.T) {
	f := newFixture(t)
	seedPeople(f)
	f.MustExec("demo", `CREATE TABLE pairs (a TEXT, b INTEGER, v TEXT, PRIMARY KEY (a, b)) WITHOUT ROWID`,
		`INSERT INTO pairs VALUES ('x,y', 1, 'one'), ('x', 2, 'two')`,
		`CREATE TABLE plain (v TEXT)`, `INSERT INTO plain VALUES ('p'), ('q')`,
		`CREATE VIEW adults AS SELECT name, age FROM people WHERE age >= 30`,
		publish("pairs"), publish("plain"), publish("adults"))
	for _, tc := range []struct{ path, want string }{
		{"/demo/people.json?_shape=array&_size=2&_col=name", `[{"id":1,"name":"Alice"},{"id":2,"name":"Bob"}]`},
		{"/demo/people.json?_shape=arrays&_size=1&_col=age", `"rows":[[1,30]]`},
		{"/demo/people.json?_shape=arrays&_size=1&_col=age", `"columns":["id","age"]`},
		{"/demo/people.json?_shape=object&_size=2&_col=name", `{"1":{"id":1,"name":"Alice"},"2":{"id":2,"name":"Bob"}}`},
		{"/demo/pairs.json?_shape=object", `{"x,2":{"a":"x","b":2,"v":"two"},"x~2Cy,1":{"a":"x,y","b":1,"v":"one"}}`},
		{"/demo/plain.json?_shape=object", `{"1":{"rowid":1,"v":"p"},"2":{"rowid":2,"v":"q"}}`},
		{"/demo/plain.json?_shape=array", `[{"rowid":1,"v":"p"},{"rowid":2,"v":"q"}]`},
		{"/demo/people.json?_nl=on&_col=name&_size=2", "{\"id\":1,\"name\":\"Alice\"}\n{\"id\":2,\"name\":\"Bob\"}\n"},
		{"/demo/people.json?_shape=array&_nl=on&_col=name&age=25", "{\"id\":2,\"name\":\"Bob\"}\n"},
		{"/demo/people.json?_extra=count&_size=1&age__gte=30", `"count":3`},
		{"/demo/people.json?_extra=count,columns&_size=1&_col=name", `"columns":["id","name"]`},
		{"/demo/adults.json?_sort_desc=age", `"rows":[{"name":"Carol_1","age":41},{"name":"Alice","age":30},{"name":"Dave","age":30}]`},
		{"/demo/adults.json?age=30&_shape=array", `[{"name":"Alice","age":30},{"name":"Dave","age":30}]`},
	} {
		status, _, raw := f.MustFetch(tc.path)
		if status != 200 || !strings.Contains(raw, tc.want) {
			t.Fatalf("%s: %d\n got %s\nwant %s", tc.path, status, raw, tc.want)
		}
	}
	t.Run("ViewObjectShape", func(t *testing.T) {
		if status, _, raw := f.MustFetch("/demo/adults.json?_shape=object"); status != 400 {
			t.Fatalf("view _shape=object: %d %s", status, raw)
		}
	})
	t.Run("ArrayLinkHeader", func(t *testing.T) {
		_, h, _ := f.MustFetch("/demo/people.json?_shape=array&_size=2")
		if link := h.Get("Link"); !strings.Contains(link, `rel="next"`) || !strings.Contains(link, "_next=") {
			t.Fatalf("Link: %q", link)
		}
	})
	t.Run("NextURLKeepsParameters", func(t *testing.T) {
		_, _, raw := f.MustFetch("/demo/people.json?_size=2&_sort_desc=age&_col=name&age__gte=25")
		var body struct {
			NextURL string `json:"next_url"`
		}
		_ = json.Unmarshal([]byte(raw), &body)
		for _, want := range []string{"_size=2", "_sort_desc=age", "_col=name", "age__gte=25", "_next="} {
			if !strings.Contains(body.NextURL, want) {
				t.Fatalf("next_url %q lacks %q", body.NextURL, want)
			}
		}
		_, _, raw = f.MustFetch(body.NextURL)
		if got, want := ids(t, raw), []int{5, 2}; !reflect.DeepEqual(got, want) {
			t.Fatalf("second page: got %v, want %v", got, want)
		}
	})
}

// TestReader_PagingEverySort pages through 10,000 rows under every sort,
// ascending and descending, on columns with ties, NULLs and mixed types,
// and checks each row comes exactly once and in order.
func TestReader_PagingEverySort(t *testing.T) {
	f := newFixture(t)
	f.MustExec("big", gate.PublicTablesDDL,
		`CREATE TABLE n (id INTEGER PRIMARY KEY, tie INTEGER, txt TEXT, r REAL, mixed)`,
		`WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 10000)
		 INSERT INTO n SELECT i,
			CASE WHEN i % 5 = 0 THEN NULL ELSE i % 7 END,
			CASE WHEN i % 11 = 0 THEN NULL ELSE 'v' || (i % 13) END,
			CASE WHEN i % 3 = 0 THEN NULL ELSE (i % 17) / 4.0 END,
			CASE i % 6 WHEN 0 THEN NULL WHEN 1 THEN i % 4 WHEN 2 THEN (i % 4) + 0.5 WHEN 3 THEN 't' || (i % 4)
				WHEN 4 THEN CAST('b' || (i % 4) AS BLOB) ELSE i % 4 END
		 FROM c`,
		`CREATE TABLE w (a TEXT, b INTEGER, tie INTEGER, PRIMARY KEY (a, b)) WITHOUT ROWID`,
		`WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 10000)
		 INSERT INTO w SELECT 'k' || (i % 100), i, CASE WHEN i % 4 = 0 THEN NULL ELSE i % 3 END FROM c`,
		publish("n"), publish("w"))
	type tcase struct{ table, key, sort string }
	var cases []tcase
	for _, s := range []string{"", "tie", "txt", "r", "mixed", "id"} {
		cases = append(cases, tcase{"n", "id", s})
	}
	for _, s := range []string{"", "tie", "a", "b"} {
		cases = append(cases, tcase{"w", "b", s})
	}
	for _, tc := range cases {
		for _, desc := range []bool{false, true} {
			if tc.sort == "" && desc {
				continue
			}
			param := "_sort"
			if desc {
				param = "_sort_desc"
			}
			t.Run(fmt.Sprintf("%s/%s=%s", tc.table, param, tc.sort), func(t *testing.T) {
				want := f.orderOf(tc.table, tc.key, tc.sort, desc)
				path := "/big/" + tc.table + ".json?_size=997&_shape=arrays&_col=" + tc.key
				if tc.sort != "" {
					path += "&" + param + "=" + tc.sort
				}
				var got []string
				for pages := 0; path != ""; pages++ {
					status, body, raw := f.MustGet(path)
					if status != 200 || pages > 12 {
						t.Fatalf("%s: status %d: %.300s", path, status, raw)
					}
					cols := body["columns"].([]any)
					ki := indexOf(cols, tc.key)
					for _, r := range body["rows"].([]any) {
						got = append(got, fmt.Sprint(r.([]any)[ki]))
					}
					path, _ = body["next_url"].(string)
				}
				if len(got) != 10000 {
					t.Fatalf("saw %d rows, want 10000", len(got))
				}
				seen := map[string]bool{}
				for _, k := range got {
					if seen[k] {
						t.Fatalf("row %s twice", k)
					}
					seen[k] = true
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("order differs from SQLite's ORDER BY")
				}
			})
		}
	}
}

// orderOf is the key order SQLite gives for a sort with the key tiebreak.
func (f *fixture) orderOf(table, key, col string, desc bool) []string {
	order := key
	if col != "" {
		dir := " ASC"
		if desc {
			dir = " DESC"
		}
		order = col + dir + ", " + key
		if table == "w" {
			order = col + dir + ", a, b"
		}
	} else if table == "w" {
		order = "a, b"
	}
	rows, err := f.dbs["big"].Query("SELECT " + key + " FROM " + table + " ORDER BY " + order)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v any
		_ = rows.Scan(&v)
		out = append(out, fmt.Sprint(v))
	}
	return out
}

func indexOf(cols []any, name string) int {
	for i, c := range cols {
		if c == name {
			return i
		}
	}
	return -1
}

func TestParseRoute_Kinds(t *testing.T) {
	for _, tc := range []struct {
		url           string
		ok            bool
		kind          routeKind
		format        format
		db, table, pk string
	}{
		{"/", true, routeRoot, formatHTML, "", "", ""},
		{"/.json", true, routeRoot, formatJSON, "", "", ""},
		{"/.csv", false, 0, 0, "", "", ""},
		{"/d", true, routeDB, formatHTML, "d", "", ""},
		{"/d.json", true, routeDB, formatJSON, "d", "", ""},
		{"/d.csv", false, 0, 0, "", "", ""},
		{"/d/t", true, routeTable, formatHTML, "d", "t", ""},
		{"/d/t.csv", true, routeTable, formatCSV, "d", "t", ""},
		{"/d/t%2Ejson", true, routeTable, formatHTML, "d", "t.json", ""},
		{"/d/t/1,a%2Cb", true, routeRow, formatHTML, "d", "t", "1,a%2Cb"},
		{"/d/t/1.json", true, routeRow, formatJSON, "d", "t", "1"},
		{"/d/t/1.csv", true, routeRow, formatCSV, "d", "t", "1"},
		{"/d/-/query", true, routeQuery, formatHTML, "d", "", ""},
		{"/d/-/query.json", true, routeQuery, formatJSON, "d", "", ""},
		{"/d/-/query.csv", true, routeQuery, formatCSV, "d", "", ""},
		{"/d/-/other.json", false, 0, 0, "", "", ""},
		{"/d/-.json", false, 0, 0, "", "", ""},
		{"/d/t/1/2.json", false, 0, 0, "", "", ""},
		{"//t.json", false, 0, 0, "", "", ""},
		{"/d/.json", false, 0, 0, "", "", ""},
	} {
		u, _ := url.Parse(tc.url)
		rt, ok := parseRoute(u)
		if ok != tc.ok {
			t.Fatalf("%s: ok %v, want %v", tc.url, ok, tc.ok)
		}
		if ok && (rt.kind != tc.kind || rt.format != tc.format || rt.db != tc.db || rt.table != tc.table || rt.key != tc.pk) {
			t.Fatalf("%s: got %+v", tc.url, rt)
		}
	}
}

func TestNextToken_RoundTrip(t *testing.T) {
	for _, key := range [][]any{
		{int64(1)}, {nil, int64(2)}, {3.5, int64(-1)}, {"s", "", "x,y"}, {[]byte{0, 1, 255}, int64(9)}, {1e300, 5e-324},
	} {
		got, err := decodeNext(encodeNext(key))
		if err != nil || !reflect.DeepEqual(got, key) {
			t.Fatalf("%v: got %v, %v", key, got, err)
		}
	}
	keys := []string{}
	for k := range filterOps {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) != 21 {
		t.Fatalf("filter ops: %v", keys)
	}
}

// seedTags makes a table for the JSON-array and date filters.
func seedTags(f *fixture) {
	f.MustExec("demo", `CREATE TABLE tags (id INTEGER PRIMARY KEY, tags TEXT, day TEXT, name TEXT)`,
		`INSERT INTO tags VALUES
			(1, '["a","b"]', '2024-01-02 10:00:00', 'x'),
			(2, '["b"]', '2024-01-03', ''),
			(3, 'not json', '2024-01-02T23:59:59', NULL),
			(4, NULL, NULL, 'y')`,
		publish("tags"))
}

func TestReader_DatasetteFilters(t *testing.T) {
	f := newFixture(t)
	seedPeople(f)
	seedTags(f)
	for _, tc := range []struct {
		path string
		want []int
	}{
		{"/demo/people.json?name__notlike=A%25", []int{2, 4, 5}},
		{"/demo/people.json?note__isblank=1", []int{2, 3}},
		{"/demo/people.json?note__notblank=1", []int{1, 4, 5}},
		{"/demo/tags.json?name__isblank=1", []int{2, 3}},
		{"/demo/tags.json?tags__arraycontains=b", []int{1, 2}},
		{"/demo/tags.json?tags__arraycontains=a", []int{1}},
		{"/demo/tags.json?tags__arraynotcontains=a", []int{2, 3, 4}},
		{"/demo/tags.json?day__date=2024-01-02", []int{1, 3}},
		{"/demo/tags.json?day__date=2024-01-03", []int{2}},
	} {
		status, _, raw := f.MustFetch(tc.path)
		if status != 200 {
			t.Fatalf("%s: status %d: %s", tc.path, status, raw)
		}
		if got := ids(t, raw); !reflect.DeepEqual(got, tc.want) {
			t.Fatalf("%s: got %v, want %v", tc.path, got, tc.want)
		}
	}
}

func TestReader_DatasetteTableParams(t *testing.T) {
	f := newFixture(t)
	seedPeople(f)
	for _, tc := range []struct{ path, want string }{
		// The first column of each row.
		{"/demo/people.json?_shape=arrayfirst", `[1,2,3,4,5]`},
		{"/demo/people.json?_shape=arrayfirst&_col=name&_nocol=id", `[1,2,3,4,5]`},
		{"/demo/people.json?_shape=arrayfirst&_size=2&_sort_desc=id", `[5,4]`},
		// _col in the order asked, the key first, no column twice.
		{"/demo/people.json?_col=score&_col=name&_col=id&_col=score&_size=1",
			`"rows":[{"id":1,"score":1.5,"name":"Alice"}]`},
		{"/demo/people.json?_col=score&_col=name&_shape=arrays&_size=1", `"columns":["id","score","name"]`},
		// _size=0: no rows and no next page, the count still there.
		{"/demo/people.json?_size=0&_extra=count", `"count":5`},
		{"/demo/people.json?_size=0&_extra=count", `"next":null`},
		{"/demo/people.json?_size=0&_extra=count", `"rows":[]`},
		// _sort_by_desc turns _sort descending.
		{"/demo/people.json?_sort=age&_sort_by_desc=1&_shape=arrayfirst", `[4,1,5,2,3]`},
		{"/demo/people.json?_sort=age&_sort_by_desc=&_shape=arrayfirst", `[4,1,5,2,3]`},
		{"/demo/people.json?_sort_by_desc=1&_shape=arrayfirst", `[1,2,3,4,5]`},
	} {
		status, _, raw := f.MustFetch(tc.path)
		if status != 200 || !strings.Contains(raw, tc.want) {
			t.Fatalf("%s: %d %s, want %s", tc.path, status, raw, tc.want)
		}
	}
}

// A '_' parameter is read, ignored on purpose (another format's, or one
// listed in ignoredParams) or refused: never silently dropped.
func TestReader_ParamNames(t *testing.T) {
	f := newFixture(t)
	seedPeople(f)
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/demo/people.json?_nocount=1&_nofacet=1&_nosuggest=1&_trace=1&_txid=1&_max_lag=1s", 200},
		{"/demo/people.csv?_shape=array&_nl=on&_extra=count", 200}, // JSON's
		{"/demo/people?_shape=array&_stream=on&_dl=1&_header=off", 200},
		{"/demo/people.json?_stream=on&_dl=1&_header=off", 200}, // CSV's
		{"/demo/people.csv?_bogus=1", 400},
		{"/demo/people.csv?_stream=on&_through=name", 400},
		{"/demo/people.csv?_facet=name", 200}, // the JSON page's
		{"/demo/people?_bogus=1", 400},
		{"/demo/people.json?_col=name&_bogus=", 400},
	} {
		status, _, raw := f.MustFetch(tc.path)
		if status != tc.status {
			t.Fatalf("%s: %d %s, want %d", tc.path, status, raw, tc.status)
		}
		if status == 400 && !strings.Contains(raw, "_bogus") && !strings.Contains(raw, "_through") {
			t.Fatalf("%s: %s does not name the parameter", tc.path, raw)
		}
	}
}

// An HTML page sorted with _sort_by_desc links its column back to the
// ascending order, and its form keeps the direction.
func TestReader_SortByDescHTML(t *testing.T) {
	f := newFixture(t)
	seedPeople(f)
	status, _, raw := f.MustFetch("/demo/people?_sort=age&_sort_by_desc=1")
	if status != 200 || !strings.Contains(raw, `href="/demo/people?_sort=age"`) || !strings.Contains(raw, `name="_sort_by_desc"`) {
		t.Fatalf("%d %s", status, raw)
	}
}

// TestReader_ParamNamesEveryRoute: database, row and query routes refuse
// a '_' parameter no format of theirs reads, naming it, as table routes
// do; one another format reads, or routing's, is ignored.
func TestReader_ParamNamesEveryRoute(t *testing.T) {
	f := newFixture(t)
	seedSQL(f)
	for _, tc := range []struct {
		path   string
		status int
		name   string
	}{
		{"/demo.json?_txid=1&_max_lag=1s&x=1", 200, ""},
		{"/demo.json?_bogus=1", 400, "_bogus"},
		{"/demo?_size=1", 400, "_size"},
		{"/demo/cities/1.json?_shape=array&_txid=1", 200, ""},
		{"/demo/cities/1.csv?_shape=array", 200, ""}, // the JSON row page's
		{"/demo/cities/1?_dl=1", 200, ""},
		{"/demo/cities/1.json?_bogus=1", 400, "_bogus"},
		{"/demo/cities/1.json?_size=1", 400, "_size"},
		{"/demo/cities/1.json?_facet=name", 400, "Unknown parameter _facet"},
		{"/demo/cities/1.json?_extra=facet_results", 400, "Invalid _extra: facet_results (use count or columns)"},
		{"/demo/-/query.json?sql=select+1&_nl=on&_txid=1", 200, ""},
		{"/demo/-/query.csv?sql=select+1&_shape=array", 200, ""},
		{"/demo/-/query.json?sql=select+1&_bogus=1", 400, "_bogus"},
		{"/demo.json?sql=select+1&_size=1", 400, "_size"},
		{"/demo/-/query?_bogus=1", 400, "_bogus"},
	} {
		status, _, raw := f.MustFetch(tc.path)
		if status != tc.status || !strings.Contains(raw, tc.name) {
			t.Errorf("%s: %d %s, want %d naming %q", tc.path, status, raw, tc.status, tc.name)
		}
	}
}
