package replica

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/tablecast/tablecast"
)

// Page sizes of table reads.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// route is a parsed public read URL.
type route struct {
	db, table string
	key       string     // escaped primary key segment of a row URL
	query     url.Values // the parameters the route uses
	canonical string     // path plus the used parameters, sorted: the cache's URL part
}

// parseRoute parses "/db.json", "/db/table.json" and "/db/table/pk.json";
// ok is false for anything else. "/.json" gives a route with no db.
func parseRoute(u *url.URL) (rt route, ok bool) {
	segs, ok := splitJSONPath(u.EscapedPath())
	if !ok {
		return rt, false
	}
	rt.canonical = u.EscapedPath()
	switch len(segs) {
	case 3:
		rt.key = segs[2]
		fallthrough
	case 2:
		rt.table = segs[1]
		fallthrough
	case 1:
		rt.db = segs[0]
	}
	if len(segs) == 2 {
		rt.query = url.Values{}
		q := u.Query()
		for _, name := range []string{"_next", "_size"} {
			if v, ok := q[name]; ok {
				rt.query[name] = v[:1]
			}
		}
		if enc := rt.query.Encode(); enc != "" {
			rt.canonical += "?" + enc
		}
	}
	return rt, true
}

// ServeHTTP answers the public JSON routes:
//
//	GET /.json                     databases with at least one public table
//	GET /{db}.json                 a database's public tables
//	GET /{db}/{table}.json         a page of rows
//	GET /{db}/{table}/{pk}.json    one row
//
// When the database's TXID has not moved since the gate last looked, an
// answer comes from the cache without touching SQLite.
func (r *Reader) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeEntry(w, req, errorEntry(tablecast.Errorf(tablecast.EINVALID, "Method %s not allowed", req.Method), http.StatusMethodNotAllowed))
		return
	}
	rt, ok := parseRoute(req.URL)
	switch {
	case !ok:
		writeEntry(w, req, errorEntry(tablecast.Errorf(tablecast.ENOTFOUND, "Not found"), 0))
		return
	case rt.db == "":
		body, err := r.listDatabases(req.Context())
		writeEntry(w, req, r.entry(req, body, err))
		return
	}
	d, txid, err := r.lookup(rt)
	if err != nil {
		writeEntry(w, req, errorEntry(err, 0))
		return
	}
	missed := ""
	if s := d.last.Load(); s != nil && s.txid == txid && !r.Ungated {
		if missed = s.cacheKey(rt); r.serveCached(w, req, missed, txid) {
			return
		}
	}
	r.serveFresh(w, req, d, rt, missed)
}

// lookup finds the database of a route and its current TXID. A database
// this node does not have answers as a missing table (or database).
func (r *Reader) lookup(rt route) (*database, tablecast.TXID, error) {
	notFound := errDBNotFound(rt.db)
	if rt.table != "" {
		notFound = errTableNotFound(rt.table)
	}
	txid, ok := r.Positions.TXID(rt.db)
	if !ok || tablecast.ValidateDBName(rt.db) != nil {
		return nil, 0, notFound
	}
	d, err := r.database(rt.db)
	if err != nil {
		return nil, 0, err
	}
	return d, txid, nil
}

// serveCached answers from the cache (304 when the client has the answer
// already); it reports false on a miss.
func (r *Reader) serveCached(w http.ResponseWriter, req *http.Request, key string, txid tablecast.TXID) bool {
	if r.Cache == nil {
		return false
	}
	e, ok := r.Cache.Get(key)
	if !ok {
		return false
	}
	if e.status == http.StatusOK && etagMatch(req.Header.Get("If-None-Match"), etagOf(key)) {
		setReadHeaders(w, e, txid)
		w.WriteHeader(http.StatusNotModified)
		return true
	}
	setReadHeaders(w, e, txid)
	writeEntry(w, req, e)
	return true
}

// setReadHeaders labels a successful answer with its TXID and ETag. A 404
// carries neither: they would tell a private table or a database with no
// public table (it has a TXID, its ETag moves with its writes) from one
// that does not exist.
func setReadHeaders(w http.ResponseWriter, e *cacheEntry, txid tablecast.TXID) {
	if e.status != http.StatusOK {
		return
	}
	w.Header().Set(tablecast.HeaderTXID, txid.String())
	w.Header().Set("ETag", etagOf(e.key))
}

// serveFresh pins a snapshot in a read transaction. If the answer at that
// snapshot is cached (a write to another table moved the TXID), it serves
// it; otherwise it reads and renders the answer in the same transaction and
// caches it under the snapshot's key. missed is a key already looked up.
func (r *Reader) serveFresh(w http.ResponseWriter, req *http.Request, d *database, rt route, missed string) {
	var body any
	var cached *cacheEntry
	s, err := r.read(req.Context(), d, func(tx *sql.Tx, s *snapshot) (err error) {
		if key := s.cacheKey(rt); key != missed && r.Cache != nil && !r.Ungated {
			if cached, _ = r.Cache.Get(key); cached != nil {
				return nil
			}
		}
		body, err = r.answer(req.Context(), tx, s, rt)
		return err
	})
	if cached != nil {
		setReadHeaders(w, cached, s.txid)
		writeEntry(w, req, cached)
		return
	}
	e := r.entry(req, body, err)
	if s == nil || (e.status != http.StatusOK && e.status != http.StatusNotFound) {
		writeEntry(w, req, e)
		return
	}
	e.key = s.cacheKey(rt)
	if r.Cache != nil && !r.Ungated {
		r.Cache.Put(e)
	}
	setReadHeaders(w, e, s.txid)
	writeEntry(w, req, e)
}

// answer computes the body of a database, table or row route.
func (r *Reader) answer(ctx context.Context, tx *sql.Tx, s *snapshot, rt route) (any, error) {
	switch {
	case rt.table == "":
		return describeDatabase(ctx, tx, s, rt.db)
	case rt.key == "":
		return tablePage(ctx, tx, s, rt)
	default:
		return row(ctx, tx, s, rt)
	}
}

// entry renders a body or an error as a response.
func (r *Reader) entry(req *http.Request, body any, err error) *cacheEntry {
	if err != nil {
		if tablecast.ErrorCode(err) == tablecast.EINTERNAL && req.Context().Err() == nil {
			r.Logger.Error("read failed", "path", req.URL.Path, "err", err)
		}
		return errorEntry(err, 0)
	}
	return jsonEntry(http.StatusOK, body)
}

func errorEntry(err error, status int) *cacheEntry {
	if status == 0 {
		status = tablecast.StatusOf(tablecast.ErrorCode(err))
	}
	return jsonEntry(status, map[string]any{"ok": false, "error": tablecast.ErrorMessage(err), "status": status})
}

func jsonEntry(status int, body any) *cacheEntry {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(body)
	return &cacheEntry{status: status, contentType: "application/json; charset=utf-8", body: buf.Bytes()}
}

func writeEntry(w http.ResponseWriter, req *http.Request, e *cacheEntry) {
	h := w.Header()
	h.Set("Content-Type", e.contentType)
	h.Set("Content-Length", strconv.Itoa(len(e.body)))
	w.WriteHeader(e.status)
	if req.Method != http.MethodHead {
		_, _ = w.Write(e.body)
	}
}

// etagOf derives a strong ETag from a cache key: same key, same bytes.
func etagOf(key string) string {
	var h uint64 = 14695981039346656037
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= 1099511628211
	}
	return `"` + strconv.FormatUint(h, 36) + `"`
}

// etagMatch reports whether an If-None-Match header names etag.
func etagMatch(header, etag string) bool {
	if header == "" {
		return false
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

// splitJSONPath turns "/db/table/pk.json" into its segments; the root
// "/.json" gives none. The pk segment stays escaped: rowKey splits it.
func splitJSONPath(escaped string) ([]string, bool) {
	if escaped == "/.json" {
		return nil, true
	}
	rest, ok := strings.CutSuffix(strings.TrimPrefix(escaped, "/"), ".json")
	if !ok || rest == "" {
		return nil, false
	}
	segs := strings.Split(rest, "/")
	if len(segs) > 3 {
		return nil, false
	}
	for i, s := range segs {
		if s == "" {
			return nil, false
		}
		if i < 2 {
			u, err := url.PathUnescape(s)
			if err != nil {
				return nil, false
			}
			segs[i] = u
		}
	}
	return segs, true
}

// listDatabases answers /.json: the databases with a public table.
func (r *Reader) listDatabases(ctx context.Context) (any, error) {
	names := r.Positions.Databases()
	sortStrings(names)
	dbs := []map[string]any{}
	for _, name := range names {
		d, err := r.database(name)
		if err != nil {
			continue
		}
		var n int
		_, err = r.read(ctx, d, func(_ *sql.Tx, s *snapshot) error {
			n = len(s.tables)
			return nil
		})
		if err != nil {
			return nil, err
		}
		if n > 0 {
			dbs = append(dbs, map[string]any{"name": name, "path": "/" + name + ".json", "tables_count": n})
		}
	}
	return map[string]any{"ok": true, "databases": dbs}, nil
}

// describeDatabase answers /{db}.json: public tables with columns and counts.
func describeDatabase(ctx context.Context, tx *sql.Tx, s *snapshot, db string) (any, error) {
	if len(s.tables) == 0 {
		return nil, errDBNotFound(db)
	}
	tables := []map[string]any{}
	for _, name := range s.names() {
		t := s.tables[name]
		var count int64
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM `+tablecast.QuoteIdent(name)).Scan(&count); err != nil {
			return nil, err
		}
		tables = append(tables, map[string]any{
			"name": name, "columns": t.Columns, "primary_keys": nonNil(t.PKs),
			"count": count, "view": t.View, "path": "/" + db + "/" + name + ".json",
		})
	}
	return map[string]any{"ok": true, "database": db, "tables": tables}, nil
}

// pageParams are the table page's query parameters.
type pageParams struct {
	size int
	next []any // keyset position after which the page starts, or nil
}

func parsePageParams(q url.Values) (pageParams, error) {
	p := pageParams{size: DefaultPageSize}
	if v := q.Get("_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPageSize {
			return p, tablecast.Errorf(tablecast.EINVALID, "_size must be an integer from 1 to %d", MaxPageSize)
		}
		p.size = n
	}
	if v := q.Get("_next"); v != "" {
		next, err := decodeNext(v)
		if err != nil {
			return p, err
		}
		p.next = next
	}
	return p, nil
}

// tablePage answers /{db}/{table}.json with one keyset page of rows.
func tablePage(ctx context.Context, tx *sql.Tx, s *snapshot, rt route) (any, error) {
	t, err := gateTable(s, rt.table)
	if err != nil {
		return nil, err
	}
	p, err := parsePageParams(rt.query)
	if err != nil {
		return nil, err
	}
	rows, next, err := queryPage(ctx, tx, t, p)
	if err != nil {
		return nil, err
	}
	body := map[string]any{"ok": true, "database": rt.db, "table": rt.table, "rows": nonNilRows(rows), "next": nil, "next_url": nil}
	if next != nil {
		token := encodeNext(next)
		body["next"] = token
		body["next_url"] = "/" + rt.db + "/" + rt.table + ".json?_next=" + url.QueryEscape(token) + "&_size=" + strconv.Itoa(p.size)
	}
	return body, nil
}

// row answers /{db}/{table}/{pk}.json.
func row(ctx context.Context, tx *sql.Tx, s *snapshot, rt route) (any, error) {
	t, err := gateTable(s, rt.table)
	if err != nil {
		return nil, err
	}
	key, err := rowKey(t, rt.key)
	if err != nil {
		return nil, err
	}
	found, err := queryRow(ctx, tx, t, key)
	if err != nil {
		return nil, err
	}
	return map[string]any{"ok": true, "database": rt.db, "table": rt.table, "rows": []map[string]any{found}}, nil
}

// gateTable is the gate for one table read: a private table answers as a
// missing one. The answer depends on that table alone (not on whether the
// database has other public tables), which is what lets the cache key it
// on that table's version.
func gateTable(s *snapshot, name string) (*table, error) {
	t, ok := s.allowed(name)
	if !ok {
		return nil, errTableNotFound(name)
	}
	return t, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilRows(rows []map[string]any) []map[string]any {
	if rows == nil {
		return []map[string]any{}
	}
	return rows
}
