package gate

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mattn/go-sqlite3"
	"github.com/tablecast/tablecast"
)

// Query is one canned query.
type Query struct {
	Name, SQL, Title, Description, DescriptionHTML string
	Params, Tables                                 []string
	Public                                         bool
}

// Meta is the metadata of one object: key to value (title, description,
// description_html, source, source_url, license, license_url, about,
// about_url; label_column for tables; description and unit for columns).
type Meta map[string]string

// TableMeta is the metadata of a table or view and of its columns.
type TableMeta struct {
	Meta    Meta
	Columns map[string]Meta
}

// metadata is a database's metadata, every object's (private ones too).
type metadata struct {
	db     Meta
	tables map[string]*TableMeta
}

// extras are the canned queries and metadata of a snapshot.
type extras struct {
	queries map[string]*Query
	public  int // public queries
	meta    *metadata
}

// Query returns the canned query name when the visitor may run it: a
// public one, or any for a read token's private view. A private query is
// a missing one: it never shadows a table.
func (s *Snapshot) Query(name string) (*Query, bool) {
	if s.extras == nil {
		return nil, false
	}
	q, ok := s.extras.queries[name]
	if !ok || !(q.Public || s.isPrivate) {
		return nil, false
	}
	return q, true
}

// QueryVisible reports whether the visitor may run the canned query name.
func (s *Snapshot) QueryVisible(name string) bool {
	_, ok := s.Query(name)
	return ok
}

// Queries lists the canned queries the visitor may run, in name order.
func (s *Snapshot) Queries() []*Query {
	if s.extras == nil {
		return nil
	}
	var out []*Query
	for _, q := range s.extras.queries {
		if q.Public || s.isPrivate {
			out = append(out, q)
		}
	}
	slices.SortFunc(out, func(a, b *Query) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// DatabaseMeta is the database's metadata (nil when none). A visitor
// reads it only where it may see the database.
func (s *Snapshot) DatabaseMeta() Meta {
	if s.extras == nil || s.extras.meta == nil {
		return nil
	}
	return s.extras.meta.db
}

// TableMeta is the metadata of the table or view name when the visitor
// may read it (Visible), nil otherwise: a private table's metadata is a
// missing table's.
func (s *Snapshot) TableMeta(name string) *TableMeta {
	if s.extras == nil || s.extras.meta == nil || !s.Visible(name) {
		return nil
	}
	return s.extras.meta.tables[name]
}

// loadExtras reads the canned queries and the metadata into s, when their
// tables exist.
func loadExtras(ctx context.Context, tx *sql.Tx, s *Snapshot) error {
	var hasQueries, hasMeta bool
	err := tx.QueryRowContext(ctx, `SELECT
		EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?),
		EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?)`,
		CannedQueriesTable, MetadataTable).Scan(&hasQueries, &hasMeta)
	if err != nil {
		return fmt.Errorf("find canned queries and metadata: %w", err)
	}
	if !hasQueries && !hasMeta {
		s.extras = nil
		return nil
	}
	x := &extras{}
	if hasQueries {
		if x.queries, err = loadQueries(ctx, tx); err != nil {
			return err
		}
		for _, q := range x.queries {
			if q.Public {
				x.public++
			}
		}
	}
	if hasMeta {
		if x.meta, err = loadMetadata(ctx, tx); err != nil {
			return err
		}
	}
	s.extras = x
	return nil
}

func loadQueries(ctx context.Context, tx *sql.Tx) (map[string]*Query, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name, sql, title, description, description_html, params, tables, public = 1 FROM `+
		tablecast.QuoteIdent(CannedQueriesTable))
	if err != nil {
		return nil, fmt.Errorf("read canned queries: %w", err)
	}
	defer rows.Close()
	out := map[string]*Query{}
	for rows.Next() {
		q := &Query{}
		var params, tables string
		if err := rows.Scan(&q.Name, &q.SQL, &q.Title, &q.Description, &q.DescriptionHTML, &params, &tables, &q.Public); err != nil {
			return nil, fmt.Errorf("read canned queries: %w", err)
		}
		if json.Unmarshal([]byte(params), &q.Params) != nil || json.Unmarshal([]byte(tables), &q.Tables) != nil {
			return nil, fmt.Errorf("read canned query %s: bad params or tables", q.Name)
		}
		if tablecast.IsReservedTable(q.Name) {
			continue // written outside tablecast: never served
		}
		out[q.Name] = q
	}
	return out, rows.Err()
}

func loadMetadata(ctx context.Context, tx *sql.Tx) (*metadata, error) {
	rows, err := tx.QueryContext(ctx, `SELECT table_name, column_name, key, value FROM `+tablecast.QuoteIdent(MetadataTable))
	if err != nil {
		return nil, fmt.Errorf("read metadata: %w", err)
	}
	defer rows.Close()
	m := &metadata{tables: map[string]*TableMeta{}}
	for rows.Next() {
		var table, column, key, value string
		if err := rows.Scan(&table, &column, &key, &value); err != nil {
			return nil, fmt.Errorf("read metadata: %w", err)
		}
		switch {
		case table == "":
			if m.db == nil {
				m.db = Meta{}
			}
			m.db[key] = value
		default:
			t := m.tables[table]
			if t == nil {
				t = &TableMeta{}
				m.tables[table] = t
			}
			if column == "" {
				if t.Meta == nil {
					t.Meta = Meta{}
				}
				t.Meta[key] = value
				continue
			}
			if t.Columns == nil {
				t.Columns = map[string]Meta{}
			}
			if t.Columns[column] == nil {
				t.Columns[column] = Meta{}
			}
			t.Columns[column][key] = value
		}
	}
	return m, rows.Err()
}

// ListQueries reads every canned query in tx (for the admin pages), in
// name order.
func ListQueries(ctx context.Context, tx *sql.Tx) ([]*Query, error) {
	m, err := loadQueries(ctx, tx)
	if isNoSuchTable(errors.Unwrap(err)) || (err != nil && isNoSuchTable(err)) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	out := make([]*Query, 0, len(m))
	for _, q := range m {
		out = append(out, q)
	}
	slices.SortFunc(out, func(a, b *Query) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// InspectQuery checks the SQL of a canned query on conn (any connection
// to its database): one statement that SQLite reports read-only, starting
// with SELECT, WITH or VALUES, reading none of tablecast's or SQLite's
// tables. It returns its named parameters (":name", "@name", "$name",
// once each, in order) and the tables it reads, in name order.
func InspectQuery(ctx context.Context, conn *sql.Conn, text string) (params, tables []string, err error) {
	keyword, params, more := scanQuery(text)
	switch {
	case strings.TrimSpace(text) == "":
		return nil, nil, ErrNoSQL
	case strings.IndexByte(text, 0) >= 0:
		return nil, nil, tablecast.Errorf(tablecast.EINVALID, "The SQL query may not contain a NUL character")
	case more:
		return nil, nil, tablecast.Errorf(tablecast.EINVALID, "A canned query is one statement")
	case keyword != "SELECT" && keyword != "WITH" && keyword != "VALUES":
		return nil, nil, ErrNotSelect
	}
	for _, p := range params {
		if c := p[0]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') || len(p) > tablecast.MaxNameLen {
			return nil, nil, tablecast.Errorf(tablecast.EINVALID, "Invalid parameter name %q: a letter, then letters, digits or '_'", p)
		}
	}
	read := map[string]bool{}
	reserved := ""
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(*sqlite3.SQLiteConn)
		if !ok {
			return fmt.Errorf("canned query: unexpected driver connection %T", dc)
		}
		c.RegisterAuthorizer(func(op int, a1, _, _ string) int {
			if op == sqlite3.SQLITE_READ && a1 != "" {
				if tablecast.IsReservedTable(a1) {
					reserved = a1
					return sqlite3.SQLITE_DENY
				}
				read[a1] = true
			}
			return sqlite3.SQLITE_OK
		})
		defer c.RegisterAuthorizer(nil)
		st, err := c.PrepareContext(ctx, text)
		if err != nil {
			return err
		}
		defer st.Close()
		if s, ok := st.(*sqlite3.SQLiteStmt); !ok || !s.Readonly() {
			return tablecast.Errorf(tablecast.EINVALID, "A canned query must only read: SQLite reports that it writes")
		}
		// Every parameter is named, each name spelled one way (":a" and
		// "@a" are two parameters to SQLite, one to visitors).
		if st.NumInput() != len(params) {
			return tablecast.Errorf(tablecast.EINVALID, "A canned query's parameters must be named (:name), each written one way")
		}
		return nil
	})
	switch {
	case reserved != "":
		return nil, nil, tablecast.Errorf(tablecast.EINVALID, "A canned query may not read tablecast's or SQLite's tables: %s", reserved)
	case err != nil && tablecast.ErrorCode(err) == tablecast.EINVALID:
		return nil, nil, err
	case err != nil:
		var se sqlite3.Error
		if errors.As(err, &se) {
			return nil, nil, tablecast.Errorf(tablecast.EINVALID, "Invalid SQL: %s", err)
		}
		return nil, nil, fmt.Errorf("inspect canned query: %w", err)
	}
	for t := range read {
		tables = append(tables, t)
	}
	slices.Sort(tables)
	return params, tables, nil
}

// scanQuery finds the first keyword of text, its named parameters, and
// whether anything but space and comments follows a ';'.
func scanQuery(text string) (keyword string, params []string, more bool) {
	seen := map[string]bool{}
	ended := false
	for i := 0; i < len(text); {
		c := text[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
			continue
		case strings.HasPrefix(text[i:], "--"):
			i = skipPast(text, i+2, "\n")
			continue
		case strings.HasPrefix(text[i:], "/*"):
			i = skipPast(text, i+2, "*/")
			continue
		case ended:
			return keyword, params, true
		case c == ';':
			ended = true
			i++
		case c == '\'' || c == '"' || c == '`':
			i = skipPast(text, i+1, string(c))
		case c == '[':
			i = skipPast(text, i+1, "]")
		case (c == ':' || c == '@' || c == '$') && i+1 < len(text) && isIdent(text[i+1]):
			j := i + 1
			for j < len(text) && isIdent(text[j]) {
				j++
			}
			if name := text[i+1 : j]; !seen[name] {
				seen[name] = true
				params = append(params, name)
			}
			i = j
		case isIdent(c):
			j := i
			for j < len(text) && isIdent(text[j]) {
				j++
			}
			if keyword == "" {
				keyword = strings.ToUpper(text[i:j])
			}
			i = j
		default:
			if keyword == "" {
				keyword = text[i : i+1]
			}
			i++
		}
	}
	return keyword, params, false
}

// skipPast is the index just past the first end at or after i (len(text)
// if none). A doubled quote inside a quoted string ends and restarts it:
// the same tokens follow.
func skipPast(text string, i int, end string) int {
	j := strings.Index(text[i:], end)
	if j < 0 {
		return len(text)
	}
	return i + j + len(end)
}

func isIdent(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}
