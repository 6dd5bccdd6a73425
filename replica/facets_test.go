package replica

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tablecast/tablecast/replica/gate"
)

// seedFacets is a public table to facet (with a foreign key to a public
// table, and one to a private one), a private table, and a public view
// over the private table.
func seedFacets(f *fixture) {
	f.MustExec("demo", gate.PublicTablesDDL,
		`CREATE TABLE owners (id INTEGER PRIMARY KEY, name TEXT)`,
		`INSERT INTO owners VALUES (1, 'Ann'), (2, 'Ben <b>')`,
		`CREATE TABLE vaults (id INTEGER PRIMARY KEY, name TEXT)`,
		`INSERT INTO vaults VALUES (1, 'Zurich vault')`,
		`CREATE TABLE pets (id INTEGER PRIMARY KEY, kind TEXT, owner_id INTEGER REFERENCES owners(id),
			vault_id INTEGER REFERENCES vaults(id), born TEXT, tags TEXT, _x TEXT)`,
		`INSERT INTO pets VALUES
			(1, 'cat', 1, 1, '2020-01-01 10:00:00', '["a","b","a"]', 'u'),
			(2, 'cat', 1, 1, '2020-01-01 11:00:00', '["b"]', 'u'),
			(3, 'dog', 2, NULL, '2020-01-02', 'not json', NULL),
			(4, 'cat', 2, 1, NULL, '[]', 'v'),
			(5, 'fish', NULL, 1, '2020-01-02', '["c", 1]', 'v')`,
		`CREATE VIEW vault_names AS SELECT name FROM vaults`,
		publish("owners"), publish("pets"), publish("vault_names"))
}

// facetJSON is a page's facet_results.
type facetJSON struct {
	FacetResults struct {
		Results map[string]struct {
			Name, Type string
			ToggleURL  string `json:"toggle_url"`
			Results    []struct {
				Value, Label any
				Count        int
				ToggleURL    string `json:"toggle_url"`
				Selected     bool
			}
			Truncated bool
		}
		TimedOut []string `json:"timed_out"`
	} `json:"facet_results"`
	Suggested []struct{ Name string } `json:"suggested_facets"`
	Rows      []map[string]any
}

func (f *fixture) facets(path string) facetJSON {
	f.t.Helper()
	status, _, raw := f.MustFetch(path)
	if status != 200 {
		f.t.Fatalf("%s: %d %s", path, status, raw)
	}
	var out facetJSON
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		f.t.Fatalf("%s: %v %s", path, err, raw)
	}
	return out
}

// counts writes a facet's values as "value:count,…" (selected ones
// marked with '*').
func (fj facetJSON) counts(name string) string {
	var parts []string
	for _, v := range fj.FacetResults.Results[name].Results {
		s := strings.TrimSuffix(strings.TrimPrefix(mustJSON(v.Value), `"`), `"`) + ":" + mustJSON(v.Count)
		if v.Selected {
			s += "*"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ",")
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestReader_Facets(t *testing.T) {
	f := newFixture(t)
	seedFacets(f)
	for _, tc := range []struct{ path, facet, want string }{
		{"/demo/pets.json?_facet=kind", "kind", "cat:3,dog:1,fish:1"},
		{"/demo/pets.json?_facet=kind&owner_id=2", "kind", "cat:1,dog:1"},         // under the filters
		{"/demo/pets.json?_facet=kind&kind=cat", "kind", "cat:3*"},                // selected
		{"/demo/pets.json?_facet=kind&_facet_size=1", "kind", "cat:3"},            // truncated
		{"/demo/pets.json?_facet=owner_id", "owner_id", "1:2,2:2"},                // NULLs are not counted
		{"/demo/pets.json?_facet_date=born", "born", "2020-01-01:2,2020-01-02:2"}, // dates
		{"/demo/pets.json?_facet_array=tags", "tags", "b:2,1:1,a:1,c:1"},          // each row once per item
		{"/demo/pets.json?_facet_array=tags&tags__arraycontains=b", "tags", "b:2*,a:1"},
		{"/demo/pets.json?_facet=_x", "_x", "u:2,v:2"},
		{"/demo/pets.json?_facet=_x&_x__exact=u", "_x", "u:2*"},
		{`/demo/pets.json?_facet={"column":"kind"}`, "kind", "cat:3,dog:1,fish:1"},
		{"/demo/vault_names.json?_facet=name", "name", "Zurich vault:1"}, // a public view over a private table: the view's data
	} {
		fj := f.facets(tc.path)
		if got := fj.counts(tc.facet); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.path, got, tc.want)
		}
	}
	t.Run("Shape", func(t *testing.T) {
		_, _, raw := f.MustFetch("/demo/pets.json?_facet=kind&_facet_size=1&_size=0")
		host := strings.TrimPrefix(f.srv.URL, "http://")
		want := `{"database":"demo","facet_results":{"results":{"kind":{"name":"kind","type":"column","hideable":true,` +
			`"toggle_url":"/demo/pets.json?_facet_size=1&_size=0","results":[{"value":"cat","label":"cat","count":3,` +
			`"toggle_url":"http://` + host + `/demo/pets.json?_facet=kind&_facet_size=1&_size=0&kind=cat","selected":false}],` +
			`"truncated":true}},"timed_out":[]},"next":null,"next_url":null,"ok":true,"rows":[],"table":"pets"}` + "\n"
		if raw != want {
			t.Fatalf("got  %s\nwant %s", raw, want)
		}
	})
	t.Run("Toggle", func(t *testing.T) {
		fj := f.facets("/demo/pets.json?_facet=kind&kind=cat")
		v := fj.FacetResults.Results["kind"].Results[0]
		u, _ := url.Parse(v.ToggleURL)
		if u.Query().Has("kind") || u.Query().Get("_facet") != "kind" {
			t.Fatalf("toggle of a selected value: %s", v.ToggleURL)
		}
	})
	t.Run("Several", func(t *testing.T) {
		_, _, raw := f.MustFetch("/demo/pets.json?_facet=owner_id&_facet=kind&_facet=kind")
		// In the order asked; a repeated facet as name_2.
		i, j, k := strings.Index(raw, `"owner_id":{`), strings.Index(raw, `"kind":{`), strings.Index(raw, `"kind_2":{`)
		if i < 0 || j < i || k < j {
			t.Fatalf("facets out of order: %s", raw)
		}
	})
	t.Run("LabelsFromPublicTableOnly", func(t *testing.T) {
		fj := f.facets("/demo/pets.json?_facet=owner_id&_facet=vault_id")
		if got := fj.FacetResults.Results["owner_id"].Results[1].Label; got != "Ben <b>" {
			t.Errorf("owner label %s", got)
		}
		if got := mustJSON(fj.FacetResults.Results["vault_id"].Results[0].Label); got != `1` {
			t.Errorf("vault label %s, want the raw key (vaults is private)", got)
		}
	})
	t.Run("Suggested", func(t *testing.T) {
		fj := f.facets("/demo/pets.json?_extra=suggested_facets&_facet=owner_id")
		var names []string
		for _, s := range fj.Suggested {
			names = append(names, s.Name)
		}
		if got := strings.Join(names, ","); got != "kind,born,_x" { // vault_id has one value
			t.Errorf("suggested %s", got)
		}
	})
	t.Run("CSVUnaffected", func(t *testing.T) {
		_, _, a := f.MustFetch("/demo/pets.csv?_facet=kind")
		_, _, b := f.MustFetch("/demo/pets.csv")
		if a != b {
			t.Errorf("CSV with a facet:\n%s\nwithout:\n%s", a, b)
		}
	})
	t.Run("HTML", func(t *testing.T) {
		_, _, raw := f.MustFetch("/demo/pets?_facet=kind&_facet=owner_id")
		for _, want := range []string{`class="facet-results"`, `data-facet-value="cat"`, `<span class="facet-count">3</span>`,
			`>Ben &lt;b&gt;</a>`, `Suggested facets:`, `<a href="/demo/owners/1">Ann</a>&nbsp;<em>1</em>`} {
			if !strings.Contains(raw, want) {
				t.Errorf("page lacks %s:\n%s", want, raw)
			}
		}
	})
}

// A facet that runs out of time is named in timed_out; the page is still
// served, with its rows, and cached for timedOutLifetime only. The facet's
// query is interrupted by SQLite (the table is big enough to take far
// longer than the limit).
func TestReader_FacetTimeLimit(t *testing.T) {
	f := newFixture(t)
	f.MustExec("demo", gate.PublicTablesDDL,
		`CREATE TABLE big (id INTEGER PRIMARY KEY, v TEXT)`,
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000)
			INSERT INTO big SELECT i, hex(randomblob(8)) FROM n`,
		publish("big"))
	defer func(d time.Duration) { timedOutLifetime = d }(timedOutLifetime)
	timedOut := func(path string) string {
		t.Helper()
		fj := f.facets(path)
		if len(fj.Rows) != 2 {
			t.Fatalf("%s: %d rows", path, len(fj.Rows))
		}
		return mustJSON(fj.FacetResults.TimedOut)
	}
	for _, tc := range []struct {
		path     string
		lifetime time.Duration
		then     string // timed_out of the same page once the limit is a minute
	}{
		{"/demo/big.json?_facet=v&_size=2", time.Minute, `["v"]`},  // still the cached answer
		{"/demo/big.json?_facet=v&_size=2&_facet_size=3", 0, `[]`}, // read again
	} {
		timedOutLifetime = tc.lifetime
		f.reader.FacetTimeLimit = time.Millisecond
		start := time.Now()
		if got := timedOut(tc.path); got != `["v"]` {
			t.Fatalf("%s: timed_out %s", tc.path, got)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("%s: the page took %s", tc.path, took)
		}
		f.reader.FacetTimeLimit = time.Minute
		if got := timedOut(tc.path); got != tc.then {
			t.Errorf("%s with time, the answer cached for %s: timed_out %s, want %s", tc.path, tc.lifetime, got, tc.then)
		}
	}
}

// Facets with _where run in the public SQL sandbox: a fragment reading a
// private table answers as one reading a missing table.
func TestReader_FacetWherePrivate(t *testing.T) {
	f := newFixture(t)
	seedSQL(f)
	status, raw := f.whereGet("/demo/cities.json?_facet=name", "pop > 2")
	if status != 200 || !strings.Contains(raw, `"facet_results"`) || !strings.Contains(raw, `"value":"Sydney"`) || strings.Contains(raw, `"value":"Oslo"`) {
		t.Fatalf("%d %s", status, raw)
	}
	for _, path := range []string{"/demo/cities.json?_facet=name", "/demo/cities.json?_facet_array=name", "/demo/cities.json?_facet_date=name",
		"/demo/cities.json?_extra=suggested_facets", "/demo/cities?_facet=name"} {
		s1, private := f.whereGet(path, "id in (select id from secrets)")
		s2, missing := f.whereGet(path, "id in (select id from nosuch)")
		if s1 != s2 || strings.ReplaceAll(private, "secrets", "nosuch") != missing || s1 == 200 {
			t.Errorf("%s: private %d %s\nmissing %d %s", path, s1, private, s2, missing)
		}
	}
}

// Columns named like the facet query's own names (value, count, key) facet
// as any other, in every facet type.
func TestReader_FacetColumnNames(t *testing.T) {
	f := newFixture(t)
	f.MustExec("demo", gate.PublicTablesDDL,
		`CREATE TABLE t ("value" TEXT, "count" INTEGER, "key" TEXT, "a""b" TEXT)`,
		`INSERT INTO t VALUES ('["x","y"]', 1, '2020-01-01', 'q'), ('["x"]', 1, '2020-01-01 10:00', 'q'), (NULL, 2, NULL, NULL)`,
		publish("t"))
	for _, tc := range []struct{ path, facet, want string }{
		{"/demo/t.json?_facet=count&value__isnull=1", "count", "2:1"},
		{"/demo/t.json?_facet=count&count=1", "count", "1:2*"},
		{"/demo/t.json?_facet_array=value&count=1", "value", "x:2,y:1"},
		{"/demo/t.json?_facet_date=key&key__notnull=1", "key", "2020-01-01:2"},
		{`/demo/t.json?_facet=a"b`, `a"b`, "q:2"},
	} {
		if got := f.facets(tc.path).counts(tc.facet); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.path, got, tc.want)
		}
	}
}
