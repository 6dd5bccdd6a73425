package primary

import (
	"context"
	"database/sql"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/replica/gate"
)

// create serves POST /{db}/-/create. A create that made the database file
// and then failed removes the file again.
func (w *Writer) create(ctx context.Context, req *request) (*result, error) {
	spec, err := decodeCreate(req.body, w.maxRows())
	if err != nil {
		return nil, err
	}
	spec.by = req.token
	w.createMu.Lock()
	defer w.createMu.Unlock()
	existed, err := w.fileExists(req.db)
	if err != nil {
		return nil, err
	}
	res, err := w.createTable(ctx, req.db, spec)
	if err != nil && !existed {
		if rerr := w.remove(req.db); rerr != nil {
			w.logger().Error("remove database after failed create", "db", req.db, "err", rerr)
		}
	}
	return res, err
}

func (w *Writer) createTable(ctx context.Context, db string, spec *createRequest) (*result, error) {
	h, err := w.open(db, true)
	if err != nil {
		return nil, err
	}
	body := map[string]any{
		"database":  db,
		"table":     spec.table,
		"table_url": "/" + db + "/" + spec.table,
		"row_count": len(spec.rows),
	}
	txid, err := w.write(ctx, db, h, func(tx *sql.Tx) error {
		if err := createIn(ctx, tx, spec); err != nil {
			return err
		}
		schema, err := tableSchema(ctx, tx, spec.table)
		body["schema"] = schema
		return err
	})
	if err != nil {
		return nil, err
	}
	return &result{status: http.StatusCreated, txid: txid, body: body}, nil
}

// createIn creates the table of spec and inserts its rows.
func createIn(ctx context.Context, tx *sql.Tx, spec *createRequest) error {
	exists, err := objectExists(ctx, tx, spec.table)
	if err != nil {
		return err
	} else if exists {
		return tablecast.Errorf(tablecast.EINVALID, "Table already exists: %s", spec.table)
	}
	if _, err := tx.ExecContext(ctx, createTableSQL(spec.table, spec.cols, spec.pks)); err != nil {
		return sqliteError("create table", err)
	}
	// A listing that outlived a drop made outside tablecast must not make
	// the new table public.
	if err := gate.Drop(ctx, tx, spec.table, spec.by); err != nil {
		return sqliteError("drop a stale listing", err)
	}
	t := &table{name: spec.table, cols: spec.cols, pks: spec.pks}
	sqlFor := func(cols []string) string { return insertSQL(t, "INSERT", cols, returnNone) }
	if _, err := execRows(ctx, tx, spec.rows, sqlFor, false); err != nil {
		return err
	}
	return bumpVersions(ctx, tx, spec.table)
}

// insert serves POST /{db}/{table}/-/insert.
func (w *Writer) insert(ctx context.Context, req *request) (*result, error) {
	ir, err := decodeInsert(req.body, w.maxRows())
	if err != nil {
		return nil, err
	}
	verb := "INSERT"
	if ir.ignore {
		verb = "INSERT OR IGNORE"
	} else if ir.replace {
		verb = "INSERT OR REPLACE"
	}
	return w.writeRows(ctx, req, ir, http.StatusCreated, func(t *table, cols []string, ret returning) string {
		return insertSQL(t, verb, cols, ret)
	})
}

// upsert serves POST /{db}/{table}/-/upsert.
func (w *Writer) upsert(ctx context.Context, req *request) (*result, error) {
	ir, err := decodeUpsert(req.body, w.maxRows())
	if err != nil {
		return nil, err
	}
	return w.writeRows(ctx, req, ir, http.StatusOK, func(t *table, cols []string, ret returning) string {
		return upsertSQL(t, cols, ret)
	})
}

// writeRows checks rows against the target table and writes them with the
// statements sqlFor builds, all in one transaction (with "alter": true,
// after adding the columns the table lacks). With "return": true
// the rows come back whole only to a token that may read the table (read
// or admin scope, or the table is public in this transaction, so at its
// TXID); any other token gets each row's primary key (or rowid) alone.
func (w *Writer) writeRows(ctx context.Context, req *request, ir *insertRequest, status int, sqlFor func(*table, []string, returning) string) (*result, error) {
	if err := req.requireAlter(ir.alter); err != nil {
		return nil, err
	}
	h, err := w.open(req.db, false)
	if err != nil {
		return nil, err
	}
	out := []orderedRow{}
	txid, err := w.write(ctx, req.db, h, func(tx *sql.Tx) error {
		t, bound, err := bindTarget(ctx, tx, req, ir)
		if err != nil {
			return err
		}
		ret, err := returnOf(ctx, tx, req, ir.ret, t)
		if err != nil {
			return err
		}
		rows, err := execRows(ctx, tx, bound, func(cols []string) string { return sqlFor(t, cols, ret) }, ir.ret)
		if err != nil {
			return err
		}
		out = append(out, rows...)
		return bumpVersions(ctx, tx, t.name)
	})
	if err != nil {
		return nil, err
	}
	body := map[string]any{}
	if ir.ret {
		body["rows"] = out
	}
	return &result{status: status, txid: txid, body: body}, nil
}

// returnOf is what a write sends back of its rows: none without "return",
// whole rows when the token may read the table, else keys only.
func returnOf(ctx context.Context, tx *sql.Tx, req *request, ret bool, t *table) (returning, error) {
	if !ret {
		return returnNone, nil
	}
	if req.canRead {
		return returnRows, nil
	}
	public, err := tablePublic(ctx, tx, t.name)
	if err != nil {
		return returnNone, err
	}
	if public {
		return returnRows, nil
	}
	return returnKeys, nil
}

// bindTarget looks up the table of an insert or upsert and binds its rows.
func bindTarget(ctx context.Context, tx *sql.Tx, req *request, ir *insertRequest) (*table, []boundRow, error) {
	t, err := writableTable(ctx, tx, req.table)
	if err != nil {
		return nil, nil, err
	}
	if req.action == tablecast.ActionUpsert && len(t.pks) == 0 {
		return nil, nil, tablecast.Errorf(tablecast.EINVALID, "Table has no primary key, cannot upsert: %s", t.name)
	}
	if ir.alter {
		if t, err = addMissingColumns(ctx, tx, t, ir.rows); err != nil {
			return nil, nil, err
		}
	}
	bound, err := bindRows(ir.rows, t.writable())
	if err != nil {
		return nil, nil, err
	}
	if req.action == tablecast.ActionUpsert {
		err = checkPKs(bound, t.pks)
	}
	return t, bound, err
}

// checkPKs requires every row to give a non-null value to each pk column.
func checkPKs(rows []boundRow, pks []string) error {
	for i, r := range rows {
		for _, pk := range pks {
			j := slices.Index(r.cols, pk)
			if j < 0 {
				return tablecast.Errorf(tablecast.EINVALID, "Row %d is missing primary key column: %s", i, pk)
			}
			if r.args[j] == nil {
				return tablecast.Errorf(tablecast.EINVALID, "Row %d: primary key column %q is null", i, pk)
			}
		}
	}
	return nil
}

// delete serves POST /{db}/{table}/{pk}/-/delete.
func (w *Writer) delete(ctx context.Context, req *request) (*result, error) {
	if _, err := decodeBody(req.body); err != nil {
		return nil, err
	}
	h, err := w.open(req.db, false)
	if err != nil {
		return nil, err
	}
	txid, err := w.write(ctx, req.db, h, func(tx *sql.Tx) error {
		t, err := writableTable(ctx, tx, req.table)
		if err != nil {
			return err
		}
		if err := deleteRow(ctx, tx, t, req.pk); err != nil {
			return err
		}
		return bumpVersions(ctx, tx, t.name)
	})
	if err != nil {
		return nil, err
	}
	return &result{status: http.StatusOK, txid: txid, body: map[string]any{}}, nil
}

func deleteRow(ctx context.Context, tx *sql.Tx, t *table, pk []string) error {
	where, args, err := pkWhere(t, pk)
	if err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, "DELETE FROM "+tablecast.QuoteIdent(t.name)+" WHERE "+where, args...)
	if err != nil {
		return sqliteError("delete row", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return sqliteError("delete row", err)
	} else if n == 0 {
		return tablecast.Errorf(tablecast.ENOTFOUND, "Row not found: %s", strings.Join(pk, ","))
	}
	return nil
}

// pkWhere builds the WHERE clause that selects one row by its primary key
// values, or by rowid for tables without an explicit primary key.
func pkWhere(t *table, pk []string) (string, []any, error) {
	want := max(len(t.pks), 1)
	if len(pk) != want {
		return "", nil, tablecast.Errorf(tablecast.EINVALID, "Expected %d primary key value(s), got %d", want, len(pk))
	}
	if len(t.pks) == 0 {
		id, err := strconv.ParseInt(pk[0], 10, 64)
		if err != nil {
			return "", nil, tablecast.Errorf(tablecast.ENOTFOUND, "Row not found: %s", pk[0])
		}
		return "rowid = ?", []any{id}, nil
	}
	conds := make([]string, len(t.pks))
	args := make([]any, len(t.pks))
	for i, name := range t.pks {
		c, _ := t.column(name)
		conds[i] = tablecast.QuoteIdent(c.name) + " = ?"
		args[i] = pkArg(c.aff, pk[i])
	}
	return strings.Join(conds, " AND "), args, nil
}

// pkArg converts a pk value from the URL to the type its column stores.
func pkArg(aff affinity, s string) any {
	switch aff {
	case affInteger, affNumeric:
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i
		}
	}
	switch aff {
	case affReal, affNumeric:
		if v, err := parseNumber(s); err == nil && v.kind == kindFloat {
			return v.f
		}
	}
	return s
}
