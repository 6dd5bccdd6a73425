package replica

import (
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tablecast/tablecast/replica/gate"
)

// cannedTx runs fn in one transaction on db (as the primary would) and
// bumps the database's TXID once, as LiteFS does for the commit.
func cannedTx(f *fixture, db string, fn func(ctx context.Context, tx *sql.Tx) error) {
	f.t.Helper()
	if f.dbs[db] == nil {
		f.MustExec(db, gate.DDL) // opens the database
	}
	ctx := context.Background()
	tx, err := f.dbs[db].BeginTx(ctx, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := gate.CreateTables(ctx, tx); err != nil {
		f.t.Fatal(err)
	}
	if err := fn(ctx, tx); err != nil {
		f.t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		f.t.Fatal(err)
	}
	f.MustExec(db)
}

// defineQuery stores a canned query, public or not, as the primary does.
func defineQuery(f *fixture, db, name, text string, public bool, params ...string) {
	f.t.Helper()
	cannedTx(f, db, func(ctx context.Context, tx *sql.Tx) error {
		q := gate.CannedQuery{Name: name, SQL: text, Title: "Title of " + name, Description: "About *" + name + "*",
			DescriptionHTML: "<p>About <em>" + name + "</em></p>", Params: params}
		if err := gate.DefineQuery(ctx, tx, q, "test"); err != nil {
			return err
		}
		return gate.SetQueryPublic(ctx, tx, name, public, "test")
	})
}

func setMeta(f *fixture, db, table, column string, kv ...string) {
	f.t.Helper()
	keys := map[string]*string{}
	for i := 0; i < len(kv); i += 2 {
		v := kv[i+1]
		keys[kv[i]] = &v
	}
	cannedTx(f, db, func(ctx context.Context, tx *sql.Tx) error {
		return gate.SetMetadata(ctx, tx, table, column, keys, "test")
	})
}

func seedCanned(f *fixture) {
	seedDemo(f) // cities, big public; secrets, leak private
	defineQuery(f, "demo", "by_name", `SELECT id, name FROM cities WHERE name = :name`, true, "name")
	defineQuery(f, "demo", "secret_count", `SELECT count(*) AS n, max(secret) AS s FROM secrets WHERE id >= :min`, true, "min")
	defineQuery(f, "demo", "secretq", `SELECT secret FROM secrets`, false)
}

func TestCanned_Runs(t *testing.T) {
	f := newFixture(t)
	seedCanned(f)
	t.Run("JSON", func(t *testing.T) {
		status, body, raw := f.MustGet("/demo/by_name.json?name=Oslo")
		if status != 200 {
			t.Fatalf("status %d: %s", status, raw)
		}
		want := `{"ok":true,"database":"demo","query_name":"by_name","rows":[{"id":3,"name":"Oslo"}],"truncated":false,"columns":["id","name"],` +
			`"query":{"sql":"SELECT id, name FROM cities WHERE name = :name","params":{"name":"Oslo"}},"title":"Title of by_name","description":"About *by_name*"}`
		if strings.TrimSpace(raw) != want {
			t.Fatalf("got  %s\nwant %s", raw, want)
		}
		_ = body
	})
	t.Run("PublicQueryReadsPrivateTable", func(t *testing.T) {
		status, _, raw := f.MustFetch("/demo/secret_count.json?min=1&_shape=array")
		if status != 200 || strings.TrimSpace(raw) != `[{"n":1,"s":"hunter2"}]` {
			t.Fatalf("status %d: %s", status, raw)
		}
	})
	t.Run("CSV", func(t *testing.T) {
		status, _, body := f.MustFetch("/demo/by_name.csv?name=London")
		if status != 200 || body != "id,name\r\n1,London\r\n" {
			t.Fatalf("status %d: %q", status, body)
		}
	})
	t.Run("ParametersAreBoundNotSpliced", func(t *testing.T) {
		for _, inj := range []string{"x' OR '1'='1", "Oslo' --", "'; DROP TABLE cities; --", "Oslo\" OR 1=1"} {
			status, body, raw := f.MustGet("/demo/by_name.json?name=" + url.QueryEscape(inj))
			if status != 200 || len(body["rows"].([]any)) != 0 {
				t.Fatalf("%q: status %d: %s", inj, status, raw)
			}
		}
		if status, body, _ := f.MustGet("/demo/cities.json"); status != 200 || len(body["rows"].([]any)) != 3 {
			t.Fatalf("cities after injections: %d %v", status, body)
		}
	})
	t.Run("OtherParametersRefused", func(t *testing.T) {
		for _, p := range []string{"_sort=id", "_where=1", "_size=1", "_facet=name"} {
			status, _, raw := f.MustGet("/demo/by_name.json?name=Oslo&" + p)
			if status != 400 || !strings.Contains(raw, "Invalid parameter for the canned query by_name") {
				t.Fatalf("%s: %d %s", p, status, raw)
			}
		}
		if status, _, raw := f.MustFetch("/demo/by_name.csv?_stream=on"); status != 400 {
			t.Fatalf("_stream: %d %s", status, raw)
		}
	})
	t.Run("HTMLForm", func(t *testing.T) {
		status, _, body := f.MustFetch("/demo/by_name?name=Sydney")
		for _, want := range []string{`<input name="name" value="Sydney">`, "<td", "Sydney", "<p>About <em>by_name</em></p>", "Title of by_name", "SELECT id, name FROM cities"} {
			if !strings.Contains(body, want) {
				t.Fatalf("status %d, page lacks %q:\n%s", status, want, body)
			}
		}
	})
	t.Run("TakesPrecedenceOverTable", func(t *testing.T) {
		defineQuery(f, "demo", "cities", `SELECT 'from the query' AS q`, true)
		if _, _, raw := f.MustGet("/demo/cities.json"); !strings.Contains(raw, "from the query") {
			t.Fatalf("public query does not shadow the table: %s", raw)
		}
		// A private query of a public table's name shadows nothing.
		defineQuery(f, "demo", "cities", `SELECT 'from the query' AS q`, false)
		if _, body, raw := f.MustGet("/demo/cities.json"); strings.Contains(raw, "from the query") || len(body["rows"].([]any)) != 3 {
			t.Fatalf("private query shadows the table: %s", raw)
		}
	})
	t.Run("ChangeMovesCacheKey", func(t *testing.T) {
		// One write, as the primary makes it: the table's version and the
		// offset stay, the query's answer must not.
		_, _, a := f.MustGet("/demo/cities.json")
		cannedTx(f, "demo", func(ctx context.Context, tx *sql.Tx) error {
			return gate.DefineQuery(ctx, tx, gate.CannedQuery{Name: "cities", SQL: `SELECT 'changed' AS q`}, "test")
		})
		cannedTx(f, "demo", func(ctx context.Context, tx *sql.Tx) error {
			return gate.SetQueryPublic(ctx, tx, "cities", true, "test")
		})
		if _, _, b := f.MustGet("/demo/cities.json"); a == b || !strings.Contains(b, "changed") {
			t.Fatalf("stale answer after publishing a query:\n%s\n%s", a, b)
		}
		cannedTx(f, "demo", func(ctx context.Context, tx *sql.Tx) error {
			return gate.DefineQuery(ctx, tx, gate.CannedQuery{Name: "cities", SQL: `SELECT 'changed again' AS q`}, "test")
		})
		if _, _, c := f.MustGet("/demo/cities.json"); !strings.Contains(c, "changed again") {
			t.Fatalf("stale answer after redefining a query: %s", c)
		}
		cannedTx(f, "demo", func(ctx context.Context, tx *sql.Tx) error { return gate.DropQuery(ctx, tx, "cities", "test") })
		if _, body, raw := f.MustGet("/demo/cities.json"); body["rows"] == nil || len(body["rows"].([]any)) != 3 {
			t.Fatalf("dropped query still answers: %s", raw)
		}
	})
	t.Run("Limits", func(t *testing.T) {
		f.reader.SQLMaxRows = 5
		defineQuery(f, "demo", "many", `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) SELECT i FROM n`, true)
		_, body, raw := f.MustGet("/demo/many.json")
		if body["truncated"] != true || len(body["rows"].([]any)) != 5 {
			t.Fatalf("row limit: %s", raw)
		}
		f.reader.SQLTimeLimit = 50 * time.Millisecond
		defineQuery(f, "demo", "slow", `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n`, true)
		status, _, raw := f.MustGet("/demo/slow.json")
		if status != 400 || !strings.Contains(raw, "took too long") {
			t.Fatalf("time limit: %d %s", status, raw)
		}
	})
}

// sameAnswer fetches a path of a private thing and of a missing one, the
// name of each replaced by NAME, and fails unless they are identical.
func sameAnswer(t *testing.T, f *fixture, private, missing, privName, missName string) {
	t.Helper()
	a := strings.ReplaceAll(fetched(f, private), privName, "NAME")
	b := strings.ReplaceAll(fetched(f, missing), missName, "NAME")
	if a != b {
		t.Fatalf("%s and %s differ:\n%s\n----\n%s", private, missing, a, b)
	}
}

func TestCanned_PrivateIsMissing(t *testing.T) {
	f := newFixture(t)
	seedCanned(f)
	for _, suffix := range []string{".json", ".csv", "", ".json?x=1", ".csv?_stream=on", "?_sort=id", ".json?_shape=bad"} {
		sameAnswer(t, f, "/demo/secretq"+suffix, "/demo/missing"+suffix, "secretq", "missing")
	}
	// Reserved tables, by URL and through public SQL.
	for _, name := range []string{gate.CannedQueriesTable, gate.MetadataTable} {
		miss := "_" + strings.Repeat("x", len(name)-1)
		sameAnswer(t, f, "/demo/"+name+".json", "/demo/"+miss+".json", name, miss)
		sameAnswer(t, f, "/demo/"+name, "/demo/"+miss, name, miss)
	}
	f.MustExec("demo", gate.PublicDatabaseDDL, `INSERT OR REPLACE INTO _public_database VALUES (1, 0, 1, 'now', 'test')`)
	for _, name := range []string{gate.CannedQueriesTable, gate.MetadataTable} {
		miss := strings.Repeat("x", len(name))
		sameAnswer(t, f, sqlPath("demo", "json", "SELECT * FROM "+name), sqlPath("demo", "json", "SELECT * FROM "+miss), name, miss)
	}

	t.Run("Listings", func(t *testing.T) {
		// /demo.json lists the public queries only: the private one leaves
		// it exactly as when it did not exist.
		before := fetched(f, "/demo.json")
		_, body, _ := f.MustGet("/demo.json")
		qs := body["queries"].([]any)
		if len(qs) != 2 {
			t.Fatalf("queries: %v", qs)
		}
		cannedTx(f, "demo", func(ctx context.Context, tx *sql.Tx) error { return gate.DropQuery(ctx, tx, "secretq", "test") })
		if after := fetched(f, "/demo.json"); stripETag(after) != stripETag(before) {
			t.Fatalf("private query shows in /demo.json:\n%s\n%s", before, after)
		}
		beforeHTML := fetched(f, "/demo")
		defineQuery(f, "demo", "secretq", `SELECT secret FROM secrets`, false)
		if after := fetched(f, "/demo"); stripETag(after) != stripETag(beforeHTML) {
			t.Fatalf("private query shows on /demo:\n%s\n%s", beforeHTML, after)
		}
	})
	t.Run("DatabaseWithOnlyAPrivateQueryIsMissing", func(t *testing.T) {
		f.MustExec("hidden", gate.PublicTablesDDL, `CREATE TABLE t (x)`)
		defineQuery(f, "hidden", "q", `SELECT 1`, false)
		sameAnswer(t, f, "/hidden.json", "/nosuch.json", "hidden", "nosuch")
		sameAnswer(t, f, "/hidden/q.json", "/nosuch/q.json", "hidden", "nosuch")
		if _, _, raw := f.MustGet("/.json"); strings.Contains(raw, "hidden") {
			t.Fatalf("/.json lists hidden: %s", raw)
		}
		// Public, the query makes the database visible.
		defineQuery(f, "hidden", "q", `SELECT 1 AS one`, true)
		if status, _, raw := f.MustGet("/hidden/q.json"); status != 200 {
			t.Fatalf("public query of hidden: %d %s", status, raw)
		}
	})
}

func stripETag(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(l, "Etag:") && !strings.HasPrefix(l, "Tablecast-Txid:") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func metadataJSON(f *fixture) string {
	rec := httptest.NewRecorder()
	f.reader.ServeMetadata(rec, httptest.NewRequest(http.MethodGet, "/-/metadata.json", nil))
	return rec.Body.String()
}

func TestCanned_Metadata(t *testing.T) {
	f := newFixture(t)
	seedCanned(f)
	setMeta(f, "demo", "", "", "title", "Demo data", "license", "CC BY 4.0", "license_url", "https://creativecommons.org/licenses/by/4.0/",
		"description_html", "<p>Cities <strong>and</strong> more</p>")
	setMeta(f, "demo", "cities", "", "title", "World cities", "source", "Atlas", "source_url", "https://example.org/atlas")
	setMeta(f, "demo", "cities", "name", "description", "Name in English")
	setMeta(f, "demo", "cities", "id", "unit", "count")

	t.Run("PrivateTableMetadataIsMissing", func(t *testing.T) {
		before := metadataJSON(f)
		beforeDB := stripETag(fetched(f, "/demo.json"))
		setMeta(f, "demo", "secrets", "", "title", "Top secret", "description_html", "<p>hunter2</p>")
		setMeta(f, "demo", "secrets", "secret", "description", "the password")
		if after := metadataJSON(f); after != before {
			t.Fatalf("/-/metadata.json shows a private table:\n%s\n%s", before, after)
		}
		if after := stripETag(fetched(f, "/demo.json")); after != beforeDB {
			t.Fatalf("/demo.json shows a private table's metadata:\n%s\n%s", beforeDB, after)
		}
		sameAnswer(t, f, "/demo/secrets.json?_extra=metadata", "/demo/missing.json?_extra=metadata", "secrets", "missing")
		// Published, it shows.
		f.MustExec("demo", publish("secrets"))
		if after := metadataJSON(f); !strings.Contains(after, "Top secret") {
			t.Fatalf("public table's metadata missing: %s", after)
		}
		f.MustExec("demo", `DELETE FROM _public_tables WHERE table_name = 'secrets'`)
	})
	t.Run("MetadataJSON", func(t *testing.T) {
		got := metadataJSON(f)
		want := `{"databases":{"demo":{"title":"Demo data","description_html":"<p>Cities <strong>and</strong> more</p>","license":"CC BY 4.0",` +
			`"license_url":"https://creativecommons.org/licenses/by/4.0/","tables":{"cities":{"title":"World cities","source":"Atlas",` +
			`"source_url":"https://example.org/atlas","columns":{"name":"Name in English"},"units":{"id":"count"}}},` +
			`"queries":{"by_name":{"sql":"SELECT id, name FROM cities WHERE name = :name","title":"Title of by_name","description":"About *by_name*","params":["name"]},` +
			`"secret_count":{"sql":"SELECT count(*) AS n, max(secret) AS s FROM secrets WHERE id >= :min","title":"Title of secret_count","description":"About *secret_count*","params":["min"]}}}}}`
		if strings.TrimSpace(got) != want {
			t.Fatalf("got  %s\nwant %s", got, want)
		}
	})
	t.Run("TableExtra", func(t *testing.T) {
		_, _, raw := f.MustGet("/demo/cities.json?_extra=metadata&_size=1")
		if !strings.Contains(raw, `"metadata":{"title":"World cities","source":"Atlas","source_url":"https://example.org/atlas","columns":{"name":"Name in English"},"units":{"id":"count"}}`) {
			t.Fatalf("_extra=metadata: %s", raw)
		}
		_, _, raw = f.MustGet("/demo/big.json?_extra=metadata")
		if !strings.Contains(raw, `"metadata":{}`) {
			t.Fatalf("_extra=metadata without any: %s", raw)
		}
	})
	t.Run("Pages", func(t *testing.T) {
		_, _, page := f.MustFetch("/demo/cities")
		for _, want := range []string{"<h1>World cities", `<a href="https://example.org/atlas" rel="nofollow">Atlas</a>`, "Name in English", "(count)"} {
			if !strings.Contains(page, want) {
				t.Fatalf("table page lacks %q:\n%s", want, page)
			}
		}
		_, _, page = f.MustFetch("/demo")
		for _, want := range []string{"<h1>Demo data", "<p>Cities <strong>and</strong> more</p>", "CC BY 4.0", `href="/demo/by_name"`, "Title of by_name"} {
			if !strings.Contains(page, want) {
				t.Fatalf("database page lacks %q:\n%s", want, page)
			}
		}
	})
	t.Run("MetadataMovesTableCacheKey", func(t *testing.T) {
		_, _, a := f.MustGet("/demo/cities.json?_extra=metadata")
		setMeta(f, "demo", "cities", "", "title", "Cities of the world")
		_, _, b := f.MustGet("/demo/cities.json?_extra=metadata")
		if a == b || !strings.Contains(b, "Cities of the world") {
			t.Fatalf("stale metadata:\n%s\n%s", a, b)
		}
	})
}

// A read token runs private canned queries too (and sees them listed);
// its answers never reach anonymous visitors.
func TestCanned_ReadToken(t *testing.T) {
	f := newFixture(t)
	seedCanned(f)
	f.reader.Tokens = &fakeReadTokens{secrets: map[string]bool{"reader": true, "writer": false}}
	status, _, body := f.MustFetch("/demo/secretq.json", "Authorization", "Bearer reader")
	if status != 200 || !strings.Contains(body, "hunter2") {
		t.Fatalf("read token, private query: %d %s", status, body)
	}
	if status, _, body := f.MustFetch("/demo/secretq", "Authorization", "Bearer reader"); status != 200 || !strings.Contains(body, "(private query)") {
		t.Fatalf("read token, private query page: %d %s", status, body)
	}
	if _, _, body := f.MustFetch("/demo.json", "Authorization", "Bearer reader"); !strings.Contains(body, `"name":"secretq"`) {
		t.Fatalf("read token, /demo.json: %s", body)
	}
	sameAnswer(t, f, "/demo/secretq.json", "/demo/missing.json", "secretq", "missing")
	if status, _, _ := f.MustFetch("/demo/secretq.json", "Authorization", "Bearer writer"); status != 404 {
		t.Fatalf("token without read scope: %d", status)
	}
}
