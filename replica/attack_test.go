package replica

import (
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
