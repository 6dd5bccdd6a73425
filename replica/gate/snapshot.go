package gate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/tablecast/tablecast"
)

// Snapshot is what the gate knows of one database at one TXID: the public
// tables and views, with the shape a read needs, and the database-wide
// switches. It is loaded inside the read transaction that pins that TXID
// (Load), so gate and rows always agree.
type Snapshot struct {
	TXID   tablecast.TXID
	tables map[string]*Table // public tables and views only

	// txidHeader is the Tablecast-Txid value of answers at this snapshot.
	txidHeader []string

	// Versions counts, per table, the tablecast write transactions that
	// changed it (data or publication); Offset is the TXID minus the count
	// of all tablecast write transactions. A write that did not come
	// through tablecast moves the TXID alone and so the offset: two
	// snapshots with the same offset and the same version of a table hold
	// the same rows and gate for that table.
	Versions map[string]int64
	Offset   int64

	// The database-wide switches of _public_database at this snapshot:
	// every table and view public, and public SQL on.
	AllTables, AllowSQL bool

	// SchemaVersion is SQLite's schema cookie: it moves with every change
	// of the schema.
	SchemaVersion int64

	// HasVersions: the database has _table_versions (tablecast wrote to it).
	HasVersions bool

	// private is this snapshot with private tables too, for tokens with
	// the read scope (PrivateView); loaded on first use.
	private atomic.Pointer[Snapshot]

	// isPrivate marks a private view (PrivateView): it lists private
	// tables, so nothing public (the response cache, public SQL's shadow,
	// verdicts and root pages) may be keyed on or built from it.
	isPrivate bool

	// extras are the canned queries and metadata (canned.go), nil when
	// the database has neither.
	extras *extras
}

// NewSnapshot is a snapshot at txid whose public tables and views are
// tables, for tests and benchmarks; reads use Load.
func NewSnapshot(txid tablecast.TXID, tables ...*Table) *Snapshot {
	s := &Snapshot{TXID: txid, txidHeader: []string{txid.String()}, tables: map[string]*Table{}, Versions: map[string]int64{}, Offset: int64(txid)}
	for _, t := range tables {
		s.tables[t.Name] = t
	}
	return s
}

// TXIDHeader is the Tablecast-Txid header value of answers at s, built
// once per snapshot.
func (s *Snapshot) TXIDHeader() []string { return s.txidHeader }

// Private reports whether s is a read token's private view (PrivateView).
func (s *Snapshot) Private() bool { return s.isPrivate }

// gateVersion counts tablecast's publish, unpublish and whole-database
// switches (0 for a database tablecast never published in).
func (s *Snapshot) gateVersion() int64 { return s.Versions[tablecast.PublicTablesTable] }

// sameGate reports whether s can reuse prev's gate: only tablecast wrote in
// between (same offset), none of it published, unpublished or switched (same
// gate version), and the schema did not change (same schema version). Then
// the public tables, their shapes and the switches are prev's.
func (s *Snapshot) sameGate(prev *Snapshot) bool {
	return prev != nil && s.gateVersion() > 0 && prev.gateVersion() == s.gateVersion() &&
		prev.Offset == s.Offset && prev.SchemaVersion == s.SchemaVersion
}

// DatabaseVisible reports whether a visitor may know the database exists:
// it has a public table or view, or public SQL. A database that is not
// answers as a missing one (NotFound).
func (s *Snapshot) DatabaseVisible() bool {
	return len(s.tables) > 0 || s.AllowSQL || (s.extras != nil && s.extras.public > 0)
}

// Visible reports whether a visitor may read the table or view name (its
// exact name, as spelled in the schema): it is listed in _public_tables,
// or the whole database is public, and it is not tablecast's or SQLite's.
// One that is not answers as a missing one (NotFound).
func (s *Snapshot) Visible(name string) bool {
	_, ok := s.tables[name]
	return ok
}

// Table is the public table or view name, as Visible decides.
func (s *Snapshot) Table(name string) (*Table, bool) {
	t, ok := s.tables[name]
	return t, ok
}

// CheckTable is Table for a read of one table: a private table answers as
// a missing one. The answer depends on that table alone (not on whether the
// database has other public tables), which is what lets a cache key it on
// that table's version.
func (s *Snapshot) CheckTable(name string) (*Table, error) {
	t, ok := s.tables[name]
	if !ok {
		return nil, NotFound("", name)
	}
	return t, nil
}

// CheckSQL lets SQL through only where the database's public-SQL switch is
// on at this snapshot. A database a visitor may see answers 403; any other
// answers as a missing database. A read token (s is a private view) may
// run SQL on every database, switch or not: it may read every table anyway.
func (s *Snapshot) CheckSQL(db string) error {
	switch {
	case s.AllowSQL, s.isPrivate:
		return nil
	case s.DatabaseVisible():
		return tablecast.Errorf(tablecast.EFORBIDDEN, "Public SQL is not enabled for database %s", db)
	default:
		return NotFound(db, "")
	}
}

// NotFound is the answer for a database (table "") or a table or view that
// is missing or private: a visitor cannot tell the two apart.
func NotFound(db, table string) error {
	if table != "" {
		return tablecast.Errorf(tablecast.ENOTFOUND, "Table not found: %s", table)
	}
	return tablecast.Errorf(tablecast.ENOTFOUND, "Database not found: %s", db)
}

// Table describes one public table or view.
type Table struct {
	Name    string
	View    bool
	Columns []string
	PKs     []string // primary key columns, in key order; empty for views and rowid tables without one
	Rowid   bool     // has a rowid (rowid tables); pagination uses it
	// RowidAlias: the primary key is the rowid itself (one column declared
	// INTEGER PRIMARY KEY), so it is unique and never NULL.
	RowidAlias bool
	DDL        string // its CREATE statement, as in sqlite_master
	FTS        *FTS   // what its DDL says when it is an FTS table (nil otherwise)
}

// HasColumn reports whether rows of t can be filtered or sorted by c.
func (t *Table) HasColumn(c string) bool {
	return slices.Contains(t.Columns, c) || (c == "rowid" && t.Rowid)
}

// Names lists the public tables and views in name order.
func (s *Snapshot) Names() []string {
	names := make([]string, 0, len(s.tables))
	for name := range s.tables {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Tables lists the public tables and views in name order.
func (s *Snapshot) Tables() []*Table {
	names := s.Names()
	tables := make([]*Table, len(names))
	for i, name := range names {
		tables[i] = s.tables[name]
	}
	return tables
}

// Load reads the gate and the public tables' shapes inside tx, a read
// transaction whose snapshot is the database at txid. Its first statement
// pins the transaction's snapshot. prev is the database's last snapshot
// (nil if none): when its gate still holds (sameGate), only the versions
// are read.
func Load(ctx context.Context, tx *sql.Tx, txid tablecast.TXID, prev *Snapshot) (*Snapshot, error) {
	s := NewSnapshot(txid)
	var gate, versions, whole bool
	fast := prev != nil && prev.HasVersions
	if fast {
		// The usual catch-up: one statement pins the snapshot and reads the
		// versions, so the reads waiting for it wait for one round of locks.
		// If _table_versions went (dropped outside tablecast), the general
		// path below finds out.
		var err error
		gate, whole, err = loadWithVersions(ctx, tx, s)
		fast, versions = err == nil, err == nil
	}
	if !fast {
		err := tx.QueryRowContext(ctx, `SELECT
		EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?),
		EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?),
		EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?),
		(SELECT schema_version FROM pragma_schema_version)`,
			tablecast.PublicTablesTable, tablecast.TableVersionsTable, tablecast.PublicDatabaseTable).Scan(&gate, &versions, &whole, &s.SchemaVersion)
		if err != nil {
			return nil, fmt.Errorf("find gate table: %w", err)
		}
		if versions {
			if err := loadVersions(ctx, tx, s); err != nil {
				return nil, err
			}
		}
	}
	s.HasVersions = versions
	if s.sameGate(prev) {
		s.tables, s.AllTables, s.AllowSQL, s.extras = prev.tables, prev.AllTables, prev.AllowSQL, prev.extras
		return s, nil
	}
	if err := loadExtras(ctx, tx, s); err != nil {
		return nil, err
	}
	if whole {
		if err := loadDatabaseFlags(ctx, tx, s); err != nil {
			return nil, err
		}
	}
	if !gate && !s.AllTables {
		return s, nil
	}
	listed, err := loadListed(ctx, tx, s.AllTables)
	if err != nil {
		return nil, err
	}
	for _, t := range listed {
		if err := loadColumns(ctx, tx, t); err != nil {
			if t.View {
				continue // a view over a dropped table cannot be read
			}
			return nil, err
		}
		s.tables[t.Name] = t
	}
	s.dropFTSOverPrivate()
	return s, nil
}

// loadDatabaseFlags reads the database-wide switches; anything but a
// clear 1 is off.
func loadDatabaseFlags(ctx context.Context, tx *sql.Tx, s *Snapshot) error {
	err := tx.QueryRowContext(ctx, `SELECT coalesce(all_tables = 1, 0), coalesce(allow_sql = 1, 0) FROM `+
		tablecast.QuoteIdent(tablecast.PublicDatabaseTable)+` WHERE id = 1`).Scan(&s.AllTables, &s.AllowSQL)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read database flags: %w", err)
	}
	return nil
}

// loadListed finds the public tables and views: those in _public_tables,
// or every one when the whole database is public.
func loadListed(ctx context.Context, tx *sql.Tx, all bool) ([]*Table, error) {
	q := `SELECT m.name, m.type, coalesce(m.sql, '')
		FROM ` + tablecast.QuoteIdent(tablecast.PublicTablesTable) + ` AS p
		JOIN sqlite_master AS m ON m.name = p.table_name AND m.type IN ('table', 'view')`
	if all {
		q = `SELECT name, type, coalesce(sql, '') FROM sqlite_master WHERE type IN ('table', 'view')`
	}
	rows, err := tx.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("read gate: %w", err)
	}
	defer rows.Close()
	var listed []*Table
	for rows.Next() {
		var name, typ, ddl string
		if err := rows.Scan(&name, &typ, &ddl); err != nil {
			return nil, fmt.Errorf("scan gate: %w", err)
		}
		// Tables of tablecast and SQLite stay private even when listed.
		if tablecast.IsReservedTable(name) {
			continue
		}
		view := typ == "view"
		t := &Table{Name: name, View: view, Rowid: !view && !withoutRowid(ddl), DDL: ddl}
		if !view {
			t.FTS = ParseFTS(ddl)
		}
		listed = append(listed, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read gate: %w", err)
	}
	return listed, nil
}

// loadWithVersions reads, in one statement, the schema version, whether
// the gate tables exist, and _table_versions (which tablecast never drops:
// an error here is an error). It reports the gate tables found.
func loadWithVersions(ctx context.Context, tx *sql.Tx, s *Snapshot) (gate, whole bool, err error) {
	rows, err := tx.QueryContext(ctx, `SELECT
		EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?),
		EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?),
		(SELECT schema_version FROM pragma_schema_version),
		v.table_name, v.version
		FROM (SELECT 1) LEFT JOIN `+tablecast.QuoteIdent(tablecast.TableVersionsTable)+` AS v`,
		tablecast.PublicTablesTable, tablecast.PublicDatabaseTable)
	if err != nil {
		return false, false, fmt.Errorf("read table versions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name sql.NullString
		var v sql.NullInt64
		if err := rows.Scan(&gate, &whole, &s.SchemaVersion, &name, &v); err != nil {
			return false, false, fmt.Errorf("read table versions: %w", err)
		}
		s.setVersion(name, v)
	}
	s.HasVersions = true
	return gate, whole, rows.Err()
}

// setVersion records one row of _table_versions (none when !name.Valid).
func (s *Snapshot) setVersion(name sql.NullString, v sql.NullInt64) {
	switch {
	case !name.Valid:
	case name.String == "":
		s.Offset = int64(s.TXID) - v.Int64
	default:
		s.Versions[name.String] = v.Int64
	}
}

// loadVersions reads _table_versions; its row named "" counts all
// tablecast writes.
func loadVersions(ctx context.Context, tx *sql.Tx, s *Snapshot) error {
	rows, err := tx.QueryContext(ctx, `SELECT table_name, version FROM `+tablecast.QuoteIdent(tablecast.TableVersionsTable))
	if err != nil {
		return fmt.Errorf("read table versions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name sql.NullString
		var v sql.NullInt64
		if err := rows.Scan(&name, &v); err != nil {
			return fmt.Errorf("read table versions: %w", err)
		}
		s.setVersion(name, v)
	}
	return rows.Err()
}

func loadColumns(ctx context.Context, tx *sql.Tx, t *Table) error {
	rows, err := tx.QueryContext(ctx, `SELECT name, pk, type FROM pragma_table_info(?) ORDER BY cid`, t.Name)
	if err != nil {
		return fmt.Errorf("columns of %s: %w", t.Name, err)
	}
	defer rows.Close()
	pks := map[int]string{}
	integer := false
	for rows.Next() {
		var name, typ string
		var pk int
		if err := rows.Scan(&name, &pk, &typ); err != nil {
			return fmt.Errorf("columns of %s: %w", t.Name, err)
		}
		t.Columns = append(t.Columns, name)
		if pk > 0 {
			pks[pk] = name
			integer = strings.EqualFold(typ, "INTEGER")
		}
	}
	for i := 1; i <= len(pks); i++ {
		t.PKs = append(t.PKs, pks[i])
	}
	// "INTEGER PRIMARY KEY DESC" is SQLite's one exception (no alias): any
	// DESC in the statement counts as one, which only costs a tiebreak.
	t.RowidAlias = t.Rowid && len(pks) == 1 && integer && !strings.Contains(strings.ToUpper(t.DDL), "DESC")
	return rows.Err()
}

// withoutRowid reports whether a CREATE TABLE statement ends in WITHOUT ROWID.
func withoutRowid(ddl string) bool {
	i := strings.LastIndexByte(ddl, ')')
	if i < 0 {
		return false
	}
	tail := strings.ToUpper(ddl[i:])
	return strings.Contains(tail, "WITHOUT") && strings.Contains(tail, "ROWID")
}

// PrivateView is s with every table and view of the database, private
// ones included (never tablecast's own or SQLite's): what a read token
// may read. It is loaded in tx, which is pinned at s's TXID, and kept with
// s: every transaction pinned at that TXID sees the same schema. It is
// never a database's last snapshot nor a cache key's source.
func (s *Snapshot) PrivateView(ctx context.Context, tx *sql.Tx) (*Snapshot, error) {
	if p := s.private.Load(); p != nil {
		return p, nil
	}
	listed, err := loadListed(ctx, tx, true)
	if err != nil {
		return nil, err
	}
	tables := make(map[string]*Table, len(listed))
	for _, t := range listed {
		if err := loadColumns(ctx, tx, t); err != nil {
			if t.View {
				continue // a view over a dropped table cannot be read
			}
			return nil, err
		}
		tables[t.Name] = t
	}
	p := &Snapshot{TXID: s.TXID, tables: tables, txidHeader: s.txidHeader, Versions: s.Versions, Offset: s.Offset,
		AllTables: s.AllTables, AllowSQL: s.AllowSQL, SchemaVersion: s.SchemaVersion, HasVersions: s.HasVersions, isPrivate: true, extras: s.extras}
	s.private.CompareAndSwap(nil, p)
	return s.private.Load(), nil
}
