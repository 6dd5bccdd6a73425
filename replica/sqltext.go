package replica

import (
	"strings"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/replica/gate"
)

// sqlText is what a light tokenizer learns of a public SQL query before
// SQLite sees it: its first statement, its first keyword and the names of
// its named parameters. Strings, quoted names and comments are skipped
// roughly as SQLite skips them. It is cosmetic only (the query form's
// parameter boxes, the canonical URL's parameters, a friendly first
// error): it disagrees with SQLite on edge cases ("$a(')" is one
// TCL-style variable to SQLite), so nothing safe rests on it.
type sqlText struct {
	stmt    string   // the first statement, without its ';'
	keyword string   // its first keyword, upper case
	params  []string // named parameters (":name", "@name", "$name"), in order, once each
	more    bool     // something other than space and comments follows the ';'
}

// scanSQL tokenizes text.
func scanSQL(text string) sqlText {
	var st sqlText
	seen := map[string]bool{}
	end := len(text)
scan:
	for i := 0; i < len(text); {
		c := text[i]
		switch {
		case c == ';':
			if end == len(text) {
				end = i
			}
			i++
			continue
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
			continue
		case c == '-' && strings.HasPrefix(text[i:], "--"):
			i = skipTo(text, i+2, "\n")
			continue
		case c == '/' && strings.HasPrefix(text[i:], "/*"):
			i = skipTo(text, i+2, "*/")
			continue
		}
		if end < len(text) {
			st.more = true
			break scan
		}
		switch {
		case c == '\'' || c == '"' || c == '`':
			i = skipQuoted(text, i, c)
		case c == '[':
			i = skipTo(text, i+1, "]")
		case (c == ':' || c == '@' || c == '$') && i+1 < len(text) && isIdentByte(text[i+1]):
			j := i + 1
			for j < len(text) && isIdentByte(text[j]) {
				j++
			}
			if name := text[i+1 : j]; !seen[name] {
				seen[name] = true
				st.params = append(st.params, name)
			}
			i = j
		case isIdentByte(c):
			j := i
			for j < len(text) && isIdentByte(text[j]) {
				j++
			}
			if st.keyword == "" {
				st.keyword = strings.ToUpper(text[i:j])
			}
			i = j
		default:
			if st.keyword == "" {
				st.keyword = text[i : i+1]
			}
			i++
		}
	}
	st.stmt = text[:end]
	return st
}

// skipTo returns the index just past the next close at or after i (the
// end of text when there is none, as SQLite reads an unclosed comment).
func skipTo(text string, i int, close string) int {
	if j := strings.Index(text[i:], close); j >= 0 {
		return i + j + len(close)
	}
	return len(text)
}

// skipQuoted skips a quoted string or name; a doubled quote is one quote.
func skipQuoted(text string, i int, q byte) int {
	for j := i + 1; j < len(text); j++ {
		if text[j] == q {
			if j+1 < len(text) && text[j+1] == q {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(text)
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// checkSQLText refuses early, with a friendly message, what is plainly
// not one SELECT. It is not a wall: what the text is, and whether it is
// one statement, SQLite decides (prepareOne and the program check).
func checkSQLText(text string, st sqlText) error {
	switch {
	case strings.TrimSpace(text) == "":
		return gate.ErrNoSQL
	case strings.IndexByte(text, 0) >= 0:
		return tablecast.Errorf(tablecast.EINVALID, "The SQL query may not contain a NUL character")
	case st.keyword != "SELECT" && st.keyword != "WITH" && st.keyword != "VALUES":
		return gate.ErrNotSelect
	}
	return nil
}
