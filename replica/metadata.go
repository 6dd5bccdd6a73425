package replica

import (
	"cmp"
	"html/template"
	"net/http"
	"slices"

	"github.com/tablecast/tablecast/replica/gate"
)

// Metadata (issue 18 §5): title, description (markdown, stored rendered
// and sanitised as description_html), source, licence and about links of
// the database, its tables and views, and their columns' descriptions and
// units; set through the primary (POST /{db}/-/metadata), read from the
// gate's snapshot. A visitor reads the metadata of what it may read
// (Snapshot.TableMeta): a private table's is a missing table's.

// metaKeys are the keys of an object's metadata, in the order answers
// list them.
var metaKeys = []string{"title", "description", "description_html", "source", "source_url", "license", "license_url", "about", "about_url"}

// metaObject is the JSON of an object's metadata: its keys, in order.
func metaObject(m gate.Meta) object {
	o := object{keys: []string{}, vals: []any{}}
	for _, k := range metaKeys {
		if v, ok := m[k]; ok {
			o.keys = append(o.keys, k)
			o.vals = append(o.vals, v)
		}
	}
	return o
}

// tableMetaObject is a table's metadata as Datasette writes it: its keys,
// then columns (descriptions), units and label_column, where set.
func tableMetaObject(t *table, tm *gate.TableMeta) object {
	if tm == nil {
		return object{keys: []string{}, vals: []any{}}
	}
	o := metaObject(tm.Meta)
	cols, units := object{}, object{}
	for _, c := range t.Columns {
		if d, ok := tm.Columns[c]["description"]; ok {
			cols.keys, cols.vals = append(cols.keys, c), append(cols.vals, d)
		}
		if u, ok := tm.Columns[c]["unit"]; ok {
			units.keys, units.vals = append(units.keys, c), append(units.vals, u)
		}
	}
	if len(cols.keys) > 0 {
		o.keys, o.vals = append(o.keys, "columns"), append(o.vals, cols)
	}
	if len(units.keys) > 0 {
		o.keys, o.vals = append(o.keys, "units"), append(o.vals, units)
	}
	if l, ok := tm.Meta["label_column"]; ok {
		o.keys, o.vals = append(o.keys, "label_column"), append(o.vals, l)
	}
	return o
}

// queryObject is a canned query as /db.json and /-/metadata.json list it.
func queryObject(db string, q *gate.Query) object {
	params := q.Params
	if params == nil {
		params = []string{}
	}
	return object{keys: []string{"name", "sql", "title", "description", "description_html", "params", "path"},
		vals: []any{q.Name, q.SQL, q.Title, q.Description, q.DescriptionHTML, params, tablePath(db, q.Name) + ".json"}}
}

// queriesJSON lists the canned queries a visitor at s may run.
func queriesJSON(db string, s *snapshot) []object {
	out := []object{}
	for _, q := range s.Queries() {
		out = append(out, queryObject(db, q))
	}
	return out
}

// metaView is an object's metadata for a page.
type metaView struct {
	DescriptionHTML                                         template.HTML
	Source, SourceURL, License, LicenseURL, About, AboutURL string
	Columns                                                 []columnMeta
}

type columnMeta struct{ Name, Description, Unit string }

// metaViewOf is the page view of m (and its columns' metadata, in the
// order of cols); nil when there is nothing to show. description_html was
// rendered and sanitised when it was set.
func metaViewOf(m gate.Meta, cols []string, colMeta map[string]gate.Meta) *metaView {
	v := &metaView{DescriptionHTML: template.HTML(m["description_html"]), Source: m["source"], SourceURL: m["source_url"],
		License: m["license"], LicenseURL: m["license_url"], About: m["about"], AboutURL: m["about_url"]}
	for _, c := range cols {
		if cm := colMeta[c]; cm != nil {
			v.Columns = append(v.Columns, columnMeta{c, cm["description"], cm["unit"]})
		}
	}
	if v.DescriptionHTML == "" && v.Source == "" && v.License == "" && v.About == "" && len(v.Columns) == 0 {
		return nil
	}
	return v
}

// tableMetaView is the page view of the visible table t's metadata.
func tableMetaView(s *snapshot, t *table) (*metaView, string) {
	tm := s.TableMeta(t.Name)
	if tm == nil {
		return nil, ""
	}
	return metaViewOf(tm.Meta, t.Columns, tm.Columns), tm.Meta["title"]
}

// ServeMetadata answers Datasette's /-/metadata.json: the metadata of
// every database a visitor may see, of their public tables and views, and
// their public canned queries; nothing of a private object. Like "/", it
// reads every database's gate, so it is not cached.
func (r *Reader) ServeMetadata(w http.ResponseWriter, req *http.Request) {
	dbs := object{keys: []string{}, vals: []any{}}
	names := r.Positions.Databases()
	slices.Sort(names)
	for _, name := range names {
		d, err := r.database(name)
		if err != nil {
			continue
		}
		var entry *object
		_, err = r.read(req.Context(), d, func(rd *readTx) error {
			s := rd.s
			if !s.DatabaseVisible() {
				return nil
			}
			o := metaObject(s.DatabaseMeta())
			tables := object{}
			for _, t := range s.Tables() {
				if tm := s.TableMeta(t.Name); tm != nil {
					if to := tableMetaObject(t, tm); len(to.keys) > 0 {
						tables.keys, tables.vals = append(tables.keys, t.Name), append(tables.vals, to)
					}
				}
			}
			if len(tables.keys) > 0 {
				o.keys, o.vals = append(o.keys, "tables"), append(o.vals, tables)
			}
			queries := object{}
			for _, q := range s.Queries() {
				queries.keys = append(queries.keys, q.Name)
				queries.vals = append(queries.vals, object{keys: []string{"sql", "title", "description", "params"},
					vals: []any{q.SQL, q.Title, q.Description, nonNil(q.Params)}})
			}
			if len(queries.keys) > 0 {
				o.keys, o.vals = append(o.keys, "queries"), append(o.vals, queries)
			}
			if len(o.keys) > 0 {
				entry = &o
			}
			return nil
		})
		if err != nil {
			writeEntry(w, req, errorEntry(r.logged(req, err), 0))
			return
		}
		if entry != nil {
			dbs.keys, dbs.vals = append(dbs.keys, name), append(dbs.vals, *entry)
		}
	}
	writeEntry(w, req, jsonEntry(http.StatusOK, object{keys: []string{"databases"}, vals: []any{dbs}}))
}

// cannedLink is a canned query in a database page's list.
type cannedLink struct {
	Title, Path string
	Private     bool
}

// cannedLinks lists the canned queries a visitor at s may run.
func cannedLinks(db string, s *snapshot) []cannedLink {
	var out []cannedLink
	for _, q := range s.Queries() {
		out = append(out, cannedLink{Title: cmp.Or(q.Title, q.Name), Path: tablePath(db, q.Name), Private: !q.Public})
	}
	return out
}
