package primary

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/mattn/go-sqlite3"
	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/replica/gate"
)

// Schema changes for publishers (scope schema): views, indexes and
// full-text indexes. Each runs in one write transaction that ends with
// gate.Reconcile (a dropped, renamed or replaced table or view leaves
// _public_tables) and a version bump, and is audited in the admin log.
// /-/execute (execute.go) runs any other SQL the same way.

// schemaChange is the work of one schema route inside its transaction:
// it returns the table or view whose version moves and the names it
// replaced (a replaced object is private again, whatever its name).
type schemaChange func(ctx context.Context, tx *sql.Tx, body map[string]any) (bump string, replaced []string, err error)

// changeSchema serves the schema routes but execute.
func (w *Writer) changeSchema(ctx context.Context, req *request) (*result, error) {
	var change schemaChange
	var err error
	switch req.action {
	case tablecast.ActionCreateView:
		return w.createView(ctx, req)
	case tablecast.ActionCreateIndex:
		change, err = createIndexChange(req)
	case tablecast.ActionDropIndex:
		change, err = dropIndexChange(req)
	case tablecast.ActionEnableFTS:
		change, err = enableFTSChange(req)
	case tablecast.ActionDisableFTS:
		change, err = disableFTSChange(req)
	default:
		return nil, tablecast.Errorf(tablecast.ENOTFOUND, "Not found")
	}
	if err != nil {
		return nil, err
	}
	h, err := w.open(req.db, false)
	if err != nil {
		return nil, err
	}
	body := map[string]any{"database": req.db}
	var removed []string
	txid, err := w.write(ctx, req.db, h, func(tx *sql.Tx) error {
		var err error
		removed, err = reconciled(ctx, tx, req.token, func() (string, []string, error) { return change(ctx, tx, body) })
		return err
	})
	if err != nil {
		return nil, err
	}
	return w.schemaResult(ctx, req, txid, body, removed), nil
}

// reconciled runs one schema change in tx, then reconciles the gate with
// the schema it left (gate.Reconcile: the objects the change removed,
// added or replaced, and any listing of a missing object, leave
// _public_tables) and bumps the versions (bump's, or every table's when
// bump is "*"). It returns the names taken off the gate.
func reconciled(ctx context.Context, tx *sql.Tx, token string, change func() (string, []string, error)) ([]string, error) {
	before, err := readSchema(ctx, tx)
	if err != nil {
		return nil, err
	}
	bump, replaced, err := change()
	if err != nil {
		return nil, err
	}
	after, err := readSchema(ctx, tx)
	if err != nil {
		return nil, err
	}
	replaced = append(replaced, diffSchema(before, after).replaced...)
	removed, err := gate.Reconcile(ctx, tx, token, replaced...)
	if err != nil {
		return nil, sqliteError("reconcile the gate", err)
	}
	if bump == "*" {
		if err := gate.BumpAllVersions(ctx, tx); err != nil {
			return nil, sqliteError("bump table versions", err)
		}
		return removed, nil
	}
	return removed, bumpVersions(ctx, tx, bump)
}

// schemaResult is the answer of a committed schema change, audited in the
// admin log with the tables it took off the gate.
func (w *Writer) schemaResult(ctx context.Context, req *request, txid tablecast.TXID, body map[string]any, removed []string) *result {
	if removed == nil {
		removed = []string{}
	}
	body["unpublished"] = removed
	target, _ := body["name"].(string)
	if target == "" {
		target = req.table
	}
	w.auditSchema(ctx, req, target, txid, removed)
	return &result{status: http.StatusOK, txid: txid, body: body}
}

// auditSchema appends a schema change, and each table it took off the
// gate, to the admin audit log. The change is committed: a failure is
// logged.
func (w *Writer) auditSchema(ctx context.Context, req *request, target string, txid tablecast.TXID, removed []string) {
	entries := []AuditEntry{{Token: req.token, Action: req.action, DB: req.db, Target: target, TXID: txid.String()}}
	for _, name := range removed {
		entries = append(entries, AuditEntry{Token: req.token, Action: tablecast.ActionUnpublish, DB: req.db, Target: name, TXID: txid.String()})
	}
	ctx = context.WithoutCancel(ctx)
	_, err := w.Control().write(ctx, func(tx *sql.Tx) error {
		for _, e := range entries {
			if err := appendAudit(ctx, tx, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		w.logger().Error("admin audit", "action", req.action, "db", req.db, "target", target, "txid", txid, "err", err)
	}
}

// schemaObject is one row of sqlite_master.
type schemaObject struct {
	typ, sql string
}

// readSchema reads sqlite_master by name.
func readSchema(ctx context.Context, tx *sql.Tx) (map[string]schemaObject, error) {
	rows, err := tx.QueryContext(ctx, `SELECT type, name, coalesce(sql, '') FROM sqlite_master`)
	if err != nil {
		return nil, sqliteError("read the schema", err)
	}
	defer rows.Close()
	objs := map[string]schemaObject{}
	for rows.Next() {
		var o schemaObject
		var name string
		if err := rows.Scan(&o.typ, &name, &o.sql); err != nil {
			return nil, sqliteError("read the schema", err)
		}
		objs[name] = o
	}
	if err := rows.Err(); err != nil {
		return nil, sqliteError("read the schema", err)
	}
	return objs, nil
}

// schemaDiff is what a statement did to the schema.
type schemaDiff struct {
	replaced []string // removed, added, or of another type: not the same object
	written  []string // added or changed: their SQL is new
}

func diffSchema(before, after map[string]schemaObject) schemaDiff {
	var d schemaDiff
	for name, o := range before {
		if a, ok := after[name]; !ok || a.typ != o.typ {
			d.replaced = append(d.replaced, name)
		}
	}
	for name, a := range after {
		o, ok := before[name]
		if !ok {
			d.replaced = append(d.replaced, name)
		}
		if !ok || o.sql != a.sql || o.typ != a.typ {
			d.written = append(d.written, name)
		}
	}
	slices.Sort(d.replaced)
	d.replaced = slices.Compact(d.replaced)
	slices.Sort(d.written)
	return d
}

// required returns the string parameter key, which must be there.
func (p params) required(key string) (string, error) {
	s, err := p.getString(key)
	if err == nil && s == "" {
		err = tablecast.Errorf(tablecast.EINVALID, "%q is required", key)
	}
	return s, err
}

// createView serves POST /{db}/-/create-view
// {"name":"v","sql":"select …","replace":false}: one SELECT, checked
// under execute's authorizer (no tablecast table), created private.
func (w *Writer) createView(ctx context.Context, req *request) (*result, error) {
	p, err := decodeBody(req.body, "name", "sql", "replace")
	if err != nil {
		return nil, err
	}
	name, err := p.required("name")
	if err != nil {
		return nil, err
	}
	text, err := p.required("sql")
	if err != nil {
		return nil, err
	}
	replace, err := p.getBool("replace")
	if err != nil {
		return nil, err
	}
	if err := tablecast.ValidateTableName(name); err != nil {
		return nil, err
	}
	h, err := w.open(req.db, false)
	if err != nil {
		return nil, err
	}
	body := map[string]any{"database": req.db, "name": name}
	var removed []string
	txid, err := w.writeConn(ctx, req.db, h, func(conn *sql.Conn, tx *sql.Tx) error {
		sel, err := oneSelect(ctx, conn, text)
		if err != nil {
			return err
		}
		removed, err = reconciled(ctx, tx, req.token, func() (string, []string, error) {
			replaced, err := replaceView(ctx, tx, name, replace)
			if err != nil {
				return "", nil, err
			}
			ddl := "CREATE VIEW " + tablecast.QuoteIdent(name) + " AS " + sel
			if _, err := runScript(ctx, conn, tx, ddl, nil); err != nil {
				return "", nil, err
			}
			body["sql"] = ddl
			return name, replaced, nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return w.schemaResult(ctx, req, txid, body, removed), nil
}

// replaceView drops the view name when replace allows it; any other
// object of that name is a 409.
func replaceView(ctx context.Context, tx *sql.Tx, name string, replace bool) ([]string, error) {
	var found, typ string
	err := tx.QueryRowContext(ctx, `SELECT name, type FROM sqlite_master WHERE name = ? COLLATE NOCASE`, name).Scan(&found, &typ)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, sqliteError("look up view", err)
	case typ != "view" || !replace:
		return nil, tablecast.Errorf(tablecast.ECONFLICT, "A %s named %s already exists", typ, found)
	}
	if _, err := tx.ExecContext(ctx, "DROP VIEW "+tablecast.QuoteIdent(found)); err != nil {
		return nil, sqliteError("drop view", err)
	}
	return []string{found}, nil
}

// indexRequest is the body of /{db}/{table}/-/create-index.
type indexRequest struct {
	columns []string
	name    string
	unique  bool
}

func decodeIndex(body []byte) (in indexRequest, err error) {
	p, err := decodeBody(body, "columns", "name", "unique")
	if err != nil {
		return in, err
	}
	if in.columns, err = p.getStrings("columns"); err != nil {
		return in, err
	}
	if len(in.columns) == 0 {
		return in, tablecast.Errorf(tablecast.EINVALID, `"columns" must list at least one column`)
	}
	if in.name, err = p.getString("name"); err != nil {
		return in, err
	}
	if in.name != "" && tablecast.ValidateTableName(in.name) != nil {
		return in, tablecast.Errorf(tablecast.EINVALID, "invalid index name %q: letters, digits and '_', not starting with a digit, '_' or 'sqlite_'", in.name)
	}
	in.unique, err = p.getBool("unique")
	return in, err
}

// indexColumn is "col", "col asc" or "col desc".
func indexColumn(t *table, spec string) (string, error) {
	name, order := strings.TrimSpace(spec), ""
	if i := strings.LastIndexByte(name, ' '); i > 0 {
		switch strings.ToLower(name[i+1:]) {
		case "asc", "desc":
			name, order = strings.TrimSpace(name[:i]), " "+strings.ToUpper(name[i+1:])
		}
	}
	c, ok := t.column(name)
	if !ok {
		return "", tablecast.Errorf(tablecast.EINVALID, "Unknown column in \"columns\": %s", name)
	}
	return tablecast.QuoteIdent(c.name) + order, nil
}

func createIndexChange(req *request) (schemaChange, error) {
	in, err := decodeIndex(req.body)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, tx *sql.Tx, body map[string]any) (string, []string, error) {
		t, err := writableTable(ctx, tx, req.table)
		if err != nil {
			return "", nil, err
		}
		cols := make([]string, len(in.columns))
		plain := make([]string, len(in.columns))
		for i, spec := range in.columns {
			if cols[i], err = indexColumn(t, spec); err != nil {
				return "", nil, err
			}
			plain[i] = strings.Fields(spec)[0]
		}
		name := in.name
		if name == "" {
			name = "idx_" + t.name + "_" + strings.Join(plain, "_") // as sqlite-utils names them
		}
		if exists, err := objectExists(ctx, tx, name); err != nil {
			return "", nil, err
		} else if exists {
			return "", nil, tablecast.Errorf(tablecast.ECONFLICT, "An object named %s already exists", name)
		}
		verb := "CREATE INDEX "
		if in.unique {
			verb = "CREATE UNIQUE INDEX "
		}
		ddl := verb + tablecast.QuoteIdent(name) + " ON " + tablecast.QuoteIdent(t.name) + " (" + strings.Join(cols, ", ") + ")"
		if _, err := tx.ExecContext(ctx, ddl); err != nil {
			return "", nil, sqliteError("create index", err)
		}
		body["name"], body["table"], body["sql"], body["unique"] = name, t.name, ddl, in.unique
		return t.name, nil, nil
	}, nil
}

func dropIndexChange(req *request) (schemaChange, error) {
	p, err := decodeBody(req.body, "name")
	if err != nil {
		return nil, err
	}
	index, err := p.required("name")
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, tx *sql.Tx, body map[string]any) (string, []string, error) {
		var name, tbl string
		var ddl sql.NullString
		err := tx.QueryRowContext(ctx, `SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index' AND name = ? COLLATE NOCASE`, index).Scan(&name, &tbl, &ddl)
		if errors.Is(err, sql.ErrNoRows) || err == nil && tablecast.IsReservedTable(tbl) {
			return "", nil, tablecast.Errorf(tablecast.ENOTFOUND, "Index not found: %s", index)
		} else if err != nil {
			return "", nil, sqliteError("look up index", err)
		}
		if !ddl.Valid {
			return "", nil, tablecast.Errorf(tablecast.EINVALID, "Index %s belongs to a PRIMARY KEY or UNIQUE constraint of %s: it cannot be dropped", name, tbl)
		}
		if _, err := tx.ExecContext(ctx, "DROP INDEX "+tablecast.QuoteIdent(name)); err != nil {
			return "", nil, sqliteError("drop index", err)
		}
		body["name"], body["table"] = name, tbl
		return tbl, nil, nil
	}, nil
}

// ftsRequest is the body of /{db}/{table}/-/enable-fts.
type ftsRequest struct {
	columns  []string
	tokenize string
	replace  bool
}

func decodeFTS(body []byte) (in ftsRequest, err error) {
	p, err := decodeBody(body, "columns", "tokenize", "replace")
	if err != nil {
		return in, err
	}
	if in.columns, err = p.getStrings("columns"); err != nil {
		return in, err
	}
	if len(in.columns) == 0 {
		return in, tablecast.Errorf(tablecast.EINVALID, `"columns" must list at least one column`)
	}
	if in.tokenize, err = p.getString("tokenize"); err != nil {
		return in, err
	}
	for _, r := range in.tokenize {
		if r < ' ' || r > '~' {
			return in, tablecast.Errorf(tablecast.EINVALID, `"tokenize" must be printable ASCII, as FTS5's tokenize option: %q`, in.tokenize)
		}
	}
	in.replace, err = p.getBool("replace")
	return in, err
}

// bracket quotes a name as sqlite-utils does: [name].
func bracket(name string) string { return "[" + name + "]" }

// ftsName is the full-text table of a table, as sqlite-utils names it.
func ftsName(table string) string { return table + "_fts" }

// ftsSQL is what sqlite-utils' enable-fts --fts5 --create-triggers runs,
// statement for statement: the FTS5 table with content= the table, its
// population, and the triggers that keep it in step.
func ftsSQL(table string, cols []string, tokenize string) []string {
	fts := ftsName(table)
	var list, olds, news []string
	for _, c := range cols {
		list = append(list, bracket(c))
		olds = append(olds, "old."+bracket(c))
		news = append(news, "new."+bracket(c))
	}
	columns := strings.Join(list, ", ")
	tok := ""
	if tokenize != "" {
		tok = "\n    tokenize='" + strings.ReplaceAll(tokenize, "'", "''") + "',"
	}
	ins := fmt.Sprintf("  INSERT INTO %s (rowid, %s) VALUES (new.rowid, %s);\n", bracket(fts), columns, strings.Join(news, ", "))
	del := fmt.Sprintf("  INSERT INTO %s (%s, rowid, %s) VALUES('delete', old.rowid, %s);\n", bracket(fts), bracket(fts), columns, strings.Join(olds, ", "))
	t := bracket(table)
	return []string{
		fmt.Sprintf("CREATE VIRTUAL TABLE %s USING FTS5 (\n    %s,%s\n    content=%s\n)", bracket(fts), columns, tok, t),
		fmt.Sprintf("INSERT INTO %s (rowid, %s) SELECT rowid, %s FROM %s;", bracket(fts), columns, columns, t),
		"CREATE TRIGGER " + bracket(table+"_ai") + " AFTER INSERT ON " + t + " BEGIN\n" + ins + "END;",
		"CREATE TRIGGER " + bracket(table+"_ad") + " AFTER DELETE ON " + t + " BEGIN\n" + del + "END;",
		"CREATE TRIGGER " + bracket(table+"_au") + " AFTER UPDATE ON " + t + " BEGIN\n" + del + ins + "END;",
	}
}

func enableFTSChange(req *request) (schemaChange, error) {
	in, err := decodeFTS(req.body)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, tx *sql.Tx, body map[string]any) (string, []string, error) {
		t, err := writableTable(ctx, tx, req.table)
		if err != nil {
			return "", nil, err
		}
		if err := needFTS5(ctx, tx); err != nil {
			return "", nil, err
		}
		if wr, err := isWithoutRowid(ctx, tx, t.name); err != nil {
			return "", nil, err
		} else if wr {
			return "", nil, tablecast.Errorf(tablecast.EINVALID, "Table %s is WITHOUT ROWID: full-text search needs a rowid", t.name)
		}
		cols := make([]string, len(in.columns))
		for i, name := range in.columns {
			c, ok := t.column(name)
			if !ok || c.hidden != 0 {
				return "", nil, tablecast.Errorf(tablecast.EINVALID, "Unknown column in \"columns\": %s", name)
			}
			if strings.Contains(c.name, "]") {
				return "", nil, tablecast.Errorf(tablecast.EINVALID, "Column %q cannot be indexed: its name holds ']'", c.name)
			}
			cols[i] = c.name
		}
		fts := ftsName(t.name)
		exists, err := objectExists(ctx, tx, fts)
		if err != nil {
			return "", nil, err
		}
		if exists && !in.replace {
			return "", nil, tablecast.Errorf(tablecast.ECONFLICT, "%s already exists: send \"replace\": true to rebuild it", fts)
		}
		var replaced []string
		if exists {
			if replaced, err = dropFTS(ctx, tx, t.name); err != nil {
				return "", nil, err
			}
		}
		for _, stmt := range ftsSQL(t.name, cols, in.tokenize) {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				var se sqlite3.Error
				if errors.As(err, &se) && se.Code == sqlite3.ErrError { // a tokenizer FTS5 refuses, a name taken
					return "", nil, tablecast.Errorf(tablecast.EINVALID, "Cannot enable full-text search: %s", se.Error())
				}
				return "", nil, sqliteError("enable full-text search", err)
			}
		}
		body["table"], body["fts_table"], body["columns"] = t.name, fts, cols
		return t.name, append(replaced, fts), nil
	}, nil
}

func disableFTSChange(req *request) (schemaChange, error) {
	if _, err := decodeBody(req.body); err != nil {
		return nil, err
	}
	return func(ctx context.Context, tx *sql.Tx, body map[string]any) (string, []string, error) {
		t, err := writableTable(ctx, tx, req.table)
		if err != nil {
			return "", nil, err
		}
		if exists, err := objectExists(ctx, tx, ftsName(t.name)); err != nil {
			return "", nil, err
		} else if !exists {
			return "", nil, tablecast.Errorf(tablecast.ENOTFOUND, "Table %s has no full-text index (%s)", t.name, ftsName(t.name))
		}
		dropped, err := dropFTS(ctx, tx, t.name)
		if err != nil {
			return "", nil, err
		}
		body["table"], body["dropped"] = t.name, dropped
		return t.name, dropped, nil
	}, nil
}

// dropFTS drops the full-text table of table and the triggers that write
// to it, as sqlite-utils' disable-fts does; it returns what it dropped.
func dropFTS(ctx context.Context, tx *sql.Tx, table string) ([]string, error) {
	fts := ftsName(table)
	rows, err := tx.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'trigger' AND sql LIKE ?`, "% INSERT INTO "+bracket(fts)+"%")
	if err != nil {
		return nil, sqliteError("find full-text triggers", err)
	}
	var triggers []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return nil, sqliteError("find full-text triggers", err)
		}
		triggers = append(triggers, name)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, sqliteError("find full-text triggers", err)
	}
	stmts := []string{"DROP TABLE IF EXISTS " + tablecast.QuoteIdent(fts)}
	for _, name := range triggers {
		stmts = append(stmts, "DROP TRIGGER IF EXISTS "+tablecast.QuoteIdent(name))
	}
	for _, stmt := range stmts {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return nil, sqliteError("disable full-text search", err)
		}
	}
	return append([]string{fts}, triggers...), nil
}

// isWithoutRowid reports whether table is a WITHOUT ROWID table.
func isWithoutRowid(ctx context.Context, tx *sql.Tx, table string) (bool, error) {
	var wr bool
	err := tx.QueryRowContext(ctx, `SELECT wr FROM pragma_table_list WHERE schema = 'main' AND name = ?`, table).Scan(&wr)
	if err != nil {
		return false, sqliteError("read table kind", err)
	}
	return wr, nil
}

// needFTS5 refuses full-text indexes in a build of SQLite without FTS5
// (mattn/go-sqlite3 needs the build tag sqlite_fts5).
func needFTS5(ctx context.Context, tx *sql.Tx) error {
	var have bool
	if err := tx.QueryRowContext(ctx, `SELECT count(*) > 0 FROM pragma_module_list WHERE name = 'fts5'`).Scan(&have); err != nil {
		return sqliteError("look up FTS5", err)
	}
	if !have {
		return tablecast.Errorf(tablecast.EINVALID, "Full-text search needs FTS5, which this build of tablecast lacks (build it with -tags sqlite_fts5)")
	}
	return nil
}
