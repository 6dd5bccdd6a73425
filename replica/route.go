package replica

import (
	"net/url"
	"sort"
	"strings"
)

// routeKind says what a public read URL asks for.
type routeKind uint8

const (
	routeRoot  routeKind = iota // "/" and "/.json": the databases
	routeDB                     // "/db": a database's public tables
	routeTable                  // "/db/table": a page of rows
	routeRow                    // "/db/table/pk": one row
	routeQuery                  // "/db/-/query": public SQL
)

// format is the representation a URL asks for, from its extension.
type format uint8

const (
	formatHTML format = iota // no extension
	formatJSON               // .json
	formatCSV                // .csv
)

// route is a parsed public read URL.
type route struct {
	kind      routeKind
	format    format
	db, table string
	key       string     // escaped primary key segment of a row URL
	query     url.Values // the parameters that change the answer, and only those
	canonical string     // path plus those parameters, sorted: the cache's URL part
}

// Parameters that change an answer, by route and format. Every other
// parameter starting with '_' is ignored; on table routes a parameter
// without '_' is a column filter, on query routes a named SQL parameter.
var (
	tableParamsJSON = []string{"_col", "_extra", "_next", "_nl", "_nocol", "_shape", "_size", "_sort", "_sort_desc"}
	tableParamsCSV  = []string{"_col", "_dl", "_header", "_next", "_nocol", "_size", "_sort", "_sort_desc", "_stream"}
	tableParamsHTML = []string{"_col", "_next", "_nocol", "_size", "_sort", "_sort_desc"}
	queryParamsJSON = []string{"_nl", "_shape", "sql"}
	queryParamsCSV  = []string{"_dl", "_header", "_stream", "sql"}
	queryParamsHTML = []string{"sql"}
)

// multiValued parameters keep every value (sorted: their order does not
// change the answer); the others keep their first value.
func multiValued(name string) bool {
	return name == "_col" || name == "_nocol" || name == "_extra" || !strings.HasPrefix(name, "_")
}

// parseRoute parses the public read URLs:
//
//	/  /.json                          databases
//	/db  /db.json                      a database's public tables
//	/db/table  .json  .csv             a page of rows
//	/db/table/pk  /db/table/pk.json    one row
//	/db/-/query  .json  .csv           public SQL
//
// ok is false for anything else. Segments stay escaped until split, so a
// "%2E" in a key segment never reads as an extension.
func parseRoute(u *url.URL) (rt route, ok bool) {
	path := u.EscapedPath()
	rest, ok := strings.CutPrefix(path, "/")
	if !ok {
		return rt, false
	}
	switch {
	case strings.HasSuffix(rest, ".json"):
		rt.format, rest = formatJSON, rest[:len(rest)-len(".json")]
	case strings.HasSuffix(rest, ".csv"):
		rt.format, rest = formatCSV, rest[:len(rest)-len(".csv")]
	}
	if rest == "" {
		// "/" and "/.json" list databases; there is no "/.csv".
		return route{kind: routeRoot, format: rt.format, canonical: path}, rt.format != formatCSV
	}
	var buf [3]string
	segs, ok := splitPath(rest, buf[:0])
	if !ok || !rt.fill(segs) {
		return rt, false
	}
	rt.canonical = path
	if names := rt.paramNames(); names != nil && u.RawQuery != "" {
		rt.query = usedParams(u.Query(), names)
		if rt.kind == routeQuery {
			keepSQLParams(rt.query)
		}
		if enc := rt.query.Encode(); enc != "" {
			rt.canonical += "?" + enc
		}
	}
	return rt, true
}

// splitPath splits a path into at most cap(buf) segments, into buf (no
// allocation); more segments than that is not a route.
func splitPath(p string, buf []string) ([]string, bool) {
	for len(buf) < cap(buf) {
		seg, rest, more := strings.Cut(p, "/")
		buf = append(buf, seg)
		if !more {
			return buf, true
		}
		p = rest
	}
	return buf, false
}

// fill sets the route's kind and names from its path segments.
func (rt *route) fill(segs []string) bool {
	if len(segs) > 3 {
		return false
	}
	for i, s := range segs {
		if s == "" {
			return false
		}
		if i < 2 {
			u, err := url.PathUnescape(s)
			if err != nil {
				return false
			}
			segs[i] = u
		}
	}
	rt.db = segs[0]
	switch {
	case len(segs) == 1:
		rt.kind = routeDB
		return rt.format != formatCSV
	case segs[1] == "-":
		rt.kind = routeQuery
		return len(segs) == 3 && segs[2] == "query"
	case len(segs) == 2:
		rt.kind, rt.table = routeTable, segs[1]
		return true
	default:
		rt.kind, rt.table, rt.key = routeRow, segs[1], segs[2]
		return rt.format != formatCSV
	}
}

// paramNames are the '_' parameters the route's answer depends on.
func (rt *route) paramNames() []string {
	switch rt.kind {
	case routeTable:
		return [...][]string{tableParamsHTML, tableParamsJSON, tableParamsCSV}[rt.format]
	case routeQuery:
		return [...][]string{queryParamsHTML, queryParamsJSON, queryParamsCSV}[rt.format]
	}
	return nil
}

// usedParams keeps the named parameters and every parameter without a
// leading '_'.
func usedParams(q url.Values, names []string) url.Values {
	out := url.Values{}
	for name, vs := range q {
		if !strings.HasPrefix(name, "_") || containsString(names, name) {
			if multiValued(name) {
				vs = append([]string(nil), vs...)
				sort.Strings(vs)
				out[name] = vs
			} else {
				out[name] = vs[:1]
			}
		}
	}
	return out
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

// Path building for links: every segment escaped, and a trailing ".json"
// or ".csv" inside a name or key written with "%2E" so that it never
// reads as an extension.
func pathSegment(s string) string { return escapeExt(url.PathEscape(s)) }

// escapeExt writes the dot of a trailing extension in an escaped segment
// as "%2E".
func escapeExt(e string) string {
	for _, ext := range []string{".json", ".csv"} {
		if strings.HasSuffix(e, ext) {
			return e[:len(e)-len(ext)] + "%2E" + ext[1:]
		}
	}
	return e
}

func dbPath(db string) string           { return "/" + pathSegment(db) }
func tablePath(db, table string) string { return dbPath(db) + "/" + pathSegment(table) }

// rowPath is the path of a row page: key values joined by ',', each
// escaped (a comma inside a value is "%2C").
func rowPath(db, table string, key []any) string {
	parts := make([]string, len(key))
	for i, v := range key {
		parts[i] = url.PathEscape(keyString(v)) // escapes ',' too
	}
	return tablePath(db, table) + "/" + escapeExt(strings.Join(parts, ","))
}
