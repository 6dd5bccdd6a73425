package primary

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tablecast/tablecast"
)

// checkText refuses a JSON body with a string that is not valid Unicode:
// bytes that are not UTF-8, or a \ud800-\udfff escape that is not half of
// a surrogate pair. encoding/json would quietly turn either into U+FFFD
// and the stored text would differ from what was sent. The error names
// the row and column (or the parameter) holding it.
func checkText(body []byte) error {
	off, problem := badText(body)
	if off < 0 {
		return nil
	}
	return tablecast.Errorf(tablecast.EINVALID, "%s: %s at byte %d of the body: text must be valid UTF-8; nothing was written",
		textPlace(body, off), problem, off)
}

// badText returns the offset of the first string content of a valid JSON
// text that is not valid Unicode, and what is wrong there; -1 if none.
func badText(b []byte) (int, string) {
	if utf8.Valid(b) && !bytes.Contains(b, []byte(`\ud`)) && !bytes.Contains(b, []byte(`\uD`)) {
		return -1, ""
	}
	inString := false
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case !inString:
			inString = c == '"'
			i++
		case c == '"':
			inString = false
			i++
		case c == '\\' && i+6 <= len(b) && b[i+1] == 'u':
			r := hex4(b[i+2 : i+6])
			if r < 0xd800 || r > 0xdfff {
				i += 6
				continue
			}
			if r < 0xdc00 && i+12 <= len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
				if r2 := hex4(b[i+8 : i+12]); r2 >= 0xdc00 && r2 <= 0xdfff {
					i += 12
					continue
				}
			}
			return i, fmt.Sprintf("unpaired UTF-16 surrogate escape %s", b[i:i+6])
		case c == '\\':
			i += 2
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return i, fmt.Sprintf("invalid UTF-8 byte 0x%02x", c)
			}
			i += size
		}
	}
	return -1, ""
}

// hex4 parses four hex digits (json.Valid has checked them); -1 if not.
func hex4(b []byte) rune {
	v, err := strconv.ParseUint(string(b), 16, 16)
	if err != nil {
		return -1
	}
	return rune(v)
}

// textPlace names where byte off of a valid JSON body is: "Row 2, column
// "name"", "Row 0, a column name", or a path like `"columns"[1]."name"`.
func textPlace(body []byte, off int) string {
	type frame struct {
		object    bool
		key       string
		index     int
		expectKey bool
	}
	var stack []*frame
	place := func(keyItself bool) string {
		var path []string
		for _, f := range stack {
			if f.object {
				path = append(path, strconv.Quote(f.key))
			} else {
				path = append(path, strconv.Itoa(f.index))
			}
		}
		// The row shapes of every write: {"row": {…}} and {"rows": [{…}]}.
		switch {
		case len(path) >= 2 && path[0] == `"row"`:
			return rowPlace(0, path[1], keyItself && len(path) == 2)
		case len(path) >= 3 && path[0] == `"rows"` && !strings.HasPrefix(path[1], `"`):
			i, _ := strconv.Atoi(path[1])
			return rowPlace(i, path[2], keyItself && len(path) == 3)
		}
		where := strings.Join(path, ".")
		if keyItself {
			return "The key " + where
		}
		return "The value at " + where
	}
	advance := func() {
		if len(stack) == 0 {
			return
		}
		if top := stack[len(stack)-1]; top.object {
			top.expectKey = true
		} else {
			top.index++
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.Token()
		if err != nil {
			return "Request body"
		}
		end := int(dec.InputOffset())
		if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].expectKey {
			if key, ok := tok.(string); ok {
				stack[n-1].key, stack[n-1].expectKey = key, false
				if end > off {
					return place(true)
				}
				continue
			}
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			stack = append(stack, &frame{object: tok == json.Delim('{'), expectKey: true})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			advance()
		default:
			if end > off {
				return place(false)
			}
			advance()
		}
	}
}

// rowPlace names a place in row i: a column's value, or its name.
func rowPlace(i int, column string, name bool) string {
	if name {
		return fmt.Sprintf("Row %d: a column name", i)
	}
	return fmt.Sprintf("Row %d, column %s", i, column)
}
