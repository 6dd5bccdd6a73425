package replica

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"

	"github.com/tablecast/tablecast"
)

// Foreign key labels, as Datasette's: _labels=on shows, next to each
// value of a foreign key column, the label of the row it refers to;
// _label=col does it for col only; the HTML page does it unless
// _labels=off. The label column of a table is the one set for it
// (the metadata's label_column), or the one
// Datasette's label_column_for_table chooses.
//
// A label is read only from a PUBLIC referenced table: a foreign key to a
// table the snapshot does not show is no foreign key at all here, so an
// answer is the same byte for byte whether that table is private or
// missing.

// foreignKey is a single-column foreign key of a table to a public table,
// with the referenced table's label column ("" for none).
type foreignKey struct {
	Column, OtherTable, OtherColumn, LabelColumn string
}

// labeledValue is a foreign key value with the label of the row it
// refers to: {"value": …, "label": …} in JSON, a link on pages.
type labeledValue struct {
	Value, Label any
	Href         string // the referenced row's page
}

// appendJSON writes {"value": …, "label": …}.
func (l labeledValue) appendJSON(buf []byte) []byte {
	buf = append(buf, `{"value":`...)
	buf = tablecast.AppendJSONValue(buf, l.Value)
	buf = append(buf, `,"label":`...)
	buf = tablecast.AppendJSONValue(buf, l.Label)
	return append(buf, '}')
}

// labelRequest is what a page asks of labels: every foreign key column
// (all), or the ones named.
type labelRequest struct {
	all  bool
	cols []string
}

// parseLabels reads _labels and _label; pages label by default.
func parseLabels(t *table, q url.Values, f format) (*labelRequest, error) {
	lr := &labelRequest{all: f == formatHTML}
	if v, ok := q["_labels"]; ok {
		on, valid := boolParam(v[0])
		if !valid {
			return nil, tablecast.Errorf(tablecast.EINVALID, "Invalid _labels: %s (use on or off)", v[0])
		}
		lr.all = on
	}
	if cols, ok := q["_label"]; ok {
		for _, c := range cols {
			if !containsString(t.Columns, c) {
				return nil, tablecast.Errorf(tablecast.EINVALID, "Invalid _label: no such column: %s", c)
			}
		}
		lr.all, lr.cols = false, cols
	}
	return lr, nil
}

// boolParam reads a yes/no parameter as Datasette's value_as_boolean.
func boolParam(v string) (on, ok bool) {
	switch strings.ToLower(v) {
	case "on", "true", "1", "yes":
		return true, true
	case "off", "false", "0", "no":
		return false, true
	}
	return false, false
}

// wants reports whether the request labels column c.
func (lr *labelRequest) wants(c string) bool {
	return lr != nil && (lr.all || containsString(lr.cols, c))
}

// foreignKeys lists t's single-column foreign keys to public tables (the
// snapshot's), in the order SQLite lists them. Views have none.
func (r *Reader) foreignKeys(ctx context.Context, rd *readTx, db string, t *table) ([]foreignKey, error) {
	if t.View {
		return nil, nil
	}
	rows, err := rd.tx.QueryContext(ctx, `SELECT "from", "table", "to" FROM pragma_foreign_key_list(?)
		WHERE id IN (SELECT id FROM pragma_foreign_key_list(?) GROUP BY id HAVING count(*) = 1)`, t.Name, t.Name)
	if err != nil {
		return nil, fmt.Errorf("foreign keys of %s: %w", t.Name, err)
	}
	var fks []foreignKey
	for rows.Next() {
		var from, other string
		var to sql.NullString
		if err := rows.Scan(&from, &other, &to); err != nil {
			rows.Close()
			return nil, fmt.Errorf("foreign keys of %s: %w", t.Name, err)
		}
		fks = append(fks, foreignKey{Column: from, OtherTable: other, OtherColumn: to.String})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("foreign keys of %s: %w", t.Name, err)
	}
	out := fks[:0]
	for _, fk := range fks {
		// The gate decides first: a private referenced table is no table.
		other, ok := rd.s.Table(fk.OtherTable)
		if !ok || !containsString(t.Columns, fk.Column) {
			continue
		}
		if fk.OtherColumn == "" {
			if len(other.PKs) != 1 {
				continue
			}
			fk.OtherColumn = other.PKs[0]
		}
		if !other.HasColumn(fk.OtherColumn) {
			continue
		}
		if fk.LabelColumn, err = r.labelColumn(ctx, rd, db, other); err != nil {
			return nil, err
		}
		out = append(out, fk)
	}
	return out, nil
}

// labelColumn is the label column of the public table t: the one set for
// it (the table's metadata: label_column), else Datasette's choice: its one unique text
// column, else a column named name or title, else the other column of a
// two-column table with an id or pk column; "" if none.
func (r *Reader) labelColumn(ctx context.Context, rd *readTx, db string, t *table) (string, error) {
	if m := rd.s.TableMeta(t.Name); m != nil {
		if c := m.Meta["label_column"]; c != "" && containsString(t.Columns, c) {
			return c, nil
		}
	}
	var unique []string
	rows, err := rd.tx.QueryContext(ctx, `SELECT c.name FROM pragma_table_info(?1) AS c
		WHERE (upper(c.type) LIKE '%TEXT%' OR upper(c.type) LIKE '%CHAR%' OR upper(c.type) LIKE '%CLOB%')
		AND EXISTS (SELECT 1 FROM pragma_index_list(?1) AS i WHERE i."unique"
			AND (SELECT count(*) FROM pragma_index_info(i.name)) = 1
			AND (SELECT name FROM pragma_index_info(i.name)) = c.name)
		ORDER BY c.cid`, t.Name)
	if err != nil {
		return "", fmt.Errorf("label column of %s: %w", t.Name, err)
	}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			rows.Close()
			return "", fmt.Errorf("label column of %s: %w", t.Name, err)
		}
		unique = append(unique, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("label column of %s: %w", t.Name, err)
	}
	if len(unique) == 1 {
		return unique[0], nil
	}
	for _, c := range t.Columns {
		if l := strings.ToLower(c); l == "name" || l == "title" {
			return c, nil
		}
	}
	cols := t.Columns
	if len(cols) == 2 && (containsString(cols, "id") || containsString(cols, "pk")) && !(containsString(cols, "id") && containsString(cols, "pk")) {
		if cols[0] == "id" || cols[0] == "pk" {
			return cols[1], nil
		}
		return cols[0], nil
	}
	return "", nil
}

// labelKey is a value as a map key: blobs as text of their own type.
type blobKey string

func labelKey(v any) any {
	if b, ok := v.([]byte); ok {
		return blobKey(b)
	}
	return v
}

// readLabels maps the values of fk's column to their labels, read from the
// referenced (public) table in the page's read source.
func readLabels(ctx context.Context, src tableSource, fk foreignKey, vals []any) (map[any]any, error) {
	seen := map[any]bool{}
	var args []any
	for _, v := range vals {
		if _, blob := v.([]byte); v == nil || blob || seen[v] {
			continue
		}
		seen[v] = true
		args = append(args, v)
	}
	labels := map[any]any{}
	if len(args) == 0 {
		return labels, nil
	}
	if fk.LabelColumn == "" {
		for _, v := range args {
			labels[v] = keyString(v) // Datasette's str(value)
		}
		return labels, nil
	}
	query := "SELECT +" + columnSQL(fk.OtherColumn) + ", +" + tablecast.QuoteIdent(fk.LabelColumn) + " FROM " +
		tablecast.QuoteIdent(fk.OtherTable) + " WHERE " + columnSQL(fk.OtherColumn) + " IN (" + placeholders(len(args)) + ")"
	err := src.eachRow(ctx, query, args, 2, func(vals []any) bool {
		labels[labelKey(vals[0])] = vals[1]
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("labels of %s: %w", fk.Column, err)
	}
	return labels, nil
}

// columnLabels are the labels of col's values when col is a foreign key
// to a public table (nil otherwise, or when they cannot be read: a
// facet then shows its raw values).
func (r *Reader) columnLabels(ctx context.Context, src tableSource, rd *readTx, db string, t *table, col string, vals []any) map[any]any {
	fks, err := r.foreignKeys(ctx, rd, db, t)
	if err != nil {
		return nil
	}
	for _, fk := range fks {
		if fk.Column == col {
			labels, err := readLabels(ctx, src, fk, vals)
			if err != nil {
				return nil
			}
			return labels
		}
	}
	return nil
}

// labelPage replaces the values of the page's labeled columns with
// labeledValues, and returns the columns it labeled (Datasette's
// expanded_columns).
func labelPage(ctx context.Context, src tableSource, db string, fks []foreignKey, lr *labelRequest, p *pageResult) ([]string, error) {
	expanded := []string{}
	for _, fk := range fks {
		i := columnIndex(p.columns, fk.Column)
		if !lr.wants(fk.Column) || i < 0 || containsString(expanded, fk.Column) {
			continue
		}
		expanded = append(expanded, fk.Column)
		vals := make([]any, len(p.rows))
		for j, row := range p.rows {
			vals[j] = row[i]
		}
		labels, err := readLabels(ctx, src, fk, vals)
		if err != nil {
			return nil, err
		}
		for _, row := range p.rows {
			if l, ok := labels[labelKey(row[i])]; ok && row[i] != nil {
				row[i] = labeledValue{Value: row[i], Label: l, Href: rowPath(db, fk.OtherTable, []any{row[i]})}
			}
		}
	}
	return expanded, nil
}

func columnIndex(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// expandableJSON is Datasette's expandable_columns: [foreign key, label
// column] pairs.
func expandableJSON(fks []foreignKey) [][2]any {
	out := make([][2]any, len(fks))
	for i, fk := range fks {
		var label any
		if fk.LabelColumn != "" {
			label = fk.LabelColumn
		}
		out[i] = [2]any{object{keys: []string{"column", "other_table", "other_column"},
			vals: []any{fk.Column, fk.OtherTable, fk.OtherColumn}}, label}
	}
	return out
}

// csvLabels writes a labeled page as Datasette's CSV does: after each
// expanded column, its label in a column "{col}_label".
func csvLabels(p *pageResult, expanded []string) *pageResult {
	if len(expanded) == 0 {
		return p
	}
	out := &pageResult{next: p.next, keys: p.keys}
	for _, c := range p.columns {
		out.columns = append(out.columns, c)
		if containsString(expanded, c) {
			out.columns = append(out.columns, c+"_label")
		}
	}
	for _, row := range p.rows {
		var nr []any
		for i, v := range row {
			if !containsString(expanded, p.columns[i]) {
				nr = append(nr, v)
				continue
			}
			if l, ok := v.(labeledValue); ok {
				nr = append(nr, l.Value, l.Label)
			} else {
				nr = append(nr, v, nil)
			}
		}
		out.rows = append(out.rows, nr)
	}
	return out
}
