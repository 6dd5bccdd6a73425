package replica

import (
	"bytes"
	"cmp"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/tablecast/tablecast"
)

//go:embed templates/*.html
var templateFS embed.FS

// pages are the visitor pages, each the base layout around one content
// template. They are rendered on the server; no script runs in the page.
var pages = func() map[string]*template.Template {
	funcs := template.FuncMap{"join": strings.Join}
	base := template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/base.html", "templates/rows.html", "templates/metadata.html"))
	out := map[string]*template.Template{}
	for _, name := range []string{"error", "index", "database", "table", "row", "query"} {
		out[name] = template.Must(template.Must(base.Clone()).ParseFS(templateFS, "templates/"+name+".html"))
	}
	return out
}()

// crumb is one step of a page's breadcrumb.
type crumb struct{ Text, Href string }

// page is what every page template gets.
type page struct {
	Title  string
	Crumbs []crumb
}

// renderPage renders one page template as an answer.
func renderPage(status int, name string, data any) (*cacheEntry, error) {
	var buf bytes.Buffer
	if err := pages[name].ExecuteTemplate(&buf, "base", data); err != nil {
		return nil, fmt.Errorf("render %s page: %w", name, err)
	}
	return &cacheEntry{status: status, contentType: contentHTML, body: buf.Bytes()}, nil
}

// htmlError is the page of an error: the same words as the JSON error.
func (r *Reader) htmlError(err error, status int) *cacheEntry {
	if status == 0 {
		status = tablecast.StatusOf(tablecast.ErrorCode(err))
	}
	msg := tablecast.ErrorMessage(err)
	e, rerr := renderPage(status, "error", struct {
		page
		Status int
		Error  string
	}{page{Title: msg}, status, msg})
	if rerr != nil {
		return &cacheEntry{status: status, contentType: "text/plain; charset=utf-8", body: []byte(msg + "\n")}
	}
	return e
}

// htmlIndex is "/": the databases a visitor may see.
func (r *Reader) htmlIndex(dbs []dbSummary) *cacheEntry {
	type item struct {
		dbSummary
		Href string
	}
	items := make([]item, len(dbs))
	for i, d := range dbs {
		items[i] = item{d, dbPath(d.Name)}
	}
	e, err := renderPage(http.StatusOK, "index", struct {
		page
		Databases []item
	}{page{Title: "Databases"}, items})
	if err != nil {
		return r.htmlError(err, 0)
	}
	return e
}

// htmlDatabase is "/{db}": its public tables and views.
func (r *Reader) htmlDatabase(db string, tables []dbTable, s *snapshot) (*cacheEntry, error) {
	sqlHref := ""
	if s.AllowSQL {
		sqlHref = dbPath(db) + "/-/query"
	}
	dm := s.DatabaseMeta()
	return renderPage(http.StatusOK, "database", struct {
		page
		DB, Heading, SQLHref, JSONHref string
		Tables                         []dbTable
		Queries                        []cannedLink
		Meta                           *metaView
	}{page{Title: db, Crumbs: []crumb{{db, dbPath(db)}}}, db, cmp.Or(dm["title"], db), sqlHref, dbPath(db) + ".json", tables,
		cannedLinks(db, s), metaViewOf(dm, nil, nil)})
}

// cell is one rendered value of a grid; Note follows its text (the key
// after a foreign key's label).
type cell struct {
	Text, Href, Class, Note string
}

// headCell is one column heading, a sort link on table pages.
type headCell struct {
	Text, Href, Mark string
}

// grid is a table of rows on a page.
type grid struct {
	Head []headCell
	Rows [][]cell
}

// htmlCell renders a SQLite value for a page.
func htmlCell(v any) cell {
	switch x := v.(type) {
	case labeledValue:
		return labelCell(x)
	case nil:
		return cell{Text: "NULL", Class: "null"}
	case []byte:
		return cell{Text: fmt.Sprintf("<Binary: %d bytes>", len(x)), Class: "null"}
	case int64:
		return cell{Text: strconv.FormatInt(x, 10), Class: "num"}
	case float64:
		return cell{Text: string(tablecast.AppendPyFloat(nil, x)), Class: "num"}
	default:
		return cell{Text: fmt.Sprint(x)}
	}
}

// filterOp is one choice of the filter form.
type filterOp struct{ Value, Text string }

var filterChoices = []filterOp{
	{"exact", "="}, {"not", "!="}, {"contains", "contains"}, {"startswith", "starts with"},
	{"endswith", "ends with"}, {"gt", ">"}, {"gte", "≥"}, {"lt", "<"}, {"lte", "≤"},
	{"like", "like"}, {"notlike", "not like"}, {"glob", "glob"}, {"in", "in (a,b,…)"}, {"notin", "not in"},
	{"arraycontains", "array contains"}, {"arraynotcontains", "array does not contain"}, {"date", "date"},
	{"isnull", "is null"}, {"notnull", "is not null"}, {"isblank", "is blank"}, {"notblank", "is not blank"},
}

// hidden is a hidden form field.
type hidden struct{ Name, Value string }

// htmlTable is "/{db}/{table}": a page of rows with filters, sort links
// and a link to the next page.
func (r *Reader) htmlTable(rt route, s *snapshot, t *table, tq *tableQuery, p *pageResult, count int64, searchable bool, ext *pageExtras) (*cacheEntry, error) {
	path := tablePath(rt.db, rt.table)
	g := grid{Head: make([]headCell, len(p.columns))}
	for i, c := range p.columns {
		g.Head[i] = headCell{Text: c, Href: sortHref(path, rt.query, c, tq)}
		if c == tq.sort {
			g.Head[i].Mark = map[bool]string{false: " ▲", true: " ▼"}[tq.desc]
		}
	}
	for i, row := range p.rows {
		cells := make([]cell, len(row))
		for j, v := range row {
			cells[j] = htmlCell(v)
		}
		if p.keys != nil && len(cells) > 0 && !slices.Contains(p.keys[i], any(nil)) {
			cells[0].Href = rowPath(rt.db, rt.table, p.keys[i])
		}
		g.Rows = append(g.Rows, cells)
	}
	next := ""
	if p.next != nil {
		next = nextURL(rt, encodeNext(p.next))
	}
	var filters []string
	for _, f := range tq.filters {
		filters = append(filters, describeFilter(f))
	}
	filters = append(filters, tq.search.describe()...)
	var keep []hidden
	for _, name := range []string{"_sort", "_sort_desc", "_sort_by_desc", "_size", "_search", "_searchmode"} {
		if v := rt.query.Get(name); v != "" {
			keep = append(keep, hidden{name, v})
		}
	}
	keep = append(keep, facetHidden(rt.query)...)
	q := encodeQuery(rt.query, "_next")
	meta, heading := tableMetaView(s, t)
	return renderPage(http.StatusOK, "table", struct {
		page
		Meta                                                                      *metaView
		Heading                                                                   string
		Table, Path, SortText, ClearHref, NextHref, JSONHref, CSVHref, StreamHref string
		View                                                                      bool
		Count                                                                     int64
		Filters                                                                   []string
		FilterColumns                                                             []string
		Ops                                                                       []filterOp
		Keep                                                                      []hidden
		Grid                                                                      grid
		Search                                                                    *searchBox
		Facets                                                                    []facetBox
		Suggested                                                                 []suggestedFacet
	}{
		page: page{Title: rt.table + " · " + rt.db, Crumbs: []crumb{{rt.db, dbPath(rt.db)}, {rt.table, path}}},
		Meta: meta, Heading: cmp.Or(heading, rt.table),
		Table: rt.table, Path: path, SortText: sortText(tq), ClearHref: path + keepOnly(rt.query, "_sort", "_sort_desc", "_sort_by_desc", "_size", "_facet", "_facet_array", "_facet_date", "_facet_size", "_labels"),
		NextHref: next, JSONHref: path + ".json" + q, CSVHref: path + ".csv" + q,
		StreamHref: path + ".csv" + encodeQuery(withParam(rt.query, "_stream", "on"), "_next", "_size"),
		View:       t.View, Count: count, Filters: filters, FilterColumns: t.Columns, Ops: filterChoices, Keep: keep, Grid: g,
		Search: newSearchBox(searchable, rt.query),
		Facets: facetBoxes(rt, ext.facets), Suggested: ext.suggestedFacets(),
	})
}

// sortHref links a column heading: ascending, or descending when the
// page is sorted ascending by it already. The first page of the new order.
func sortHref(path string, q url.Values, col string, tq *tableQuery) string {
	name := "_sort"
	if tq.sort == col && !tq.desc {
		name = "_sort_desc"
	}
	q2 := withParam(q, name, col)
	return path + encodeQuery(q2, "_next", "_sort_by_desc", map[string]string{"_sort": "_sort_desc", "_sort_desc": "_sort"}[name])
}

func sortText(tq *tableQuery) string {
	if tq.sort == "" {
		return ""
	}
	if tq.desc {
		return tq.sort + " descending"
	}
	return tq.sort
}

// describeFilter writes a filter for people: `name contains "x"`.
func describeFilter(f filter) string {
	op := f.op
	for _, c := range filterChoices {
		if c.Value == f.op {
			op = c.Text
		}
	}
	var args []string
	for _, a := range f.args {
		args = append(args, strconv.Quote(keyString(a)))
	}
	return strings.TrimSpace(f.col + " " + op + " " + strings.Join(args, ", "))
}

// withParam is a copy of q with name set to v.
func withParam(q url.Values, name, v string) url.Values {
	out := url.Values{}
	for k, vs := range q {
		out[k] = vs
	}
	out.Set(name, v)
	return out
}

// encodeQuery writes q without the dropped names, "?"-prefixed, or "".
func encodeQuery(q url.Values, drop ...string) string {
	out := url.Values{}
	for k, vs := range q {
		if !containsString(drop, k) {
			out[k] = vs
		}
	}
	if enc := out.Encode(); enc != "" {
		return "?" + enc
	}
	return ""
}

// keepOnly writes q with the named parameters only.
func keepOnly(q url.Values, names ...string) string {
	out := url.Values{}
	for _, n := range names {
		if vs, ok := q[n]; ok {
			out[n] = vs
		}
	}
	return encodeQuery(out)
}

// filterRedirect turns the filter form's fields into Datasette's filter
// parameter ("col__op=value") and returns where to send the visitor, or
// "" when the request has no form fields.
func filterRedirect(u *url.URL) string {
	q := u.Query()
	col := q.Get("_filter_column")
	if col == "" {
		return ""
	}
	op, v := q.Get("_filter_op"), q.Get("_filter_value")
	for _, name := range []string{"_filter_column", "_filter_op", "_filter_value", "_next"} {
		q.Del(name)
	}
	if !filterOps[op] {
		op = "exact"
	}
	name := col + "__" + op
	if op == "exact" && !strings.Contains(col, "__") {
		name = col
	}
	q.Add(name, v)
	return u.EscapedPath() + encodeQuery(q)
}

// htmlRow is "/{db}/{table}/{pk}": one row, a field a line.
func (r *Reader) htmlRow(rt route, t *table, p *pageResult) (*cacheEntry, error) {
	type field struct {
		Name string
		Cell cell
	}
	fields := make([]field, len(p.columns))
	for i, c := range p.columns {
		fields[i] = field{c, htmlCell(p.rows[0][i])}
	}
	key := keyString(p.keys[0][0])
	for _, v := range p.keys[0][1:] {
		key += ", " + keyString(v)
	}
	path := tablePath(rt.db, rt.table)
	return renderPage(http.StatusOK, "row", struct {
		page
		Table, Key, JSONHref string
		Fields               []field
	}{page{Title: rt.table + " " + key, Crumbs: []crumb{{rt.db, dbPath(rt.db)}, {rt.table, path}}},
		rt.table, key, rowPath(rt.db, rt.table, p.keys[0]) + ".json", fields})
}

// formParam is one named SQL parameter of a query form, with the value
// the request gave it.
type formParam struct{ Name, Value string }

func formParams(names []string, q url.Values) []formParam {
	out := make([]formParam, len(names))
	for i, n := range names {
		out[i] = formParam{n, q.Get(n)}
	}
	return out
}

// resultGrid is an SQL result as a grid (nil without a result), and
// whether it was truncated.
func resultGrid(res *sqlResult) (*grid, bool) {
	if res == nil {
		return nil, false
	}
	g := &grid{}
	for _, c := range res.columns {
		g.Head = append(g.Head, headCell{Text: c})
	}
	for _, row := range res.rows {
		cells := make([]cell, len(row))
		for j, v := range row {
			cells[j] = htmlCell(v)
		}
		g.Rows = append(g.Rows, cells)
	}
	return g, res.truncated
}

// resultStatus is a query page's status and error message.
func resultStatus(qerr error) (int, string) {
	if qerr == nil {
		return http.StatusOK, ""
	}
	return tablecast.StatusOf(tablecast.ErrorCode(qerr)), tablecast.ErrorMessage(qerr)
}

// htmlQuery is "/{db}/-/query": the SQL form, and its result or error;
// private: for a read token, over every table and view.
func (r *Reader) htmlQuery(rt route, st sqlText, res *sqlResult, qerr error, private bool) (*cacheEntry, error) {
	params := formParams(st.params, rt.query)
	g, truncated := resultGrid(res)
	status, msg := resultStatus(qerr)
	path := dbPath(rt.db) + "/-/query"
	q := encodeQuery(rt.query)
	reads := "Reads public tables only"
	if private {
		reads = "Reads every table and view (your token)"
	}
	return renderPage(status, "query", struct {
		page
		DB, Path, SQL, Error, JSONHref, CSVHref, Limit, Reads string
		Params                                                []formParam
		Grid                                                  *grid
		Truncated                                             bool
	}{page{Title: "SQL · " + rt.db, Crumbs: []crumb{{rt.db, dbPath(rt.db)}, {"SQL", path}}},
		rt.db, path, rt.query.Get("sql"), msg, path + ".json" + q, path + ".csv" + q,
		fmt.Sprintf("at most %d rows, %s", r.SQLMaxRows, r.SQLTimeLimit), reads, params, g, truncated})
}
