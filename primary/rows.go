package primary

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/tablecast/tablecast"
)

// kind is the JSON type of a value in a request row.
type kind int

const (
	kindNull kind = iota
	kindBool
	kindInteger
	kindFloat
	kindString
	kindObject
	kindArray
)

func (k kind) String() string {
	return [...]string{"null", "boolean", "integer", "float", "string", "object", "array"}[k]
}

// value is one parsed JSON value of a request row.
type value struct {
	kind kind
	b    bool
	i    int64
	f    float64
	s    string
	big  bool            // an integer literal outside int64; kind is kindFloat
	raw  json.RawMessage // objects and arrays, as sent
}

// describe names the JSON type of v for error messages.
func (v value) describe() string {
	if v.big {
		return "integer out of 64-bit range"
	}
	return v.kind.String()
}

// row is one request row: column names as sent, in order, and their values.
type row struct {
	cols []string
	vals []value
}

// boundRow is a validated row: table column names and SQLite values.
type boundRow struct {
	cols []string
	args []any
}

// field is one member of a JSON object.
type field struct {
	key string
	raw json.RawMessage
}

// objectFields returns the members of a JSON object in order. what names
// the object in error messages. Duplicate keys are refused.
func objectFields(raw []byte, what string) ([]field, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, tablecast.Errorf(tablecast.EINVALID, "%s must be a JSON object", what)
	}
	var fields []field
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, tablecast.Errorf(tablecast.EINVALID, "%s: invalid JSON", what)
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, tablecast.Errorf(tablecast.EINVALID, "%s: invalid JSON", what)
		}
		if seen[key] {
			return nil, tablecast.Errorf(tablecast.EINVALID, "%s: duplicate key %q", what, key)
		}
		seen[key] = true
		fields = append(fields, field{key: key, raw: v})
	}
	return fields, nil
}

// parseRow parses row i of a request.
func parseRow(raw []byte, i int) (row, error) {
	fields, err := validObjectFields(raw, fmt.Sprintf("Row %d", i))
	if err != nil {
		return row{}, err
	}
	r := row{cols: make([]string, len(fields)), vals: make([]value, len(fields))}
	for j, f := range fields {
		v, err := parseValue(f.raw)
		if err != nil {
			return row{}, tablecast.Errorf(tablecast.EINVALID, "Row %d: column %q: %s", i, f.key, err)
		}
		r.cols[j], r.vals[j] = f.key, v
	}
	return r, nil
}

// parseValue parses one JSON value; numbers keep the integer/float split.
func parseValue(raw json.RawMessage) (value, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return value{}, fmt.Errorf("empty value")
	}
	switch raw[0] {
	case 'n':
		return value{kind: kindNull}, nil
	case 't', 'f':
		return value{kind: kindBool, b: raw[0] == 't'}, nil
	case '"':
		s, err := jsonString(raw)
		if err != nil {
			return value{}, fmt.Errorf("invalid string")
		}
		return value{kind: kindString, s: s}, nil
	case '{':
		return value{kind: kindObject, raw: raw}, nil
	case '[':
		return value{kind: kindArray, raw: raw}, nil
	}
	return parseNumber(string(raw))
}

// parseNumber parses a JSON number: integer literals that fit in int64 are
// integers, everything else a finite float64.
func parseNumber(s string) (value, error) {
	big := false
	if !strings.ContainsAny(s, ".eE") {
		i, err := strconv.ParseInt(s, 10, 64)
		if err == nil {
			return value{kind: kindInteger, i: i}, nil
		}
		big = true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return value{}, fmt.Errorf("number out of range")
	}
	return value{kind: kindFloat, f: f, big: big}, nil
}

// bindRows validates rows against the writable columns of a table and
// converts their values to what SQLite stores. Column names match as in
// SQLite: case-insensitively.
func bindRows(rows []row, cols []column) ([]boundRow, error) {
	byName := make(map[string]column, len(cols))
	for _, c := range cols {
		byName[strings.ToLower(c.name)] = c
	}
	out := make([]boundRow, len(rows))
	for i, r := range rows {
		b, err := bindRow(i, r, byName)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func bindRow(i int, r row, byName map[string]column) (boundRow, error) {
	var invalid []string
	for _, name := range r.cols {
		if _, ok := byName[strings.ToLower(name)]; !ok {
			invalid = append(invalid, name)
		}
	}
	if len(invalid) > 0 {
		return boundRow{}, tablecast.Errorf(tablecast.EINVALID, "Row %d has invalid columns: %s", i, strings.Join(invalid, ", "))
	}
	b := boundRow{cols: make([]string, len(r.cols)), args: make([]any, len(r.cols))}
	seen := make(map[string]bool, len(r.cols))
	for j, name := range r.cols {
		col := byName[strings.ToLower(name)]
		if seen[col.name] {
			return boundRow{}, tablecast.Errorf(tablecast.EINVALID, "Row %d: column %q given twice", i, col.name)
		}
		seen[col.name] = true
		arg, err := convert(col.aff, r.vals[j])
		if err != nil {
			return boundRow{}, tablecast.Errorf(tablecast.EINVALID, "Row %d: column %q %s", i, col.name, err)
		}
		b.cols[j], b.args[j] = col.name, arg
	}
	return b, nil
}

// convert turns a JSON value into the Go value bound for a column of the
// given affinity: int64, float64, string, []byte or nil.
func convert(aff affinity, v value) (any, error) {
	if v.kind == kindNull {
		return nil, nil
	}
	switch aff {
	case affInteger:
		return toInteger(v)
	case affReal:
		return toFloat(v)
	case affText:
		return toText(v)
	case affBlob:
		return toBlob(v)
	default:
		return toNumeric(v)
	}
}

func mismatch(aff affinity, v value) error {
	return fmt.Errorf("expects %s, got %s", aff, v.describe())
}

func toInteger(v value) (any, error) {
	switch v.kind {
	case kindInteger:
		return v.i, nil
	case kindBool:
		return boolInt(v.b), nil
	}
	return nil, mismatch(affInteger, v)
}

func toFloat(v value) (any, error) {
	switch v.kind {
	case kindInteger:
		return float64(v.i), nil
	case kindFloat:
		return v.f, nil
	}
	return nil, mismatch(affReal, v)
}

// toNumeric serves NUMERIC-affinity columns (DATE, DATETIME, BOOLEAN,
// DECIMAL…): numbers as numbers, and strings as SQLite stores them there
// ("2024-01-01" stays text, "12" becomes 12).
func toNumeric(v value) (any, error) {
	switch v.kind {
	case kindString:
		return v.s, nil
	case kindInteger:
		return v.i, nil
	case kindFloat:
		return v.f, nil
	case kindBool:
		return boolInt(v.b), nil
	}
	return nil, mismatch(affNumeric, v)
}

func toText(v value) (any, error) {
	switch v.kind {
	case kindString:
		return v.s, nil
	case kindObject, kindArray:
		var buf bytes.Buffer
		if err := json.Compact(&buf, v.raw); err != nil {
			return nil, fmt.Errorf("has invalid JSON")
		}
		return buf.String(), nil
	}
	return nil, mismatch(affText, v)
}

// toBlob accepts any scalar as is, and {"$base64":true,"encoded":"…"} as bytes.
func toBlob(v value) (any, error) {
	switch v.kind {
	case kindString:
		return v.s, nil
	case kindInteger, kindFloat, kindBool:
		return toNumeric(v)
	case kindObject:
		if b, ok, err := decodeBase64(v.raw); ok || err != nil {
			return b, err
		}
	}
	return nil, mismatch(affBlob, v)
}

// decodeBase64 decodes Datasette's blob form {"$base64":true,"encoded":"…"}.
// ok is false for objects without a "$base64" key.
func decodeBase64(raw []byte) (b []byte, ok bool, err error) {
	fields, err := objectFields(raw, "blob")
	if err != nil || !hasKey(fields, "$base64") {
		return nil, false, nil
	}
	bad := fmt.Errorf(`expects {"$base64": true, "encoded": "…"}`)
	if len(fields) != 2 {
		return nil, true, bad
	}
	var s string
	for _, f := range fields {
		switch {
		case f.key == "$base64" && string(f.raw) == "true":
		case f.key == "encoded" && f.raw[0] == '"' && json.Unmarshal(f.raw, &s) == nil:
		default:
			return nil, true, bad
		}
	}
	b, err = base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, true, fmt.Errorf("has invalid base64")
	}
	return b, true, nil
}

func hasKey(fields []field, key string) bool {
	for _, f := range fields {
		if f.key == key {
			return true
		}
	}
	return false
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// inferColumns derives columns from rows for a new table, in order of first
// appearance. The first non-null value of a column sets its type; integers
// followed by floats make a float column.
func inferColumns(rows []row) ([]column, error) {
	var cols []column
	index := make(map[string]int)
	for _, r := range rows {
		for j, name := range r.cols {
			k, ok := index[strings.ToLower(name)]
			if !ok {
				if err := tablecast.ValidateColumnName(name); err != nil {
					return nil, err
				}
				k = len(cols)
				index[strings.ToLower(name)] = k
				cols = append(cols, column{name: name})
			}
			cols[k].typ = widen(cols[k].typ, typeOfKind(r.vals[j].kind))
		}
	}
	for i := range cols {
		if cols[i].typ == "" {
			cols[i].typ = typeText
		}
		cols[i] = newColumn(cols[i].name, cols[i].typ)
	}
	return cols, nil
}

// typeOfKind is the column type a JSON kind suggests; "" for null.
func typeOfKind(k kind) string {
	switch k {
	case kindNull:
		return ""
	case kindBool, kindInteger:
		return typeInteger
	case kindFloat:
		return typeFloat
	}
	return typeText
}

func widen(have, next string) string {
	switch {
	case have == "":
		return next
	case have == typeInteger && next == typeFloat:
		return typeFloat
	}
	return have
}
