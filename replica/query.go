package replica

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/tablecast/tablecast"
)

// keyColumns are the columns a table's rows are ordered and found by: the
// rowid for rowid tables, the primary key for WITHOUT ROWID tables, none
// for views (views page by offset).
func keyColumns(t *table) []string {
	switch {
	case t.View:
		return nil
	case t.Rowid:
		return []string{"rowid"}
	default:
		return t.PKs
	}
}

// selectList selects the table's columns as expressions ("+col") so the
// driver sees no declared type and returns stored values as they are
// (mattn would otherwise turn TEXT in a DATETIME column into time.Time).
func selectList(t *table) string {
	var b strings.Builder
	for i, c := range t.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("+" + tablecast.QuoteIdent(c) + " AS " + tablecast.QuoteIdent(c))
	}
	return b.String()
}

// exposeRowid reports whether rows carry a "rowid" field: rowid tables
// without a primary key of their own.
func exposeRowid(t *table) bool { return t.Rowid && len(t.PKs) == 0 }

// queryPage reads one page of rows after p.next, and the key to continue.
func queryPage(ctx context.Context, tx *sql.Tx, t *table, p pageParams) ([]map[string]any, []any, error) {
	keys := keyColumns(t)
	if keys == nil {
		return queryViewPage(ctx, tx, t, p)
	}
	quoted := make([]string, len(keys))
	for i, k := range keys {
		quoted[i] = tablecast.QuoteIdent(k)
		if k == "rowid" {
			quoted[i] = "rowid"
		}
	}
	tuple := "(" + strings.Join(quoted, ", ") + ")"
	query := "SELECT " + strings.Join(quoted, ", ") + ", " + selectList(t) + " FROM " + tablecast.QuoteIdent(t.Name)
	var args []any
	if p.next != nil {
		if len(p.next) != len(keys) {
			return nil, nil, errInvalidNext
		}
		query += " WHERE " + tuple + " > (" + placeholders(len(keys)) + ")"
		args = p.next
	}
	query += " ORDER BY " + strings.Join(quoted, ", ") + " LIMIT ?"
	args = append(args, p.size+1)
	return scanPage(ctx, tx, t, query, args, len(keys), p.size)
}

// queryViewPage pages a view by offset; its _next is [offset].
func queryViewPage(ctx context.Context, tx *sql.Tx, t *table, p pageParams) ([]map[string]any, []any, error) {
	var offset int64
	if p.next != nil {
		n, ok := p.next[0].(int64)
		if len(p.next) != 1 || !ok || n < 0 {
			return nil, nil, errInvalidNext
		}
		offset = n
	}
	query := "SELECT " + selectList(t) + " FROM " + tablecast.QuoteIdent(t.Name) + " LIMIT ? OFFSET ?"
	rows, next, err := scanPage(ctx, tx, t, query, []any{p.size + 1, offset}, 0, p.size)
	if next != nil {
		next = []any{offset + int64(p.size)}
	}
	return rows, next, err
}

// scanPage runs a page query whose first nkeys columns are the row key.
// It asks for size+1 rows: the extra one says whether a next page exists.
func scanPage(ctx context.Context, tx *sql.Tx, t *table, query string, args []any, nkeys, size int) ([]map[string]any, []any, error) {
	rs, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("query %s: %w", t.Name, err)
	}
	defer rs.Close()
	var out []map[string]any
	var lastKey, next []any
	for rs.Next() {
		if len(out) == size {
			next = lastKey
			break
		}
		vals := make([]any, nkeys+len(t.Columns))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			return nil, nil, fmt.Errorf("scan %s: %w", t.Name, err)
		}
		lastKey = vals[:nkeys]
		out = append(out, rowObject(t, vals[:nkeys], vals[nkeys:]))
	}
	if err := rs.Err(); err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", t.Name, err)
	}
	return out, next, nil
}

// rowObject renders one row as a JSON object.
func rowObject(t *table, key, vals []any) map[string]any {
	row := make(map[string]any, len(t.Columns)+1)
	if exposeRowid(t) && len(key) == 1 {
		row["rowid"] = key[0]
	}
	for i, c := range t.Columns {
		row[c] = jsonValue(vals[i])
	}
	return row
}

// jsonValue renders a SQLite value; blobs as Datasette does.
func jsonValue(v any) any {
	if b, ok := v.([]byte); ok {
		return map[string]any{"$base64": true, "encoded": base64.StdEncoding.EncodeToString(b)}
	}
	return v
}

// rowKey parses the pk segment of a row URL: values joined by ',', each
// URL-escaped (so "%2C" is a comma inside a value).
func rowKey(t *table, escaped string) ([]any, error) {
	keys := keyColumns(t)
	parts := strings.Split(escaped, ",")
	if keys == nil || len(parts) != len(keys) {
		return nil, errRowNotFound
	}
	out := make([]any, len(parts))
	for i, p := range parts {
		v, err := url.PathUnescape(p)
		if err != nil {
			return nil, errRowNotFound
		}
		out[i] = v
	}
	return out, nil
}

var errRowNotFound = tablecast.Errorf(tablecast.ENOTFOUND, "Row not found")

// queryRow reads the row with the given key. Key values are bound as text;
// SQLite's affinity rules compare them as numbers against numeric columns.
func queryRow(ctx context.Context, tx *sql.Tx, t *table, key []any) (map[string]any, error) {
	keys := keyColumns(t)
	conds := make([]string, len(keys))
	quoted := make([]string, len(keys))
	for i, k := range keys {
		quoted[i] = tablecast.QuoteIdent(k)
		if k == "rowid" {
			quoted[i] = "rowid"
		}
		conds[i] = quoted[i] + " = ?"
	}
	query := "SELECT " + strings.Join(quoted, ", ") + ", " + selectList(t) + " FROM " + tablecast.QuoteIdent(t.Name) +
		" WHERE " + strings.Join(conds, " AND ") + " LIMIT 1"
	rows, _, err := scanPage(ctx, tx, t, query, key, len(keys), 1)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, errRowNotFound
	}
	return rows[0], nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

var errInvalidNext = tablecast.Errorf(tablecast.EINVALID, "Invalid _next: use the value from the previous page")

// encodeNext makes the opaque _next token: base64url of the JSON key.
func encodeNext(key []any) string {
	b, _ := json.Marshal(key)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeNext parses a _next token back into key values (int64, float64,
// string or nil).
func decodeNext(token string) ([]any, error) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return nil, errInvalidNext
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var raw []any
	if err := dec.Decode(&raw); err != nil || len(raw) == 0 || dec.More() {
		return nil, errInvalidNext
	}
	for i, v := range raw {
		switch x := v.(type) {
		case json.Number:
			if n, err := x.Int64(); err == nil {
				raw[i] = n
			} else if f, err := x.Float64(); err == nil {
				raw[i] = f
			} else {
				return nil, errInvalidNext
			}
		case string, nil:
		default:
			return nil, errInvalidNext
		}
	}
	return raw, nil
}
