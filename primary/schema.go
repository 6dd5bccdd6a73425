package primary

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/replica/gate"
)

// createMeta creates tablecast's own tables if they do not exist yet.
func createMeta(ctx context.Context, tx *sql.Tx) error {
	if err := gate.CreateTables(ctx, tx); err != nil {
		return sqliteError("create tablecast tables", err)
	}
	return nil
}

// bumpVersions adds one to the version of table and to the global counter.
func bumpVersions(ctx context.Context, tx *sql.Tx, table string) error {
	if err := gate.BumpVersions(ctx, tx, table); err != nil {
		return sqliteError("bump table version", err)
	}
	return nil
}

// affinity is SQLite's type affinity of a column.
type affinity int

const (
	affNumeric affinity = iota
	affInteger
	affText
	affBlob
	affReal
)

func (a affinity) String() string {
	return [...]string{"numeric", "integer", "text", "blob", "float"}[a]
}

// affinityOf applies SQLite's rules (datatype3.html, section 3.1) to a
// declared column type.
func affinityOf(decl string) affinity {
	d := strings.ToUpper(decl)
	switch {
	case strings.Contains(d, "INT"):
		return affInteger
	case strings.Contains(d, "CHAR"), strings.Contains(d, "CLOB"), strings.Contains(d, "TEXT"):
		return affText
	case strings.Contains(d, "BLOB"), d == "":
		return affBlob
	case strings.Contains(d, "REAL"), strings.Contains(d, "FLOA"), strings.Contains(d, "DOUB"):
		return affReal
	}
	return affNumeric
}

// Column types accepted by /-/create.
const (
	typeText    = "text"
	typeInteger = "integer"
	typeFloat   = "float"
	typeBlob    = "blob"
)

// column is a column of a table, existing or to create.
type column struct {
	name   string
	typ    string // create only: one of the type constants
	decl   string // declared type
	aff    affinity
	pk     int // position in the primary key, from 1; 0 if not in it
	hidden int // table_xinfo: 0 normal, 1 hidden (virtual tables), 2-3 generated
}

// newColumn returns a column to create with one of the type constants.
func newColumn(name, typ string) column {
	decl := strings.ToUpper(typ)
	return column{name: name, typ: typ, decl: decl, aff: affinityOf(decl)}
}

// parseType checks a column type given to /-/create.
func parseType(s string) (string, bool) {
	t := strings.ToLower(s)
	switch t {
	case typeText, typeInteger, typeFloat, typeBlob:
		return t, true
	}
	return "", false
}

// table is a table or view as SQLite describes it.
type table struct {
	name string // as spelled in sqlite_master
	typ  string // "table" or "view"
	cols []column
	pks  []string // explicit primary key columns in key order; nil for rowid tables
}

// writable returns the columns a row may set: no generated or hidden ones.
func (t *table) writable() []column {
	var cols []column
	for _, c := range t.cols {
		if c.hidden == 0 {
			cols = append(cols, c)
		}
	}
	return cols
}

// column returns the column of that name.
func (t *table) column(name string) (column, bool) {
	for _, c := range t.cols {
		if strings.EqualFold(c.name, name) {
			return c, true
		}
	}
	return column{}, false
}

// findObject finds a table or view by name, case-insensitively as SQLite
// does, and returns its name as spelled in the schema and its type.
// Missing → ENOTFOUND.
func findObject(ctx context.Context, tx *sql.Tx, name string) (found, typ string, err error) {
	err = tx.QueryRowContext(ctx, `SELECT name, type FROM sqlite_master
		WHERE type IN ('table', 'view') AND name = ? COLLATE NOCASE`, name).Scan(&found, &typ)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", tablecast.Errorf(tablecast.ENOTFOUND, "Table not found: %s", name)
	} else if err != nil {
		return "", "", sqliteError("look up table", err)
	}
	return found, typ, nil
}

// lookupTable finds a table or view and reads its columns.
func lookupTable(ctx context.Context, tx *sql.Tx, name string) (*table, error) {
	t := &table{}
	var err error
	if t.name, t.typ, err = findObject(ctx, tx, name); err != nil {
		return nil, err
	}
	if t.cols, err = tableColumns(ctx, tx, t.name); err != nil {
		return nil, err
	}
	for _, c := range t.cols {
		if c.pk > 0 {
			t.pks = append(t.pks, c.name)
		}
	}
	slices.SortFunc(t.pks, func(a, b string) int {
		ca, _ := t.column(a)
		cb, _ := t.column(b)
		return ca.pk - cb.pk
	})
	return t, nil
}

// writableTable is lookupTable for tables that rows are written to.
func writableTable(ctx context.Context, tx *sql.Tx, name string) (*table, error) {
	t, err := lookupTable(ctx, tx, name)
	if err != nil {
		return nil, err
	}
	if t.typ != "table" {
		return nil, tablecast.Errorf(tablecast.EINVALID, "Cannot write to a view: %s", t.name)
	}
	// A virtual table (a full-text index, kept in step with its content
	// table by triggers) is written through its content table only.
	var virtual bool
	err = tx.QueryRowContext(ctx, `SELECT sql LIKE 'CREATE VIRTUAL TABLE%' FROM sqlite_master WHERE type = 'table' AND name = ?`, t.name).Scan(&virtual)
	if err != nil {
		return nil, fmt.Errorf("look up %s: %w", t.name, err)
	}
	if virtual {
		return nil, tablecast.Errorf(tablecast.EINVALID, "Cannot write to a virtual table: %s (write to the table it indexes)", t.name)
	}
	return t, nil
}

func tableColumns(ctx context.Context, tx *sql.Tx, name string) ([]column, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name, type, pk, hidden FROM pragma_table_xinfo(?)`, name)
	if err != nil {
		return nil, sqliteError("read table columns", err)
	}
	defer rows.Close()
	var cols []column
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.name, &c.decl, &c.pk, &c.hidden); err != nil {
			return nil, fmt.Errorf("scan table column: %w", err)
		}
		c.aff = affinityOf(c.decl)
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		return nil, sqliteError("read table columns", err)
	}
	return cols, nil
}

// objectExists reports whether any schema object (table, view, index,
// trigger) has that name; they share one namespace.
func objectExists(ctx context.Context, tx *sql.Tx, name string) (bool, error) {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE name = ? COLLATE NOCASE`, name).Scan(&n)
	if err != nil {
		return false, sqliteError("look up table", err)
	}
	return n > 0, nil
}

// tableSchema returns the CREATE statement of a table.
func tableSchema(ctx context.Context, tx *sql.Tx, name string) (string, error) {
	var s string
	err := tx.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?`, name).Scan(&s)
	if err != nil {
		return "", sqliteError("read table schema", err)
	}
	return s, nil
}

// createTableSQL builds the CREATE TABLE statement of a new table. A single
// integer primary key becomes the rowid alias; other primary key columns
// are NOT NULL (SQLite would otherwise accept NULL keys).
func createTableSQL(name string, cols []column, pks []string) string {
	rowidAlias := len(pks) == 1 && cols[pkIndex(cols, pks[0])].typ == typeInteger
	defs := make([]string, 0, len(cols)+1)
	for _, c := range cols {
		def := "   " + tablecast.QuoteIdent(c.name) + " " + c.decl
		switch {
		case c.pk > 0 && rowidAlias:
			def += " PRIMARY KEY"
		case c.pk > 0 && len(pks) == 1:
			def += " NOT NULL PRIMARY KEY"
		case c.pk > 0:
			def += " NOT NULL"
		}
		defs = append(defs, def)
	}
	if len(pks) > 1 {
		quoted := make([]string, len(pks))
		for i, pk := range pks {
			quoted[i] = tablecast.QuoteIdent(pk)
		}
		defs = append(defs, "   PRIMARY KEY ("+strings.Join(quoted, ", ")+")")
	}
	return "CREATE TABLE " + tablecast.QuoteIdent(name) + " (\n" + strings.Join(defs, ",\n") + "\n)"
}

func pkIndex(cols []column, name string) int {
	for i, c := range cols {
		if c.name == name {
			return i
		}
	}
	return -1
}
