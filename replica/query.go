package replica

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tablecast/tablecast"
)

// keyColumns are the columns a table's rows are found by (row URLs,
// _shape=object keys): the primary key, or the rowid for rowid tables
// without one; none for views (views page by offset and have no rows of
// their own to link to).
func keyColumns(t *table) []string {
	switch {
	case t.View:
		return nil
	case len(t.PKs) > 0:
		return t.PKs
	case t.Rowid:
		return []string{"rowid"}
	}
	return nil
}

// orderColumns are the columns a table's rows are ordered and paged by:
// its key columns, then the rowid for a rowid table with a primary key of
// its own (but an INTEGER PRIMARY KEY, the rowid itself). SQLite lets
// such a key hold NULLs (more than one): the rowid keeps the order total,
// so paging sees every row exactly once.
func orderColumns(t *table) []string {
	keys := keyColumns(t)
	if t.Rowid && len(t.PKs) > 0 && !t.RowidAlias {
		return append(keys[:len(keys):len(keys)], "rowid")
	}
	return keys
}

// selectList selects columns as expressions ("+col") so the driver sees
// no declared type and returns stored values as they are (mattn would
// otherwise turn TEXT in a DATETIME column into time.Time). lead are
// expressions selected first.
func selectList(lead string, cols []string) string {
	var b strings.Builder
	b.WriteString(lead)
	for _, c := range cols {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString("+" + tablecast.QuoteIdent(c) + " AS " + tablecast.QuoteIdent(c))
	}
	return b.String()
}

// exposeRowid reports whether rows carry a "rowid" field: rowid tables
// without a primary key of their own.
func exposeRowid(t *table) bool { return t.Rowid && len(t.PKs) == 0 }

// pageResult is one page of rows read from a table or view.
type pageResult struct {
	columns []string // output columns, "rowid" first when exposed
	rows    [][]any  // values in columns order, as SQLite returned them
	keys    [][]any  // each row's key (rowid or primary key); nil for views
	next    []any    // position after the page, nil on the last page
}

// whereFilters renders tq's filters, then its _where fragments, as a
// WHERE condition ("" for none).
func whereFilters(tq *tableQuery) (string, []any) {
	var conds []string
	var args []any
	for _, f := range tq.filters {
		conds = append(conds, f.sql())
		args = append(args, f.args...)
	}
	scond, sargs := tq.search.whereSQL()
	conds, args = append(conds, scond...), append(args, sargs...)
	if len(tq.where) > 0 {
		conds = append(conds, whereSQL(tq.where))
	}
	return strings.Join(conds, " AND "), args
}

// queryPage reads one page of rows after tq.next: filtered, in sort order
// with the key as tiebreak, with the position to continue from.
func queryPage(ctx context.Context, tx tableSource, t *table, tq *tableQuery) (*pageResult, error) {
	keys := orderColumns(t)
	if keys == nil {
		return queryViewPage(ctx, tx, t, tq)
	}
	quoted := make([]string, len(keys))
	for i, k := range keys {
		quoted[i] = columnSQL(k)
	}
	// Rows start with their position: the sort value (if any), then the key.
	sel := strings.Join(quoted, ", ")
	// ORDER BY names the table's columns, not the selected "+col AS col"
	// (an expression: no index could give its order).
	tname := tablecast.QuoteIdent(t.Name) + "."
	order := tname + strings.Join(quoted, ", "+tname)
	sort := tq.sortColumn()
	if sort != "" {
		sel = "+" + columnSQL(sort) + ", " + sel
		order = tname + columnSQL(sort) + map[bool]string{false: " ASC, ", true: " DESC, "}[tq.desc] + order
	}
	from, where, args := filteredRows(t, tq)
	if tq.next != nil {
		cond, cargs, err := keysetCondition(t, tq, quoted)
		if err != nil {
			return nil, err
		}
		where = joinConds(where, cond)
		args = append(args, cargs...)
	}
	query := "SELECT " + selectList(sel, tq.cols) + " FROM " + from
	if where != "" {
		query += " WHERE " + where
	}
	query += " ORDER BY " + order + " LIMIT ?"
	return scanPage(ctx, tx, t, tq, query, append(args, tq.size+1), b2i(sort != ""))
}

// keysetCondition selects the rows after the position (sort value, key)
// in the order ORDER BY sort [DESC], key: SQLite sorts NULLs first, so
// they come first ascending and last descending. The key part of the
// position may be a prefix of the order columns no shorter than the
// table's key (a Datasette token names no rowid tiebreak).
func keysetCondition(t *table, tq *tableQuery, keys []string) (string, []any, error) {
	sort := tq.sortColumn()
	nsort := b2i(sort != "")
	n := len(tq.next) - nsort
	if n < len(keyColumns(t)) || n > len(keys) {
		return "", nil, errInvalidNext
	}
	after, k := afterKey(keys[:n], tq.next[nsort:])
	if sort == "" {
		return after, k, nil
	}
	s, v := columnSQL(sort), tq.next[0]
	switch {
	case v == nil && !tq.desc: // in the NULLs: later NULLs, then every value
		return "(" + s + " IS NOT NULL OR " + after + ")", k, nil
	case v == nil: // descending, in the NULLs at the end
		return "(" + s + " IS NULL AND " + after + ")", k, nil
	case !tq.desc:
		return "(" + s + " > ? OR (" + s + " = ? AND " + after + "))", append([]any{v, v}, k...), nil
	default:
		return "(" + s + " < ? OR (" + s + " = ? AND " + after + ") OR " + s + " IS NULL)", append([]any{v, v}, k...), nil
	}
}

// afterKey is the condition "(keys) > (vals)" in SQLite's order, NULLs
// first. Without a NULL it is a row value comparison (the planner seeks
// the index with it); a NULL in vals makes that comparison NULL, so then
// it is spelled out column by column: equal so far (IS NULL for a NULL),
// then greater (IS NOT NULL after a NULL).
func afterKey(keys []string, vals []any) (string, []any) {
	if !slices.Contains(vals, any(nil)) {
		return "(" + strings.Join(keys, ", ") + ") > (" + placeholders(len(keys)) + ")", vals
	}
	var ors []string
	var args []any
	for i := range keys {
		var ands []string
		for j := 0; j <= i; j++ {
			cmp, null := " = ?", " IS NULL" // equal so far
			if j == i {
				cmp, null = " > ?", " IS NOT NULL" // then greater
			}
			if vals[j] == nil {
				ands = append(ands, keys[j]+null)
				continue
			}
			ands = append(ands, keys[j]+cmp)
			args = append(args, vals[j])
		}
		ors = append(ors, "("+strings.Join(ands, " AND ")+")")
	}
	return "(" + strings.Join(ors, " OR ") + ")", args
}

func joinConds(a, b string) string {
	if a == "" {
		return b
	}
	return a + " AND " + b
}

// queryViewPage pages a view by offset; its _next is [offset].
func queryViewPage(ctx context.Context, tx tableSource, t *table, tq *tableQuery) (*pageResult, error) {
	var offset int64
	if tq.next != nil {
		n, ok := tq.next[0].(int64)
		if len(tq.next) != 1 || !ok || n < 0 {
			return nil, errInvalidNext
		}
		offset = n
	}
	if len(tq.cols) == 0 {
		return nil, tablecast.Errorf(tablecast.EINVALID, "No columns left to return: check _col and _nocol")
	}
	where, args := whereFilters(tq)
	query := "SELECT " + selectList("", tq.cols) + " FROM " + tablecast.QuoteIdent(t.Name)
	if where != "" {
		query += " WHERE " + where
	}
	if tq.sort != "" {
		query += " ORDER BY " + columnSQL(tq.sort) + map[bool]string{false: " ASC", true: " DESC"}[tq.desc]
	}
	query += " LIMIT ? OFFSET ?"
	p, err := scanPage(ctx, tx, t, tq, query, append(args, tq.size+1, offset), 0)
	if p != nil && p.next != nil {
		p.next = []any{offset + int64(tq.size)}
	}
	return p, err
}

// scanPage runs a page query whose first columns are the row's position:
// nsort sort values (0 or 1) then the key. It asks for size+1 rows: the
// extra one says whether a next page exists.
func scanPage(ctx context.Context, tx tableSource, t *table, tq *tableQuery, query string, args []any, nsort int) (*pageResult, error) {
	p := &pageResult{columns: outputColumns(t, tq.cols)}
	nkeys := len(orderColumns(t))
	nident := len(keyColumns(t))
	nlead := nsort + nkeys
	var last []any
	err := tx.eachRow(ctx, query, args, nlead+len(tq.cols), func(vals []any) bool {
		if len(p.rows) == tq.size {
			p.next = last
			return false
		}
		last = vals[:nlead]
		key, row := vals[nsort:nlead], vals[nlead:]
		if exposeRowid(t) {
			row = append([]any{key[0]}, row...)
		}
		p.rows = append(p.rows, row)
		if nkeys > 0 {
			p.keys = append(p.keys, key[:nident])
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", t.Name, err)
	}
	return p, nil
}

func scanTargets(vals []any) []any {
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	return ptrs
}

// outputColumns are the columns of returned rows: "rowid" first for rowid
// tables without a primary key of their own.
func outputColumns(t *table, cols []string) []string {
	if exposeRowid(t) {
		return append([]string{"rowid"}, cols...)
	}
	return cols
}

// filteredRows is the FROM source and WHERE condition ("" for none) of
// the rows tq selects: its search (a ranked one is a join in FROM, see
// search.fromSQL), filters and _where fragments, with their arguments in
// order. Pages, counts and facets all read through it.
func filteredRows(t *table, tq *tableQuery) (from, where string, args []any) {
	from, args = tq.search.fromSQL(t)
	where, wargs := whereFilters(tq)
	return from, where, append(args, wargs...)
}

// countRows counts the rows that match tq's filters.
func countRows(ctx context.Context, tx tableSource, t *table, tq *tableQuery) (int64, error) {
	from, where, args := filteredRows(t, tq)
	query := "SELECT count(*) FROM " + from
	if where != "" {
		query += " WHERE " + where
	}
	var n int64
	err := tx.eachRow(ctx, query, args, 1, func(vals []any) bool {
		n, _ = vals[0].(int64)
		return false
	})
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", t.Name, err)
	}
	return n, nil
}

// rowKey parses the pk segment of a row URL (tablecast.ParsePK): as many
// values as t has key columns, or the row is not found. A rowid is an
// integer; the other values are bound as text, which SQLite's affinity
// compares as numbers against numeric columns.
func rowKey(t *table, escaped string) ([]any, error) {
	keys := keyColumns(t)
	parts, err := tablecast.ParsePK(escaped)
	if err != nil || keys == nil || len(parts) != len(keys) {
		return nil, errRowNotFound
	}
	out := make([]any, len(parts))
	for i, p := range parts {
		var ok bool
		if out[i], ok = keyValue(t, keys[i], p); !ok {
			return nil, errRowNotFound
		}
	}
	return out, nil
}

// keyValue is a key value from a URL, as bound: a rowid as an integer
// (ok is false if it is none), any other value as text.
func keyValue(t *table, col, v string) (any, bool) {
	if col != "rowid" || len(t.PKs) > 0 {
		return v, true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil
}

// tildeAlphabet is every character of a Datasette _next token: what
// tilde_encode writes, the ',' between values and "$null".
const tildeAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-~+,$ "

var errRowNotFound = tablecast.Errorf(tablecast.ENOTFOUND, "Row not found")

// queryRow reads the row with the given key.
func queryRow(ctx context.Context, tx *sql.Tx, t *table, key []any) (*pageResult, error) {
	keys := orderColumns(t)
	conds := make([]string, len(key))
	quoted := make([]string, len(keys))
	for i, k := range keys {
		quoted[i] = columnSQL(k)
		if i < len(key) {
			conds[i] = quoted[i] + " = ?"
		}
	}
	tq := &tableQuery{cols: t.Columns, size: 1}
	query := "SELECT " + selectList(strings.Join(quoted, ", "), t.Columns) + " FROM " + tablecast.QuoteIdent(t.Name) +
		" WHERE " + strings.Join(conds, " AND ") + " LIMIT 1"
	p, err := scanPage(ctx, txSource{tx}, t, tq, query, key, 0)
	if err != nil {
		return nil, err
	}
	if len(p.rows) == 0 {
		return nil, errRowNotFound
	}
	return p, nil
}

// parseNext reads a _next token: this reader's own (encodeNext), or
// Datasette's: a view's offset, or the tilde-encoded key values joined by
// ',' after the sort value ("$null" for NULL) when sorted. Datasette's
// values are text (a rowid an integer), as Datasette binds them.
func parseNext(t *table, tq *tableQuery, token string) ([]any, error) {
	if next, err := decodeNext(token); err == nil {
		return next, nil
	}
	if strings.Trim(token, tildeAlphabet) != "" {
		return nil, errInvalidNext // no token of Datasette's either
	}
	if t.View {
		n, err := strconv.ParseInt(token, 10, 64)
		if err != nil || n < 0 {
			return nil, errInvalidNext
		}
		return []any{n}, nil
	}
	keys := keyColumns(t)
	parts, err := tablecast.ParsePK(token)
	if err != nil || len(parts) != len(keys)+b2i(tq.sort != "") {
		return nil, errInvalidNext
	}
	next := make([]any, 0, len(parts))
	if tq.sort != "" {
		next = append(next, parts[0]) // the sort value, as text
		if strings.HasPrefix(token, "$null,") {
			next[0] = nil
		}
		parts = parts[1:]
	}
	for i, p := range parts {
		v, ok := keyValue(t, keys[i], p)
		if !ok {
			return nil, errInvalidNext
		}
		next = append(next, v)
	}
	return next, nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

var errInvalidNext = tablecast.Errorf(tablecast.EINVALID, "Invalid _next: use the value from the previous page")

// encodeNext makes the opaque _next token: base64url of a JSON array of
// the position's values, typed so that each comes back exactly: integers
// as numbers, reals as "f<shortest decimal>", text as "s<text>", blobs as
// "b<base64>", NULL as null.
func encodeNext(key []any) string {
	vals := make([]any, len(key))
	for i, v := range key {
		switch x := v.(type) {
		case float64:
			vals[i] = "f" + strconv.FormatFloat(x, 'g', -1, 64)
		case string:
			vals[i] = "s" + x
		case []byte:
			vals[i] = "b" + base64.StdEncoding.EncodeToString(x)
		default: // int64, nil
			vals[i] = x
		}
	}
	b, _ := json.Marshal(vals)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeNext parses a _next token back into values (int64, float64,
// string, []byte or nil).
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
		if raw[i], err = decodeNextValue(v); err != nil {
			return nil, err
		}
	}
	return raw, nil
}

func decodeNextValue(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n, nil
		}
	case string:
		if x == "" {
			break
		}
		switch body := x[1:]; x[0] {
		case 's':
			return body, nil
		case 'f':
			if f, err := strconv.ParseFloat(body, 64); err == nil {
				return f, nil
			}
		case 'b':
			if blob, err := base64.StdEncoding.DecodeString(body); err == nil {
				return blob, nil
			}
		}
	}
	return nil, errInvalidNext
}

// keyString writes a key value as Datasette does (Python's str): reals
// as Python writes them.
func keyString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		return string(x)
	case float64:
		return string(tablecast.AppendPyFloat(nil, x))
	default:
		return fmt.Sprint(x)
	}
}

// keySegment writes a row key as in row URLs and _shape=object keys:
// values tilde-encoded, joined by ',' (tablecast.PKSegment).
func keySegment(key []any) string {
	parts := make([]string, len(key))
	for i, v := range key {
		parts[i] = keyString(v)
	}
	return tablecast.PKSegment(parts)
}
