package tablecast

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSONValue appends the JSON form of a value read from SQLite to buf:
// the one encoder of row values for the read path (replica/) and the write
// path (primary/), so that a value reads back as it was written.
//
//   - NULL is null, integers and booleans as JSON writes them.
//   - Reals are written as Python's json.dumps writes a float (see
//     AppendPyFloat: 3.0, -0.0, 1e+16, 1.5e-07), so a real always keeps a
//     decimal point or an exponent and reads back as a float in Python,
//     pandas or JavaScript clients alike; ±Inf and NaN, which JSON cannot
//     write, are null. This is Datasette's
//     choice: its json_renderer replaces float('inf') and float('-inf') by
//     None unless _json_infinity=1 asks for Python's invalid-JSON Infinity
//     (datasette/renderer.py, remove_infinites in datasette/utils; tested by
//     test_infinity_returned_as_null). A client parsing with any strict JSON
//     parser must not fail on a row, and "Infinity" as text would make a
//     number column hold a string. SQLite stores NaN as NULL, so NaN only
//     comes from outside SQLite.
//   - Text is a JSON string, with <, > and & as they are (no HTML
//     escaping), invalid UTF-8 replaced by U+FFFD: byte for byte what
//     encoding/json writes with SetEscapeHTML(false).
//   - Blobs are Datasette's {"$base64":true,"encoded":"…"}.
//   - Times (mattn/go-sqlite3 parses columns declared DATE, DATETIME or
//     TIMESTAMP) are RFC 3339 strings, as encoding/json writes them.
//
// Any other type is written by encoding/json, or as null if it cannot be.
func AppendJSONValue(buf []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(buf, "null"...)
	case int64:
		return strconv.AppendInt(buf, x, 10)
	case float64:
		return appendJSONFloat(buf, x)
	case string:
		return appendJSONString(buf, x)
	case []byte:
		buf = append(buf, `{"$base64":true,"encoded":"`...)
		buf = base64.StdEncoding.AppendEncode(buf, x)
		return append(buf, `"}`...)
	case bool:
		return strconv.AppendBool(buf, x)
	case time.Time:
		return appendJSONString(buf, x.Format(time.RFC3339Nano))
	}
	b, err := json.Marshal(v)
	if err != nil {
		return append(buf, "null"...)
	}
	return append(buf, b...)
}

// appendJSONFloat writes a finite f as Python's json.dumps does (the
// repr of a float, AppendPyFloat), and non-finite values as null.
func appendJSONFloat(buf []byte, f float64) []byte {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return append(buf, "null"...)
	}
	return AppendPyFloat(buf, f)
}

// AppendPyFloat appends f as Python's repr(float) writes it, which is
// also what json.dumps and str write, so what Datasette answers: the
// shortest digits that read back as f, positional with at least one
// decimal ("3.0", "-0.0", "0.0001", "1e+16" is not) when the decimal
// exponent is from -4 to 15, else exponent form with a sign and at least
// two digits ("1e+16", "1.5e-07", "1e+100"). A real always has a decimal
// point or an exponent, so a client never takes it for an integer.
// ±Inf and NaN are "inf", "-inf" and "nan", as Python's str writes them.
func AppendPyFloat(buf []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(buf, "inf"...)
	case math.IsInf(f, -1):
		return append(buf, "-inf"...)
	case math.IsNaN(f):
		return append(buf, "nan"...)
	}
	// Python's rule (float_repr_style "short"): exponent form when the
	// decimal point would sit 4 or more places left of the first digit,
	// or more than 16 places right of it. strconv's 'e' form already
	// writes the exponent as Python does (sign, at least two digits).
	start := len(buf)
	buf = strconv.AppendFloat(buf, f, 'e', -1, 64)
	exp := 0
	i := len(buf) - 1
	for mul := 1; buf[i] != '+' && buf[i] != '-'; i, mul = i-1, mul*10 {
		exp += int(buf[i]-'0') * mul
	}
	if buf[i] == '-' {
		exp = -exp
	}
	if f != 0 && (exp < -4 || exp >= 16) {
		return buf
	}
	buf = strconv.AppendFloat(buf[:start], f, 'f', -1, 64)
	for _, c := range buf[start:] {
		if c == '.' {
			return buf
		}
	}
	return append(buf, '.', '0')
}

// appendJSONString writes s as a JSON string, escaping what JSON requires
// plus U+2028 and U+2029 (JavaScript line ends), and replacing invalid
// UTF-8 with U+FFFD.
func appendJSONString(buf []byte, s string) []byte {
	const hex = "0123456789abcdef"
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			buf = append(buf, s[start:i]...)
			switch c {
			case '"', '\\':
				buf = append(buf, '\\', c)
			case '\b':
				buf = append(buf, `\b`...)
			case '\f':
				buf = append(buf, `\f`...)
			case '\n':
				buf = append(buf, `\n`...)
			case '\r':
				buf = append(buf, `\r`...)
			case '\t':
				buf = append(buf, `\t`...)
			default:
				buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			buf = append(buf, s[start:i]...)
			buf = append(buf, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}
