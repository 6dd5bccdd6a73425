package tablecast

import (
	"net/url"
	"strings"
)

// Kind is what a request path asks for: which route of the URL grammar
// it takes.
type Kind uint8

const (
	KindOther    Kind = iota // no route
	KindRoot                 // /  /.json: the databases
	KindDatabase             // /{db}  /{db}.json: a database's public tables
	KindTable                // /{db}/{table}  .json  .csv: a page of rows
	KindRow                  // /{db}/{table}/{key}  .json  .blob: one row (.blob: a value's bytes)
	KindQuery                // /{db}/-/query  .json  .csv: public SQL, a read
	KindWrite                // /{db}/-/create, /{db}/{table}/-/insert, …
	KindAdmin                // /-/…: the node's status, cluster and admin pages
	KindMetrics              // /metrics
)

// IsRead reports whether the kind is a public read (the read path's).
func (k Kind) IsRead() bool { return k >= KindRoot && k <= KindQuery }

// Route labels: the kind of a request's path as a bounded metrics label
// (never the raw path: database and table names are unbounded, and may be
// private). Dashboards in deploy/ select on these values.
const (
	RouteRoot     = "root"     // /, /.json
	RouteDatabase = "database" // /{db}.json
	RouteTable    = "table"    // /{db}/{table}.json
	RouteRow      = "row"      // /{db}/{table}/{pk}.json
	RouteQuery    = "query"    // /{db}/-/query.json, .csv, HTML: public SQL, a read
	RouteWrite    = "write"    // /{db}/-/create, /{db}/{table}/-/insert, …
	RouteAdmin    = "admin"    // /-/…, /metrics
	RouteOther    = "other"    // anything else
)

// RouteLabels lists every value Route.Label returns.
var RouteLabels = []string{RouteRoot, RouteDatabase, RouteTable, RouteRow, RouteQuery, RouteWrite, RouteAdmin, RouteOther}

var kindLabels = [...]string{
	KindOther: RouteOther, KindRoot: RouteRoot, KindDatabase: RouteDatabase, KindTable: RouteTable,
	KindRow: RouteRow, KindQuery: RouteQuery, KindWrite: RouteWrite, KindAdmin: RouteAdmin, KindMetrics: RouteAdmin,
}

// Format is the representation a read asks for, from its extension.
type Format uint8

const (
	FormatHTML Format = iota // no extension
	FormatJSON               // .json
	FormatCSV                // .csv
	FormatBlob               // .blob: one value's bytes (Datasette's blob renderer)
)

// Ext is the format's path extension: "", ".json", ".csv" or ".blob".
func (f Format) Ext() string { return [...]string{"", ".json", ".csv", ".blob"}[f] }

// formats is a set of formats a route may be asked in.
type formats uint8

const (
	inHTML formats = 1 << FormatHTML
	inJSON formats = 1 << FormatJSON
	inCSV  formats = 1 << FormatCSV
	inBlob formats = 1 << FormatBlob
)

// Write actions, the last segment of each write path.
const (
	ActionCreate    = "create"
	ActionInsert    = "insert"
	ActionUpsert    = "upsert"
	ActionDelete    = "delete"
	ActionUpdate    = "update"
	ActionDrop      = "drop"
	ActionPublish   = "publish"
	ActionUnpublish = "unpublish"
)

// Route is a parsed request path.
type Route struct {
	Kind   Kind
	Format Format
	DB     string // unescaped
	Table  string // unescaped
	// Key is a row's primary key segment, still escaped: its values are
	// split on ',' before they are unescaped (see PK), so "~2C" and "%2C"
	// stay inside a value.
	Key    string
	Action string // write routes: one of the Action constants
}

// The URL grammar: every route, one line each, first match wins. A path
// is split on '/' while escaped, so "%2F" stays inside its segment, after
// its extension (.json or .csv, as written: "%2E" is no extension) is cut
// from the last one. Wildcards:
//
//	{db} {table}  the unescaped segment; in a read, never empty, and a
//	              table is never "-"
//	{key}         the segment as written (Route.Key); in a read never
//	              empty, in a write it must unescape
//	/...          a last segment: any path under the others, however
//	              long (the admin handler has its own routes)
//
// Literal segments match unescaped ("%2D" is "-"), except the last one of
// a read route, which matches as written ("/db/-/quer%79" is no query).
var grammar = []pattern{
	node(KindAdmin, "/-/..."),
	node(KindMetrics, "/metrics"),
	read(KindRoot, "/", inHTML|inJSON),
	read(KindDatabase, "/{db}", inHTML|inJSON|inCSV), // CSV: only Datasette's "/db.csv?sql=" (replica)
	read(KindTable, "/{db}/{table}", inHTML|inJSON|inCSV),
	read(KindRow, "/{db}/{table}/{key}", inHTML|inJSON|inCSV|inBlob),
	read(KindQuery, "/{db}/-/query", inHTML|inJSON|inCSV),
	write(ActionCreate, "/{db}/-/create"),
	write(ActionPublish, "/{db}/-/publish"),
	write(ActionUnpublish, "/{db}/-/unpublish"),
	write(ActionInsert, "/{db}/{table}/-/insert"),
	write(ActionUpsert, "/{db}/{table}/-/upsert"),
	write(ActionPublish, "/{db}/{table}/-/publish"),
	write(ActionUnpublish, "/{db}/{table}/-/unpublish"),
	write(ActionDelete, "/{db}/{table}/{key}/-/delete"),
	write(ActionUpdate, "/{db}/{table}/{key}/-/update"),
	write(ActionDrop, "/{db}/{table}/-/drop"),
}

// maxSegments is the most segments a grammar route has.
const maxSegments = 5

// Wildcard segments of a pattern.
const (
	wildDB    = "{db}"
	wildTable = "{table}"
	wildKey   = "{key}"
)

// pattern is one route of the grammar.
type pattern struct {
	kind    Kind
	action  string
	formats formats
	segs    []string // literals and wildcards
	under   bool     // "...": segs is a prefix of the path
}

func read(kind Kind, path string, f formats) pattern {
	return pattern{kind: kind, formats: f, segs: patternSegments(path)}
}

func write(action, path string) pattern {
	return pattern{kind: KindWrite, action: action, formats: inHTML, segs: patternSegments(path)}
}

// node is a route of the node's own, served by its admin handler.
func node(kind Kind, path string) pattern {
	prefix, under := strings.CutSuffix(path, "/...")
	return pattern{kind: kind, formats: inHTML, segs: patternSegments(prefix), under: under}
}

func patternSegments(path string) []string {
	if path == "/" {
		return nil
	}
	return strings.Split(strings.TrimPrefix(path, "/"), "/")
}

// errNoRoute is ParseRoute's error for a path that names no route. The
// handlers answer it with their own 404 body.
var errNoRoute = Errorf(ENOTFOUND, "Not found")

// ParseRoute parses a request's escaped path (URL.EscapedPath) by its
// grammar; the method does not matter (a GET sent to a write route is
// still a write route, answered 404 by the read path). A path that names
// no route is an ENOTFOUND error, with the route holding what the path
// names as far as it goes: its format, its kind when only the format or
// the write action is wrong, its database (its first segment).
func ParseRoute(path string) (Route, error) {
	rest, ok := strings.CutPrefix(path, "/")
	if !ok {
		if path == "" {
			return Route{Kind: KindRoot}, errNoRoute
		}
		return Route{}, errNoRoute
	}
	body, f := cutFormat(rest)
	var buf [maxSegments]string
	segs, fits := splitSegments(body, buf[:0])
	partial, found := Route{}, false
	for i := range grammar {
		p := &grammar[i]
		var m Route
		switch {
		case p.under:
			if p.matchUnder(rest) {
				return Route{Kind: p.kind}, nil
			}
			continue
		case fits:
			if m, ok = p.match(segs, f); !ok {
				continue
			}
		default:
			continue
		}
		switch {
		case p.formats&(1<<f) != 0:
			return m, nil
		case !found && (p.kind.IsRead() || p.kind == KindWrite):
			partial, found = m, true // the right shape in the wrong format
		}
	}
	if found {
		return partial, errNoRoute
	}
	if !fits {
		return Route{Format: f, DB: firstName(segs)}, errNoRoute
	}
	return shape(segs, f), errNoRoute
}

// matchUnder reports whether the escaped path rest (without its leading
// '/') is under p's literal segments: each one, then a '/'.
func (p *pattern) matchUnder(rest string) bool {
	for _, want := range p.segs {
		seg, after, more := strings.Cut(rest, "/")
		if !more || !is(seg, want) {
			return false
		}
		rest = after
	}
	return true
}

// cutFormat cuts a .json, .csv or .blob extension, as written, from path.
func cutFormat(path string) (string, Format) {
	if p, ok := strings.CutSuffix(path, ".blob"); ok {
		return p, FormatBlob
	}
	if p, ok := strings.CutSuffix(path, ".json"); ok {
		return p, FormatJSON
	}
	if p, ok := strings.CutSuffix(path, ".csv"); ok {
		return p, FormatCSV
	}
	return path, FormatHTML
}

// splitSegments splits an escaped path into at most cap(buf) segments,
// into buf (no allocation); more segments than that is no route. An empty
// path has no segment.
func splitSegments(p string, buf []string) ([]string, bool) {
	if p == "" {
		return buf, true
	}
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

// unescape is url.PathUnescape without its error: ok is false when the
// segment is not well escaped. It allocates only for an escaped segment.
func unescape(seg string) (v string, ok bool) {
	if strings.IndexByte(seg, '%') < 0 {
		return seg, true
	}
	v, err := url.PathUnescape(seg)
	return v, err == nil
}

// is reports whether the escaped segment seg is want once unescaped.
func is(seg, want string) bool {
	if seg == want {
		return true
	}
	v, ok := unescape(seg)
	return ok && v == want
}

// match matches the segments of a path against p, whatever its format.
func (p *pattern) match(segs []string, f Format) (Route, bool) {
	if len(segs) != len(p.segs) || !p.literalsMatch(segs) {
		return Route{}, false
	}
	rt := Route{Kind: p.kind, Format: f, Action: p.action}
	isRead := p.kind.IsRead()
	for i, want := range p.segs {
		v := segs[i]
		switch want {
		case wildDB, wildTable:
			var ok bool
			if v, ok = unescape(v); !ok || isRead && want == wildTable && v == "-" {
				return Route{}, false
			}
		case wildKey:
			if _, ok := unescape(v); !ok && !isRead {
				return Route{}, false
			}
		default:
			continue
		}
		if isRead && v == "" {
			return Route{}, false
		}
		switch want {
		case wildDB:
			rt.DB = v
		case wildTable:
			rt.Table = v
		default:
			rt.Key = v
		}
	}
	return rt, true
}

// literalsMatch reports whether the literal segments of p match segs
// (as many): unescaped, but the last one of a read as written.
func (p *pattern) literalsMatch(segs []string) bool {
	for i, want := range p.segs {
		if isWildcard(want) || segs[i] == want {
			continue
		}
		if p.kind.IsRead() && i == len(segs)-1 || !is(segs[i], want) {
			return false
		}
	}
	return true
}

func isWildcard(seg string) bool { return strings.HasPrefix(seg, "{") }

// shape is the kind of a path that names no route, for its label: a
// write's shape (/db/-/x, /db/t/-/x, /db/t/pk/-/x) is a write, anything
// else other. Its database is its first segment.
func shape(segs []string, f Format) Route {
	rt := Route{Kind: KindOther, Format: f}
	if n := len(segs); n >= 3 && is(segs[n-2], "-") && (segs[n-1] != "" || f != FormatHTML) {
		rt.Kind = KindWrite
	}
	rt.DB = firstName(segs)
	return rt
}

// firstName is the unescaped first segment, "" for none.
func firstName(segs []string) string {
	if len(segs) == 0 {
		return ""
	}
	if v, ok := unescape(segs[0]); ok {
		return v
	}
	return ""
}

// Label is the route's kind as a metrics label (one of RouteLabels). A
// database or table page whose name has a '.' (no name can) is "other":
// /favicon.ico, /robots.txt.
func (rt Route) Label() string {
	switch {
	case rt.Format != FormatHTML:
	case rt.Kind == KindDatabase && strings.Contains(rt.DB, "."),
		rt.Kind == KindTable && strings.Contains(rt.Table, "."):
		return RouteOther
	}
	return kindLabels[rt.Kind]
}

// PK splits the key segment into its unescaped values, in key order (see
// ParsePK).
func (rt Route) PK() ([]string, error) { return ParsePK(rt.Key) }

// ParsePK splits an escaped primary key segment into its values: split on
// ',', then each value unescaped in one pass, Datasette's tilde encoding
// ("~2C" is ',', "+" is ' ') and percent encoding ("%2C") alike. A
// malformed escape is an EINVALID error.
func ParsePK(key string) ([]string, error) {
	parts := strings.Split(key, ",")
	for i, s := range parts {
		v, ok := unescapePK(s)
		if !ok {
			return nil, Errorf(EINVALID, "Malformed primary key %q", key)
		}
		parts[i] = v
	}
	return parts, nil
}

// unescapePK decodes one value of a key segment: "~XX" and "%XX" are the
// byte XX, "+" is a space, anything else stands for itself.
func unescapePK(s string) (string, bool) {
	if !strings.ContainsAny(s, "~%+") {
		return s, true
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '~', '%':
			if i+2 >= len(s) {
				return "", false
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return "", false
			}
			b = append(b, hi<<4|lo)
			i += 2
		case '+':
			b = append(b, ' ')
		default:
			b = append(b, c)
		}
	}
	return string(b), true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// PKSegment writes primary key values as a row path's key segment, as
// Datasette does: each value tilde-encoded, joined by ','.
func PKSegment(values []string) string {
	var b strings.Builder
	for i, v := range values {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(TildeEncode(v))
	}
	return b.String()
}

// TildeEncode is Datasette's tilde_encode: letters, digits, '_' and '-'
// stand for themselves, a space is '+', any other byte is "~XX" (so a
// value never holds ',', '/', '.', '%' or '~' once encoded).
func TildeEncode(s string) string {
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-':
			b = append(b, c)
		case c == ' ':
			b = append(b, '+')
		default:
			b = append(b, '~', hex[c>>4], hex[c&15])
		}
	}
	return string(b)
}

// Path renders the route as an escaped path that parses back to it: the
// first route of the grammar of its kind and action that has a place for
// each of its names ("" when no route fits). A route under a prefix
// renders as the prefix: "/-/".
func (rt Route) Path() string {
	for i := range grammar {
		if p := &grammar[i]; p.fits(rt) {
			return p.render(rt)
		}
	}
	return ""
}

// fits reports whether p can render rt: same kind, action and format, a
// place for each name rt has, and (in a read) a name for each place.
func (p *pattern) fits(rt Route) bool {
	if p.kind != rt.Kind || p.action != rt.Action || p.formats&(1<<rt.Format) == 0 {
		return false
	}
	for _, w := range [...]struct{ wild, name string }{{wildDB, rt.DB}, {wildTable, rt.Table}, {wildKey, rt.Key}} {
		has := containsString(p.segs, w.wild)
		if w.name != "" && !has || has && w.name == "" && p.kind.IsRead() {
			return false
		}
	}
	return true
}

func (p *pattern) render(rt Route) string {
	if len(p.segs) == 0 {
		return "/" + rt.Format.Ext()
	}
	if p.under {
		return "/" + strings.Join(p.segs, "/") + "/"
	}
	var b strings.Builder
	for _, s := range p.segs {
		b.WriteByte('/')
		switch s {
		case wildDB:
			b.WriteString(PathSegment(rt.DB))
		case wildTable:
			b.WriteString(PathSegment(rt.Table))
		case wildKey:
			b.WriteString(rt.Key)
		default:
			b.WriteString(s)
		}
	}
	b.WriteString(rt.Format.Ext())
	return b.String()
}

// PathSegment escapes a name for a path: every segment escaped, and a
// trailing ".json", ".csv" or ".blob" written with "%2E" so that it never reads as
// an extension.
func PathSegment(s string) string { return EscapeExt(url.PathEscape(s)) }

// EscapeExt writes the dot of a trailing extension in an escaped segment
// as "%2E".
func EscapeExt(e string) string {
	for _, ext := range []string{".json", ".csv", ".blob"} {
		if strings.HasSuffix(e, ext) {
			return e[:len(e)-len(ext)] + "%2E" + ext[1:]
		}
	}
	return e
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
