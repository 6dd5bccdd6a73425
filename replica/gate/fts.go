package gate

import "strings"

// Full-text indexes in public SQL. An FTS table (FTS3/4, FTS5) reads its
// shadow tables ({name}_data, _idx, _segments, …) with statements of its
// own, on the connection that runs the query, under the authorizer. When
// the owner published the FTS table, those reads are reads of it: the
// authorizer lets them through (ftsShadow), with the MATCH function and
// FTS3/4's page_size pragma that the module needs. Only then: the shadow
// tables of an unpublished index, or read directly, stay missing (the
// program check of sqlcheck.go opens public root pages only, and a shadow
// table is no public table).

// ftsShadowSuffixes are the shadow tables of each FTS module.
var ftsShadowSuffixes = map[string][]string{
	"fts3": {"_content", "_segments", "_segdir", "_docsize", "_stat"},
	"fts4": {"_content", "_segments", "_segdir", "_docsize", "_stat"},
	"fts5": {"_data", "_idx", "_content", "_docsize", "_config"},
}

// ftsPragmas are the pragmas the FTS modules read (never set).
var ftsPragmas = map[string]bool{"page_size": true, "data_version": true}

// ftsModule is the FTS module of a public virtual table ("" for none).
func ftsModule(t *Table) string {
	if t.FTS == nil {
		return ""
	}
	return t.FTS.Module
}

// hasPublicFTS reports whether s has a public FTS table.
func (s *Snapshot) hasPublicFTS() bool {
	for _, t := range s.tables {
		if ftsModule(t) != "" {
			return true
		}
	}
	return false
}

// ftsShadow reports whether name is a shadow table of a public FTS table.
func (s *Snapshot) ftsShadow(name string) bool {
	lower := strings.ToLower(name)
	for _, t := range s.tables {
		module := ftsModule(t)
		if module == "" || !strings.HasPrefix(lower, strings.ToLower(t.Name)) {
			continue
		}
		for _, suffix := range ftsShadowSuffixes[module] {
			if lower == strings.ToLower(t.Name)+suffix {
				return true
			}
		}
	}
	return false
}

// FTS is what an FTS3, FTS4 or FTS5 virtual table's DDL says of it: the
// one reading of that DDL for the gate and for search (replica/search.go).
type FTS struct {
	Module  string   // fts3, fts4 or fts5
	Columns []string // its indexed columns
	// Content is its content= table: the table an external-content index
	// reads its columns from ("" when it keeps its own text or has none).
	Content      string
	Contentless  bool   // content='': an index without text, of no table
	ContentRowid string // FTS5's content_rowid ("" for the rowid)
}

// ParseFTS reads "CREATE VIRTUAL TABLE name USING fts3|fts4|fts5(args)";
// nil for any other statement.
func ParseFTS(ddl string) *FTS {
	module, args, ok := parseModule(ddl)
	if _, fts := ftsShadowSuffixes[module]; !ok || !fts {
		return nil
	}
	f := &FTS{Module: module}
	for _, arg := range args {
		key, val, isOpt := cutOption(arg)
		switch {
		case !isOpt:
			if col := firstIdent(arg); col != "" {
				f.Columns = append(f.Columns, col)
			}
		case key == "content":
			f.Content = unquoteName(val)
			f.Contentless = f.Content == ""
		case key == "content_rowid" && module == "fts5":
			f.ContentRowid = unquoteName(val)
		}
	}
	return f
}

// parseModule reads "CREATE VIRTUAL TABLE name USING module(args)": the
// module's name in lower case and its arguments, split at the commas
// outside quotes and parentheses, trimmed.
func parseModule(ddl string) (module string, args []string, ok bool) {
	ddl = strings.TrimSpace(ddl)
	upper := strings.ToUpper(ddl)
	i := strings.Index(upper, " USING ")
	if !strings.HasPrefix(upper, "CREATE VIRTUAL TABLE") || i < 0 || !strings.HasSuffix(ddl, ")") {
		return "", nil, false
	}
	rest := strings.TrimSpace(ddl[i+len(" USING "):])
	open := strings.IndexByte(rest, '(')
	if open < 0 {
		return "", nil, false
	}
	return strings.ToLower(strings.TrimSpace(rest[:open])), splitArgs(rest[open+1 : len(rest)-1]), true
}

// splitArgs splits a module's arguments at the commas outside quotes and
// parentheses.
func splitArgs(body string) []string {
	var args []string
	depth, start := 0, 0
	var quote byte
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"' || c == '`':
			quote = c
		case c == '[':
			quote = ']'
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == ',' && depth == 0:
			args = append(args, strings.TrimSpace(body[start:i]))
			start = i + 1
		}
	}
	return append(args, strings.TrimSpace(body[start:]))
}

// cutOption splits "key = value" (key a bare word); isOpt is false for a
// column definition.
func cutOption(arg string) (key, val string, isOpt bool) {
	k, v, ok := strings.Cut(arg, "=")
	k = strings.TrimSpace(k)
	if !ok || k == "" || strings.ContainsAny(k, " \t\n'\"`[") {
		return "", "", false
	}
	return strings.ToLower(k), strings.TrimSpace(v), true
}

// firstIdent is a column definition's name (its first token, unquoted).
func firstIdent(arg string) string {
	if arg == "" {
		return ""
	}
	end := map[byte]byte{'"': '"', '\'': '\'', '`': '`', '[': ']'}[arg[0]]
	if end != 0 {
		for j := 1; j < len(arg); j++ {
			switch {
			case arg[j] != end:
			case end != ']' && j+1 < len(arg) && arg[j+1] == end:
				j++ // a doubled quote
			default:
				return unquoteName(arg[:j+1])
			}
		}
		return ""
	}
	if j := strings.IndexAny(arg, " \t\n"); j >= 0 {
		return arg[:j]
	}
	return arg
}

// ftsReader is the FTS table a fts5vocab or fts4aux table reads (its
// terms are the indexed text), "" if t is neither; ok is false when it
// reads one of another schema than main.
func ftsReader(t *Table) (target string, ok bool) {
	if t.View {
		return "", true
	}
	module, args, found := parseModule(t.DDL)
	if !found {
		return "", true
	}
	n := 0 // the arguments with a schema: fts5vocab(db, table, type), fts4aux(db, table)
	switch module {
	case "fts5vocab":
		n = 3
	case "fts4aux":
		n = 2
	default:
		return "", true
	}
	if len(args) == 0 {
		return "", false
	}
	if len(args) >= n {
		if !strings.EqualFold(unquoteName(args[0]), "main") {
			return "", false
		}
		return unquoteName(args[1]), true
	}
	return unquoteName(args[0]), true
}

// unquoteName takes the quotes off an SQL name or string ('x', "x",
// [x], `x`), undoubling quotes inside.
func unquoteName(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 {
		switch q := s[0]; {
		case q == '[' && s[len(s)-1] == ']':
			return s[1 : len(s)-1]
		case (q == '\'' || q == '"' || q == '`') && s[len(s)-1] == q:
			return strings.ReplaceAll(s[1:len(s)-1], string([]byte{q, q}), string(q))
		}
	}
	return s
}

// dropFTSOverPrivate takes off s's public tables every FTS table whose
// content= table is not public itself, and every vocabulary table of an
// FTS table that is not public: such an index reads its rows from
// that table, so publishing the index alone would publish the private
// table's text (public SQL refuses the read already: its authorizer sees
// the content table's read).
func (s *Snapshot) dropFTSOverPrivate() {
	for name, t := range s.tables {
		if t.FTS == nil || t.FTS.Content == "" {
			continue
		}
		content := t.FTS.Content
		public := false
		for other := range s.tables {
			if strings.EqualFold(other, content) {
				public = true
				break
			}
		}
		if !public {
			delete(s.tables, name)
		}
	}
	// A vocabulary table (fts5vocab, fts4aux) lists the words of its FTS
	// index: public only when that index is.
	for name, t := range s.tables {
		target, ok := ftsReader(t)
		if ok && target == "" {
			continue
		}
		public := false
		for other, o := range s.tables {
			if ok && strings.EqualFold(other, target) && ftsModule(o) != "" {
				public = true
				break
			}
		}
		if !public {
			delete(s.tables, name)
		}
	}
}
