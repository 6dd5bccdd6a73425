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
	ddl := strings.ToLower(t.DDL)
	if t.View || !strings.HasPrefix(ddl, "create virtual table") {
		return ""
	}
	_, rest, ok := strings.Cut(ddl, " using ")
	if !ok {
		return ""
	}
	module, _, _ := strings.Cut(strings.TrimSpace(rest), "(")
	module = strings.TrimSpace(module)
	if _, ok := ftsShadowSuffixes[module]; !ok {
		return ""
	}
	return module
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

// ftsContent is the content= table of an FTS table's DDL: the table an
// external-content index reads its columns from ("" when it keeps its
// own text or has none).
func ftsContent(ddl string) string {
	content := ""
	for _, a := range moduleArgs(ddl) {
		key, val, ok := strings.Cut(a, "=")
		if ok && strings.EqualFold(strings.TrimSpace(key), "content") {
			content = unquoteName(strings.TrimSpace(val))
		}
	}
	return content
}

// moduleArgs are the arguments of a virtual table's DDL, split at the
// commas outside quotes and parentheses, trimmed.
func moduleArgs(ddl string) []string {
	open := strings.IndexByte(ddl, '(')
	end := strings.LastIndexByte(ddl, ')')
	if open < 0 || end < open {
		return nil
	}
	body := ddl[open+1 : end]
	var args []string
	var quote byte
	depth, start := 0, 0
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

// ftsReader is the FTS table a fts5vocab or fts4aux table reads (its
// terms are the indexed text), "" if t is neither; ok is false when it
// reads one of another schema than main.
func ftsReader(t *Table) (target string, ok bool) {
	ddl := strings.ToLower(t.DDL)
	if t.View || !strings.HasPrefix(ddl, "create virtual table") {
		return "", true
	}
	_, rest, found := strings.Cut(ddl, " using ")
	if !found {
		return "", true
	}
	module, _, _ := strings.Cut(strings.TrimSpace(rest), "(")
	args := moduleArgs(t.DDL)
	n := 0 // the arguments with a schema: fts5vocab(db, table, type), fts4aux(db, table)
	switch strings.TrimSpace(module) {
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
		if ftsModule(t) == "" {
			continue
		}
		content := ftsContent(t.DDL)
		if content == "" {
			continue
		}
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
