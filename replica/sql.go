package replica

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"
	"github.com/tablecast/tablecast"
)

// Public SQL defaults.
const (
	DefaultSQLTimeLimit = time.Second
	DefaultSQLMaxRows   = 1000
	DefaultSQLPoolSize  = 2

	// maxSQLResultBytes bounds the text and blobs one query returns; past
	// it the answer is truncated, as past the row limit.
	maxSQLResultBytes = 16 << 20
)

// sqlDriver opens public SQL connections: read-only, query_only, no
// ATTACH, and values of at most 8 MiB, so that one query cannot take the
// node's memory.
const sqlDriver = "sqlite3_tablecast_public_sql"

func init() {
	sql.Register(sqlDriver, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		c.SetLimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
		c.SetLimit(sqlite3.SQLITE_LIMIT_LENGTH, 8<<20)
		c.SetLimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, 100_000)
		return nil
	}})
}

// sqlPool is the database's pool of public SQL connections.
func (r *Reader) sqlPool(d *database) (*sql.DB, error) {
	var err error
	d.sqlOnce.Do(func() {
		d.sqlDB, err = openReadOnly(sqlDriver, d.path, r.SQLPoolSize, "&_query_only=1")
	})
	if err != nil {
		return nil, fmt.Errorf("open %s for sql: %w", d.name, err)
	}
	if d.sqlDB == nil {
		return nil, fmt.Errorf("open %s for sql: failed before", d.name)
	}
	return d.sqlDB, nil
}

// readSQL is read on one connection of the public SQL pool, which fn
// gets to set the authorizer on. For a read token's request
// (readsPrivate), fn gets the snapshot's private view, as with read.
func (r *Reader) readSQL(ctx context.Context, d *database, fn func(*readTx) error) (*snapshot, error) {
	if readsPrivate(ctx) {
		fn = privateRead(ctx, fn)
	}
	pool, err := r.sqlPool(d)
	if err != nil {
		return nil, err
	}
	conn, err := pool.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("sql connection: %w", err)
	}
	defer conn.Close()
	return r.readOn(ctx, d, conn, conn, func(rd *readTx) error {
		rd.d = d
		return fn(rd)
	})
}

// gateSQL lets public SQL through only where the database's public-SQL
// switch is on at this snapshot. A database a visitor may see answers 403;
// any other answers as a missing database. A read token (s is a private
// view) may run SQL on every database, switch or not: it may read every
// table anyway.
func gateSQL(s *snapshot, db string) error {
	switch {
	case s.allowSQL, s.isPrivate:
		return nil
	case s.visible():
		return tablecast.Errorf(tablecast.EFORBIDDEN, "Public SQL is not enabled for database %s", db)
	default:
		return errDBNotFound(db)
	}
}

// sqlResult is the answer of one public query.
type sqlResult struct {
	columns   []string
	rows      [][]any
	truncated bool
}

// prepareSQL runs the checks a query passes before it touches the
// database: the gate, a first keyword that reads (for a friendly error;
// SQLite decides, below), and SQLite's own verdict on the schema of public
// tables only (so an error about a private table is, word for word, the
// error about a missing one).
func (r *Reader) prepareSQL(ctx context.Context, rd *readTx, rt route) (sqlText, *shadow, error) {
	if err := gateSQL(rd.s, rt.db); err != nil {
		return sqlText{}, nil, err
	}
	text := rt.query.Get("sql")
	st := scanSQL(text)
	if err := checkSQLText(text, st); err != nil {
		return st, nil, err
	}
	sh, err := rd.d.shadowFor(rd.s).get(ctx, rd.tx, rd.s)
	if err != nil {
		return st, nil, err
	}
	return st, sh, sh.check(ctx, text)
}

// runSQL runs one query confined by construction (sqlcheck.go): SQLite
// prepares exactly one statement on the pinned connection, EXPLAIN of it
// must open nothing but public tables, allowed table-valued functions and
// allowed functions, and that prepared statement alone runs, under the
// authorizer. It hands each row to each, and stops early when each
// returns false.
func (r *Reader) runSQL(ctx context.Context, rd *readTx, sh *shadow, text string, q map[string][]string, each func(cols []string, row []any) bool) error {
	roots, err := sh.roots(ctx, rd.tx, rd.s)
	if err != nil {
		return err
	}
	auth := &authorizer{s: rd.s, blocked: sh.blocked, modules: sh.modules}
	qctx, cancel := context.WithTimeout(ctx, r.SQLTimeLimit)
	defer cancel()
	return rd.conn.Raw(func(dc any) error {
		c, ok := dc.(*sqlite3.SQLiteConn)
		if !ok {
			return fmt.Errorf("public sql: unexpected driver connection %T", dc)
		}
		c.RegisterAuthorizer(auth.check)
		defer c.RegisterAuthorizer(nil)
		stmt, err := prepareOne(c, text)
		if err != nil {
			return hiddenFunction(r.sqlError(qctx, auth, err), sh.blocked)
		}
		defer stmt.Close()
		if auth.calls == 0 {
			return errors.New("public sql: the authorizer was not called")
		}
		if sh.verdicts.passed(rd.s.schemaVersion, text) {
			return r.readRows(qctx, auth, stmt, q, each)
		}
		ops, err := explain(qctx, c, text)
		if err != nil {
			return r.sqlError(qctx, auth, err)
		}
		var vtabNames []string
		for _, name := range tableFunctionNames {
			if !sh.blocked[name] {
				vtabNames = append(vtabNames, name)
			}
		}
		pc := programCheck{roots: roots, vtabs: func() (map[string]string, error) {
			// The probes are tablecast's own statements: no authorizer.
			c.RegisterAuthorizer(nil)
			defer c.RegisterAuthorizer(auth.check)
			return probeVtabs(qctx, c, append(vtabNames, roots.vtabs...))
		}}
		if err := pc.check(ops); err != nil {
			if tablecast.ErrorCode(err) == tablecast.EINVALID {
				slog.Debug("public sql refused by its program", "db", rd.d.name, "sql", text)
			}
			return err
		}
		sh.verdicts.pass(rd.s.schemaVersion, text)
		return r.readRows(qctx, auth, stmt, q, each)
	})
}

// hiddenFunction turns SQLite's "'json_each' is not a function", which
// it says when a private table takes the name of a table function, into
// the error for a missing name: a table function called by a name that
// is neither a function nor a table is "no such table: x".
func hiddenFunction(err error, blocked map[string]bool) error {
	msg := tablecast.ErrorMessage(err)
	if name, ok := strings.CutSuffix(msg, "' is not a function"); ok && strings.HasPrefix(name, "'") && blocked[strings.ToLower(name[1:])] {
		return tablecast.Errorf(tablecast.EINVALID, "no such table: %s", name[1:])
	}
	return err
}

// readRows runs the checked statement with the query string's values and
// hands each row to each.
func (r *Reader) readRows(qctx context.Context, auth *authorizer, stmt *sqlite3.SQLiteStmt, q map[string][]string, each func(cols []string, row []any) bool) error {
	rows, err := stmt.QueryContext(qctx, bindArgs(stmt.NumInput(), q))
	if err != nil {
		return r.sqlError(qctx, auth, err)
	}
	defer rows.Close()
	cols := rows.Columns()
	for {
		dest := make([]driver.Value, len(cols))
		if err := rows.Next(dest); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return r.sqlError(qctx, auth, err)
		}
		row := make([]any, len(dest))
		for i, v := range dest {
			row[i] = v
		}
		if !each(cols, row) {
			return nil
		}
	}
	if len(cols) > 0 {
		each(cols, nil) // no more rows: still name the columns
	}
	return nil
}

// sqlError turns a failed query into the error a visitor sees: the
// authorizer's refusal, the time limit, or SQLite's message.
func (r *Reader) sqlError(qctx context.Context, auth *authorizer, err error) error {
	var te *tablecast.Error
	switch {
	case errors.As(err, &te):
		return err
	case auth.denied != "":
		return tablecast.Errorf(tablecast.EINVALID, "%s", auth.denied)
	case qctx.Err() != nil || errors.Is(err, sqlite3.ErrInterrupt):
		return tablecast.Errorf(tablecast.EINVALID, "SQL query took too long: the limit is %s", r.SQLTimeLimit)
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		return tablecast.Errorf(tablecast.EINVALID, "%s", se.Error())
	}
	return fmt.Errorf("public sql: %w", err)
}

// collect gathers up to the row limit and the byte budget.
func (r *Reader) collect(res *sqlResult) func([]string, []any) bool {
	budget := maxSQLResultBytes
	return func(cols []string, row []any) bool {
		res.columns = cols
		if row == nil {
			return false
		}
		for _, v := range row {
			budget -= valueSize(v)
		}
		if len(res.rows) == r.SQLMaxRows || budget < 0 {
			res.truncated = true
			return false
		}
		res.rows = append(res.rows, row)
		return true
	}
}

func valueSize(v any) int {
	switch x := v.(type) {
	case string:
		return len(x)
	case []byte:
		return len(x) * 4 / 3
	}
	return 8
}

// queryAnswer answers /{db}/-/query: the query form (HTML) or its rows.
func (r *Reader) queryAnswer(ctx context.Context, rd *readTx, rt route) (*cacheEntry, error) {
	if rt.format == formatHTML && rt.query.Get("sql") == "" {
		if err := gateSQL(rd.s, rt.db); err != nil {
			return nil, err
		}
		return r.htmlQuery(rt, sqlText{}, nil, nil, rd.s.isPrivate)
	}
	st, sh, err := r.prepareSQL(ctx, rd, rt)
	if err == nil {
		res := &sqlResult{}
		if err = r.runSQL(ctx, rd, sh, rt.query.Get("sql"), rt.query, r.collect(res)); err == nil {
			return r.renderSQL(rt, st, res, rd.s.isPrivate)
		}
	}
	if rt.format == formatHTML && tablecast.ErrorCode(err) == tablecast.EINVALID {
		return r.htmlQuery(rt, st, nil, err, rd.s.isPrivate)
	}
	return nil, err
}

// renderSQL renders a query's rows in the route's format and shape;
// private: read over the private view (a read token's).
func (r *Reader) renderSQL(rt route, st sqlText, res *sqlResult, private bool) (*cacheEntry, error) {
	cols := nonNil(res.columns)
	switch rt.format {
	case formatHTML:
		return r.htmlQuery(rt, st, res, nil, private)
	case formatCSV:
		e := &cacheEntry{status: http.StatusOK, contentType: contentCSVText, body: encodeCSV(cols, res.rows, rt.query.Get("_header") != "off")}
		if rt.query.Get("_dl") != "" {
			e.contentType, e.disposition = contentCSV, csvDisposition(rt.db)
		}
		return e, nil
	}
	shape := rt.query.Get("_shape")
	if rt.query.Get("_nl") == "on" {
		shape = shapeArray
	}
	switch shape {
	case shapeArray:
		if rt.query.Get("_nl") == "on" {
			return &cacheEntry{status: http.StatusOK, contentType: contentNDJSON, body: encodeNDJSON(cols, res.rows)}, nil
		}
		rows := make([]object, len(res.rows))
		for i, row := range res.rows {
			rows[i] = rowObject(cols, row)
		}
		return jsonEntry(http.StatusOK, rows), nil
	case "", shapeObjects, shapeArrays:
	default:
		return nil, tablecast.Errorf(tablecast.EINVALID, "Invalid _shape for a query: %s (use objects, arrays or array)", shape)
	}
	params := map[string]any{} // as the form lists them: cosmetic
	for _, name := range st.params {
		params[name] = rt.query.Get(name)
	}
	body := map[string]any{"ok": true, "database": rt.db, "query": map[string]any{"sql": rt.query.Get("sql"), "params": params},
		"columns": cols, "truncated": res.truncated}
	if shape == shapeArrays {
		rows := make([][]any, len(res.rows))
		for i, row := range res.rows {
			rows[i] = rowArray(row)
		}
		body["rows"] = rows
	} else {
		rows := make([]object, len(res.rows))
		for i, row := range res.rows {
			rows[i] = rowObject(cols, row)
		}
		body["rows"] = rows
	}
	return jsonEntry(http.StatusOK, body), nil
}

// streamQuery answers a query's CSV with _stream=on: every row the time
// limit allows, written as it is read, in one read transaction.
func (r *Reader) streamQuery(w http.ResponseWriter, req *http.Request, d *database, rt route) {
	var cw *csvWriter
	_, err := r.readSQL(req.Context(), d, func(rd *readTx) error {
		_, sh, err := r.prepareSQL(req.Context(), rd, rt)
		if err != nil {
			return err
		}
		return r.runSQL(req.Context(), rd, sh, rt.query.Get("sql"), rt.query, func(cols []string, row []any) bool {
			if cw == nil {
				cw = r.startCSV(w, rt.db, rt.query.Get("_dl") != "", rd.s.txid)
				if req.Method == http.MethodHead {
					return false
				}
				if rt.query.Get("_header") != "off" {
					_ = cw.header(cols)
				}
			}
			if row == nil {
				return false
			}
			return cw.row(row) == nil
		})
	})
	if cw == nil {
		if err == nil {
			err = tablecast.Errorf(tablecast.EINVALID, "The query returns no columns")
		}
		writeEntry(w, req, errorEntry(r.logged(req, err), 0))
		return
	}
	_ = cw.flush()
}

// authorizer is public SQL's second wall (the first is the program check
// of sqlcheck.go): a query may read the tables and views of its snapshot
// (the public ones; every one but tablecast's and SQLite's for a read
// token's private view), and call the functions of allowedFunctions;
// nothing else.
// SQLite reports a read through a view as reads of the view's tables, so
// a view cannot lend its publicity to a private table. It does not see
// everything (the comparisons of NATURAL and USING joins, hidden
// arguments of table functions): the program check does.
type authorizer struct {
	s       *snapshot
	blocked map[string]bool // table functions a private table's name hides
	modules map[string]bool // SQLite's virtual table modules, lower case
	calls   int
	denied  string // the refusal a visitor sees, "" when none
}

func (a *authorizer) check(op int, arg1, arg2, db string) int {
	a.calls++
	switch op {
	case sqlite3.SQLITE_SELECT, sqliteRecursive:
		return sqlite3.SQLITE_OK
	case sqlite3.SQLITE_READ:
		if _, ok := a.s.tables[arg1]; ok && db == "main" {
			return sqlite3.SQLITE_OK
		}
		// A read of no column (count(*) FROM x) names no database, and x
		// may be a table or a common table expression: SQLite cannot tell
		// here. The shadow has already resolved every name the query uses
		// without the private tables, and the real database resolves them
		// the same way, so x is public or a CTE. Reading no column reads
		// nothing but the row count of x. SQLite's own tables and the
		// built-in virtual tables are not CTEs: refused whatever the query.
		if arg2 == "" && db == "" {
			if name := strings.ToLower(arg1); strings.HasPrefix(name, "sqlite_") || strings.HasPrefix(name, "pragma_") ||
				a.blocked[name] || (a.modules[name] && !tableFunctions[name]) {
				return a.deny("no such table: " + arg1)
			}
			return sqlite3.SQLITE_OK
		}
		if tableFunctions[arg1] && !a.blocked[arg1] {
			return sqlite3.SQLITE_OK
		}
		// The words SQLite uses for a table that does not exist.
		return a.deny("no such table: " + arg1)
	case sqlite3.SQLITE_FUNCTION:
		if !allowedFunctions[strings.ToLower(arg2)] {
			return a.deny("no such function: " + arg2)
		}
		return sqlite3.SQLITE_OK
	}
	return a.deny(errNotSelect.Message)
}

func (a *authorizer) deny(msg string) int {
	if a.denied == "" {
		a.denied = msg
	}
	return sqlite3.SQLITE_DENY
}

// shadow is an empty in-memory database with the schema of a database's
// public tables and views only. A query is prepared there first: if it
// names a private table, SQLite answers exactly as it does for a missing
// one, because there it is missing.
type shadow struct {
	fingerprint string
	db          *sql.DB
	rootSet     atomic.Pointer[rootSet] // of the newest schema version seen
	verdicts    verdictCache
	blocked     map[string]bool
	modules     map[string]bool // virtual table modules of this build, lower case
}

// shadowCache keeps a database's shadow while its public schema stays.
// A database has two: one for anonymous SQL (the public set) and one for
// read tokens (the private view). Everything keyed on a set of tables
// lives in a shadow (its verdicts, its root pages), so an anonymous query
// never meets what a token's query built or passed.
type shadowCache struct {
	private bool // the cache of private views: it refuses public snapshots, and the other way round
	mu      sync.Mutex
	cur     *shadow
}

// shadowFor is the shadow cache of s's kind: public or private view.
func (d *database) shadowFor(s *snapshot) *shadowCache {
	if s.isPrivate {
		return &d.privateShadow
	}
	return &d.shadow
}

// get returns the shadow of s's public schema, building it if it changed.
// tx is the pinned read transaction of s.
func (c *shadowCache) get(ctx context.Context, tx *sql.Tx, s *snapshot) (*shadow, error) {
	if s.isPrivate != c.private {
		// A wall, not a path: shadowFor never mixes them.
		return nil, fmt.Errorf("public sql: shadow cache (private %t) asked for a snapshot (private %t)", c.private, s.isPrivate)
	}
	blocked, err := blockedFunctions(ctx, tx, s)
	if err != nil {
		return nil, err
	}
	fp := shadowFingerprint(s, blocked)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur != nil && c.cur.fingerprint == fp {
		return c.cur, nil
	}
	sh, err := buildShadow(ctx, s)
	if err != nil {
		return nil, err
	}
	sh.fingerprint, sh.blocked = fp, blocked
	if c.cur != nil {
		_ = c.cur.db.Close()
	}
	c.cur = sh
	return sh, nil
}

func (c *shadowCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur != nil {
		_ = c.cur.db.Close()
		c.cur = nil
	}
}

// blockedFunctions finds table functions whose name a private table or
// view takes: SQLite would read that table, so public SQL may not call it.
func blockedFunctions(ctx context.Context, tx *sql.Tx, s *snapshot) (map[string]bool, error) {
	// Not json_each(?): a private table may hide it, as here.
	rows, err := tx.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE lower(name) IN (`+tableFunctionsSQL+`)`)
	if err != nil {
		return nil, fmt.Errorf("read schema: %w", err)
	}
	defer rows.Close()
	blocked := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("read schema: %w", err)
		}
		if _, public := s.tables[name]; !public {
			blocked[strings.ToLower(name)] = true
		}
	}
	return blocked, rows.Err()
}

func shadowFingerprint(s *snapshot, blocked map[string]bool) string {
	var b strings.Builder
	if s.isPrivate {
		b.WriteString("private\x00")
	}
	for _, name := range s.names() {
		b.WriteString(name + "\x00" + s.tables[name].DDL + "\x00")
	}
	for _, name := range tableFunctionNames {
		if blocked[name] {
			b.WriteString("!" + name)
		}
	}
	return b.String()
}

// buildShadow creates the public tables (as declared, or as plain tables
// of the same columns when their DDL cannot run here, as for virtual
// tables) and the public views that read nothing but public tables.
func buildShadow(ctx context.Context, s *snapshot) (*shadow, error) {
	db, err := sql.Open("sqlite3", "file::memory:")
	if err != nil {
		return nil, fmt.Errorf("open shadow: %w", err)
	}
	// One connection holds the in-memory database: keep it open.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	var views []*table
	for _, name := range s.names() {
		t := s.tables[name]
		if t.View {
			views = append(views, t)
			continue
		}
		if _, err := db.ExecContext(ctx, t.DDL); err != nil {
			if made, err := shadowHas(ctx, db, name); err != nil || made {
				if err != nil {
					_ = db.Close()
					return nil, err
				}
				// A virtual table of the set made it (FTS's docs_content
				// for docs, which sorts first): the module's own.
				continue
			}
			if _, err := db.ExecContext(ctx, plainTableDDL(t)); err != nil {
				_ = db.Close()
				return nil, fmt.Errorf("shadow of %s: %w", name, err)
			}
		}
	}
	if err := shadowViews(ctx, db, views); err != nil {
		_ = db.Close()
		return nil, err
	}
	modules, err := moduleList(ctx, db)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return &shadow{db: db, modules: modules}, nil
}

// shadowHas reports whether the shadow has a table or view named name.
func shadowHas(ctx context.Context, db *sql.DB, name string) (bool, error) {
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE lower(name) = lower(?)`, name).Scan(&n); err != nil {
		return false, fmt.Errorf("shadow of %s: %w", name, err)
	}
	return n > 0, nil
}

// moduleList lists SQLite's virtual table modules (json_each, the pragma
// functions, …), lower case.
func moduleList(ctx context.Context, db *sql.DB) (map[string]bool, error) {
	rows, err := db.QueryContext(ctx, `SELECT name FROM pragma_module_list`)
	if err != nil {
		return nil, fmt.Errorf("shadow module list: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("shadow module list: %w", err)
		}
		out[strings.ToLower(name)] = true
	}
	return out, rows.Err()
}

// shadowViews creates the views, then drops each that does not prepare
// (it reads something not public) until every one left does.
func shadowViews(ctx context.Context, db *sql.DB, views []*table) error {
	var made []string
	for _, v := range views {
		if _, err := db.ExecContext(ctx, v.DDL); err == nil {
			made = append(made, v.Name)
		}
	}
	for dropped := true; dropped; {
		dropped = false
		for i := 0; i < len(made); i++ {
			stmt, err := db.PrepareContext(ctx, "SELECT * FROM "+tablecast.QuoteIdent(made[i]))
			if err == nil {
				_ = stmt.Close()
				continue
			}
			if _, err := db.ExecContext(ctx, "DROP VIEW "+tablecast.QuoteIdent(made[i])); err != nil {
				return fmt.Errorf("shadow drop view %s: %w", made[i], err)
			}
			made = append(made[:i], made[i+1:]...)
			dropped = true
			i--
		}
	}
	return nil
}

func plainTableDDL(t *table) string {
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = tablecast.QuoteIdent(c)
	}
	return "CREATE TABLE " + tablecast.QuoteIdent(t.Name) + " (" + strings.Join(cols, ", ") + ")"
}

// roots returns what public SQL may open at s (tx is its pinned read
// transaction), cached per schema version: the public set is the
// shadow's, the root pages move only with the schema.
func (sh *shadow) roots(ctx context.Context, tx *sql.Tx, s *snapshot) (*rootSet, error) {
	if rs := sh.rootSet.Load(); rs != nil && rs.schemaVersion == s.schemaVersion {
		return rs, nil
	}
	rs, err := loadRoots(ctx, tx, s)
	if err != nil {
		return nil, err
	}
	sh.rootSet.Store(rs)
	return rs, nil
}

// check prepares the statement on the shadow and returns SQLite's error.
func (sh *shadow) check(ctx context.Context, stmt string) error {
	st, err := sh.db.PrepareContext(ctx, stmt)
	if err != nil {
		var se sqlite3.Error
		if errors.As(err, &se) {
			return tablecast.Errorf(tablecast.EINVALID, "%s", se.Error())
		}
		return fmt.Errorf("shadow prepare: %w", err)
	}
	return st.Close()
}

// sqliteRecursive is SQLITE_RECURSIVE (a recursive common table
// expression), which mattn/go-sqlite3 does not export.
const sqliteRecursive = 33
