package primary

import (
	"context"
	"database/sql"

	"github.com/tablecast/tablecast"
)

// requireAlter refuses "alter": true to a token without the schema scope,
// as Datasette refuses it without alter-table, whether or not a column
// is missing: what a request may do does not depend on the data.
func (req *request) requireAlter(alter bool) error {
	if alter && !req.canAlter {
		return tablecast.Errorf(tablecast.EFORBIDDEN, `Token %q lacks the %s scope, which "alter": true needs`, req.token, ScopeSchema)
	}
	return nil
}

// addMissingColumns adds to t the columns that rows name and t lacks
// (ALTER TABLE … ADD COLUMN, in tx), typed as /-/create types the columns
// of its rows (inferColumns), in order of first appearance, as
// sqlite-utils' alter=True does. It returns t as it is then.
func addMissingColumns(ctx context.Context, tx *sql.Tx, t *table, rows []row) (*table, error) {
	missing := missingColumns(t, rows)
	if len(missing) == 0 {
		return t, nil
	}
	cols, err := inferColumns(missing)
	if err != nil {
		return nil, err
	}
	if n := len(t.cols) + len(cols); n > maxColumns {
		return nil, tablecast.Errorf(tablecast.EINVALID, "Too many columns: %d, the limit is %d", n, maxColumns)
	}
	for _, c := range cols {
		q := "ALTER TABLE " + tablecast.QuoteIdent(t.name) + " ADD COLUMN " + tablecast.QuoteIdent(c.name) + " " + c.decl
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return nil, sqliteError("add column "+c.name, err)
		}
	}
	return writableTable(ctx, tx, t.name)
}

// missingColumns returns rows cut down to the columns t has none of
// (hidden and generated ones count as had: writing them stays an error;
// "rowid" and friends are refused by inferColumns as names).
func missingColumns(t *table, rows []row) []row {
	var out []row
	for _, r := range rows {
		var m row
		for j, name := range r.cols {
			if _, ok := t.column(name); !ok {
				m.cols = append(m.cols, name)
				m.vals = append(m.vals, r.vals[j])
			}
		}
		if len(m.cols) > 0 {
			out = append(out, m)
		}
	}
	return out
}
