package replica

import (
	"bytes"
	"encoding/json"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/tablecast/tablecast"
)

// Page sizes of table reads.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// Shapes of a JSON answer, as Datasette names them.
const (
	shapeObjects = "objects"    // {"rows": [{…}]} (the default)
	shapeArrays  = "arrays"     // {"columns": […], "rows": [[…]]}
	shapeArray   = "array"      // [{…}]
	shapeObject  = "object"     // {"pk": {…}}
	shapeFirst   = "arrayfirst" // [first column of each row, …]
)

// tableQuery is a table page request, checked against the table's
// columns: what to filter, sort, show, and where to start.
type tableQuery struct {
	filters []filter
	sort    string // sort column, "" for the key order
	desc    bool
	cols    []string // data columns to return: the keys, then _col's order or the table's
	size    int
	next    []any // keyset (or view offset) position, nil for the first page
	shape   string
	nl      bool     // newline-delimited JSON (with the array shape)
	count   bool     // _extra=count
	columns bool     // _extra=columns
	stream  bool     // CSV: every row, not one page
	dl      bool     // CSV: as a download
	noHead  bool     // CSV: no header row
	where   []string // _where SQL fragments (where.go)
	search  *search  // _search, _search_COL (search.go); nil for none
	page    bool     // a table page (not a row): facets.go's _extra too

	metadata bool   // _extra=metadata
	meta     object // the table's metadata, set by tableAnswer
}

// sortColumn is the column rows are sorted by before their key: _sort's,
// or a ranked search's relevance; "" for the key order.
func (tq *tableQuery) sortColumn() string {
	if tq.sort == "" && tq.search != nil && tq.search.rank {
		return rankColumn
	}
	return tq.sort
}

// filter is one column filter: column, operator and bound arguments.
type filter struct {
	col  string
	op   string
	args []any
}

// filterOps are Datasette's column filters: "col__op=value". A bare
// "col=value" is exact.
var filterOps = map[string]bool{
	"exact": true, "not": true, "contains": true, "startswith": true, "endswith": true,
	"gt": true, "gte": true, "lt": true, "lte": true, "in": true, "notin": true,
	"isnull": true, "notnull": true, "like": true, "glob": true,
	"notlike": true, "isblank": true, "notblank": true, "date": true,
	"arraycontains": true, "arraynotcontains": true,
}

// parseTableQuery checks a table route's parameters against t. Run it
// only after the gate let t through: its errors name columns.
func parseTableQuery(t *table, q url.Values, f format) (*tableQuery, error) {
	tq := &tableQuery{size: DefaultPageSize, shape: shapeObjects, page: true}
	if err := checkParamNames(q, [...][]string{tableParamsHTML, tableParamsJSON, tableParamsCSV}[f]); err != nil {
		return nil, err
	}
	if err := tq.parseSize(q.Get("_size")); err != nil {
		return nil, err
	}
	if err := tq.parseSort(t, q); err != nil {
		return nil, err
	}
	if err := tq.parseCols(t, q["_col"], q["_nocol"]); err != nil {
		return nil, err
	}
	if err := tq.parseOutput(t, q, f); err != nil {
		return nil, err
	}
	if v := q.Get("_next"); v != "" {
		next, err := parseNext(t, tq, v)
		if err != nil {
			return nil, err
		}
		tq.next = next
	}
	if tq.where = q["_where"]; len(tq.where) > MaxWhereClauses {
		return nil, tablecast.Errorf(tablecast.EINVALID, "Too many _where: at most %d", MaxWhereClauses)
	}
	return tq, tq.parseFilters(t, q)
}

// checkParamNames refuses the '_' parameters of q not in names (the ones
// the format reads). parseRoute kept only those and the ones no route of
// the kind knows (route.knownParam): every one left over is a 400 naming
// it.
func checkParamNames(q url.Values, names []string) error {
	var bad []string
	for name := range q {
		// _search_COL: any COL, on the routes that read _search.
		search := strings.HasPrefix(name, "_search_") && containsString(names, "_search")
		if strings.HasPrefix(name, "_") && !containsString(names, name) && !search && !isColumnFilter(name) {
			bad = append(bad, name)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	name := bad[0]
	if why, ok := unsupportedParams[name]; ok {
		return tablecast.Errorf(tablecast.EINVALID, "Unsupported parameter %s: tablecast has no %s", name, why)
	}
	return tablecast.Errorf(tablecast.EINVALID, "Unknown parameter %s", name)
}

func (tq *tableQuery) parseSize(v string) error {
	switch v {
	case "":
	case "max":
		tq.size = MaxPageSize
	default:
		// _size=0 is Datasette's "no rows" (the count and columns only).
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > MaxPageSize {
			return tablecast.Errorf(tablecast.EINVALID, "_size must be an integer from 0 to %d", MaxPageSize)
		}
		tq.size = n
	}
	return nil
}

func (tq *tableQuery) parseSort(t *table, q url.Values) error {
	asc, desc := q.Get("_sort"), q.Get("_sort_desc")
	if asc != "" && desc != "" {
		return tablecast.Errorf(tablecast.EINVALID, "Cannot use _sort and _sort_desc at the same time")
	}
	col := asc + desc
	if col == "" {
		return nil
	}
	if !t.HasColumn(col) {
		return tablecast.Errorf(tablecast.EINVALID, "Cannot sort table by %s: no such column", col)
	}
	// _sort_by_desc (the HTML form's checkbox, any value) turns _sort
	// descending, as Datasette's redirect to _sort_desc does.
	_, byDesc := q["_sort_by_desc"]
	tq.sort, tq.desc = col, desc != "" || byDesc
	return nil
}

// parseCols applies _col (only these, in the order asked, as Datasette)
// and _nocol (all but these); the primary key columns always come first.
func (tq *tableQuery) parseCols(t *table, only, not []string) error {
	if n := len(only) + len(not); n > MaxListValues {
		return tablecast.Errorf(tablecast.EINVALID, "Too many columns in _col and _nocol: at most %d, got %d", MaxListValues, n)
	}
	for _, c := range append(append([]string(nil), only...), not...) {
		if !containsString(t.Columns, c) {
			return tablecast.Errorf(tablecast.EINVALID, "Invalid column %s in _col or _nocol: no such column", c)
		}
	}
	order := t.Columns
	if len(only) > 0 {
		order = append(append([]string(nil), t.PKs...), only...)
	}
	for _, c := range order {
		isPK := containsString(t.PKs, c)
		if !containsString(tq.cols, c) && (isPK || !containsString(not, c)) {
			tq.cols = append(tq.cols, c)
		}
	}
	return nil
}

func (tq *tableQuery) parseOutput(t *table, q url.Values, f format) error {
	switch s := q.Get("_shape"); s {
	case "", shapeObjects:
	case shapeArrays, shapeArray, shapeFirst:
		tq.shape = s
	case shapeObject:
		if t.View {
			return tablecast.Errorf(tablecast.EINVALID, "_shape=object is only available on tables")
		}
		tq.shape = s
	default:
		return tablecast.Errorf(tablecast.EINVALID, "Invalid _shape: %s (use objects, arrays, array, arrayfirst or object)", s)
	}
	tq.nl = q.Get("_nl") == "on"
	if tq.nl {
		tq.shape = shapeArray
	}
	for _, v := range q["_extra"] {
		for _, e := range strings.Split(v, ",") {
			switch e {
			case "count":
				tq.count = true
			case "columns":
				tq.columns = true
			case "metadata":
				tq.metadata = true
			case "":
			case "facet_results", "facets_timed_out", "suggested_facets", "expandable_columns", "expanded_columns":
				if !tq.page {
					return tablecast.Errorf(tablecast.EINVALID, "Invalid _extra: %s (use count or columns)", e)
				} // facets.go reads them
			default:
				return tablecast.Errorf(tablecast.EINVALID, "Invalid _extra: %s (use %s)", e, extrasList(tq.page))
			}
		}
	}
	if f == formatCSV {
		tq.stream = q.Get("_stream") == "on"
		tq.dl = q.Get("_dl") != ""
		tq.noHead = q.Get("_header") == "off"
	}
	return nil
}

// MaxListValues bounds what one request may list: the values of one
// __in or __notin filter, the filters of a request and the values they
// bind together, and the columns of _col and _nocol together. More is a
// 400 (SQLite itself refuses more than 32766 bound values).
const MaxListValues = 1000

// parseFilters reads every parameter without a leading '_' as a filter,
// in name order so that the SQL is the same for the same answer.
func (tq *tableQuery) parseFilters(t *table, q url.Values) error {
	names := make([]string, 0, len(q))
	for name := range q {
		if !strings.HasPrefix(name, "_") || isColumnFilter(name) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	bound := 0
	for _, name := range names {
		col, op := name, "exact"
		if i := strings.LastIndex(name, "__"); i > 0 && filterOps[name[i+2:]] {
			col, op = name[:i], name[i+2:]
		}
		if !t.HasColumn(col) {
			return tablecast.Errorf(tablecast.EINVALID, "Invalid filter %s: no such column: %s", name, col)
		}
		for _, v := range q[name] {
			args := filterArgs(op, v)
			if (op == "in" || op == "notin") && args == nil {
				return tablecast.Errorf(tablecast.EINVALID, "Invalid filter %s: a value starting with [ must be a JSON list of strings, numbers or nulls", name)
			}
			if (op == "in" || op == "notin") && len(args) > MaxListValues {
				return tablecast.Errorf(tablecast.EINVALID, "Invalid filter %s: at most %d values, got %d", name, MaxListValues, len(args))
			}
			tq.filters = append(tq.filters, filter{col: col, op: op, args: args})
			bound += max(len(args), 1)
			if bound > MaxListValues {
				return tablecast.Errorf(tablecast.EINVALID, "Too many filters: at most %d filters and values in all", MaxListValues)
			}
		}
	}
	return nil
}

// isColumnFilter reports whether a '_' parameter is a filter on a column
// whose name starts with '_': "_col__op" with an operator (a facet on
// such a column toggles "_col__exact", as Datasette's does).
func isColumnFilter(name string) bool {
	i := strings.LastIndex(name, "__")
	return strings.HasPrefix(name, "_") && i > 1 && filterOps[name[i+2:]]
}

// filterArgs are the values an operator binds.
func filterArgs(op, v string) []any {
	switch op {
	case "isnull", "notnull", "isblank", "notblank":
		return nil
	case "gt", "gte", "lt", "lte":
		return []any{numeric(v)}
	case "contains":
		return []any{"%" + escapeLike(v) + "%"}
	case "startswith":
		return []any{escapeLike(v) + "%"}
	case "endswith":
		return []any{"%" + escapeLike(v)}
	case "in", "notin":
		return inValues(v)
	}
	return []any{v}
}

// numeric turns a number written in decimal into a number, as Datasette
// does for comparisons; anything else stays text.
func numeric(v string) any {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return n
	}
	if strings.ContainsAny(v, "nNiIxX_") {
		return v // "inf", "nan", hex and Go's digit separators are text
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		return f
	}
	return v
}

func escapeLike(v string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(v)
}

// inValues reads "a,b,c" or a JSON array of scalars; nil when v starts
// with '[' but is no such array (a 400, where Datasette fails with a 500).
func inValues(v string) []any {
	if strings.HasPrefix(v, "[") {
		dec := json.NewDecoder(bytes.NewReader([]byte(v)))
		dec.UseNumber()
		var list []any
		if dec.Decode(&list) == nil && !dec.More() {
			out := make([]any, 0, len(list))
			ok := true
			for _, x := range list {
				switch x := x.(type) {
				case json.Number:
					out = append(out, numeric(x.String()))
				case string, nil:
					out = append(out, x)
				default:
					ok = false
				}
			}
			if ok {
				return out
			}
		}
		return nil
	}
	parts := strings.Split(v, ",")
	out := make([]any, len(parts))
	for i, p := range parts {
		out[i] = p
	}
	return out
}

// sql renders the filter as a condition on its quoted column.
func (f filter) sql() string {
	c := columnSQL(f.col)
	switch f.op {
	case "exact":
		return c + " = ?"
	case "not":
		return c + " != ?"
	case "contains", "startswith", "endswith":
		return c + ` LIKE ? ESCAPE '\'`
	case "like":
		return c + " LIKE ?"
	case "notlike":
		return c + " NOT LIKE ?"
	case "date":
		return "date(" + c + ") = ?"
	case "isblank":
		return "(" + c + " IS NULL OR " + c + " = '')"
	case "notblank":
		return "(" + c + " IS NOT NULL AND " + c + " != '')"
	case "arraycontains":
		return "? IN (SELECT value FROM json_each(" + jsonArraySQL(c) + "))"
	case "arraynotcontains":
		return "? NOT IN (SELECT value FROM json_each(" + jsonArraySQL(c) + "))"
	case "glob":
		return c + " GLOB ?"
	case "gt":
		return c + " > ?"
	case "gte":
		return c + " >= ?"
	case "lt":
		return c + " < ?"
	case "lte":
		return c + " <= ?"
	case "in":
		return c + " IN (" + placeholders(len(f.args)) + ")"
	case "notin":
		return c + " NOT IN (" + placeholders(len(f.args)) + ")"
	case "isnull":
		return c + " IS NULL"
	default: // notnull
		return c + " IS NOT NULL"
	}
}

// columnSQL quotes a column; "rowid" stays the rowid.
func columnSQL(c string) string {
	if c == "rowid" {
		return "rowid"
	}
	return tablecast.QuoteIdent(c)
}

// jsonArraySQL is column c for json_each: a value that is not JSON counts
// as an empty array, where Datasette's query fails on the first such row.
func jsonArraySQL(c string) string {
	return "CASE WHEN json_valid(" + c + ") THEN " + c + " ELSE '[]' END"
}
