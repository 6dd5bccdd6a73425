package primary

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mattn/go-sqlite3"
	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/replica/gate"
)

// execute serves POST /{db}/-/execute {"sql":"…","params":{…}}: any SQL,
// a script of statements run one by one with the named parameters bound,
// in one transaction, under execAuth (never tablecast's own tables, no
// ATTACH, no transaction control, no PRAGMA but a few). The gate is then
// reconciled with the schema, and every table's version moves.
func (w *Writer) execute(ctx context.Context, req *request) (*result, error) {
	text, params, err := decodeExecute(req.body)
	if err != nil {
		return nil, err
	}
	h, err := w.open(req.db, false)
	if err != nil {
		return nil, err
	}
	body := map[string]any{"database": req.db}
	var removed []string
	txid, err := w.writeConn(ctx, req.db, h, func(conn *sql.Conn, tx *sql.Tx) error {
		var err error
		removed, err = reconciled(ctx, tx, req.token, func() (string, []string, error) {
			res, err := runScript(ctx, conn, tx, text, params)
			if err != nil {
				return "", nil, err
			}
			body["statements"] = res.statements
			return "*", res.replaced, nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return w.schemaResult(ctx, req, txid, body, removed), nil
}

// decodeExecute reads {"sql": "…", "params": {"name": value, …}}.
func decodeExecute(body []byte) (string, map[string]any, error) {
	p, err := decodeBody(body, "sql", "params")
	if err != nil {
		return "", nil, err
	}
	text, err := p.required("sql")
	if err != nil {
		return "", nil, err
	}
	params := map[string]any{}
	raw, ok := p["params"]
	if !ok {
		return text, params, nil
	}
	var obj map[string]json.RawMessage
	if raw[0] != '{' || json.Unmarshal(raw, &obj) != nil {
		return "", nil, tablecast.Errorf(tablecast.EINVALID, `"params" must be an object of names and values`)
	}
	for name, v := range obj {
		val, err := paramValue(v)
		if err != nil {
			return "", nil, tablecast.Errorf(tablecast.EINVALID, "Parameter %q: %s", name, tablecast.ErrorMessage(err))
		}
		params[name] = val
	}
	return text, params, nil
}

// paramValue is a JSON value as SQLite binds it: null, an integer, a
// real, text, or a boolean as 1/0.
func paramValue(raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	switch v := v.(type) {
	case nil, string:
		return v, nil
	case bool:
		return boolInt(v), nil
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i, nil
		}
		f, err := v.Float64()
		if err != nil {
			return nil, tablecast.Errorf(tablecast.EINVALID, "number out of range: %s", v)
		}
		return f, nil
	}
	return nil, tablecast.Errorf(tablecast.EINVALID, "must be a string, number, boolean or null")
}

// scriptResult is what a script did.
type scriptResult struct {
	statements int
	replaced   []string // tables and views dropped, renamed or created
}

// runScript runs text on conn (whose transaction is tx) one statement at
// a time under a fresh execAuth. After each statement the schema is read
// again: a new or rewritten object may not take a name of tablecast's nor
// refer to one of its tables (a trigger or view made now would reach them
// later, outside the authorizer), and what it replaced is collected for
// gate.Reconcile.
func runScript(ctx context.Context, conn *sql.Conn, tx *sql.Tx, text string, params map[string]any) (scriptResult, error) {
	var res scriptResult
	auth := &execAuth{}
	if err := setAuthorizer(conn, auth.check); err != nil {
		return res, err
	}
	defer func() { _ = setAuthorizer(conn, nil) }()
	before, err := readSchema(ctx, tx)
	if err != nil {
		return res, err
	}
	used := map[string]bool{}
	for rest := text; ; {
		var stmt string
		done := false
		err := conn.Raw(func(dc any) error {
			c, ok := dc.(*sqlite3.SQLiteConn)
			if !ok {
				return fmt.Errorf("execute: unexpected driver connection %T", dc)
			}
			auth.on, auth.denied = true, ""
			defer func() { auth.on = false }()
			st, next, err := gate.NextStatement(c, rest)
			stmt = statementText(rest, next)
			if err != nil { // SQLite did not say where the statement ends: up to a ';'
				stmt, _, _ = strings.Cut(stmt, ";")
			}
			if err != nil || st == nil {
				done = err == nil
				return err
			}
			defer st.Close()
			rest = next
			args, err := bindParams(st, params, used)
			if err != nil {
				return err
			}
			_, err = st.ExecContext(ctx, args)
			return err
		})
		if done {
			break
		}
		res.statements++
		if err != nil {
			return res, statementError(ctx, res.statements, stmt, auth, err)
		}
		after, err := readSchema(ctx, tx)
		if err != nil {
			return res, err
		}
		d := diffSchema(before, after)
		if err := checkWritten(after, d.written); err != nil {
			return res, statementError(ctx, res.statements, stmt, auth, err)
		}
		res.replaced = append(res.replaced, d.replaced...)
		before = after
	}
	if res.statements == 0 {
		return res, tablecast.Errorf(tablecast.EINVALID, `"sql" holds no statement`)
	}
	for name := range params {
		if !used[name] {
			return res, tablecast.Errorf(tablecast.EINVALID, "Unknown parameter: %q is used by no statement", name)
		}
	}
	return res, nil
}

// setAuthorizer sets (nil: removes) the authorizer of conn's connection.
func setAuthorizer(conn *sql.Conn, fn func(int, string, string, string) int) error {
	return conn.Raw(func(dc any) error {
		c, ok := dc.(*sqlite3.SQLiteConn)
		if !ok {
			return fmt.Errorf("authorizer: unexpected driver connection %T", dc)
		}
		c.RegisterAuthorizer(fn)
		return nil
	})
}

// statementText is the statement SQLite read from text, next being the
// text after it: for error messages.
func statementText(text, next string) string {
	s := strings.TrimSpace(text)
	if next != "" {
		s = strings.TrimSpace(strings.TrimSuffix(s, next))
	}
	return strings.TrimSpace(strings.TrimSuffix(s, ";"))
}

// bindParams binds the named parameters st uses (their names as SQLite
// reads them), each of which params must hold; positional ones are
// refused.
func bindParams(st *sqlite3.SQLiteStmt, params map[string]any, used map[string]bool) ([]driver.NamedValue, error) {
	if st.NumInput() == 0 {
		return nil, nil
	}
	names, err := stmtParamNames(st)
	if err != nil {
		return nil, err
	}
	var args []driver.NamedValue
	for _, n := range names {
		if len(n) < 2 || !strings.ContainsRune(":@$", rune(n[0])) {
			return nil, tablecast.Errorf(tablecast.EINVALID, "Positional parameters (%s) are not supported: name them (:name) and send their values in \"params\"", orDefault(n, "?"))
		}
		key := n[1:]
		v, ok := params[key]
		if !ok {
			return nil, tablecast.Errorf(tablecast.EINVALID, "Missing parameter: %s (send it in \"params\")", n)
		}
		if !used[key] {
			used[key] = true
		}
		if !slices.ContainsFunc(args, func(a driver.NamedValue) bool { return a.Name == key }) {
			args = append(args, driver.NamedValue{Name: key, Value: v})
		}
	}
	return args, nil
}

func orDefault(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

// gateNames are tablecast's tables: no object made by execute may refer
// to them (lower case; _tablecast… too).
var gateNames = []string{tablecast.PublicTablesTable, tablecast.PublicAuditTable, tablecast.TableVersionsTable,
	tablecast.PublicDatabaseTable, gate.CannedQueriesTable, gate.MetadataTable, "_tablecast"}

// checkWritten refuses new or rewritten objects that take a name
// reserved for tablecast or mention one of its tables in their SQL.
func checkWritten(after map[string]schemaObject, written []string) error {
	for _, name := range written {
		if strings.HasPrefix(name, "_") {
			return errReserved(name)
		}
		ddl := strings.ToLower(after[name].sql)
		for _, g := range gateNames {
			if strings.Contains(ddl, g) {
				return tablecast.Errorf(tablecast.EFORBIDDEN, "Not allowed: %s %s refers to tablecast's own table %s", after[name].typ, name, g)
			}
		}
	}
	return nil
}

func errReserved(name string) error {
	return tablecast.Errorf(tablecast.EFORBIDDEN, "Not allowed: %s is tablecast's own (names starting with '_' are reserved)", name)
}

// statementError names the statement a script failed at.
func statementError(ctx context.Context, n int, stmt string, auth *execAuth, err error) error {
	if ctx.Err() != nil {
		return tablecast.Errorf(tablecast.EUNAVAILABLE, "The request ended before the write was committed: nothing was written")
	}
	if len(stmt) > 200 {
		stmt = stmt[:200] + "…"
	}
	where := fmt.Sprintf("Statement %d (%s)", n, stmt)
	if auth.denied != "" {
		return tablecast.Errorf(auth.deniedCode, "%s: %s", where, auth.denied)
	}
	var te *tablecast.Error
	if errors.As(err, &te) {
		return tablecast.Errorf(tablecast.ErrorCode(err), "%s: %s", where, te.Message)
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code {
		case sqlite3.ErrError, sqlite3.ErrConstraint, sqlite3.ErrMismatch, sqlite3.ErrRange, sqlite3.ErrTooBig, sqlite3.ErrAuth:
			return tablecast.Errorf(tablecast.EINVALID, "%s: %s", where, se.Error())
		}
		return sqliteError("execute", err)
	}
	return fmt.Errorf("execute statement %d: %w", n, err)
}

// oneSelect checks that text is exactly one SELECT reading no table of
// tablecast's, and returns it without its ';'.
func oneSelect(ctx context.Context, conn *sql.Conn, text string) (string, error) {
	auth := &execAuth{selectOnly: true}
	if err := setAuthorizer(conn, auth.check); err != nil {
		return "", err
	}
	defer func() { _ = setAuthorizer(conn, nil) }()
	var stmt string
	err := conn.Raw(func(dc any) error {
		c, ok := dc.(*sqlite3.SQLiteConn)
		if !ok {
			return fmt.Errorf("create view: unexpected driver connection %T", dc)
		}
		auth.on = true
		defer func() { auth.on = false }()
		st, next, err := gate.NextStatement(c, text)
		if err != nil || st == nil {
			return cmpErr(err, errNotOneSelect)
		}
		defer st.Close()
		if next != "" {
			if more, _, err := gate.NextStatement(c, next); err != nil || more != nil {
				if more != nil {
					_ = more.Close()
				}
				return errNotOneSelect
			}
		}
		if !st.Readonly() {
			return errNotOneSelect
		}
		if st.NumInput() > 0 {
			return tablecast.Errorf(tablecast.EINVALID, "A view cannot have parameters")
		}
		stmt = statementText(text, next)
		return nil
	})
	switch {
	case err == nil:
		return stmt, nil
	case auth.denied != "" && auth.deniedCode != "":
		return "", tablecast.Errorf(auth.deniedCode, "%s", auth.denied)
	case ctx.Err() != nil:
		return "", ctx.Err()
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		return "", tablecast.Errorf(tablecast.EINVALID, "%s", se.Error())
	}
	return "", err
}

var errNotOneSelect = tablecast.Errorf(tablecast.EINVALID, `"sql" must be exactly one SELECT statement`)

func cmpErr(err, alt error) error {
	if err != nil {
		return err
	}
	return alt
}

// execAuth is the authorizer of SQL a publisher sends (execute, and a
// view's SELECT): tablecast's own tables (any name starting with '_')
// are out of reach, and so is whatever could change the gate or the
// connection behind tablecast's back: ATTACH and DETACH, transaction
// control (the script is one transaction), temporary objects (the
// connection outlives the request), PRAGMAs but a few, writes to
// sqlite_master, load_extension. It judges only while on: tablecast's own
// statements in the same transaction run unchecked.
type execAuth struct {
	on         bool
	selectOnly bool   // a view's SELECT: reads only
	denied     string // the first refusal, "" when none
	deniedCode string
}

// sqliteRecursive is SQLITE_RECURSIVE, which mattn/go-sqlite3 does not export.
const sqliteRecursive = 33

// pragmasAllowed are the PRAGMAs execute may run: they read, or set the
// database's own numbers (FTS5 reads data_version itself when written).
var pragmasAllowed = map[string]bool{"data_version": true,
	"user_version": true, "application_id": true, "foreign_key_check": true, "integrity_check": true,
	"quick_check": true, "table_info": true, "table_xinfo": true, "index_list": true, "index_info": true,
	"index_xinfo": true, "foreign_key_list": true, "optimize": true,
}

func (a *execAuth) check(op int, arg1, arg2, db string) int {
	if !a.on {
		return sqlite3.SQLITE_OK
	}
	switch op {
	case sqlite3.SQLITE_SELECT, sqliteRecursive:
		return sqlite3.SQLITE_OK
	case sqlite3.SQLITE_READ:
		return a.table(arg1)
	case sqlite3.SQLITE_FUNCTION:
		switch strings.ToLower(arg2) {
		case "load_extension", "fts3_tokenizer":
			return a.deny(tablecast.EFORBIDDEN, "Not allowed: the function "+arg2)
		}
		return sqlite3.SQLITE_OK
	}
	if a.selectOnly {
		return a.deny(tablecast.EINVALID, errNotOneSelect.Message)
	}
	switch op {
	case sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH:
		return a.deny(tablecast.EFORBIDDEN, "Not allowed: ATTACH and DETACH")
	case sqlite3.SQLITE_TRANSACTION, sqlite3.SQLITE_SAVEPOINT:
		return a.deny(tablecast.EFORBIDDEN, "Not allowed: BEGIN, COMMIT, ROLLBACK and SAVEPOINT (the whole script is one transaction)")
	case sqlite3.SQLITE_PRAGMA:
		if !pragmasAllowed[strings.ToLower(arg1)] {
			return a.deny(tablecast.EFORBIDDEN, "Not allowed: PRAGMA "+arg1)
		}
		return sqlite3.SQLITE_OK
	case sqlite3.SQLITE_CREATE_TEMP_INDEX, sqlite3.SQLITE_CREATE_TEMP_TABLE, sqlite3.SQLITE_CREATE_TEMP_TRIGGER,
		sqlite3.SQLITE_CREATE_TEMP_VIEW, sqlite3.SQLITE_DROP_TEMP_INDEX, sqlite3.SQLITE_DROP_TEMP_TABLE,
		sqlite3.SQLITE_DROP_TEMP_TRIGGER, sqlite3.SQLITE_DROP_TEMP_VIEW:
		return a.deny(tablecast.EFORBIDDEN, "Not allowed: temporary objects")
	case sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE,
		sqlite3.SQLITE_CREATE_TABLE, sqlite3.SQLITE_DROP_TABLE, sqlite3.SQLITE_CREATE_VIEW, sqlite3.SQLITE_DROP_VIEW,
		sqlite3.SQLITE_CREATE_VTABLE, sqlite3.SQLITE_DROP_VTABLE, sqlite3.SQLITE_ANALYZE:
		return a.table(arg1)
	case sqlite3.SQLITE_CREATE_INDEX, sqlite3.SQLITE_DROP_INDEX, sqlite3.SQLITE_CREATE_TRIGGER,
		sqlite3.SQLITE_DROP_TRIGGER, sqlite3.SQLITE_ALTER_TABLE:
		return a.table(arg2)
	}
	return sqlite3.SQLITE_OK
}

// table judges a statement's use of a table: tablecast's are refused.
// (SQLite reports every schema change as a write to sqlite_master, and
// refuses direct writes to it itself without PRAGMA writable_schema.)
func (a *execAuth) table(name string) int {
	if strings.HasPrefix(name, "_") {
		return a.deny(tablecast.EFORBIDDEN, fmt.Sprintf("Not allowed: %s is tablecast's own (names starting with '_' are reserved)", name))
	}
	return sqlite3.SQLITE_OK
}

func (a *execAuth) deny(code, msg string) int {
	if a.denied == "" {
		a.denied, a.deniedCode = msg, code
	}
	return sqlite3.SQLITE_DENY
}
