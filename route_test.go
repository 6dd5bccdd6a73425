package tablecast

import (
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// Every route of the product, with what it parses to.
func TestParseRoute(t *testing.T) {
	for _, tt := range []struct {
		path string
		want Route
	}{
		// Reads.
		{"/", Route{Kind: KindRoot}},
		{"/.json", Route{Kind: KindRoot, Format: FormatJSON}},
		{"/d", Route{Kind: KindDatabase, DB: "d"}},
		{"/d.json", Route{Kind: KindDatabase, Format: FormatJSON, DB: "d"}},
		{"/d.csv", Route{Kind: KindDatabase, Format: FormatCSV, DB: "d"}},
		{"/metrics.csv", Route{Kind: KindDatabase, Format: FormatCSV, DB: "metrics"}},
		{"/d/t", Route{Kind: KindTable, DB: "d", Table: "t"}},
		{"/d/t.json", Route{Kind: KindTable, Format: FormatJSON, DB: "d", Table: "t"}},
		{"/d/t.csv", Route{Kind: KindTable, Format: FormatCSV, DB: "d", Table: "t"}},
		{"/d/t%2Ejson", Route{Kind: KindTable, DB: "d", Table: "t.json"}},
		{"/d/a%2Fb.json", Route{Kind: KindTable, Format: FormatJSON, DB: "d", Table: "a/b"}},
		{"/d/t/1", Route{Kind: KindRow, DB: "d", Table: "t", Key: "1"}},
		{"/d/t/1.json", Route{Kind: KindRow, Format: FormatJSON, DB: "d", Table: "t", Key: "1"}},
		{"/d/t/1,a%2Cb", Route{Kind: KindRow, DB: "d", Table: "t", Key: "1,a%2Cb"}},
		{"/d/t/1.csv", Route{Kind: KindRow, Format: FormatCSV, DB: "d", Table: "t", Key: "1"}},
		{"/d/t/a~2Cb,x~2Ejson.json", Route{Kind: KindRow, Format: FormatJSON, DB: "d", Table: "t", Key: "a~2Cb,x~2Ejson"}},
		{"/d/t/1.5.json", Route{Kind: KindRow, Format: FormatJSON, DB: "d", Table: "t", Key: "1.5"}},
		{"/d/t/1.blob", Route{Kind: KindRow, Format: FormatBlob, DB: "d", Table: "t", Key: "1"}},
		{"/d/t/a%2Eblob.json", Route{Kind: KindRow, Format: FormatJSON, DB: "d", Table: "t", Key: "a%2Eblob"}},
		{"/d/t/-", Route{Kind: KindRow, DB: "d", Table: "t", Key: "-"}},
		{"/d/-/query", Route{Kind: KindQuery, DB: "d"}},
		{"/d/-/query.json", Route{Kind: KindQuery, Format: FormatJSON, DB: "d"}},
		{"/d/-/query.csv", Route{Kind: KindQuery, Format: FormatCSV, DB: "d"}},
		{"/d/%2D/query.json", Route{Kind: KindQuery, Format: FormatJSON, DB: "d"}},
		{"/-", Route{Kind: KindDatabase, DB: "-"}},
		{"/%00%2F/-/query", Route{Kind: KindQuery, DB: "\x00/"}},                    // any name: the read path says which exist
		{"/db/t/insert", Route{Kind: KindRow, DB: "db", Table: "t", Key: "insert"}}, // a row, not a write
		// Writes.
		{"/db/-/create", Route{Kind: KindWrite, DB: "db", Action: ActionCreate}},
		{"/db/-/publish", Route{Kind: KindWrite, DB: "db", Action: ActionPublish}},
		{"/db/-/unpublish", Route{Kind: KindWrite, DB: "db", Action: ActionUnpublish}},
		{"/db/t/-/insert", Route{Kind: KindWrite, DB: "db", Table: "t", Action: ActionInsert}},
		{"/db/t/-/upsert", Route{Kind: KindWrite, DB: "db", Table: "t", Action: ActionUpsert}},
		{"/db/t/-/publish", Route{Kind: KindWrite, DB: "db", Table: "t", Action: ActionPublish}},
		{"/db/t/-/unpublish", Route{Kind: KindWrite, DB: "db", Table: "t", Action: ActionUnpublish}},
		{"/db/t/7/-/delete", Route{Kind: KindWrite, DB: "db", Table: "t", Key: "7", Action: ActionDelete}},
		{"/db/t/a%2Cb,c%2Fd/-/delete", Route{Kind: KindWrite, DB: "db", Table: "t", Key: "a%2Cb,c%2Fd", Action: ActionDelete}},
		{"/db/t/a~2Cb,1/-/update", Route{Kind: KindWrite, DB: "db", Table: "t", Key: "a~2Cb,1", Action: ActionUpdate}},
		{"/db/t/-/drop", Route{Kind: KindWrite, DB: "db", Table: "t", Action: ActionDrop}},
		{"/db/a%2Fb/-/insert", Route{Kind: KindWrite, DB: "db", Table: "a/b", Action: ActionInsert}},
		{"/db/t%20x/-/insert", Route{Kind: KindWrite, DB: "db", Table: "t x", Action: ActionInsert}},
		{"/db/-/cre%61te", Route{Kind: KindWrite, DB: "db", Action: ActionCreate}},
		// Empty or odd names are the write path's to refuse (400), by name.
		{"//-/create", Route{Kind: KindWrite, Action: ActionCreate}},
		{"/db//-/insert", Route{Kind: KindWrite, DB: "db", Action: ActionInsert}},
		{"/db/-/-/insert", Route{Kind: KindWrite, DB: "db", Table: "-", Action: ActionInsert}},
		// The node's own.
		{"/-/status.json", Route{Kind: KindAdmin}},
		{"/-/cluster/join", Route{Kind: KindAdmin}},
		{"/-/admin/api/tokens/x/revoke", Route{Kind: KindAdmin}},
		{"/%2D/status.json", Route{Kind: KindAdmin}},
		{"/-/", Route{Kind: KindAdmin}},
		{"/-/a/b/c/d/e/f/g", Route{Kind: KindAdmin}},
		{"/metrics", Route{Kind: KindMetrics}},
		{"/%6Detrics", Route{Kind: KindMetrics}},
		{"/metrics.json", Route{Kind: KindDatabase, Format: FormatJSON, DB: "metrics"}},
	} {
		t.Run(tt.path, func(t *testing.T) {
			got, err := ParseRoute(tt.path)
			if err != nil {
				t.Fatalf("error %v", err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// Paths that name no route: ENOTFOUND, and what the route still says
// (the read path answers in the path's format).
func TestParseRoute_NotFound(t *testing.T) {
	for _, tt := range []struct {
		path string
		want Route
	}{
		{"/.csv", Route{Kind: KindRoot, Format: FormatCSV}},
		{"/d/t.blob", Route{Kind: KindTable, Format: FormatBlob, DB: "d", Table: "t"}},
		{"/d.blob", Route{Kind: KindDatabase, Format: FormatBlob, DB: "d"}},
		{"/d/-/query.blob", Route{Kind: KindQuery, Format: FormatBlob, DB: "d"}},
		{"/d/-/other.json", Route{Kind: KindWrite, Format: FormatJSON, DB: "d"}},
		{"/d/-/quer%79", Route{Kind: KindWrite, DB: "d"}},
		{"/d/-/create.json", Route{Kind: KindWrite, Format: FormatJSON, DB: "d", Action: ActionCreate}},
		{"/d/-.json", Route{Kind: KindOther, Format: FormatJSON, DB: "d"}},
		{"/d/-", Route{Kind: KindOther, DB: "d"}},
		{"/d/t/1/2.json", Route{Kind: KindOther, Format: FormatJSON, DB: "d"}},
		{"/a/b/c/d/e/f.json", Route{Kind: KindOther, Format: FormatJSON, DB: "a"}},
		{"//t.json", Route{Kind: KindOther, Format: FormatJSON}},
		{"/d/.json", Route{Kind: KindOther, Format: FormatJSON, DB: "d"}},
		{"/%zz.json", Route{Kind: KindOther, Format: FormatJSON}},
		{"/db/t/-/alter", Route{Kind: KindWrite, DB: "db"}},
		{"/db/t/-/insert/", Route{Kind: KindOther, DB: "db"}},
		{"/db/-/insert", Route{Kind: KindWrite, DB: "db"}},
		{"/db/t/-/create", Route{Kind: KindWrite, DB: "db"}},
		{"/db/t/1/2/-/delete", Route{Kind: KindOther, DB: "db"}},
		{"/db/t/a%zz/-/delete", Route{Kind: KindWrite, DB: "db"}},
		{"", Route{Kind: KindRoot}},
		{"db", Route{}},
	} {
		t.Run(tt.path, func(t *testing.T) {
			got, err := ParseRoute(tt.path)
			if ErrorCode(err) != ENOTFOUND {
				t.Fatalf("error %v, want %s", err, ENOTFOUND)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRoute_Label(t *testing.T) {
	for path, want := range map[string]string{
		"":                      RouteRoot,
		"/":                     RouteRoot,
		"/.json":                RouteRoot,
		"/.csv":                 RouteRoot,
		"/shop.json":            RouteDatabase,
		"/shop":                 RouteDatabase,
		"/shop.csv":             RouteDatabase,
		"/shop/products.json":   RouteTable,
		"/shop/products.csv":    RouteTable,
		"/shop/products":        RouteTable,
		"/shop/products/1.json": RouteRow,
		"/shop/t/a%2Cb,2.json":  RouteRow,
		"/shop/t/a%2Fb.json":    RouteRow,
		"/shop/t/1.5.json":      RouteRow,
		"/shop/t/1.5":           RouteRow, // a row it serves ("other" before the one grammar)
		"/shop/t/1.csv":         RouteRow,
		"/shop/-/query.json":    RouteQuery,
		"/shop/-/query.csv":     RouteQuery,
		"/shop/-/query":         RouteQuery,
		"/shop/-/queryx":        RouteWrite,
		"/shop/-/create":        RouteWrite,
		"/shop/t/-/insert":      RouteWrite,
		"/shop/t/-/publish":     RouteWrite,
		"/shop/t/1/-/delete":    RouteWrite,
		"/shop/t/1/-/update":    RouteWrite,
		"/shop/t/-/drop":        RouteWrite,
		"/-/status.json":        RouteAdmin,
		"/-/cluster/join":       RouteAdmin,
		"/metrics":              RouteAdmin,
		"/favicon.ico":          RouteOther,
		"/robots.txt":           RouteOther,
		"/shop/t.x":             RouteOther,
		"/a/b/c/d.json":         RouteOther,
		"/shop//t.json":         RouteOther,
		"/shop/t/-/":            RouteOther,
		"/shop/t/-/x/y":         RouteOther,
		"/a/b/c/d/-/delete":     RouteOther,
		"/shop/t.json/":         RouteOther,
		// Changed with the one grammar: labelled as served.
		"/shop/%2D/query":  RouteQuery,    // public SQL ("row" before)
		"/%2D/status.json": RouteAdmin,    // the router sends it to admin ("table" before)
		"/-":               RouteDatabase, // the read path answers it ("admin" before)
		"/shop/t/-":        RouteRow,      // a row ("other" before)
		"///-/.json":       RouteWrite,
	} {
		rt, _ := ParseRoute(path)
		if got := rt.Label(); got != want {
			t.Errorf("ParseRoute(%q).Label() = %q, want %q", path, got, want)
		}
	}
}

func TestRoute_PK(t *testing.T) {
	for key, want := range map[string][]string{
		"7":            {"7"},
		"a,b":          {"a", "b"},
		"a%2Cb,c%2Fd":  {"a,b", "c/d"},
		",":            {"", ""},
		"a~2Cb,c~2Fd":  {"a,b", "c/d"},
		"x~7E~2E+y":    {"x~. y"},
		"%7E2C,~252C":  {"~2C", "%2C"},
		"%C3%BC~C3~BC": {"üü"},
	} {
		got, err := Route{Key: key}.PK()
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("PK(%q) = %q, %v; want %q", key, got, err, want)
		}
	}
	for _, bad := range []string{"a%zz", "a~zz", "a~2", "~", "a,%"} {
		if _, err := (Route{Key: bad}).PK(); ErrorCode(err) != EINVALID {
			t.Errorf("PK(%q): error %v, want %s", bad, err, EINVALID)
		}
	}
}

func TestTildeEncode(t *testing.T) {
	for in, want := range map[string]string{
		"plain": "plain", "a,b": "a~2Cb", "c/d": "c~2Fd", "t~x": "t~7Ex", "p.json": "p~2Ejson",
		"two words": "two+words", "1+1": "1~2B1", "50%": "50~25", "ü": "~C3~BC", "-_": "-_",
	} {
		if got := TildeEncode(in); got != want {
			t.Errorf("TildeEncode(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzPKSegment checks that primary key values survive a row path: the
// segment PKSegment writes is one path segment, never read as an
// extension, and parses (ParseRoute, then PK) back to the same values.
// The fuzzer's string is the values joined by NUL.
func FuzzPKSegment(f *testing.F) {
	for _, s := range []string{"1", "a,b\x001", "c/d", "t~x.json", "two words", "ünï", "%2C", "~2C", "", "\x00", "+", "x.csv"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, joined string) {
		values := strings.Split(joined, "\x00")
		seg := PKSegment(values)
		for _, ext := range []Format{FormatHTML, FormatJSON, FormatCSV} {
			path := "/d/t/" + seg + ext.Ext()
			rt, err := ParseRoute(path)
			if seg == "" {
				if err == nil {
					t.Fatalf("%q: an empty key parsed: %+v", path, rt)
				}
				continue
			}
			if err != nil || rt.Kind != KindRow || rt.Format != ext || rt.Key != seg {
				t.Fatalf("%q: %+v, %v", path, rt, err)
			}
			got, err := rt.PK()
			if err != nil || !slices.Equal(got, values) {
				t.Fatalf("%q: PK() = %q, %v; want %q", path, got, err, values)
			}
			if again := rt.Path(); again != path {
				t.Fatalf("%q renders as %q", path, again)
			}
		}
	})
}

func TestRoute_Path(t *testing.T) {
	for _, tt := range []struct {
		rt   Route
		want string
	}{
		{Route{Kind: KindRoot, Format: FormatJSON}, "/.json"},
		{Route{Kind: KindDatabase, DB: "a.json"}, "/a%2Ejson"},
		{Route{Kind: KindTable, Format: FormatCSV, DB: "d", Table: "a/b c"}, "/d/a%2Fb%20c.csv"},
		{Route{Kind: KindRow, Format: FormatJSON, DB: "d", Table: "t", Key: "a%2Cb,1"}, "/d/t/a%2Cb,1.json"},
		{Route{Kind: KindQuery, DB: "d"}, "/d/-/query"},
		{Route{Kind: KindRow, Format: FormatBlob, DB: "d", Table: "t", Key: "1"}, "/d/t/1.blob"},
		{Route{Kind: KindTable, DB: "d", Table: "x.blob"}, "/d/x%2Eblob"},
		{Route{Kind: KindWrite, DB: "d", Action: ActionPublish}, "/d/-/publish"},
		{Route{Kind: KindWrite, DB: "d", Table: "t", Action: ActionPublish}, "/d/t/-/publish"},
		{Route{Kind: KindWrite, DB: "d", Table: "t", Key: "1", Action: ActionDelete}, "/d/t/1/-/delete"},
		{Route{Kind: KindWrite, DB: "d", Table: "t", Key: "1", Action: ActionUpdate}, "/d/t/1/-/update"},
		{Route{Kind: KindWrite, DB: "d", Table: "t", Action: ActionDrop}, "/d/t/-/drop"},
		{Route{Kind: KindRow, DB: "d"}, ""},
	} {
		if got := tt.rt.Path(); got != tt.want {
			t.Errorf("%+v.Path() = %q, want %q", tt.rt, got, tt.want)
		}
	}
}

// FuzzRouteGrammar checks the grammar's properties on any path: no panic;
// a bounded label; ENOTFOUND for no route; a route renders to a path that
// parses back to it; a read is never labelled a write; and every
// /{db}/-/query path is a read, whatever the database's name.
func FuzzRouteGrammar(f *testing.F) {
	for _, s := range []string{
		"/", "/.json", "/.csv", "/db", "/db.json", "/db/t.json", "/db/t/1,2.json", "/a/b/c/d.json",
		"/db/-/query.json", "/db/-/query.csv", "/db/-/queryx", "/db/t/-/insert", "/db/t/a%2Cb/-/delete",
		"/db/t/a~2Cb/-/update", "/db/t/-/drop", "/db/t/1/-/drop", "/db/t/-/update",
		"/-/status.json", "/metrics", "/%zz.json", "/db/t%2Ejson", "/favicon.ico", "/db/%2D/query", "//-/create",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		rt, err := ParseRoute(path)
		label := rt.Label()
		if !slices.Contains(RouteLabels, label) {
			t.Fatalf("%q: label %q", path, label)
		}
		if rt.Kind.IsRead() && label == RouteWrite {
			t.Fatalf("%q: a read labelled %q", path, label)
		}
		if err != nil {
			if ErrorCode(err) != ENOTFOUND {
				t.Fatalf("%q: error %v", path, err)
			}
		} else {
			again, err := ParseRoute(rt.Path())
			if err != nil || again != rt {
				t.Fatalf("%q parses to %+v, rendered %q, which parses to %+v, %v", path, rt, rt.Path(), again, err)
			}
		}
		// Public SQL is a read for any database name (issue 15: it was
		// counted as a write).
		if db := path; db != "" && db != "-" {
			for _, ext := range []string{"", ".json", ".csv"} {
				q := "/" + url.PathEscape(db) + "/-/query" + ext
				got, err := ParseRoute(q)
				if err != nil || got.Kind != KindQuery || got.DB != db || got.Label() != RouteQuery {
					t.Fatalf("%q: %+v, %v", q, got, err)
				}
			}
		}
	})
}

func BenchmarkParseRoute(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if rt, err := ParseRoute("/demo/items/1.json"); err != nil || rt.Kind != KindRow {
			b.Fatal(rt, err)
		}
	}
}
