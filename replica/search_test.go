package replica

import (
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/tablecast/tablecast/replica/gate"
)

// ftsSchema is sqlite-utils' enable_fts (and tablecast's enable-fts):
// "{table}_fts" over the table's columns, content=table, with the
// triggers that keep it in step.
func ftsSchema(module, table string, cols ...string) []string {
	fts := table + "_fts"
	var news, olds []string
	for _, c := range cols {
		news = append(news, "new."+c)
		olds = append(olds, "old."+c)
	}
	list := strings.Join(cols, ", ")
	del := fmt.Sprintf(`INSERT INTO %s (%s, rowid, %s) VALUES('delete', old.rowid, %s);`, fts, fts, list, strings.Join(olds, ", "))
	if module == "FTS4" {
		// FTS4 deletes a row of an external-content index by its docid.
		del = fmt.Sprintf(`DELETE FROM %s WHERE docid = old.rowid;`, fts)
	}
	return []string{
		fmt.Sprintf("CREATE VIRTUAL TABLE [%s] USING %s (\n    %s,\n    content=[%s]\n)", fts, module, list, table),
		fmt.Sprintf(`INSERT INTO %s (rowid, %s) SELECT rowid, %s FROM %s`, fts, list, list, table),
		fmt.Sprintf(`CREATE TRIGGER %s_ai AFTER INSERT ON %s BEGIN INSERT INTO %s (rowid, %s) VALUES (new.rowid, %s); END`, table, table, fts, list, strings.Join(news, ", ")),
		fmt.Sprintf(`CREATE TRIGGER %s_ad AFTER DELETE ON %s BEGIN %s END`, table, table, del),
	}
}

// haveFTS5 reports whether this build has FTS5 (go test -tags sqlite_fts5).
func haveFTS5(t *testing.T) bool {
	t.Helper()
	db, err := sql.Open("sqlite3", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM pragma_module_list WHERE name = 'fts5'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// seedSearch makes "docs": articles (public, FTS4 index articles_fts),
// secrets (private, with its own index), notes (public, no index of its
// own but an index that claims it over the secrets' text), a_b (public)
// and aXb (private, indexed: Datasette's LIKE would take aXb's index for
// a_b), plain (public, no index).
func seedSearch(f *fixture, module string) { seedSearchInto(f, "docs", module) }

// seedSearchInto is seedSearch into database db.
func seedSearchInto(f *fixture, db, module string) {
	stmts := []string{gate.PublicTablesDDL,
		`CREATE TABLE articles (id INTEGER PRIMARY KEY, title TEXT, body TEXT, n INTEGER)`,
		`CREATE TABLE secrets (id INTEGER PRIMARY KEY, secret TEXT)`,
		`INSERT INTO secrets VALUES (1, 'hunter2 zebra'), (2, 'swordfish')`,
		`CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)`,
		`INSERT INTO notes VALUES (1, 'nothing here'), (2, 'nor here')`,
		`CREATE TABLE plain (id INTEGER PRIMARY KEY, text TEXT)`,
		`INSERT INTO plain VALUES (1, 'nothing here'), (2, 'nor here')`,
		`CREATE TABLE a_b (id INTEGER PRIMARY KEY, secret TEXT)`,
		`INSERT INTO a_b VALUES (1, 'public'), (2, 'public too')`,
		`CREATE TABLE aXb (id INTEGER PRIMARY KEY, secret TEXT)`,
		`INSERT INTO aXb VALUES (1, 'hunter2'), (2, 'other')`,
		// An index that names notes but holds the secrets' text.
		`CREATE VIRTUAL TABLE notes_fts USING ` + module + `(secret, content="notes")`,
		`INSERT INTO notes_fts (rowid, secret) SELECT id, secret FROM secrets`,
		publish("articles"), publish("notes"), publish("plain"), publish("a_b"),
	}
	for i := 1; i <= 25; i++ {
		title := fmt.Sprintf("article %d", i)
		body := "filler text"
		switch {
		case i%5 == 0:
			body = "zebra zebra zebra crossing"
		case i%2 == 0:
			body = "a zebra among many other words in a long body of text"
		}
		stmts = append(stmts, fmt.Sprintf(`INSERT INTO articles VALUES (%d, '%s', '%s', %d)`, i, title, body, i%3))
	}
	stmts = append(stmts, ftsSchema(module, "articles", "title", "body")...)
	stmts = append(stmts, ftsSchema(module, "secrets", "secret")...)
	stmts = append(stmts, ftsSchema(module, "aXb", "secret")...)
	f.MustExec(db, stmts...)
}

// rowIDs are the id fields of a JSON page's rows.
func rowIDs(t *testing.T, body map[string]any) []int {
	t.Helper()
	var out []int
	rows, _ := body["rows"].([]any)
	for _, r := range rows {
		out = append(out, int(r.(map[string]any)["id"].(float64)))
	}
	return out
}

func TestEscapeFTS(t *testing.T) {
	// Datasette's test_escape_fts cases.
	for in, want := range map[string]string{
		"dog": `"dog"`, "cat,": `"cat,"`, "cat dog": `"cat" "dog"`, `"cat dog"`: `"cat dog"`,
		`"cat dog" fish`: `"cat dog" "fish"`, `cat"`: `"cat"`, `"cat dog" "fish`: `"cat dog" "fish"`,
		"  a   OR  b ": `"a" "OR" "b"`, "": "",
	} {
		if got := escapeFTS(in); got != want {
			t.Errorf("escapeFTS(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseFTS(t *testing.T) {
	for _, c := range []struct {
		ddl, content, key string
		fts5              bool
		cols              []string
	}{
		{"CREATE VIRTUAL TABLE [t_fts] USING FTS5 (\n    [a], [b c],\n    content=[t]\n)", "t", "rowid", true, []string{"a", "b c"}},
		{`CREATE VIRTUAL TABLE "t_fts" USING fts4(a TEXT, "b""x", content="t")`, "t", "rowid", false, []string{"a", `b"x`}},
		{`create virtual table x using fts5(a, content='t', content_rowid='id', tokenize='porter ascii')`, "t", "id", true, []string{"a"}},
		{`CREATE VIRTUAL TABLE x USING fts5(a, content='')`, "", "rowid", true, []string{"a"}},
		{`CREATE VIRTUAL TABLE x USING fts3(a, b)`, "", "rowid", false, []string{"a", "b"}},
	} {
		idx := parseFTS("x", c.ddl)
		if idx == nil || idx.content != c.content || idx.key != c.key || idx.fts5 != c.fts5 || !slices.Equal(idx.columns, c.cols) {
			t.Errorf("parseFTS(%q) = %+v", c.ddl, idx)
		}
	}
	for _, ddl := range []string{`CREATE VIRTUAL TABLE x USING rtree(id, a, b)`, `CREATE VIRTUAL TABLE x USING fts5vocab(t_fts, 'row')`, `CREATE TABLE x (a)`} {
		if idx := parseFTS("x", ddl); idx != nil {
			t.Errorf("parseFTS(%q) = %+v, want nil", ddl, idx)
		}
	}
}

func TestReader_Search(t *testing.T) {
	modules := []string{"FTS4"}
	if haveFTS5(t) {
		modules = append(modules, "FTS5")
	} else {
		t.Log("no FTS5 in this build (go test -tags sqlite_fts5): FTS4 only")
	}
	for _, module := range modules {
		t.Run(module, func(t *testing.T) { testSearch(t, module) })
	}
}

func testSearch(t *testing.T, module string) {
	f := newFixture(t)
	seedSearch(f, module)
	get := func(path string) []int {
		t.Helper()
		status, body, raw := f.MustGet(path)
		if status != 200 {
			t.Fatalf("GET %s: %d %s", path, status, raw)
		}
		return rowIDs(t, body)
	}
	zebras := []int{2, 4, 5, 6, 8, 10, 12, 14, 15, 16, 18, 20, 22, 24, 25}

	t.Run("Search", func(t *testing.T) {
		got := get("/docs/articles.json?_search=zebra&_size=max")
		want := zebras
		if module == "FTS5" {
			// Relevance: the short bodies that say zebra three times first.
			want = []int{5, 10, 15, 20, 25, 2, 4, 6, 8, 12, 14, 16, 18, 22, 24}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		if got := get("/docs/articles.json?_search=zebra&_sort=id&_size=max"); !slices.Equal(got, zebras) {
			t.Fatalf("_sort=id: got %v", got)
		}
		if got := get("/docs/articles.json?_search=ZEBRA+crossing&_sort=id"); !slices.Equal(got, []int{5, 10, 15, 20, 25}) {
			t.Fatalf("two words: got %v", got)
		}
	})
	t.Run("Facets", func(t *testing.T) {
		// Facets count the searched rows, ranked (FTS5) or not: zebras
		// by n = id % 3 are 5 with 0, 5 with 1, 5 with 2 of 15.
		for _, q := range []string{"_search=zebra", "_search=zebra&_sort=id", "_search_body=zebra"} {
			status, body, raw := f.MustGet("/docs/articles.json?_facet=n&_extra=count&" + q)
			if status != 200 {
				t.Fatalf("%s: %d %s", q, status, raw)
			}
			if body["count"] != float64(len(zebras)) {
				t.Fatalf("%s: count %v", q, body["count"])
			}
			results := body["facet_results"].(map[string]any)["results"].(map[string]any)
			total := 0.0
			for _, v := range results["n"].(map[string]any)["results"].([]any) {
				total += v.(map[string]any)["count"].(float64)
			}
			if total != float64(len(zebras)) {
				t.Fatalf("%s: facet counts sum to %v, want %d: %s", q, total, len(zebras), raw)
			}
		}
	})
	t.Run("Escaped", func(t *testing.T) {
		// Escaped, OR is a word no row has; raw, it is the operator.
		if got := get("/docs/articles.json?_search=crossing+OR+among"); len(got) != 0 {
			t.Fatalf("escaped: got %v", got)
		}
		if got := get("/docs/articles.json?_search=crossing+OR+among&_searchmode=raw&_sort=id&_size=max"); !slices.Equal(got, zebras) {
			t.Fatalf("raw: got %v", got)
		}
		// Characters that are FTS syntax are searched as text; no word
		// (spaces, a lone quote) matches nothing.
		for _, q := range []string{`zebra"`, `zebra*`, `(zebra`, `title:zebra`, `-zebra`, `NEAR(zebra)`, "   ", `"`, `""`, `*`} {
			status, _, raw := f.MustGet("/docs/articles.json?_search=" + url.QueryEscape(q))
			if status != 200 {
				t.Errorf("_search=%s: %d %s", q, status, raw)
			}
		}
		status, _, raw := f.MustGet("/docs/articles.json?_search=" + url.QueryEscape(`zebra AND (`) + "&_searchmode=raw")
		if status != 400 || !strings.Contains(raw, "Invalid full-text search") {
			t.Fatalf("bad raw query: %d %s", status, raw)
		}
		status, _, raw = f.MustGet("/docs/articles.json?_search=zebra&_searchmode=fuzzy")
		if status != 400 || !strings.Contains(raw, "_searchmode") {
			t.Fatalf("bad mode: %d %s", status, raw)
		}
	})
	t.Run("Column", func(t *testing.T) {
		if got := get("/docs/articles.json?_search_title=zebra"); len(got) != 0 {
			t.Fatalf("title: got %v", got)
		}
		if got := get("/docs/articles.json?_search_body=crossing&_search_title=article&_sort=id"); !slices.Equal(got, []int{5, 10, 15, 20, 25}) {
			t.Fatalf("body and title: got %v", got)
		}
		// _search wins over _search_COL, as in Datasette.
		if got := get("/docs/articles.json?_search=crossing&_search_title=nothing&_sort=id"); !slices.Equal(got, []int{5, 10, 15, 20, 25}) {
			t.Fatalf("both: got %v", got)
		}
		status, _, raw := f.MustGet("/docs/articles.json?_search_n=1")
		if status != 400 || !strings.Contains(raw, "Cannot search by column n") {
			t.Fatalf("unindexed column: %d %s", status, raw)
		}
		status, _, raw = f.MustGet("/docs/articles/1.json?_search_body=x")
		if status != 400 || !strings.Contains(raw, "Unknown parameter _search_body") {
			t.Fatalf("row page: %d %s", status, raw)
		}
	})
	t.Run("FiltersCountPages", func(t *testing.T) {
		status, body, raw := f.MustGet("/docs/articles.json?_search=zebra&n=1&_extra=count&_size=2")
		if status != 200 || body["count"] != float64(5) {
			t.Fatalf("count: %d %s", status, raw)
		}
		// Every page of the chain, each row once, in one order.
		all := get("/docs/articles.json?_search=zebra&_size=max")
		var seen []int
		next := "/docs/articles.json?_search=zebra&_size=4"
		for next != "" {
			_, body, raw := f.MustGet(next)
			seen = append(seen, rowIDs(t, body)...)
			next, _ = body["next_url"].(string)
			if len(seen) > 30 {
				t.Fatalf("no end: %s", raw)
			}
		}
		if !slices.Equal(seen, all) {
			t.Fatalf("pages %v, want %v", seen, all)
		}
	})
	t.Run("EmptySearchIsNoSearch", func(t *testing.T) {
		if got := get("/docs/articles.json?_search=&_size=max"); len(got) != 25 {
			t.Fatalf("got %d rows", len(got))
		}
	})
	t.Run("FollowsWrites", func(t *testing.T) {
		f.MustExec("docs", `INSERT INTO articles VALUES (26, 'okapi', 'an okapi', 0)`)
		if got := get("/docs/articles.json?_search=okapi"); !slices.Equal(got, []int{26}) {
			t.Fatalf("after insert: %v", got)
		}
		f.MustExec("docs", `DELETE FROM articles WHERE id = 26`)
		if got := get("/docs/articles.json?_search=okapi"); len(got) != 0 {
			t.Fatalf("after delete: %v", got)
		}
	})
	t.Run("NoIndex", func(t *testing.T) {
		status, _, raw := f.MustGet("/docs/plain.json?_search=here")
		if status != 400 || !strings.Contains(raw, "Table plain has no full-text search index") {
			t.Fatalf("%d %s", status, raw)
		}
	})
}

// CSV pages and streams search too.
func TestReader_SearchCSV(t *testing.T) {
	f := newFixture(t)
	seedSearch(f, "FTS4")
	for _, path := range []string{"/docs/articles.csv?_search=crossing&_sort=id", "/docs/articles.csv?_search=crossing&_sort=id&_stream=on"} {
		status, _, body := f.MustFetch(path)
		want := "id,title,body,n\r\n5,article 5,zebra zebra zebra crossing,2\r\n10,article 10,zebra zebra zebra crossing,1\r\n" +
			"15,article 15,zebra zebra zebra crossing,0\r\n20,article 20,zebra zebra zebra crossing,2\r\n25,article 25,zebra zebra zebra crossing,1\r\n"
		if status != 200 || body != want {
			t.Fatalf("%s: %d %q", path, status, body)
		}
	}
}

// ftsShadows are the shadow tables of an external-content index.
var ftsShadows = map[string][]string{
	"FTS4": {"_segments", "_segdir", "_docsize", "_stat"},
	"FTS5": {"_data", "_idx", "_docsize", "_config"},
}

// searchModules are the FTS modules of this build.
func searchModules(t *testing.T) []string {
	if haveFTS5(t) {
		return []string{"FTS4", "FTS5"}
	}
	t.Log("no FTS5 in this build (go test -tags sqlite_fts5): FTS4 only")
	return []string{"FTS4"}
}

// A search of a private table, its index, the index's shadow tables, and
// an index that claims a public table over other text all answer as a
// missing table (or a table without an index) does, byte for byte:
// table pages in every format, and public SQL.
func TestSearch_PrivateAnswersAsMissing(t *testing.T) {
	for _, module := range searchModules(t) {
		t.Run(module, func(t *testing.T) {
			f := newFixture(t)
			seedSearch(f, module)
			f.MustExec("docs", publicDB(false, true)...)
			compare := func(a, b, nameA, nameB string) {
				t.Helper()
				x := observe(t, f.reader, "GET", a, nameA)
				y := observe(t, f.reader, "GET", b, nameB)
				if x.status != y.status || x.body != y.body || !sameHeaders(x.header, y.header) {
					t.Errorf("%s vs %s:\n  %d %v %q\n  %d %v %q", a, b, x.status, x.header, x.body, y.status, y.header, y.body)
				}
				if x.status == 200 {
					t.Errorf("%s: 200 %q", a, x.body)
				}
			}
			suffixes := []string{".json?_search=hunter2", "?_search=hunter2", ".csv?_search=hunter2", ".csv?_search=hunter2&_stream=on",
				".json?_search_secret=hunter2", ".json?_search=hunter2&_searchmode=raw", ".json?_searchmode=raw",
				".json?_search=hunter2&_where=1", ".json?_search=" + url.QueryEscape("hunter2 OR (") + "&_searchmode=raw",
				".json?_search_nope=x", ".json?_search=hunter2&_extra=count&_sort=id", "?_search=zebra&_next=1"}
			private := []string{"secrets", "secrets_fts", "articles_fts", "notes_fts", "aXb", "aXb_fts"}
			for _, name := range slices.Clone(private) {
				if strings.HasSuffix(name, "_fts") {
					for _, sh := range ftsShadows[module] {
						private = append(private, name+sh)
					}
				}
			}
			for _, name := range private {
				for _, suf := range append(suffixes, ".json", "", ".csv", "/1.json") {
					compare("/docs/"+name+suf, "/docs/missingtable"+suf, name, "missingtable")
				}
				for _, sql := range []string{"select * from NAME", "select count(*) from NAME", "select rowid from NAME where NAME match 'hunter2'"} {
					q := "/docs.json?sql=" + url.QueryEscape(strings.ReplaceAll(sql, "NAME", name))
					compare(q, strings.ReplaceAll(q, name, "missingtable"), name, "missingtable")
				}
			}
			// An index that claims notes (content="notes") but holds other
			// text, and one of aXb that Datasette's LIKE would take for a_b:
			// notes and a_b have no index, as plain has none.
			for _, name := range []string{"notes", "a_b"} {
				for _, suf := range []string{".json?_search=hunter2", ".json?_search_secret=hunter2", "?_search=hunter2", ".csv?_search=hunter2"} {
					compare("/docs/"+name+suf, "/docs/plain"+suf, name, "plain")
				}
				_, _, page := f.MustFetch("/docs/" + name)
				if strings.Contains(page, `name="_search"`) {
					t.Errorf("%s: a search box on a table without an index", name)
				}
			}
		})
	}
}

// Creating or dropping a private index changes nothing a visitor sees of
// a public table without one.
func TestSearch_PrivateIndexChangesNothing(t *testing.T) {
	f := newFixture(t)
	seedSearch(f, "FTS4")
	paths := []string{"/docs/plain.json?_search=here", "/docs/plain", "/docs/plain.json", "/docs/notes.json?_search=hunter2", "/docs/notes"}
	before := map[string]answer{}
	for _, p := range paths {
		before[p] = observe(t, f.reader, "GET", p, "")
	}
	f.MustExec("docs", `CREATE VIRTUAL TABLE plain_fts USING fts4(text, content="secrets")`,
		`CREATE VIRTUAL TABLE plain_fts2 USING fts4(text)`, `INSERT INTO plain_fts2 (rowid, text) SELECT id, secret FROM secrets`,
		`CREATE VIRTUAL TABLE x_fts USING fts4(text, content="PLAIN_")`)
	for _, p := range paths {
		a, b := before[p], observe(t, f.reader, "GET", p, "")
		a.header.Del("Etag")
		b.header.Del("Etag")
		a.header.Del("Tablecast-Txid")
		b.header.Del("Tablecast-Txid")
		if a.status != b.status || a.body != b.body || !sameHeaders(a.header, b.header) {
			t.Errorf("%s changed:\n  %d %q\n  %d %q", p, a.status, a.body, b.status, b.body)
		}
	}
}

// Public SQL reaches an index only when its owner publishes it: then a
// MATCH query on it runs; unpublished again, it is a missing table.
func TestSearch_PublishedIndexInPublicSQL(t *testing.T) {
	for _, module := range searchModules(t) {
		t.Run(module, func(t *testing.T) {
			f := newFixture(t)
			seedSearch(f, module)
			f.MustExec("docs", publicDB(false, true)...)
			q := "/docs.json?_shape=array&sql=" + url.QueryEscape("select rowid from articles_fts where articles_fts match 'crossing' order by rowid")
			status, _, body := f.MustFetch(q)
			if status != 400 || !strings.Contains(body, "no such table: articles_fts") {
				t.Fatalf("unpublished: %d %s", status, body)
			}
			f.MustExec("docs", publish("articles_fts"))
			status, _, body = f.MustFetch(q)
			if want := `[{"rowid":5},{"rowid":10},{"rowid":15},{"rowid":20},{"rowid":25}]`; status != 200 || strings.TrimSpace(body) != want {
				t.Fatalf("published: %d %s, want %s", status, body, want)
			}
			// Its own table page searches it, ranked with FTS5.
			_, own, _ := f.MustGet("/docs/articles_fts.json?_search=zebra&_size=max&_col=title")
			if rows, _ := own["rows"].([]any); len(rows) != 15 {
				t.Fatalf("own search: %v", own)
			}
			status, _, body = f.MustFetch("/docs/articles_fts.json?_search=crossing&_shape=arrays&_col=title&_sort=rowid")
			if status != 200 || !strings.Contains(body, `"article 5"`) {
				t.Fatalf("table page: %d %s", status, body)
			}
			// Publishing one index opens none other: secrets' stays missing.
			for _, name := range append([]string{"secrets_fts"}, ftsShadows[module]...) {
				if strings.HasPrefix(name, "_") {
					name = "secrets_fts" + name
				}
				sq := "/docs.json?sql=" + url.QueryEscape("select * from "+name)
				x := observe(t, f.reader, "GET", sq, name)
				y := observe(t, f.reader, "GET", strings.ReplaceAll(sq, name, "missingtable"), "missingtable")
				if x.status != y.status || x.body != y.body || !sameHeaders(x.header, y.header) {
					t.Errorf("%s: %d %s vs %d %s", name, x.status, x.body, y.status, y.body)
				}
			}
			// The published index's own shadow tables, read directly, are
			// still refused: the module reads them, the query may not.
			for _, sh := range ftsShadows[module] {
				status, _, body := f.MustFetch("/docs.json?sql=" + url.QueryEscape("select * from articles_fts"+sh))
				if status != 400 {
					t.Errorf("articles_fts%s read directly: %d %s", sh, status, body)
				}
			}
			f.MustExec("docs", `DELETE FROM _public_tables WHERE table_name = 'articles_fts'`)
			status, _, body = f.MustFetch(q)
			if status != 400 || !strings.Contains(body, "no such table: articles_fts") {
				t.Fatalf("unpublished again: %d %s", status, body)
			}
		})
	}
}

// _search with _where (public SQL on): the index is not published, yet
// the page searches, in the same order as without _where.
func TestSearch_WithWhere(t *testing.T) {
	for _, module := range searchModules(t) {
		t.Run(module, func(t *testing.T) {
			f := newFixture(t)
			seedSearch(f, module)
			f.MustExec("docs", publicDB(false, true)...)
			_, plain, _ := f.MustGet("/docs/articles.json?_search=zebra&_size=max&n=1")
			status, body, raw := f.MustGet("/docs/articles.json?_search=zebra&_size=max&_where=" + url.QueryEscape("n = 1") + "&_extra=count")
			if status != 200 || body["count"] != float64(5) || !slices.Equal(rowIDs(t, body), rowIDs(t, plain)) {
				t.Fatalf("%d %s, want the rows of %v", status, raw, rowIDs(t, plain))
			}
			var seen []int
			next := "/docs/articles.json?_search=zebra&_size=2&_where=" + url.QueryEscape("id > 3")
			for next != "" && len(seen) < 30 {
				_, body, _ := f.MustGet(next)
				seen = append(seen, rowIDs(t, body)...)
				next, _ = body["next_url"].(string)
			}
			_, all, _ := f.MustGet("/docs/articles.json?_search=zebra&_size=max&id__gt=3")
			if !slices.Equal(seen, rowIDs(t, all)) {
				t.Fatalf("pages with _where %v, want %v", seen, rowIDs(t, all))
			}
		})
	}
}

// The table page of a searchable table has a search box that keeps the
// search, the order and the filters; the next page keeps the search.
func TestSearch_HTML(t *testing.T) {
	f := newFixture(t)
	seedSearch(f, "FTS4")
	_, _, page := f.MustFetch("/docs/articles?_search=zebra&n=1&_size=2&_sort=id")
	for _, want := range []string{`<form class="search"`, `name="_search" value="zebra"`, `<input type="hidden" name="n" value="1">`,
		`<input type="hidden" name="_size" value="2">`, `search matches &#34;zebra&#34;`, `_search=zebra`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
	if !strings.Contains(page, `id="next"`) || !strings.Contains(page[strings.Index(page, `id="next"`):], "_search=zebra") {
		t.Errorf("next link without the search:\n%s", page)
	}
	_, _, page = f.MustFetch("/docs/plain")
	if strings.Contains(page, `class="search"`) {
		t.Errorf("search box on a table without an index")
	}
	// The page was cached; an index made since (a schema change, no write
	// to plain) brings the box.
	f.MustExec("docs", `CREATE VIRTUAL TABLE plain_fts USING fts4(text, content="plain")`)
	_, _, page = f.MustFetch("/docs/plain")
	if !strings.Contains(page, `class="search"`) {
		t.Errorf("no search box after the index was made")
	}
}

// A read token searches a private table with its index; anonymous, the
// same URL answers as a missing table.
func TestSearch_ReadToken(t *testing.T) {
	f := newFixture(t)
	seedSearch(f, "FTS4")
	f.reader.Tokens = &fakeReadTokens{secrets: map[string]bool{"reader": true}}
	status, _, body := f.MustFetch("/docs/secrets.json?_search=hunter2&_shape=array", "Authorization", "Bearer reader")
	if status != 200 || !strings.Contains(body, `"secret":"hunter2 zebra"`) {
		t.Fatalf("with a read token: %d %s", status, body)
	}
	if status, _, body := f.MustFetch("/docs/secrets.json?_search=hunter2&_shape=array"); status != 404 {
		t.Fatalf("anonymous: %d %s", status, body)
	}
}

// FuzzSearch searches the tables of a database with private tables and
// private indexes (one over the private text that claims a public table)
// and of its twin without them: every answer is the same, whatever the
// search, its mode and column. A private index answers no public search,
// and a private table's search is a missing table's.
func FuzzSearch(f *testing.F) {
	for _, q := range []string{"zebra", "hunter2", `"zebra crossing"`, "zebra OR hunter2", "NEAR(hunter2 zebra)", "*",
		"secret:hunter2", `"`, "hunter*", "swordfish", "title:article AND body:zebra", "{secret}: hunter2"} {
		f.Add(q, false, uint8(0), uint8(0))
		f.Add(q, true, uint8(3), uint8(1))
		f.Add(q, false, uint8(1), uint8(3))
	}
	fx := newFixture(f)
	seedSearch(fx, "FTS4")
	seedSearchTwin(fx)
	tables := []string{"articles", "notes", "a_b", "plain", "secrets", "aXb", "articles_fts", "notes_fts", "secrets_fts"}
	params := []string{"_search", "_search_title", "_search_body", "_search_secret", "_search_text"}
	f.Fuzz(func(t *testing.T, q string, raw bool, table, param uint8) {
		v := url.Values{params[int(param)%len(params)]: {q}, "_shape": {"array"}}
		if raw {
			v.Set("_searchmode", "raw")
		}
		name := tables[int(table)%len(tables)]
		path := "/NAME/" + name + ".json?" + v.Encode()
		s1, b1 := serveRecorded(fx.reader, strings.ReplaceAll(path, "NAME", "docs"))
		s2, b2 := serveRecorded(fx.reader, strings.ReplaceAll(path, "NAME", "twin"))
		if s1 != s2 || strings.ReplaceAll(b1, "docs", "twin") != b2 {
			t.Fatalf("%s:\n  docs %d %s\n  twin %d %s", path, s1, b1, s2, b2)
		}
		// A private text must not show, unless the visitor wrote it (an
		// error message may quote the search: "NEAR(hunter2 zebra)").
		for _, secret := range []string{"swordfish", "hunter2 zebra"} {
			if strings.Contains(b1, secret) && !strings.Contains(q, secret) {
				t.Fatalf("%s: a secret in %s", path, b1)
			}
		}
	})
}

// serveRecorded is h's status and body for a GET of path.
func serveRecorded(h http.Handler, path string) (int, string) {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
	return w.Code, w.Body.String()
}

// seedSearchTwin makes "twin": docs's public tables and index, none of
// its private tables or indexes.
func seedSearchTwin(f *fixture) {
	seedSearchInto(f, "twin", "FTS4")
	f.MustExec("twin", `DROP TABLE secrets`, `DROP TABLE secrets_fts`, `DROP TABLE notes_fts`, `DROP TABLE aXb`, `DROP TABLE aXb_fts`)
}

// An index made by a tablecast write that bumps another table's version
// (the schema changes, the table's version and the offset stay) brings
// the search box of the table's cached page, and its searches.
func TestSearch_IndexBehindCache(t *testing.T) {
	f := newFixture(t)
	f.MustExec("c", versionedWrite("a", gate.PublicTablesDDL, gate.TableVersionsDDL,
		`CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT)`, `INSERT INTO a VALUES (1, 'zebra'), (2, 'okapi')`, publish("a"))...)
	_, _, page := f.MustFetch("/c/a")
	if strings.Contains(page, `class="search"`) {
		t.Fatal("a search box before the index")
	}
	status, _, body := f.MustFetch("/c/a.json?_search=zebra")
	if status != 400 {
		t.Fatalf("search before the index: %d %s", status, body)
	}
	f.MustExec("c", versionedWrite("other", `CREATE VIRTUAL TABLE a_fts USING fts4(v, content="a")`,
		`INSERT INTO a_fts (rowid, v) SELECT id, v FROM a`)...)
	_, _, page = f.MustFetch("/c/a")
	if !strings.Contains(page, `class="search"`) {
		t.Error("no search box after the index was made (a stale cached page)")
	}
	status, _, body = f.MustFetch("/c/a.json?_search=zebra&_shape=array")
	if status != 200 || strings.TrimSpace(body) != `[{"id":1,"v":"zebra"}]` {
		t.Errorf("search after the index: %d %s", status, body)
	}
}
