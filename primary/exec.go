package primary

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"strings"

	"github.com/tablecast/tablecast"
)

// returning is what a write statement sends back of the rows it wrote.
type returning uint8

const (
	returnNone returning = iota // nothing
	returnRows                  // every column
	returnKeys                  // the primary key columns (the rowid without one) only
)

// insertSQL builds "verb INTO t (cols) VALUES (…)", verb being INSERT,
// INSERT OR IGNORE or INSERT OR REPLACE; ret says what comes back.
func insertSQL(t *table, verb string, cols []string, ret returning) string {
	s := verb + " INTO " + tablecast.QuoteIdent(t.name)
	if len(cols) == 0 {
		s += " DEFAULT VALUES"
	} else {
		s += " (" + quoteList(cols) + ") VALUES (" + placeholders(len(cols)) + ")"
	}
	return s + returningSQL(t, ret)
}

// upsertSQL builds an INSERT that updates the given non-pk columns of the
// row with the same primary key, if there is one.
func upsertSQL(t *table, cols []string, ret returning) string {
	var sets []string
	for _, c := range cols {
		if !slices.Contains(t.pks, c) {
			q := tablecast.QuoteIdent(c)
			sets = append(sets, q+" = excluded."+q)
		}
	}
	action := " DO NOTHING"
	if len(sets) > 0 {
		action = " DO UPDATE SET " + strings.Join(sets, ", ")
	}
	s := "INSERT INTO " + tablecast.QuoteIdent(t.name) +
		" (" + quoteList(cols) + ") VALUES (" + placeholders(len(cols)) + ")" +
		" ON CONFLICT (" + quoteList(t.pks) + ")" + action
	return s + returningSQL(t, ret)
}

// returningSQL is the RETURNING clause of ret: every column of the
// written row (and the rowid of rowid tables), or its key alone (its
// primary key columns, or the rowid), or nothing. The unary + drops the
// declared type, so that the driver hands back values as stored instead
// of parsing dates or booleans.
func returningSQL(t *table, ret returning) string {
	if ret == returnNone {
		return ""
	}
	var parts []string
	if len(t.pks) == 0 {
		parts = append(parts, `rowid AS "rowid"`)
	}
	for _, c := range t.cols {
		if c.hidden != 1 && (ret == returnRows || slices.Contains(t.pks, c.name)) {
			q := tablecast.QuoteIdent(c.name)
			parts = append(parts, "+"+q+" AS "+q)
		}
	}
	return " RETURNING " + strings.Join(parts, ", ")
}

func quoteList(names []string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = tablecast.QuoteIdent(n)
	}
	return strings.Join(quoted, ", ")
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// execRows writes rows with the statements sqlFor builds, one prepared
// statement per set of columns. With ret it returns the written rows.
func execRows(ctx context.Context, tx *sql.Tx, rows []boundRow, sqlFor func([]string) string, ret bool) ([]orderedRow, error) {
	stmts := make(map[string]*sql.Stmt)
	defer func() {
		for _, s := range stmts {
			_ = s.Close()
		}
	}()
	var out []orderedRow
	for i, r := range rows {
		key := strings.Join(r.cols, "\x00")
		stmt := stmts[key]
		if stmt == nil {
			var err error
			if stmt, err = tx.PrepareContext(ctx, sqlFor(r.cols)); err != nil {
				return nil, sqliteError("prepare insert", err)
			}
			stmts[key] = stmt
		}
		got, err := execRow(ctx, stmt, r.args, ret)
		if err != nil {
			return nil, rowError(i, err)
		}
		out = append(out, got...)
	}
	return out, nil
}

func execRow(ctx context.Context, stmt *sql.Stmt, args []any, ret bool) ([]orderedRow, error) {
	if !ret {
		_, err := stmt.ExecContext(ctx, args...)
		return nil, err
	}
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	return scanRows(rows)
}

// rowError names the row in errors the client caused.
func rowError(i int, err error) error {
	err = sqliteError("write row", err)
	if tablecast.ErrorCode(err) == tablecast.EINVALID {
		return tablecast.Errorf(tablecast.EINVALID, "Row %d: %s", i, tablecast.ErrorMessage(err))
	}
	return err
}

// scanRows reads rows as JSON-ready ordered objects and closes them.
func scanRows(rows *sql.Rows) ([]orderedRow, error) {
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []orderedRow
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		for i := range vals {
			vals[i] = jsonValue(vals[i])
		}
		out = append(out, orderedRow{cols: cols, vals: vals})
	}
	return out, rows.Err()
}

// jsonValue renders a SQLite value with the encoder the read path uses
// too (tablecast.AppendJSONValue: blobs as Datasette's, ±Inf as null).
func jsonValue(v any) json.RawMessage {
	return tablecast.AppendJSONValue(nil, v)
}

// orderedRow is a row that encodes as a JSON object in column order.
type orderedRow struct {
	cols []string
	vals []any
}

func (r orderedRow) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	buf.WriteByte('{')
	for i, c := range r.cols {
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := enc.Encode(c); err != nil {
			return nil, err
		}
		buf.WriteByte(':')
		if err := enc.Encode(r.vals[i]); err != nil {
			return nil, err
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}
