package rowfile

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Type is a column type detected in CSV or TSV text.
type Type uint8

// The detected types, in sqlite-utils' order of precedence.
const (
	Integer  Type = iota // every non-empty value is a 64-bit integer
	Float                // every non-empty value is a finite number
	TextType             // anything else
)

func (t Type) String() string {
	switch t {
	case Integer:
		return "integer"
	case Float:
		return "float"
	}
	return "text"
}

// Tracker detects column types as sqlite-utils' TypeTracker does: a
// column is integer while every non-empty value is one, else float while
// every non-empty value is a number, else text; a column of empty values
// only is integer. Numbers are decimal, with optional sign and spaces
// around them (as Python's int() and float() take them); unlike Python,
// underscores between digits, inf, nan and integers beyond 64 bits make
// text, so that every value of a typed column converts exactly.
type Tracker struct {
	names []string
	can   []uint8 // bit 0: may be integer; bit 1: may be float
}

const (
	canInteger = 1 << iota
	canFloat
)

// Observe takes the text values of a CSV or TSV row into account.
func (t *Tracker) Observe(row *Row) {
	if t.names == nil {
		t.names = row.Names
		t.can = make([]uint8, len(row.Names))
		for i := range t.can {
			t.can[i] = canInteger | canFloat
		}
	}
	for i, v := range row.Values {
		if i >= len(t.can) || v.Kind != Text || v.Text == "" || t.can[i] == 0 {
			continue
		}
		if t.can[i]&canInteger != 0 && !isInteger(v.Text) {
			t.can[i] &^= canInteger
		}
		if t.can[i]&canFloat != 0 && !isFloat(v.Text) {
			t.can[i] &^= canFloat
		}
	}
}

// Types returns the detected type of each column observed, in order.
func (t *Tracker) Types() []Type {
	out := make([]Type, len(t.can))
	for i, c := range t.can {
		switch {
		case c&canInteger != 0:
			out[i] = Integer
		case c&canFloat != 0:
			out[i] = Float
		default:
			out[i] = TextType
		}
	}
	return out
}

func isInteger(s string) bool {
	_, ok := parseInteger(s)
	return ok
}

func parseInteger(s string) (int64, bool) {
	i, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return i, err == nil
}

func isFloat(s string) bool {
	_, ok := parseFloat(s)
	return ok
}

// parseFloat parses a finite decimal number (no hex, inf, nan or _).
func parseFloat(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if s == "" || strings.IndexFunc(s, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r == '.' || r == 'e' || r == 'E' || r == '+' || r == '-')
	}) >= 0 {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// AppendJSON appends v as a JSON value to dst: a JSON value as it is; CSV
// text as a JSON string, or, with typ Integer or Float (detected types),
// as a number, empty text as null; a missing CSV value as null. ok is
// false when text does not fit typ (it was not detected over this value).
func AppendJSON(dst []byte, v Value, typ Type) (out []byte, ok bool) {
	switch v.Kind {
	case Null:
		return append(dst, "null"...), true
	case Raw:
		return append(dst, v.Raw...), true
	}
	switch typ {
	case Integer:
		if v.Text == "" {
			return append(dst, "null"...), true
		}
		i, ok := parseInteger(v.Text)
		if !ok {
			return dst, false
		}
		return strconv.AppendInt(dst, i, 10), true
	case Float:
		if v.Text == "" {
			return append(dst, "null"...), true
		}
		f, ok := parseFloat(v.Text)
		if !ok {
			return dst, false
		}
		return appendFloat(dst, f), true
	}
	return AppendString(dst, v.Text), true
}

// appendFloat writes f so that it reads back as a JSON float (a dot or an
// exponent), exactly.
func appendFloat(dst []byte, f float64) []byte {
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'g', -1, 64)
	for _, c := range dst[start:] {
		if c == '.' || c == 'e' || c == 'E' {
			return dst
		}
	}
	return append(dst, ".0"...)
}

const hexDigits = "0123456789abcdef"

// AppendString appends s (valid UTF-8) as a JSON string.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			i++
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
