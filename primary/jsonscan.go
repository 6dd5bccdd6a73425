package primary

import (
	"encoding/json"

	"github.com/tablecast/tablecast"
)

// A scanner for JSON already known to be valid (decodeBody checks the
// whole body with json.Valid first): it only finds where members and
// elements start and end. Rows are the bulk of an insert's body, and
// encoding/json's Decoder, a new one per row, took 70% of the primary's
// time of a 1000-row insert (BenchmarkInsertBatch).

// validObjectFields is objectFields for a valid JSON text: the members
// of an object in order, duplicate keys refused.
func validObjectFields(raw []byte, what string) ([]field, error) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return nil, tablecast.Errorf(tablecast.EINVALID, "%s must be a JSON object", what)
	}
	i = skipSpace(raw, i+1)
	var fields []field
	for i < len(raw) && raw[i] == '"' {
		end := stringEnd(raw, i)
		key, err := jsonString(raw[i:end])
		if err != nil {
			return nil, tablecast.Errorf(tablecast.EINVALID, "%s: invalid JSON", what)
		}
		i = skipSpace(raw, skipSpace(raw, end)+1) // past the colon
		vend := valueEnd(raw, i)
		for _, f := range fields {
			if f.key == key {
				return nil, tablecast.Errorf(tablecast.EINVALID, "%s: duplicate key %q", what, key)
			}
		}
		fields = append(fields, field{key: key, raw: raw[i:vend]})
		i = skipSpace(raw, vend)
		if i < len(raw) && raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
	}
	return fields, nil
}

// validArrayItems returns the elements of a valid JSON array; ok is
// false when raw is not an array.
func validArrayItems(raw []byte) (items []json.RawMessage, ok bool) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '[' {
		return nil, false
	}
	i = skipSpace(raw, i+1)
	for i < len(raw) && raw[i] != ']' {
		end := valueEnd(raw, i)
		items = append(items, raw[i:end])
		i = skipSpace(raw, end)
		if i < len(raw) && raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
	}
	return items, true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// valueEnd returns the end of the valid JSON value that starts at b[i].
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return len(b)
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = stringEnd(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	}
	j := i // a number, true, false or null
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
		j++
	}
	return j
}

// stringEnd returns the end of the JSON string that starts at b[i].
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// jsonString decodes a valid JSON string; without escapes it is the bytes
// between the quotes (checkText has refused invalid UTF-8).
func jsonString(raw []byte) (string, error) {
	for _, c := range raw[1 : len(raw)-1] {
		if c == '\\' {
			var s string
			err := json.Unmarshal(raw, &s)
			return s, err
		}
	}
	return string(raw[1 : len(raw)-1]), nil
}
