package replica

import (
	"net/url"
	"sort"
	"strings"

	"github.com/tablecast/tablecast"
)

// routeKind says what a public read URL asks for: the read kinds of the
// URL grammar (tablecast.ParseRoute).
type routeKind = tablecast.Kind

const (
	routeRoot  = tablecast.KindRoot     // "/" and "/.json": the databases
	routeDB    = tablecast.KindDatabase // "/db": a database's public tables
	routeTable = tablecast.KindTable    // "/db/table": a page of rows
	routeRow   = tablecast.KindRow      // "/db/table/pk": one row
	routeQuery = tablecast.KindQuery    // "/db/-/query": public SQL
)

// format is the representation a URL asks for, from its extension.
type format = tablecast.Format

const (
	formatHTML = tablecast.FormatHTML // no extension
	formatJSON = tablecast.FormatJSON // .json
	formatCSV  = tablecast.FormatCSV  // .csv
	formatBlob = tablecast.FormatBlob // .blob: a row's value
)

// route is a parsed public read URL.
type route struct {
	kind      routeKind
	format    format
	db, table string
	key       string     // escaped primary key segment of a row URL
	query     url.Values // the parameters that change the answer, and only those
	canonical string     // path plus those parameters, sorted: the cache's URL part
	// scheme and base make the absolute URLs of an answer (baseurl.go):
	// "https" and the request's host, or "" and the configured base URL;
	// both "" leaves them relative.
	scheme, base string
}

// Parameters that change an answer, by route and format. On table routes
// a parameter without '_' is a column filter, on query routes a named SQL
// parameter. A table route's '_' parameter is one of four kinds, all
// listed here: read by its format (tableParams*); read by another format
// of the table (ignored, as Datasette's pages ignore _shape); ignored on
// purpose everywhere (ignoredParams); or refused with a 400 that names it
// (anything else, unsupportedParams with a reason): never dropped unread.
var (
	tableParamsJSON = []string{"_col", "_extra", "_facet", "_facet_array", "_facet_date", "_facet_size", "_label", "_labels", "_next", "_nl", "_nocol", "_search", "_searchmode", "_shape", "_size", "_sort", "_sort_by_desc", "_sort_desc", "_where"}
	tableParamsCSV  = []string{"_col", "_dl", "_header", "_label", "_labels", "_next", "_nocol", "_search", "_searchmode", "_size", "_sort", "_sort_by_desc", "_sort_desc", "_stream", "_where"}
	tableParamsHTML = []string{"_col", "_facet", "_facet_array", "_facet_date", "_facet_size", "_label", "_labels", "_next", "_nocol", "_search", "_searchmode", "_size", "_sort", "_sort_by_desc", "_sort_desc", "_where"}
	queryParamsJSON = []string{"_nl", "_shape", "sql"}
	queryParamsCSV  = []string{"_dl", "_header", "_stream", "sql"}
	queryParamsHTML = []string{"sql"}
	rowParamsJSON   = []string{"_extra", "_nl", "_shape"}
	rowParamsCSV    = []string{"_dl", "_header"}
	blobParams      = []string{"_blob_column", "_blob_hash"}

	// ignoredParams change no answer of tablecast's: routing reads the
	// bookmark ones (routing/bookmark.go, routing.go) before the reader;
	// Datasette's _no* skip work (counts, facets, suggestions) that
	// tablecast does only when asked; _trace is Datasette's debug output,
	// off unless its trace_debug setting is on.
	ignoredParams = []string{"_max_lag", "_nocount", "_nofacet", "_nosuggest", "_trace", "_txid"}

	// unsupportedParams are Datasette table parameters tablecast does not
	// implement: a 400 that says so, not an answer that silently differs
	// from Datasette's.
	unsupportedParams = map[string]string{
		"_json": "decoding JSON columns", "_json_infinity": "Infinity in JSON (±Inf is null)",
		"_through": "many-to-many filters", "_timelimit": "per-request time limits", "_ttl": "per-request cache lifetimes",
	}
)

// knownParam reports whether name is read by some format of the route's
// kind or ignored on purpose: not an error on any route of that kind (a
// CSV page ignores _shape, as Datasette's does). The other '_'
// parameters are kept in the route's query, so that they are in its
// cache key, and refused with a 400 after the gate (paramError).
func (rt *route) knownParam(name string) bool {
	if containsString(ignoredParams, name) {
		return true
	}
	var lists [3][]string // no allocation: _txid comes with many reads
	switch rt.kind {
	case routeTable:
		lists = [3][]string{tableParamsJSON, tableParamsCSV, tableParamsHTML}
	case routeQuery:
		lists = [3][]string{queryParamsJSON, queryParamsCSV, queryParamsHTML}
	case routeRow:
		lists = [3][]string{rowParamsJSON, rowParamsCSV, blobParams}
	}
	for _, l := range lists {
		if containsString(l, name) {
			return true
		}
	}
	return false
}

// multiValued parameters keep every value (sorted where their order does
// not change the answer: not _col's nor the facets', listed in the order
// asked); the others keep their first value.
func multiValued(name string) bool {
	return name == "_col" || name == "_nocol" || name == "_extra" || name == "_where" || !strings.HasPrefix(name, "_") ||
		name == "_label" || ordered(name)
}

// ordered parameters keep their values in the order asked.
func ordered(name string) bool {
	return name == "_col" || name == "_facet" || name == "_facet_array" || name == "_facet_date"
}

// parseRoute parses a public read URL: a read route of the URL grammar
// (tablecast.ParseRoute), with the parameters that change its answer. ok
// is false for anything else; the route then still has the format the
// path asks for (its 404 is written in it).
func parseRoute(u *url.URL) (rt route, ok bool) {
	path := u.EscapedPath()
	g, err := tablecast.ParseRoute(path)
	rt.format = g.Format
	if err != nil || !g.Kind.IsRead() {
		return rt, false
	}
	rt.kind, rt.db, rt.table, rt.key = g.Kind, g.DB, g.Table, g.Key
	rt.canonical = path
	var q url.Values
	if rt.kind == routeDB && u.RawQuery != "" {
		// "/db.json?sql=…" (and .csv, and the HTML page) is Datasette
		// 0.64's query URL (dclient's query uses it): the same answer as
		// "/db/-/query.json?sql=…", through the same gate and limits. An
		// empty sql is the database page, as in Datasette.
		if q = u.Query(); q.Get("sql") != "" {
			rt.kind = routeQuery
		}
	}
	if rt.kind == routeDB && rt.format == formatCSV {
		return rt, false // a database has no CSV, only "/db.csv?sql=…" (above)
	}
	if names := rt.paramNames(); names != nil && u.RawQuery != "" {
		if q == nil {
			q = u.Query()
		}
		rt.query = usedParams(q, names, rt.knownParam)
		switch rt.kind {
		case routeQuery:
			keepSQLParams(rt.query)
		case routeRow, routeDB:
			dropFilters(rt.query)
		}
		if enc := rt.query.Encode(); enc != "" {
			rt.canonical += "?" + enc
		}
	}
	return rt, true
}

// paramNames are the '_' parameters the route's answer depends on.
func (rt *route) paramNames() []string {
	switch rt.kind {
	case routeTable:
		return [...][]string{tableParamsHTML, tableParamsJSON, tableParamsCSV}[rt.format]
	case routeQuery:
		return [...][]string{queryParamsHTML, queryParamsJSON, queryParamsCSV}[rt.format]
	case routeRow:
		if rt.format == formatBlob {
			return blobParams
		}
		return [...][]string{{}, rowParamsJSON, rowParamsCSV}[rt.format]
	case routeDB:
		return []string{} // none: any '_' parameter is kept, to be refused
	}
	return nil
}

// paramError is the 400 for the route's first '_' parameter (by name)
// that its format does not read and no route ignores on purpose; nil if
// there is none. Answers call it after the gate: for a private thing the
// 404 of a missing one comes first.
func (rt *route) paramError() error {
	return checkParamNames(rt.query, rt.paramNames())
}

// usedParams keeps the named parameters, every parameter without a
// leading '_', and every '_' parameter that known says no route of the
// kind reads (they are refused: paramError).
func usedParams(q url.Values, names []string, known func(string) bool) url.Values {
	out := url.Values{}
	for name, vs := range q {
		if !strings.HasPrefix(name, "_") || containsString(names, name) || !known(name) {
			if multiValued(name) {
				vs = append([]string(nil), vs...)
				if !ordered(name) {
					sort.Strings(vs)
				}
				out[name] = vs
			} else {
				out[name] = vs[:1]
			}
		}
	}
	return out
}

// dropFilters drops the parameters without a leading '_': a row page
// has no filters, and they must not split its cache entry.
func dropFilters(q url.Values) {
	for name := range q {
		if !strings.HasPrefix(name, "_") {
			delete(q, name)
		}
	}
}

// keepSQLParams drops the parameters a query route got that its SQL
// cannot name, and keeps the first value of the others. Which of them the
// SQL names is SQLite's call ("$a(x)" is one variable named "a(x)"), made
// when it binds: here a name is dropped only when ":name", "@name" and
// "$name" all are absent from the text, as then no parameter of SQLite's
// can have it.
func keepSQLParams(q url.Values) {
	text := q.Get("sql")
	for name, vs := range q {
		if !strings.HasPrefix(name, "_") && name != "sql" {
			if strings.Contains(text, ":"+name) || strings.Contains(text, "@"+name) || strings.Contains(text, "$"+name) {
				q[name] = vs[:1]
			} else {
				delete(q, name)
			}
		}
	}
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Path building for links: see tablecast.PathSegment.
func pathSegment(s string) string { return tablecast.PathSegment(s) }

func dbPath(db string) string           { return "/" + pathSegment(db) }
func tablePath(db, table string) string { return dbPath(db) + "/" + pathSegment(table) }

// rowPath is the path of a row page: key values tilde-encoded, joined by
// ',' (keySegment), as Datasette writes them.
func rowPath(db, table string, key []any) string {
	return tablePath(db, table) + "/" + keySegment(key)
}
