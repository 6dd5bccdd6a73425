package replica

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/mattn/go-sqlite3"
	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/replica/gate"
)

// Full-text search: Datasette's _search=, _search_COL= and _searchmode=raw
// on a table page, over an FTS3/FTS4 or FTS5 index of that table.
//
// Which index a table searches (findFTS) is Datasette's detect_fts made
// exact, because an index holds the text it was built from: an FTS table
// answers a public table's search only if it indexes THAT table. It is
// the table itself (a public FTS table), or an FTS table whose content=
// option names the table (external content, as sqlite-utils' enable_fts
// and tablecast's enable-fts make: "{table}_fts", content=table), with
// every indexed column a column of the table. Datasette's LIKE patterns
// would also take content="a_b" for table "aXb"; names are compared here
// as SQLite compares them. An FTS table over a private table's text is
// never the index of a public table, and nothing of a table's answer
// depends on whether one exists. The index itself (and its shadow tables)
// stays private unless published: a search reads it on the table's
// behalf, and only to answer for the public table.

// rankColumn is the relevance column of a ranked search's rows (FTS5's
// rank, lower is better): a name no user column is expected to take.
const rankColumn = "__tablecast_rank"

// ftsIndex is the full-text index a table's searches use.
type ftsIndex struct {
	name    string   // the FTS virtual table
	fts5    bool     // FTS5 (rank order), else FTS3/FTS4
	columns []string // its indexed columns
	key     string   // the table's column the index's rowid is: rowid, or FTS5's content_rowid
	content string   // its content= table ("" when it keeps its own text)
	// contentless: content='' (an index without text, of no table)
	contentless bool
}

// searchTerm is one MATCH: col "" searches every indexed column.
type searchTerm struct {
	col, text string
	list      string // the matching rowids (and ranks), as JSON, for _where (materialize)
}

// search is a table page's full-text search.
type search struct {
	fts   *ftsIndex
	terms []searchTerm
	raw   bool // _searchmode=raw: the terms are FTS query syntax
	rank  bool // in relevance order (FTS5, one term, no _sort)
}

// prepareSearch reads the search parameters of a page of t into tq. It
// looks for t's index only when the page searches or shows a search box
// (box): it returns the index then, nil otherwise.
func prepareSearch(ctx context.Context, tx *sql.Tx, t *table, tq *tableQuery, q url.Values, box bool) (*ftsIndex, error) {
	if !box && !hasSearchParam(q) && q["_searchmode"] == nil {
		return nil, nil
	}
	fts, err := findFTS(ctx, tx, t)
	if err != nil {
		return nil, err
	}
	if tq.search, err = parseSearch(t, fts, q); err != nil {
		return nil, err
	}
	if s := tq.search; s != nil {
		s.rank = s.fts.fts5 && len(s.terms) == 1 && tq.sort == ""
	}
	return fts, nil
}

// hasSearchParam reports whether q asks for a search (_search or _search_COL).
func hasSearchParam(q url.Values) bool {
	for name := range q {
		if strings.HasPrefix(name, "_search") && name != "_searchmode" {
			return true
		}
	}
	return false
}

// parseSearch reads _search, _search_COL and _searchmode for table t,
// whose index is fts (nil when it has none). As Datasette: _search wins
// over _search_COL; _searchmode=escaped is the default. A search of a
// table without an index is a 400 (Datasette ignores it and answers every
// row); an empty _search (the search box sent empty) is no search.
func parseSearch(t *table, fts *ftsIndex, q url.Values) (*search, error) {
	mode := q.Get("_searchmode")
	if mode != "" && mode != "raw" && mode != "escaped" {
		return nil, tablecast.Errorf(tablecast.EINVALID, "Invalid _searchmode: %s (use raw or escaped)", mode)
	}
	var terms []searchTerm
	if v, ok := q["_search"]; ok {
		if v[0] != "" {
			terms = []searchTerm{{text: v[0]}}
		}
	} else {
		var names []string
		for name := range q {
			if strings.HasPrefix(name, "_search_") {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		for _, name := range names {
			col := strings.TrimPrefix(name, "_search_")
			if fts != nil && !containsString(fts.columns, col) {
				return nil, tablecast.Errorf(tablecast.EINVALID, "Cannot search by column %s: it is not in the full-text index", col)
			}
			if v := q.Get(name); v != "" {
				terms = append(terms, searchTerm{col: col, text: v})
			}
		}
	}
	if len(terms) == 0 {
		if mode != "" && fts == nil {
			return nil, errNoFTS(t)
		}
		return nil, nil
	}
	if fts == nil {
		return nil, errNoFTS(t)
	}
	if len(terms) > MaxWhereClauses {
		return nil, tablecast.Errorf(tablecast.EINVALID, "Too many _search_ parameters: at most %d", MaxWhereClauses)
	}
	return &search{fts: fts, terms: terms, raw: mode == "raw"}, nil
}

func errNoFTS(t *table) error {
	return tablecast.Errorf(tablecast.EINVALID, "Table %s has no full-text search index", t.Name)
}

// match is the MATCH argument of a term: as typed with _searchmode=raw,
// else escaped as Datasette's escape_fts (every word a phrase). Escaped,
// a search of no word (spaces, a lone '"') is the empty phrase, which
// matches nothing: FTS5 would call the empty query a syntax error.
func (s *search) match(text string) string {
	if s.raw {
		return text
	}
	if q := escapeFTS(text); q != "" {
		return q
	}
	return `""`
}

// ftsSplit is Datasette's _escape_fts_re: runs of spaces, and "phrases"
// (kept, as Python's re.split keeps a group).
var ftsSplit = regexp.MustCompile(`\s+|(".*?")`)

// escapeFTS is Datasette's escape_fts: an unbalanced '"' is closed at the
// end, then every word and every "phrase" is one quoted phrase, so FTS
// operators (AND, OR, NOT, NEAR, *, ^, column:) are searched as words.
func escapeFTS(q string) string {
	if strings.Count(q, `"`)%2 == 1 {
		q += `"`
	}
	var bits []string
	last := 0
	for _, m := range ftsSplit.FindAllStringSubmatchIndex(q, -1) {
		bits = append(bits, q[last:m[0]])
		if m[2] >= 0 {
			bits = append(bits, q[m[2]:m[3]])
		}
		last = m[1]
	}
	bits = append(bits, q[last:])
	out := make([]string, 0, len(bits))
	for _, b := range bits {
		switch {
		case b == "" || b == `""`:
		case strings.HasPrefix(b, `"`):
			out = append(out, b)
		default:
			out = append(out, `"`+b+`"`)
		}
	}
	return strings.Join(out, " ")
}

// matchSQL selects the rowids (and with rank, the ranks) of the index
// rows matching term.
func (s *search) matchSQL(term searchTerm, rank bool) string {
	name := tablecast.QuoteIdent(s.fts.name)
	lhs := name
	if term.col != "" {
		lhs = tablecast.QuoteIdent(term.col)
	}
	sel := "rowid"
	if rank {
		sel = "rowid, rank"
	}
	return "SELECT " + sel + " FROM " + name + " WHERE " + lhs + " MATCH ?"
}

// fromSQL is the table a page reads: the table itself, or when ranked
// the table's rows that match with their rank (rankColumn), by the same
// names. Its arguments come before the WHERE's.
func (s *search) fromSQL(t *table) (string, []any) {
	name := tablecast.QuoteIdent(t.Name)
	if s == nil || !s.rank {
		return name, nil
	}
	term := s.terms[0]
	src := "(" + s.matchSQL(term, true) + ")"
	arg := any(s.match(term.text))
	on := "s.rowid = " + name + "." + columnSQL(s.fts.key)
	if term.list != "" {
		src, arg = "(SELECT value ->> 0 AS rowid, value ->> 1 AS rank FROM json_each(?))", term.list
	}
	return "(SELECT " + name + ".rowid AS rowid, " + name + ".*, s.rank AS " + tablecast.QuoteIdent(rankColumn) +
		" FROM " + name + " JOIN " + src + " AS s ON " + on + ") AS " + name, []any{arg}
}

// whereSQL is the search's conditions (none when ranked: fromSQL matched).
func (s *search) whereSQL() ([]string, []any) {
	if s == nil || s.rank {
		return nil, nil
	}
	var conds []string
	var args []any
	for _, term := range s.terms {
		key := columnSQL(s.fts.key)
		if term.list != "" {
			conds = append(conds, key+" IN (SELECT value FROM json_each(?))")
			args = append(args, term.list)
			continue
		}
		conds = append(conds, key+" IN ("+s.matchSQL(term, false)+")")
		args = append(args, s.match(term.text))
	}
	return conds, args
}

// materialize reads the matches of each term in tx (the read transaction,
// outside public SQL's sandbox) into JSON that the page's query, run as
// public SQL with _where, reads with json_each: that query then names no
// index, which public SQL may not read unless it is published.
func (s *search) materialize(ctx context.Context, tx *sql.Tx) error {
	for i, term := range s.terms {
		agg := "json_group_array(rowid)"
		if s.rank {
			agg = "json_group_array(json_array(rowid, rank))"
		}
		q := "SELECT coalesce(" + agg + ", '[]') FROM (" + s.matchSQL(term, s.rank) + ")"
		if err := tx.QueryRowContext(ctx, q, s.match(term.text)).Scan(&s.terms[i].list); err != nil {
			return ftsError(err)
		}
	}
	return nil
}

// ftsError is a failed search's error: a bad query in FTS syntax
// (_searchmode=raw) is the visitor's, a 400 with SQLite's words.
func ftsError(err error) error {
	var se sqlite3.Error
	if !errors.As(err, &se) {
		return err
	}
	msg := se.Error()
	for _, bad := range []string{"fts5:", "malformed MATCH", "unterminated string", "no such column", "unknown special query"} {
		if strings.Contains(msg, bad) {
			return tablecast.Errorf(tablecast.EINVALID, "Invalid full-text search: %s", msg)
		}
	}
	return err
}

// findFTS finds t's full-text index in tx (nil if it has none): t itself
// when it is an FTS table, else the first FTS table by name whose
// content= is t and whose columns are all t's.
func findFTS(ctx context.Context, tx *sql.Tx, t *table) (*ftsIndex, error) {
	if t.View || !t.Rowid {
		return nil, nil
	}
	have5, err := hasFTS5(ctx, tx)
	if err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT name, sql FROM sqlite_master
		WHERE type = 'table' AND rootpage = 0 AND sql LIKE 'CREATE VIRTUAL TABLE%' ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("find full-text index of %s: %w", t.Name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, ddl string
		if err := rows.Scan(&name, &ddl); err != nil {
			return nil, fmt.Errorf("find full-text index of %s: %w", t.Name, err)
		}
		idx := parseFTS(name, ddl)
		if idx == nil || (idx.fts5 && !have5) {
			continue
		}
		if name == t.Name {
			return idx, nil // a public FTS table searches itself
		}
		if idx.indexes(t) {
			return idx, nil
		}
	}
	return nil, rows.Err()
}

// indexes reports whether the external-content index idx is t's.
func (idx *ftsIndex) indexes(t *table) bool {
	if idx.content == "" || !sameIdent(idx.content, t.Name) {
		return false
	}
	for _, c := range idx.columns {
		if !containsString(t.Columns, c) {
			return false
		}
	}
	if idx.key != "rowid" && !containsString(t.Columns, idx.key) {
		return false
	}
	return true
}

// fts5State caches whether this build has FTS5: 0 not known yet, 1 no,
// 2 yes (a failed look is not kept).
var fts5State atomic.Int32

// hasFTS5 reports whether this build of SQLite has FTS5 (mattn/go-sqlite3
// needs the sqlite_fts5 build tag): without it an FTS5 index cannot be
// read, and its table is not searchable.
func hasFTS5(ctx context.Context, tx *sql.Tx) (bool, error) {
	if st := fts5State.Load(); st != 0 {
		return st == 2, nil
	}
	var have bool
	if err := tx.QueryRowContext(ctx, `SELECT count(*) > 0 FROM pragma_module_list WHERE name = 'fts5'`).Scan(&have); err != nil {
		return false, fmt.Errorf("find FTS5: %w", err)
	}
	fts5State.Store(int32(1 + b2i(have)))
	return have, nil
}

// parseFTS is the FTS table name's index (gate.ParseFTS of its DDL; nil
// if it is no FTS table).
func parseFTS(name, ddl string) *ftsIndex {
	f := gate.ParseFTS(ddl)
	if f == nil {
		return nil
	}
	return &ftsIndex{name: name, fts5: f.Module == "fts5", columns: f.Columns,
		key: cmp.Or(f.ContentRowid, "rowid"), content: f.Content, contentless: f.Contentless}
}

// sameIdent compares identifiers as SQLite does: ASCII letters without
// case, every other byte exactly.
func sameIdent(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// searchBox is the search form of a searchable table's page: the search
// typed, and the page's other parameters (order, size, filters, search
// mode) kept as hidden fields.
type searchBox struct {
	Value string
	Keep  []hidden
}

// newSearchBox is the search form of a page with parameters q; nil when
// the table has no index.
func newSearchBox(searchable bool, q url.Values) *searchBox {
	if !searchable {
		return nil
	}
	box := &searchBox{Value: q.Get("_search")}
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if name == "_search" || name == "_next" || (strings.HasPrefix(name, "_") && !containsString(searchBoxKeeps, name)) {
			continue
		}
		for _, v := range q[name] {
			box.Keep = append(box.Keep, hidden{name, v})
		}
	}
	return box
}

// searchBoxKeeps are the '_' parameters a new search keeps.
var searchBoxKeeps = []string{"_sort", "_sort_desc", "_sort_by_desc", "_size", "_searchmode"}

// describe says what the search filters, as Datasette's page does.
func (s *search) describe() []string {
	if s == nil {
		return nil
	}
	out := make([]string, len(s.terms))
	for i, term := range s.terms {
		if term.col == "" {
			out[i] = `search matches "` + term.text + `"`
		} else {
			out[i] = `search column "` + term.col + `" matches "` + term.text + `"`
		}
	}
	return out
}
