package primary

import (
	"encoding/json"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/internal/jsonscan"
)

// Rows of a body already known to be valid (decodeBody checks the whole
// body with json.Valid first) are split with internal/jsonscan: rows are
// the bulk of an insert's body, and encoding/json's Decoder, a new one
// per row, took 70% of the primary's time of a 1000-row insert
// (BenchmarkInsertBatch).

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

func skipSpace(b []byte, i int) int { return jsonscan.Space(b, i) }

func valueEnd(b []byte, i int) int { return jsonscan.ValueEnd(b, i) }

func stringEnd(b []byte, i int) int { return jsonscan.StringEnd(b, i) }

// jsonString decodes a valid JSON string (checkText has refused invalid
// UTF-8 in the body).
func jsonString(raw []byte) (string, error) { return jsonscan.String(raw) }
