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
	"time"

	"github.com/mattn/go-sqlite3"
	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/replica/gate"
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
		if err == nil {
			d.sqlOpen.Store(d.sqlDB)
			if d.retired.Load() {
				d.sqlDB.SetMaxIdleConns(0) // retired meanwhile (import.go)
			}
		}
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
func (r *Reader) prepareSQL(ctx context.Context, rd *readTx, rt route) (sqlText, *gate.Shadow, error) {
	if err := rd.s.CheckSQL(rt.db); err != nil {
		return sqlText{}, nil, err
	}
	text := rt.query.Get("sql")
	st := scanSQL(text)
	if err := checkSQLText(text, st); err != nil {
		return st, nil, err
	}
	sh, err := rd.d.shadows.Get(ctx, rd.tx, rd.s)
	if err != nil {
		return st, nil, err
	}
	return st, sh, sh.Check(ctx, text)
}

// runSQL runs one query confined by construction (gate.Shadow.Run) and
// hands each row to each, and stops early when each returns false.
func (r *Reader) runSQL(ctx context.Context, rd *readTx, sh *gate.Shadow, text string, q map[string][]string, each func(cols []string, row []any) bool) error {
	err := sh.Run(ctx, rd.conn, rd.tx, rd.s, text, r.SQLTimeLimit, func(qctx context.Context, stmt *sqlite3.SQLiteStmt) error {
		return readRows(qctx, stmt, q, each)
	})
	if err == gate.ErrNotPublic {
		slog.Debug("public sql refused by its program", "db", rd.d.name, "sql", text)
	}
	return err
}

// readRows runs the checked statement with the query string's values and
// hands each row to each; when the rows run out (not when each stopped),
// each gets a nil row, to name the columns of an empty answer.
func readRows(qctx context.Context, stmt *sqlite3.SQLiteStmt, q map[string][]string, each func(cols []string, row []any) bool) error {
	cols, done, err := eachStmtRow(qctx, stmt, gate.BindArgs(stmt.NumInput(), q), each)
	if err == nil && done && len(cols) > 0 {
		each(cols, nil)
	}
	return err
}

// eachStmtRow runs stmt with args and hands fn each row until fn returns
// false; done reports that the rows ran out.
func eachStmtRow(qctx context.Context, stmt *sqlite3.SQLiteStmt, args []driver.NamedValue, fn func(cols []string, row []any) bool) (cols []string, done bool, err error) {
	rows, err := stmt.QueryContext(qctx, args)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	cols = rows.Columns()
	dest := make([]driver.Value, len(cols))
	for {
		if err := rows.Next(dest); errors.Is(err, io.EOF) {
			return cols, true, nil
		} else if err != nil {
			return cols, false, err
		}
		row := make([]any, len(dest))
		for i, v := range dest {
			row[i] = v
		}
		if !fn(cols, row) {
			return cols, false, nil
		}
	}
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
	if err := rt.paramError(); err != nil {
		if err := rd.s.CheckSQL(rt.db); err != nil {
			return nil, err // a database without public SQL: as missing
		}
		return nil, err
	}
	if rt.format == formatHTML && rt.query.Get("sql") == "" {
		if err := rd.s.CheckSQL(rt.db); err != nil {
			return nil, err
		}
		return r.htmlQuery(rt, sqlText{}, nil, nil, rd.s.Private())
	}
	st, sh, err := r.prepareSQL(ctx, rd, rt)
	if err == nil {
		res := &sqlResult{}
		if err = r.runSQL(ctx, rd, sh, rt.query.Get("sql"), rt.query, r.collect(res)); err == nil {
			return r.renderSQL(rt, st, res, rd.s.Private())
		}
	}
	if rt.format == formatHTML && tablecast.ErrorCode(err) == tablecast.EINVALID {
		return r.htmlQuery(rt, st, nil, err, rd.s.Private())
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
				cw = r.startCSV(w, rt.db, rt.query.Get("_dl") != "", rd.s.TXID)
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
