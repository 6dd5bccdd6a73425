package replica

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/replica/gate"
)

// ServeHTTP answers the public read routes (see parseRoute) in JSON, CSV
// or HTML. Every answer passes the gate at the snapshot it was read from.
// When the database's TXID has not moved since the gate last looked, an
// answer comes from the cache without touching SQLite.
func (r *Reader) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeEntry(w, req, errorEntry(tablecast.Errorf(tablecast.EINVALID, "Method %s not allowed", req.Method), http.StatusMethodNotAllowed))
		return
	}
	rt, ok := parseRoute(req.URL)
	if ok {
		r.setBase(&rt, req)
	}
	private := false
	if _, bearer := req.Header["Authorization"]; bearer && r.Tokens != nil {
		// Reads with a token (token.go); anonymous ones never get here.
		var stop bool
		if w, req, private, stop = r.authorize(w, req, rt); stop {
			return
		}
	}
	switch {
	case !ok:
		writeEntry(w, req, r.errorPage(rt.format, tablecast.Errorf(tablecast.ENOTFOUND, "Not found"), 0))
		return
	case rt.kind == routeRoot:
		r.serveRoot(w, req, rt)
		return
	case rt.kind == routeTable && rt.format == formatHTML && strings.Contains(req.URL.RawQuery, "_filter_column="):
		// The filter form: a URL rewrite only, the same for every table.
		http.Redirect(w, req, filterRedirect(req.URL), http.StatusFound)
		return
	}
	d, txid, err := r.lookup(rt)
	if err != nil {
		writeEntry(w, req, r.errorPage(rt.format, err, 0))
		return
	}
	s := r.current(req.Context(), d, txid)
	if s != nil && !private {
		if err := routeHidden(s, rt); err != nil {
			// Not public at this snapshot: rendered as a missing database's
			// or table's answer is (above), never cached, without reading
			// SQLite.
			writeEntry(w, req, r.errorPage(rt.format, err, 0))
			return
		}
	}
	if rt.format == formatCSV && rt.query.Get("_stream") == "on" && (s == nil || !s.QueryVisible(rt.table)) {
		r.serveStream(w, req, d, rt)
		return
	}
	if private {
		r.servePrivate(w, req, d, rt)
		return
	}
	missed := ""
	if s != nil && r.Cache != nil {
		var buf [192]byte
		key := appendCacheKey(s, buf[:0], rt)
		if e, ok := r.Cache.GetBytes(key); ok && e.fresh() {
			r.serveEntry(w, req, e, s)
			return
		}
		missed = string(key)
	}
	r.serveFresh(w, req, d, rt, missed)
}

// Visible implements routing.Visibility: an anonymous visitor may know
// that db exists (it has a public table or view, or public SQL) at the
// TXID this node has applied. Routing treats a database it may not see as
// a missing one, so that a bookmark never tells their TXIDs apart.
//
// A request whose token may read private tables sees every database this
// node has, on every route (SQL included: a read token runs SQL on any
// database): its bookmark is honoured as for a public one.
func (r *Reader) Visible(req *http.Request, db string) bool {
	txid, ok := r.Positions.TXID(db)
	if !ok || r.Ungated {
		return false
	}
	if d, err := r.database(db); err == nil {
		if s := r.current(req.Context(), d, txid); s != nil && s.DatabaseVisible() {
			return true
		}
	}
	// Only a database a visitor may not see asks the token (a stored
	// token is a query of _tablecast.db; the reader checks it again).
	if _, bearer := req.Header["Authorization"]; bearer && r.Tokens != nil {
		reads, err := r.Tokens.ReadsPrivate(req)
		return err == nil && reads
	}
	return false
}

// lookup finds the database of a route and its current TXID. A database
// this node does not have answers as a missing table (or database).
func (r *Reader) lookup(rt route) (*database, tablecast.TXID, error) {
	txid, ok := r.Positions.TXID(rt.db)
	if ok {
		if d := r.openDB(rt.db); d != nil { // its name was checked when it was opened
			return d, txid, nil
		}
	}
	if !ok || tablecast.ValidateDBName(rt.db) != nil {
		return nil, 0, gate.NotFound(rt.db, rt.table)
	}
	d, err := r.database(rt.db)
	if err != nil {
		return nil, 0, err
	}
	return d, txid, nil
}

// serveEntry answers with a cached entry (304 when the client has the
// answer already).
func (r *Reader) serveEntry(w http.ResponseWriter, req *http.Request, e *cacheEntry, s *snapshot) {
	r.setReadHeaders(w, e, s)
	if e.status == http.StatusOK && etagMatch(tablecast.HeaderValue(req.Header, "If-None-Match"), e.hdr.etag[0]) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	writeEntry(w, req, e)
}

// setReadHeaders labels a successful answer with its TXID, ETag and cache
// lifetime. A 404 carries none: they would tell a private table or a
// database with no public table (it has a TXID, its ETag moves with its
// writes) from one that does not exist.
//
// Headers go straight into the map under their canonical names, with
// values built once per entry and snapshot (a cache hit allocates none).
// Every value slice has len == cap, so a later Add copies it.
func (r *Reader) setReadHeaders(w http.ResponseWriter, e *cacheEntry, s *snapshot) {
	if e.status != http.StatusOK {
		return
	}
	h := w.Header()
	h[tablecast.HeaderTXID] = s.TXIDHeader()
	if e.key != "" {
		h["Etag"] = e.hdr.etag
	}
	if r.MaxAge > 0 {
		h["Cache-Control"] = r.cacheControl()
		// A shared cache must not answer a token's read with this
		// anonymous answer (a read token sees more).
		h["Vary"] = varyAuthorization
	}
}

// cacheControl is the Cache-Control value of successful reads.
func (r *Reader) cacheControl() []string {
	if v := r.cacheControlValue.Load(); v != nil && v.age == r.MaxAge {
		return v.header
	}
	v := &maxAgeHeader{age: r.MaxAge, header: []string{"public, max-age=" + strconv.FormatInt(int64(r.MaxAge/time.Second), 10)}}
	r.cacheControlValue.Store(v)
	return v.header
}

// maxAgeHeader is a Cache-Control value built for one MaxAge.
type maxAgeHeader struct {
	age    time.Duration
	header []string
}

// serveFresh pins a snapshot in a read transaction. If the answer at that
// snapshot is cached (a write to another table moved the TXID), it serves
// it; otherwise it reads and renders the answer in the same transaction and
// caches it under the snapshot's key. missed is a key already looked up.
func (r *Reader) serveFresh(w http.ResponseWriter, req *http.Request, d *database, rt route, missed string) {
	var e, cached *cacheEntry
	var key string
	fn := func(rd *readTx) (err error) {
		if key = cacheKey(rd.s, rt); key != missed && r.Cache != nil && !r.Ungated {
			if cached, _ = r.Cache.Get(key); cached != nil && cached.fresh() {
				return nil
			}
		}
		e, err = r.answer(req.Context(), rd, rt)
		return err
	}
	s, err := r.readRoute(req.Context(), d, rt, fn)
	if cached != nil {
		r.setReadHeaders(w, cached, s)
		writeEntry(w, req, cached)
		return
	}
	if err != nil {
		e = r.errorPage(rt.format, r.logged(req, err), 0)
	}
	if s == nil || e.status != http.StatusOK {
		// Errors are not cached: a 404 is rendered as cheaply for a private
		// table as for a missing one, whose attacker-chosen names would
		// otherwise fill the cache (and its key would move with the private
		// table's writes).
		writeEntry(w, req, e)
		return
	}
	e.key = key // the key of the snapshot fn read at (s)
	e.etag = r.etagOf(key)
	e.prepare()
	if r.Cache != nil && !r.Ungated {
		r.Cache.Put(e)
	}
	r.setReadHeaders(w, e, s)
	writeEntry(w, req, e)
}

// readRoute runs fn in the read transaction a route needs: public SQL
// (and a table read with _where, where.go) on a connection of the SQL
// pool (fn may set its authorizer), anything else on the read pool.
func (r *Reader) readRoute(ctx context.Context, d *database, rt route, fn func(*readTx) error) (*snapshot, error) {
	if rt.kind == routeQuery || (rt.kind == routeTable && rt.query["_where"] != nil) {
		return r.readSQL(ctx, d, fn)
	}
	return r.read(ctx, d, fn)
}

// readTx is what an answer reads from: the pinned transaction, its
// snapshot, and for public SQL the connection that runs it.
type readTx struct {
	tx   *sql.Tx
	conn *sql.Conn
	s    *snapshot
	d    *database
}

// answer reads and renders a database, table, row or query route.
func (r *Reader) answer(ctx context.Context, rd *readTx, rt route) (*cacheEntry, error) {
	switch rt.kind {
	case routeDB:
		return r.databaseAnswer(ctx, rd.tx, rd.s, rt)
	case routeTable:
		if q, ok := cannedQuery(rd.s, rt); ok {
			return r.cannedAnswer(ctx, rd, rt, q)
		}
		return r.tableAnswer(ctx, rd, rt)
	case routeRow:
		return r.rowAnswer(ctx, rd.tx, rd.s, rt)
	default:
		return r.queryAnswer(ctx, rd, rt)
	}
}

// logged logs internal errors (not a client that went away) and returns err.
func (r *Reader) logged(req *http.Request, err error) error {
	if tablecast.ErrorCode(err) == tablecast.EINTERNAL && req.Context().Err() == nil {
		r.Logger.Error("read failed", "path", req.URL.Path, "err", err)
	}
	return err
}

// errorPage renders err in the route's format: an HTML page for pages,
// Datasette's JSON error body for everything else.
func (r *Reader) errorPage(f format, err error, status int) *cacheEntry {
	if f == formatHTML {
		return r.htmlError(err, status)
	}
	return errorEntry(err, status)
}

func errorEntry(err error, status int) *cacheEntry {
	if status == 0 {
		status = tablecast.StatusOf(tablecast.ErrorCode(err))
	}
	return jsonEntry(status, map[string]any{"ok": false, "error": tablecast.ErrorMessage(err), "status": status})
}

func jsonEntry(status int, body any) *cacheEntry {
	return &cacheEntry{status: status, contentType: contentJSON, body: encodeJSON(body)}
}

func writeEntry(w http.ResponseWriter, req *http.Request, e *cacheEntry) {
	if e.hdr == nil {
		e.prepare() // not cached: the entry is this request's own
	}
	h := w.Header()
	h["Content-Type"] = e.hdr.contentType
	h["X-Content-Type-Options"] = nosniffHeader
	if e.hdr.html {
		h["Content-Security-Policy"] = pageCSPHeader
		h["Referrer-Policy"] = referrerHeader
	}
	if len(e.body) >= autoLengthMax || req.Method == http.MethodHead {
		h["Content-Length"] = e.hdr.length
	} // else net/http sets it: the whole body is written before the handler returns
	if e.hdr.link != nil {
		h["Link"] = e.hdr.link
	}
	if e.hdr.disposition != nil {
		h["Content-Disposition"] = e.hdr.disposition
	}
	w.WriteHeader(e.status)
	if req.Method != http.MethodHead {
		_, _ = w.Write(e.body)
	}
}

// autoLengthMax: an answer shorter than this is written whole into
// net/http's buffer (2048 bytes) before the handler returns, and net/http
// then sends its Content-Length itself; one header less to set, copy
// (net/http clones the header map at WriteHeader), parse back and sort.
// Longer answers and HEAD declare it, so they are never chunked.
const autoLengthMax = 2000

// etagOf derives a strong ETag from a cache key: same key, same bytes.
// It is a keyed hash (HMAC-SHA-256, 128 bits kept) so that it cannot be
// turned back into the key's table version and offset by trying them:
// without ETagKey nobody can compute it. Built once per cache entry.
func (r *Reader) etagOf(key string) string {
	r.etagKeyOnce.Do(func() {
		if len(r.ETagKey) == 0 {
			r.ETagKey = make([]byte, 32)
			_, _ = rand.Read(r.ETagKey) // never fails (crypto/rand panics instead)
		}
	})
	m := hmac.New(sha256.New, r.ETagKey)
	m.Write([]byte(key))
	return `"` + base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16]) + `"`
}

// Security headers, shared values (len == cap: an Add copies). Every
// public answer is nosniff: a JSON or CSV body (which holds visitors'
// data) is never run as a script or page. Pages load nothing and run no
// script: their one inline stylesheet is allowed by its hash.
var (
	nosniffHeader  = []string{"nosniff"}
	referrerHeader = []string{"same-origin"}
	pageCSPHeader  = []string{"default-src 'none'; style-src '" + pageStyleHash() + "'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"}
)

// pageStyleHash is the CSP hash source of the pages' inline <style>.
func pageStyleHash() string {
	b, err := templateFS.ReadFile("templates/base.html")
	if err != nil {
		panic(err)
	}
	_, rest, ok := bytes.Cut(b, []byte("<style>"))
	style, _, ok2 := bytes.Cut(rest, []byte("</style>"))
	if !ok || !ok2 {
		panic("replica: templates/base.html has no <style> element")
	}
	sum := sha256.Sum256(style)
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
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

// serveRoot answers "/" and "/.json": the databases a visitor may see.
// It reads every database's gate, so it is not cached.
func (r *Reader) serveRoot(w http.ResponseWriter, req *http.Request, rt route) {
	dbs, err := r.listDatabases(req.Context())
	var e *cacheEntry
	switch {
	case err != nil:
		e = r.errorPage(rt.format, r.logged(req, err), 0)
	case rt.format == formatHTML:
		e = r.htmlIndex(dbs)
	default:
		list := make([]map[string]any, len(dbs))
		for i, d := range dbs {
			list[i] = map[string]any{"name": d.Name, "path": dbPath(d.Name) + ".json", "tables_count": d.Tables, "public_sql": d.SQL}
		}
		e = jsonEntry(http.StatusOK, map[string]any{"ok": true, "databases": list})
	}
	writeEntry(w, req, e)
}

// dbSummary is one visible database in the list of databases.
type dbSummary struct {
	Name   string
	Tables int
	SQL    bool
}

// listDatabases lists the databases with a public table or public SQL.
func (r *Reader) listDatabases(ctx context.Context) ([]dbSummary, error) {
	names := r.Positions.Databases()
	slices.Sort(names)
	var dbs []dbSummary
	for _, name := range names {
		d, err := r.database(name)
		if err != nil {
			continue
		}
		var sum dbSummary
		_, err = r.read(ctx, d, func(rd *readTx) error {
			s := rd.s
			sum = dbSummary{Name: name, Tables: len(s.Names()), SQL: s.AllowSQL}
			if !s.DatabaseVisible() {
				sum.Name = ""
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if sum.Name != "" {
			dbs = append(dbs, sum)
		}
	}
	return dbs, nil
}
