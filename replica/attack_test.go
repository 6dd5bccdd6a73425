package replica

import (
	"context"
	"database/sql"
	"net/url"
	"strings"
	"testing"

	"github.com/tablecast/tablecast/replica/gate"
)

// seedAttack is seedDemo plus: a public table whose foreign key points
// at the private secrets, and an FTS index over the private secrets.
func seedAttack(f *fixture) {
	seedDemo(f)
	f.MustExec("demo",
		`CREATE TABLE refs (id INTEGER PRIMARY KEY, sid INTEGER REFERENCES secrets(id), tags TEXT)`,
		`INSERT INTO refs VALUES (1, 1, '["a","b"]'), (2, 1, '["a"]'), (3, 2, NULL)`,
		`CREATE TABLE twin (id INTEGER PRIMARY KEY, sid INTEGER REFERENCES nosuch(id), tags TEXT)`,
		`INSERT INTO twin VALUES (1, 1, '["a","b"]'), (2, 1, '["a"]'), (3, 2, NULL)`,
		publish("refs"), publish("twin"))
}

// TestAttack_NoSecretInAnswers: every new parameter and their
// combinations over public things that touch the private secrets table
// never answer with its text, its name where a missing one's would not
// be, or a 500.
func TestAttack_NoSecretInAnswers(t *testing.T) {
	f := newFixture(t)
	seedAttack(f)
	paths := []string{
		"/demo/refs.json?_labels=on",
		"/demo/refs.json?_label=sid",
		"/demo/refs.json?_facet=sid",
		"/demo/refs.json?_facet=sid&_labels=on&_extra=facet_results&_extra=suggested_facets&_extra=expandable_columns&_extra=expanded_columns",
		"/demo/refs.json?_facet_array=tags&_facet=sid&_search=x",
		"/demo/refs.json?_where=" + url.QueryEscape("sid in (select id from secrets where secret like 'h%')"),
		"/demo/refs.json?_where=" + url.QueryEscape("(select secret from secrets)") + "&_facet=sid",
		"/demo/refs.json?_facet=" + url.QueryEscape("(select secret from secrets)"),
		"/demo/refs.json?_sort=" + url.QueryEscape("(select secret from secrets)"),
		"/demo/refs.json?_col=" + url.QueryEscape("(select secret from secrets)"),
		"/demo/refs.json?_nocol=sid&_label=sid",
		"/demo/refs.json?_size=1&_next=" + url.QueryEscape("1,(select secret from secrets)"),
		"/demo/refs.json?_size=1&_sort=sid&_next=" + url.QueryEscape("(select secret from secrets),1"),
		"/demo/refs.json?_search_secret=hunter2",
		"/demo/refs?_facet=sid&_labels=on",
		"/demo/refs.csv?_labels=on",
		"/demo/refs/1.json?_labels=on",
		"/demo/refs/1?_labels=on",
		"/demo/refs.json?_extra=metadata",
		"/demo/refs.json?_facet=sid&_facet_size=max&_labels=on&_shape=array",
		"/demo.json",
		"/demo",
		"/-/metadata.json",
		"/.json",
	}
	for _, p := range paths {
		got := fetched(f, p)
		if strings.Contains(got, "hunter2") || strings.Contains(got, "500 ") || strings.HasPrefix(got, "Internal") {
			t.Errorf("%s leaks: %s", p, got)
		}
		twin := strings.ReplaceAll(p, "refs", "twin")
		a := strings.ReplaceAll(got, "refs", "twin")
		b := fetched(f, twin)
		if stripETag(a) != stripETag(b) && !strings.HasPrefix(p, "/demo.json") && p != "/demo" && !strings.HasPrefix(p, "/-/") && p != "/.json" {
			t.Errorf("%s differs from its twin:\n%s\n----\n%s", p, a, b)
		}
	}
	_ = gate.PublicTablesDDL
}

// TestAttack_PublicFTSOverPrivateContent: an FTS index published on its
// own, whose content= is the private secrets table, would read the
// secrets' text through its content table (external content: the index
// reads its columns from content=). Its page, search, facets and rows
// must not answer with that text.
func TestAttack_PublicFTSOverPrivateContent(t *testing.T) {
	if !haveFTS5(t) {
		t.Skip("no FTS5")
	}
	for _, module := range []string{"FTS4", "FTS5"} {
		t.Run(module, func(t *testing.T) {
			f := newFixture(t)
			seedDemo(f)
			f.MustExec("demo", ftsSchema(module, "secrets", "secret")...)
			f.MustExec("demo", publish("secrets_fts"))
			f.MustExec("demo", gate.PublicDatabaseDDL, `INSERT OR REPLACE INTO _public_database VALUES (1, 0, 1, 'now', 'test')`)
			for _, p := range []string{
				"/demo/secrets_fts.json", "/demo/secrets_fts.csv", "/demo/secrets_fts",
				"/demo/secrets_fts.json?_search=hunter2", "/demo/secrets_fts.json?_facet=secret",
				"/demo/secrets_fts.json?_sort=secret", "/demo/secrets_fts/1.json", "/demo/secrets_fts.csv?_stream=on",
				"/demo/secrets_fts.json?_extra=suggested_facets", "/demo/secrets_fts.json?secret=hunter2",
				sqlPath("demo", "json", "SELECT * FROM secrets_fts"), sqlPath("demo", "json", "SELECT * FROM secrets_fts WHERE secrets_fts MATCH 'hunter2'"),
			} {
				got := fetched(f, p)
				if strings.Contains(got, "hunter2") {
					t.Errorf("%s leaks the private content table's text", p)
				}
				sameAnswer(t, f, p, strings.ReplaceAll(p, "secrets_fts", "missing_fts"), "secrets_fts", "missing_fts")
			}
		})
	}
}

// TestAttack_WhereWithNewParameters: where public SQL is on, _where with
// a subquery of the private secrets and every new parameter answers as
// the same subquery of a missing table of a name as long (the error and
// its message name nothing but what the visitor wrote).
func TestAttack_WhereWithNewParameters(t *testing.T) {
	f := newFixture(t)
	seedAttack(f)
	f.MustExec("demo", gate.PublicDatabaseDDL, `INSERT OR REPLACE INTO _public_database VALUES (1, 0, 1, 'now', 'test')`)
	if status, _, body := f.MustFetch("/demo/refs.json?_where=sid%3D1&_facet=sid"); status != 200 {
		t.Fatalf("_where on: %d %s", status, body)
	}
	for _, where := range []string{
		"sid in (select id from secrets where secret = 'hunter2')",
		"exists (select 1 from secrets)",
		"(select secret from secrets) is not null",
		"sid = (select count(*) from pragma_table_info('secrets'))",
		"sid in (select rowid from secrets_fts where secrets_fts match 'hunter2')",
	} {
		for _, extra := range []string{"", "&_facet=sid", "&_facet_array=tags", "&_labels=on", "&_label=sid",
			"&_sort=sid&_size=1", "&_col=sid", "&_extra=count&_extra=suggested_facets&_extra=facet_results",
			"&_facet=sid&_facet_size=max&_extra=facets_timed_out"} {
			for _, form := range []string{".json", ".csv", "", ".csv?_stream=on"} {
				p := "/demo/refs" + form
				sep := "?"
				if strings.Contains(form, "?") {
					sep = "&"
				}
				priv := p + sep + "_where=" + url.QueryEscape(where) + extra
				miss := strings.ReplaceAll(priv, "secrets", "nosuchx")
				sameAnswer(t, f, priv, miss, "secrets", "nosuchx")
			}
		}
	}
}

// TestAttack_CannedAndMetadata: canned queries named like private
// tables, private queries' names and SQL, metadata of private tables,
// columns and queries in every listing; a public query's parameters given
// as SQL, many or huge.
func TestAttack_CannedAndMetadata(t *testing.T) {
	f := newFixture(t)
	seedCanned(f) // by_name, secret_count public; secretq private
	setMeta(f, "demo", "secrets", "", "title", "TopSecretTitle", "label_column", "secret")
	setMeta(f, "demo", "secrets", "secret", "description", "TopSecretColumn")
	setMeta(f, "demo", "leak", "", "description", "TopSecretView")
	setMeta(f, "demo", "secretq", "", "description", "TopSecretQueryMeta")
	defineQuery(f, "demo", "secrets", `SELECT 'TopSecretSQL' AS x`, false)
	f.MustExec("demo", `CREATE TABLE refs (id INTEGER PRIMARY KEY, sid INTEGER REFERENCES secrets(id))`,
		`INSERT INTO refs VALUES (1, 1)`, publish("refs"))
	f.MustExec("hidden", gate.PublicTablesDDL, `CREATE TABLE t (x)`)
	setMeta(f, "hidden", "", "", "title", "TopSecretDB")
	defineQuery(f, "hidden", "q", `SELECT 'TopSecretHiddenSQL'`, false)

	for _, p := range []string{"/-/metadata.json", "/.json", "/", "/demo.json", "/demo", "/demo/refs.json?_labels=on",
		"/demo/refs?_labels=on", "/demo/refs.json?_extra=metadata", "/demo/refs.json?_label=sid&_extra=metadata",
		"/demo/by_name", "/demo/by_name.json?name=x", "/hidden.json", "/hidden/q.json", "/demo/secretq", "/demo/secrets.json"} {
		got := fetched(f, p)
		for _, s := range []string{"TopSecret", "hunter2", "secretq"} {
			if strings.Contains(got, s) && !strings.Contains(p, s) {
				t.Errorf("%s shows %s:\n%s", p, s, clip(got))
			}
		}
	}
	// A private query named like a private table, and a private query,
	// answer as missing.
	for _, suffix := range []string{".json", ".csv", "", ".json?_shape=array", ".json?name=1&_labels=on", ".json?_facet=secret"} {
		sameAnswer(t, f, "/demo/secrets"+suffix, "/demo/nosuchx"+suffix, "secrets", "nosuchx")
		sameAnswer(t, f, "/demo/secretq"+suffix, "/demo/nosuchq"+suffix, "secretq", "nosuchq")
	}
	sameAnswer(t, f, "/hidden.json", "/nosuch.json", "hidden", "nosuch")
	sameAnswer(t, f, "/hidden/q", "/nosuch/q", "hidden", "nosuch")

	// A public query's parameters: SQL given as a value is bound; many
	// parameters or a huge value are a clear answer, never a 500.
	for _, q := range []string{
		"name=" + url.QueryEscape("x' UNION SELECT secret, 1 FROM secrets --"),
		"name=" + url.QueryEscape("(SELECT secret FROM secrets)"),
		"name=" + strings.Repeat("A", 200000),
		strings.Repeat("name=x&", 5000) + "name=y",
		"name=x&other=" + url.QueryEscape("SELECT 1") + "&min=1",
	} {
		status, _, body := f.MustFetch("/demo/by_name.json?" + q)
		if status >= 500 || strings.Contains(body, "hunter2") {
			t.Errorf("by_name %.60s: %d %s", q, status, clip(body))
		}
	}
}

// TestAttack_TokenAnswersNotCached: what a read token read (a private
// table's facets, labels, search; a private query) never reaches an
// anonymous visitor of the same URL, which answers as missing.
func TestAttack_TokenAnswersNotCached(t *testing.T) {
	f := newFixture(t)
	seedCanned(f)
	f.MustExec("demo", `CREATE TABLE refs (id INTEGER PRIMARY KEY, sid INTEGER REFERENCES secrets(id))`,
		`INSERT INTO refs VALUES (1, 1)`, publish("refs"))
	f.reader.Tokens = &fakeReadTokens{secrets: map[string]bool{"reader": true}}
	for _, p := range []string{"/demo/secrets.json?_facet=secret", "/demo/secrets.json?_extra=suggested_facets",
		"/demo/refs.json?_labels=on", "/demo/refs.json?_facet=sid", "/demo/secretq.json", "/demo/secretq.csv",
		"/demo/secrets.json?_extra=metadata", "/demo.json", "/-/metadata.json"} {
		anonBefore := fetched(f, p)
		status, _, body := f.MustFetch(p, "Authorization", "Bearer reader")
		if p == "/demo/secretq.json" && (status != 200 || !strings.Contains(body, "hunter2")) {
			t.Fatalf("%s as a reader: %d %s", p, status, clip(body)) // the token reaches the gate
		}
		if anon := fetched(f, p); anon != anonBefore || strings.Contains(anon, "hunter2") {
			t.Errorf("%s: anonymous answer changed after a token read:\n%s\n----\n%s", p, anonBefore, anon)
		}
	}
}

// TestAttack_CacheAfterUnpublish: answers cached while something was
// public (a canned query, a labelled FK target, a facet of a table)
// never outlive its unpublishing: then they answer as missing, or
// without the labels.
func TestAttack_CacheAfterUnpublish(t *testing.T) {
	f := newFixture(t)
	seedCanned(f)
	f.MustExec("demo", `CREATE TABLE owners (id INTEGER PRIMARY KEY, name TEXT)`, `INSERT INTO owners VALUES (1, 'OwnerSecret')`,
		`CREATE TABLE pets (id INTEGER PRIMARY KEY, owner INTEGER REFERENCES owners(id))`, `INSERT INTO pets VALUES (1, 1)`,
		publish("owners"), publish("pets"))
	paths := []string{"/demo/pets.json?_labels=on", "/demo/pets.json?_facet=owner", "/demo/pets?_facet=owner",
		"/demo/pets.csv?_labels=on", "/demo/pets.json?_extra=expandable_columns"}
	for _, p := range paths {
		if _, _, body := f.MustFetch(p); !strings.Contains(body, "OwnerSecret") && !strings.Contains(p, "expandable") {
			t.Fatalf("%s: no label while owners is public: %s", p, clip(body))
		}
	}
	f.MustFetch("/demo/by_name.json?name=Oslo")
	f.MustExec("demo", `DELETE FROM _public_tables WHERE table_name = 'owners'`, gate.PublicTablesDDL)
	cannedTx(f, "demo", func(ctx context.Context, tx *sql.Tx) error {
		return gate.SetQueryPublic(ctx, tx, "by_name", false, "test")
	})
	for _, p := range paths {
		if _, _, body := f.MustFetch(p); strings.Contains(body, "OwnerSecret") {
			t.Errorf("%s: label of the unpublished owners still served: %s", p, clip(body))
		}
	}
	sameAnswer(t, f, "/demo/by_name.json?name=Oslo", "/demo/no_name.json?name=Oslo", "by_name", "no_name")
	sameAnswer(t, f, "/demo/owners.json", "/demo/nowner.json", "owners", "nowner")
}

// TestAttack_PrivateTableNewParameters: a private table and a missing
// one answer the same, byte for byte, to every new parameter and their
// combinations, by GET and HEAD, with or without If-None-Match.
func TestAttack_PrivateTableNewParameters(t *testing.T) {
	f := newFixture(t)
	seedAttack(f)
	setMeta(f, "demo", "secrets", "", "title", "TopSecret", "label_column", "secret")
	queries := []string{"", "_facet=secret", "_facet=secret&_facet=id&_facet_size=max", "_facet_array=secret",
		"_search=hunter2", "_search_secret=hunter2&_searchmode=raw", "_labels=on", "_label=secret",
		"_col=secret&_nocol=id", "_sort=secret&_next=" + url.QueryEscape("hunter2,1"), "_next=1",
		"_extra=facet_results&_extra=suggested_facets&_extra=metadata&_extra=count", "_extra=bogus",
		"_facet=secret&_search=x&_where=1&_label=secret&_sort_desc=secret&_size=1",
		"_facet=nosuchcol", "_facet_date=secret", "secret__exact=hunter2&_facet=secret"}
	for _, form := range []string{".json", ".csv", "", "/1.json"} {
		for _, q := range queries {
			for _, method := range []string{"GET", "HEAD"} {
				for _, hdr := range [][]string{nil, {"If-None-Match", `"y5o4ojjNCXJczipUShoVSw"`}, {"If-None-Match", "*"}} {
					a := observe(t, f.reader, method, "/demo/secrets"+form+"?"+q, "secrets", hdr...)
					b := observe(t, f.reader, method, "/demo/nosuchx"+form+"?"+q, "nosuchx", hdr...)
					if a.status != b.status || a.body != b.body || !sameHeaders(a.header, b.header) || strings.Contains(a.body, "TopSecret") {
						t.Errorf("%s %s?%s %v:\n%d %v %s\n----\n%d %v %s", method, form, q, hdr, a.status, a.header, a.body, b.status, b.header, b.body)
					}
				}
			}
		}
	}
}

// TestAttack_DatabaseOfFTSOverPrivate: a database whose only published
// table is an FTS index over a private table is a missing database.
func TestAttack_DatabaseOfFTSOverPrivate(t *testing.T) {
	f := newFixture(t)
	f.MustExec("ftsonly", gate.PublicTablesDDL, `CREATE TABLE secrets (id INTEGER PRIMARY KEY, secret TEXT)`,
		`INSERT INTO secrets VALUES (1, 'hunter2')`)
	f.MustExec("ftsonly", ftsSchema("FTS4", "secrets", "secret")...)
	f.MustExec("ftsonly", publish("secrets_fts"))
	for _, p := range []string{".json", "", "/secrets_fts.json", "/secrets_fts_docsize.json", "/-/query.json?sql=select+1"} {
		sameAnswer(t, f, "/ftsonly"+p, "/nosuchx"+p, "ftsonly", "nosuchx")
	}
	if _, _, body := f.MustFetch("/.json"); strings.Contains(body, "ftsonly") {
		t.Errorf("/.json lists ftsonly: %s", body)
	}
	if body := metadataJSON(f); strings.Contains(body, "ftsonly") {
		t.Errorf("/-/metadata.json lists ftsonly: %s", body)
	}
}

// TestAttack_VocabularyOfPrivateIndex: fts5vocab and fts4aux tables list
// the words of an FTS index: published over the index of a private table
// (itself private, or public over private content) they answer as
// missing.
func TestAttack_VocabularyOfPrivateIndex(t *testing.T) {
	if !haveFTS5(t) {
		t.Skip("no FTS5")
	}
	f := newFixture(t)
	seedDemo(f)
	f.MustExec("demo", ftsSchema("FTS5", "secrets", "secret")...)
	f.MustExec("demo", `CREATE TABLE s4 (id INTEGER PRIMARY KEY, secret TEXT)`, `INSERT INTO s4 VALUES (1, 'hunter2')`)
	f.MustExec("demo", ftsSchema("FTS4", "s4", "secret")...)
	f.MustExec("demo",
		`CREATE VIRTUAL TABLE vocab_row USING fts5vocab(secrets_fts, 'row')`,
		`CREATE VIRTUAL TABLE vocab_ins USING fts5vocab("SECRETS_FTS", 'instance')`,
		`CREATE VIRTUAL TABLE vocab_aux USING fts4aux(s4_fts)`,
		`CREATE VIRTUAL TABLE vocab_au2 USING fts4aux("S4_FTS")`,
		publish("vocab_row"), publish("vocab_ins"), publish("vocab_aux"), publish("vocab_au2"), publish("secrets_fts"), publish("s4_fts"))
	for _, name := range []string{"vocab_row", "vocab_ins", "vocab_aux", "vocab_au2"} {
		miss := "nosuch" + name[len("nosuch"):]
		for _, p := range []string{".json", ".csv", "", ".json?_facet=term"} {
			got := fetched(f, "/demo/"+name+p)
			if strings.Contains(got, "hunter2") {
				t.Errorf("%s%s lists the private words: %s", name, p, clip(got))
			}
			sameAnswer(t, f, "/demo/"+name+p, "/demo/"+miss+p, name, miss)
		}
	}
	// Over a public table's index, a vocabulary table published is public.
	f.MustExec("demo", ftsSchema("FTS5", "cities", "name")...)
	f.MustExec("demo", `CREATE VIRTUAL TABLE city_words USING fts5vocab(cities_fts, row)`, publish("cities_fts"), publish("city_words"))
	if status, _, body := f.MustFetch("/demo/city_words.json"); status != 200 || !strings.Contains(body, "london") {
		t.Errorf("city_words: %d %s", status, body)
	}
}
