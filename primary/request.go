package primary

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/tablecast/tablecast"
)

// maxColumns bounds the columns of a created table (SQLite allows 2000).
const maxColumns = 1000

// params are the top-level members of a request body.
type params map[string]json.RawMessage

// decodeBody parses a request body: empty, or a JSON object whose keys are
// all in allowed.
func decodeBody(body []byte, allowed ...string) (params, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return params{}, nil
	}
	if !json.Valid(body) {
		var v any
		err := json.Unmarshal(body, &v)
		return nil, tablecast.Errorf(tablecast.EINVALID, "Invalid JSON: %s", err)
	}
	if err := checkText(body); err != nil {
		return nil, err
	}
	fields, err := objectFields(body, "Request body")
	if err != nil {
		return nil, err
	}
	p := make(params, len(fields))
	for _, f := range fields {
		if !slices.Contains(allowed, f.key) {
			return nil, tablecast.Errorf(tablecast.EINVALID, "Invalid parameter: %q", f.key)
		}
		p[f.key] = f.raw
	}
	return p, nil
}

// getBool returns a boolean parameter; absent is false.
func (p params) getBool(key string) (bool, error) {
	raw, ok := p[key]
	if !ok {
		return false, nil
	}
	switch string(raw) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, tablecast.Errorf(tablecast.EINVALID, "%q must be true or false", key)
}

// getString returns a string parameter; absent is "".
func (p params) getString(key string) (string, error) {
	raw, ok := p[key]
	if !ok {
		return "", nil
	}
	var s string
	if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", tablecast.Errorf(tablecast.EINVALID, "%q must be a string", key)
	}
	return s, nil
}

// getStrings returns a parameter that is a non-empty list of strings.
func (p params) getStrings(key string) ([]string, error) {
	raw, ok := p[key]
	if !ok {
		return nil, nil
	}
	var list []string
	if raw[0] != '[' || json.Unmarshal(raw, &list) != nil || len(list) == 0 {
		return nil, tablecast.Errorf(tablecast.EINVALID, "%q must be a non-empty list of strings", key)
	}
	return list, nil
}

// rows returns the "row" or "rows" parameter, nil if neither is present.
func (p params) rows(maxRows int) ([]row, error) {
	one, hasRow := p["row"]
	many, hasRows := p["rows"]
	switch {
	case hasRow && hasRows:
		return nil, tablecast.Errorf(tablecast.EINVALID, `Use either "row" or "rows", not both`)
	case hasRow:
		r, err := parseRow(one, 0)
		return []row{r}, err
	case !hasRows:
		return nil, nil
	}
	list, ok := validArrayItems(many) // the body is valid JSON (decodeBody)
	if !ok {
		return nil, tablecast.Errorf(tablecast.EINVALID, `"rows" must be a list of JSON objects`)
	}
	if len(list) == 0 {
		return nil, tablecast.Errorf(tablecast.EINVALID, `"rows" is empty`)
	}
	if len(list) > maxRows {
		return nil, tablecast.Errorf(tablecast.EINVALID, "Too many rows: %d, the limit is %d", len(list), maxRows)
	}
	rows := make([]row, len(list))
	for i, raw := range list {
		r, err := parseRow(raw, i)
		if err != nil {
			return nil, err
		}
		rows[i] = r
	}
	return rows, nil
}

// requiredRows is rows for routes that need at least one row.
func (p params) requiredRows(maxRows int) ([]row, error) {
	rows, err := p.rows(maxRows)
	if err == nil && rows == nil {
		err = tablecast.Errorf(tablecast.EINVALID, `Request must have "row" or "rows"`)
	}
	return rows, err
}

// insertRequest is the body of /-/insert and /-/upsert.
type insertRequest struct {
	rows    []row
	ignore  bool
	replace bool
	ret     bool // "return": send the written rows back
	alter   bool // "alter": add the columns the table lacks
}

// decodeInsert parses the body of /-/insert.
func decodeInsert(body []byte, maxRows int) (*insertRequest, error) {
	p, err := decodeBody(body, "row", "rows", "ignore", "replace", "return", "alter")
	if err != nil {
		return nil, err
	}
	req := &insertRequest{}
	if req.rows, err = p.requiredRows(maxRows); err != nil {
		return nil, err
	}
	if req.ignore, err = p.getBool("ignore"); err != nil {
		return nil, err
	}
	if req.replace, err = p.getBool("replace"); err != nil {
		return nil, err
	}
	if req.ignore && req.replace {
		return nil, tablecast.Errorf(tablecast.EINVALID, `Use either "ignore" or "replace", not both`)
	}
	if req.alter, err = p.getBool("alter"); err != nil {
		return nil, err
	}
	req.ret, err = p.getBool("return")
	return req, err
}

// decodeUpsert parses the body of /-/upsert.
func decodeUpsert(body []byte, maxRows int) (*insertRequest, error) {
	p, err := decodeBody(body, "row", "rows", "return", "alter")
	if err != nil {
		return nil, err
	}
	req := &insertRequest{}
	if req.rows, err = p.requiredRows(maxRows); err != nil {
		return nil, err
	}
	if req.alter, err = p.getBool("alter"); err != nil {
		return nil, err
	}
	req.ret, err = p.getBool("return")
	return req, err
}

// createRequest is the body of /-/create, checked and bound.
type createRequest struct {
	table string
	cols  []column
	pks   []string
	rows  []boundRow
	by    string // the token's name, for the audit
}

// decodeCreate parses and checks the body of /-/create, rows included, so
// that a bad request is refused before any database file is touched.
func decodeCreate(body []byte, maxRows int) (*createRequest, error) {
	p, err := decodeBody(body, "table", "columns", "pk", "pks", "row", "rows")
	if err != nil {
		return nil, err
	}
	req := &createRequest{}
	if req.table, err = p.getString("table"); err != nil {
		return nil, err
	} else if err := tablecast.ValidateTableName(req.table); err != nil {
		return nil, err
	}
	rows, err := p.rows(maxRows)
	if err != nil {
		return nil, err
	}
	if req.cols, err = createColumns(p, rows); err != nil {
		return nil, err
	}
	if req.pks, err = createPKs(p, req.cols); err != nil {
		return nil, err
	}
	req.rows, err = bindRows(rows, req.cols)
	return req, err
}

// createColumns returns the "columns" parameter, or columns inferred from rows.
func createColumns(p params, rows []row) ([]column, error) {
	var cols []column
	var err error
	if raw, ok := p["columns"]; ok {
		cols, err = parseColumns(raw)
	} else if rows != nil {
		cols, err = inferColumns(rows)
	} else {
		err = tablecast.Errorf(tablecast.EINVALID, `Request must have "columns", "row" or "rows"`)
	}
	if err != nil {
		return nil, err
	}
	if len(cols) == 0 {
		return nil, tablecast.Errorf(tablecast.EINVALID, "Table must have at least one column")
	}
	if len(cols) > maxColumns {
		return nil, tablecast.Errorf(tablecast.EINVALID, "Too many columns: %d, the limit is %d", len(cols), maxColumns)
	}
	return cols, nil
}

// parseColumns parses [{"name":"id","type":"integer"}, …]; type defaults to text.
func parseColumns(raw json.RawMessage) ([]column, error) {
	var list []json.RawMessage
	if raw[0] != '[' || json.Unmarshal(raw, &list) != nil || len(list) == 0 {
		return nil, tablecast.Errorf(tablecast.EINVALID, `"columns" must be a non-empty list of objects`)
	}
	cols := make([]column, 0, len(list))
	seen := make(map[string]bool, len(list))
	for i, item := range list {
		c, err := parseColumn(item, i)
		if err != nil {
			return nil, err
		}
		if seen[strings.ToLower(c.name)] {
			return nil, tablecast.Errorf(tablecast.EINVALID, "Duplicate column name: %s", c.name)
		}
		seen[strings.ToLower(c.name)] = true
		cols = append(cols, c)
	}
	return cols, nil
}

func parseColumn(raw json.RawMessage, i int) (column, error) {
	fields, err := objectFields(raw, "Column "+strconv.Itoa(i))
	if err != nil {
		return column{}, err
	}
	p := make(params, len(fields))
	for _, f := range fields {
		if f.key != "name" && f.key != "type" {
			return column{}, tablecast.Errorf(tablecast.EINVALID, "Column %d: invalid key %q", i, f.key)
		}
		p[f.key] = f.raw
	}
	name, err := p.getString("name")
	if err != nil {
		return column{}, err
	} else if err := tablecast.ValidateColumnName(name); err != nil {
		return column{}, err
	}
	typ, err := p.getString("type")
	if err != nil {
		return column{}, err
	}
	t, ok := parseType(typ)
	if typ == "" {
		t, ok = typeText, true
	}
	if !ok {
		return column{}, tablecast.Errorf(tablecast.EINVALID, "Column %q: invalid type %q: want text, integer, float or blob", name, typ)
	}
	return newColumn(name, t), nil
}

// createPKs returns the "pk" or "pks" parameter as column names, and marks
// those columns as primary key columns.
func createPKs(p params, cols []column) ([]string, error) {
	pk, err := p.getString("pk")
	if err != nil {
		return nil, err
	}
	pks, err := p.getStrings("pks")
	if err != nil {
		return nil, err
	}
	if _, ok := p["pk"]; ok {
		if pks != nil {
			return nil, tablecast.Errorf(tablecast.EINVALID, `Use either "pk" or "pks", not both`)
		}
		pks = []string{pk}
	}
	for i, name := range pks {
		k := slices.IndexFunc(cols, func(c column) bool { return strings.EqualFold(c.name, name) })
		if k < 0 {
			return nil, tablecast.Errorf(tablecast.EINVALID, "Primary key column not found: %s", name)
		}
		if cols[k].pk > 0 {
			return nil, tablecast.Errorf(tablecast.EINVALID, "Primary key column given twice: %s", name)
		}
		cols[k].pk = i + 1
		pks[i] = cols[k].name
	}
	return pks, nil
}
