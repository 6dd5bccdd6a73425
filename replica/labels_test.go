package replica

import (
	"strings"
	"testing"

	"github.com/tablecast/tablecast/replica/gate"
)

func TestReader_Labels(t *testing.T) {
	f := newFixture(t)
	seedFacets(f)
	for _, tc := range []struct{ path, want string }{
		{"/demo/pets.json?_labels=on&_col=owner_id&_size=1",
			`"rows":[{"id":1,"owner_id":{"value":1,"label":"Ann"}}]`},
		{"/demo/pets.json?_label=owner_id&_col=owner_id&_col=vault_id&_size=1",
			`"rows":[{"id":1,"owner_id":{"value":1,"label":"Ann"},"vault_id":1}]`},
		{"/demo/pets.json?_labels=off&_col=owner_id&_size=1", `"rows":[{"id":1,"owner_id":1}]`},
		{"/demo/pets.json?_labels=on&_col=owner_id&id=5", `"rows":[{"id":5,"owner_id":null}]`},
		{"/demo/pets.json?_labels=on&_col=owner_id&_size=1&_shape=array", `[{"id":1,"owner_id":{"value":1,"label":"Ann"}}]`},
		{"/demo/pets.json?_size=0&_extra=expandable_columns",
			`"expandable_columns":[[{"column":"owner_id","other_table":"owners","other_column":"id"},"name"]]`},
		{"/demo/pets.json?_size=0&_labels=on&_extra=expanded_columns", `"expanded_columns":["owner_id"]`},
		{"/demo/pets.csv?_labels=on&_col=owner_id&id=3", "id,owner_id,owner_id_label\r\n3,2,Ben <b>\r\n"},
		{"/demo/pets.csv?_labels=on&_col=owner_id&id__lt=3&_stream=on", "id,owner_id,owner_id_label\r\n1,1,Ann\r\n2,1,Ann\r\n"},
		{"/demo/pets?_col=owner_id&id=3", `<a href="/demo/owners/2">Ben &lt;b&gt;</a>&nbsp;<em>2</em>`},
	} {
		status, _, raw := f.MustFetch(tc.path)
		if status != 200 || !strings.Contains(raw, tc.want) {
			t.Errorf("%s: %d %s\nwant %s", tc.path, status, raw, tc.want)
		}
	}
}

// The referenced table's metadata names its label column (label_column,
// set through /-/metadata), over Datasette's own choice (name).
func TestReader_LabelColumnFromMetadata(t *testing.T) {
	f := newFixture(t)
	seedLabelTwin(f, "public")
	path := "/demo/pets.json?_labels=on&_col=owner_id&_size=1"
	want := func(label string) {
		t.Helper()
		status, _, raw := f.MustFetch(path)
		if status != 200 || !strings.Contains(raw, `"owner_id":{"value":1,"label":"`+label+`"}`) {
			t.Fatalf("%s: %d %s, want label %q", path, status, raw, label)
		}
	}
	want("Ann")
	setMeta(f, "demo", "owners", "", "label_column", "secret")
	want("s1")
	setMeta(f, "demo", "owners", "", "label_column", "nosuch") // not a column: Datasette's choice
	want("Ann")
}

// seedLabelTwin is a database whose table "pets" has a foreign key to
// "owners", which is public, private, or missing (never created: SQLite
// keeps a foreign key to a missing table).
func seedLabelTwin(f *fixture, owners string) {
	stmts := []string{gate.PublicTablesDDL}
	if owners != "missing" {
		stmts = append(stmts, `CREATE TABLE owners (id INTEGER PRIMARY KEY, name TEXT, secret TEXT)`,
			`INSERT INTO owners VALUES (1, 'Ann', 's1'), (2, 'Ben', 's2')`)
	}
	stmts = append(stmts, `CREATE TABLE pets (id INTEGER PRIMARY KEY, kind TEXT, owner_id INTEGER REFERENCES owners(id))`,
		`INSERT INTO pets VALUES (1, 'cat', 1), (2, 'dog', 2), (3, 'cat', 2)`, publish("pets"))
	if owners == "public" {
		stmts = append(stmts, publish("owners"))
	}
	f.MustExec("demo", stmts...)
}

// Labels, facets and label lists of a table whose foreign key points at a
// private table are byte for byte those of the same table whose foreign key
// points at a missing one; with the referenced table public, they differ
// (labels appear), so the comparison can fail.
func TestReader_LabelsPrivateAsMissing(t *testing.T) {
	twins := map[string]*fixture{}
	for _, owners := range []string{"public", "private", "missing"} {
		twins[owners] = newFixture(t)
		seedLabelTwin(twins[owners], owners)
	}
	fetch := func(owners, path string) string {
		f := twins[owners]
		status, hdr, raw := f.MustFetch(path)
		return strings.ReplaceAll(raw, f.srv.URL, "http://HOST") + "|" + hdr.Get("Content-Type") + "|" + string(rune('0'+status/100))
	}
	for _, path := range []string{
		"/demo/pets.json?_labels=on", "/demo/pets.json?_label=owner_id", "/demo/pets.json?_extra=expandable_columns,expanded_columns&_labels=on",
		"/demo/pets.json?_facet=owner_id", "/demo/pets.json?_facet=owner_id&_labels=on&_shape=array", "/demo/pets.csv?_labels=on", "/demo/pets.csv?_labels=on&_stream=on",
		"/demo/pets", "/demo/pets?_facet=owner_id", "/demo/pets.json?_extra=suggested_facets", "/demo/pets/1.json",
		"/demo/pets.json?_facet=secret", "/demo/pets.json?_label=secret", "/demo/pets.json?owner_id__in=1,2&_facet=kind&_labels=on",
		"/demo/owners.json?_facet=name", "/demo/owners?_labels=on",
	} {
		private, missing := fetch("private", path), fetch("missing", path)
		if private != missing {
			t.Errorf("%s:\nprivate %s\nmissing %s", path, private, missing)
		}
	}
	for _, path := range []string{"/demo/pets.json?_labels=on", "/demo/pets.json?_facet=owner_id", "/demo/pets", "/demo/pets.json?_extra=expandable_columns"} {
		if public := fetch("public", path); public == fetch("missing", path) || !strings.Contains(public, "Ann") && !strings.Contains(public, `"name"`) {
			t.Errorf("%s: public owners show no label: %s", path, public)
		}
	}
}

// Pages with labels or facets read other tables than their own: a write
// to the referenced table (or its unpublishing) shows at once, though the
// labelled table's own version did not move; a repeated read is a cache
// hit.
func TestReader_LabelsCacheFollowsReferencedTable(t *testing.T) {
	f := newFixture(t)
	f.MustExec("c", versionedWrite("owners", gate.PublicTablesDDL, gate.TableVersionsDDL,
		`CREATE TABLE owners (id INTEGER PRIMARY KEY, name TEXT)`, `INSERT INTO owners VALUES (1, 'Ann')`,
		`CREATE TABLE pets (id INTEGER PRIMARY KEY, owner_id INTEGER REFERENCES owners(id))`, `INSERT INTO pets VALUES (1, 1)`,
		publish("owners"), publish("pets"))...)
	paths := []string{"/c/pets.json?_labels=on", "/c/pets.json?_facet=owner_id", "/c/pets", "/c/pets.csv?_label=owner_id",
		"/c/pets.json?_extra=expandable_columns"}
	fetch := func(path string) string {
		t.Helper()
		status, _, raw := f.MustFetch(path)
		if status != 200 {
			t.Fatalf("%s: %d %s", path, status, raw)
		}
		return raw
	}
	for _, p := range paths {
		if raw := fetch(p); !strings.Contains(raw, "Ann") && !strings.Contains(raw, `"name"`) {
			t.Fatalf("%s: no label: %s", p, raw)
		}
		h := f.reader.Cache.Stats().Hits
		fetch(p)
		if f.reader.Cache.Stats().Hits != h+1 {
			t.Errorf("%s: the second read was not a cache hit", p)
		}
	}
	f.MustExec("c", versionedWrite("owners", `UPDATE owners SET name = 'Anna'`)...)
	for _, p := range paths[:4] {
		if raw := fetch(p); !strings.Contains(raw, "Anna") {
			t.Errorf("%s after owners changed: %s", p, raw)
		}
	}
	f.MustExec("c", versionedWrite("owners", `DELETE FROM _public_tables WHERE table_name = 'owners'`)...)
	for _, p := range paths {
		if raw := fetch(p); strings.Contains(raw, "Ann") || strings.Contains(raw, "owners") {
			t.Errorf("%s after owners went private: %s", p, raw)
		}
	}
}
