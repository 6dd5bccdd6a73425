package primary

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"strings"

	"github.com/mattn/go-sqlite3"
	"github.com/tablecast/tablecast"
)

// updateRequest is the body of /-/update.
type updateRequest struct {
	set   row  // the columns to set, as sent
	ret   bool // "return": send the row back
	alter bool // "alter": add the columns the table lacks
}

// decodeUpdate parses {"update": {…}, "return": bool, "alter": bool}.
func decodeUpdate(body []byte) (*updateRequest, error) {
	p, err := decodeBody(body, "update", "return", "alter")
	if err != nil {
		return nil, err
	}
	raw, ok := p["update"]
	if !ok {
		return nil, tablecast.Errorf(tablecast.EINVALID, `Request must have "update": an object of the columns to set`)
	}
	fields, err := objectFields(raw, `"update"`)
	if err != nil {
		return nil, err
	}
	req := &updateRequest{set: row{cols: make([]string, len(fields)), vals: make([]value, len(fields))}}
	for i, f := range fields {
		v, err := parseValue(f.raw)
		if err != nil {
			return nil, tablecast.Errorf(tablecast.EINVALID, "Update: column %q: %s", f.key, err)
		}
		req.set.cols[i], req.set.vals[i] = f.key, v
	}
	if req.ret, err = p.getBool("return"); err != nil {
		return nil, err
	}
	req.alter, err = p.getBool("alter")
	return req, err
}

// update serves POST /{db}/{table}/{pk}/-/update: Datasette's row update.
// The row must exist (404 otherwise). "return": true sends it back as it
// is after the update, whole or by its key as for insert (returnOf).
func (w *Writer) update(ctx context.Context, req *request) (*result, error) {
	ur, err := decodeUpdate(req.body)
	if err != nil {
		return nil, err
	}
	if err := req.requireAlter(ur.alter); err != nil {
		return nil, err
	}
	h, err := w.open(req.db, false)
	if err != nil {
		return nil, err
	}
	var out []orderedRow
	txid, err := w.write(ctx, req.db, h, func(tx *sql.Tx) error {
		t, err := writableTable(ctx, tx, req.table)
		if err != nil {
			return err
		}
		if ur.alter {
			if t, err = addMissingColumns(ctx, tx, t, []row{ur.set}); err != nil {
				return err
			}
		}
		ret, err := returnOf(ctx, tx, req, ur.ret, t)
		if err != nil {
			return err
		}
		if out, err = updateRow(ctx, tx, t, req.pk, ur.set, ret); err != nil {
			return err
		}
		return bumpVersions(ctx, tx, t.name)
	})
	if err != nil {
		return nil, err
	}
	body := map[string]any{}
	if ur.ret {
		body["rows"] = out
	}
	return &result{status: http.StatusOK, txid: txid, body: body}, nil
}

// updateRow sets the columns of set in the row of t whose key is pk, and
// returns it as ret says. No such row is ENOTFOUND.
func updateRow(ctx context.Context, tx *sql.Tx, t *table, pk []string, set row, ret returning) ([]orderedRow, error) {
	where, keyArgs, err := pkWhere(t, pk)
	if err != nil {
		return nil, err
	}
	b, err := bindUpdate(set, t.writable())
	if err != nil {
		return nil, err
	}
	q, args := updateSQL(t, b, where, keyArgs, ret)
	var rows []orderedRow
	found := false
	if ret == returnNone && len(b.cols) > 0 {
		var res sql.Result
		if res, err = tx.ExecContext(ctx, q, args...); err == nil {
			var n int64
			n, err = res.RowsAffected()
			found = n > 0
		}
	} else {
		var rs *sql.Rows
		if rs, err = tx.QueryContext(ctx, q, args...); err == nil {
			rows, err = scanRows(rs)
			found = len(rows) > 0
		}
	}
	if err != nil {
		return nil, updateError(err)
	}
	if !found {
		return nil, tablecast.Errorf(tablecast.ENOTFOUND, "Row not found: %s", strings.Join(pk, ","))
	}
	return rows, nil
}

// updateSQL builds the UPDATE of one row, or, with nothing to set, the
// SELECT that finds it (Datasette answers an empty update as done).
func updateSQL(t *table, b boundRow, where string, keyArgs []any, ret returning) (string, []any) {
	if len(b.cols) == 0 {
		cols := "1"
		if r := returningSQL(t, ret); r != "" {
			cols = strings.TrimPrefix(r, " RETURNING ")
		}
		return "SELECT " + cols + " FROM " + tablecast.QuoteIdent(t.name) + " WHERE " + where, keyArgs
	}
	sets := make([]string, len(b.cols))
	for i, c := range b.cols {
		sets[i] = tablecast.QuoteIdent(c) + " = ?"
	}
	q := "UPDATE " + tablecast.QuoteIdent(t.name) + " SET " + strings.Join(sets, ", ") + " WHERE " + where + returningSQL(t, ret)
	return q, append(b.args, keyArgs...)
}

// bindUpdate checks the columns of an update against the writable columns
// of its table and converts their values, as bindRows does for rows.
func bindUpdate(set row, cols []column) (boundRow, error) {
	byName := make(map[string]column, len(cols))
	for _, c := range cols {
		byName[strings.ToLower(c.name)] = c
	}
	var invalid []string
	for _, name := range set.cols {
		if _, ok := byName[strings.ToLower(name)]; !ok {
			invalid = append(invalid, name)
		}
	}
	if len(invalid) > 0 {
		return boundRow{}, tablecast.Errorf(tablecast.EINVALID, "Update has invalid columns: %s", strings.Join(invalid, ", "))
	}
	b := boundRow{cols: make([]string, len(set.cols)), args: make([]any, len(set.cols))}
	seen := make(map[string]bool, len(set.cols))
	for j, name := range set.cols {
		col := byName[strings.ToLower(name)]
		if seen[col.name] {
			return boundRow{}, tablecast.Errorf(tablecast.EINVALID, "Update: column %q given twice", col.name)
		}
		seen[col.name] = true
		arg, err := convert(col.aff, set.vals[j])
		if err != nil {
			return boundRow{}, tablecast.Errorf(tablecast.EINVALID, "Update: column %q %s", col.name, err)
		}
		b.cols[j], b.args[j] = col.name, arg
	}
	return b, nil
}

// updateError is sqliteError, and a type mismatch (null given to an
// INTEGER PRIMARY KEY) is the client's too.
func updateError(err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && se.Code == sqlite3.ErrMismatch {
		return tablecast.Errorf(tablecast.EINVALID, "Update: %s", se.Error())
	}
	return sqliteError("update row", err)
}
