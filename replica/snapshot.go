package replica

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/tablecast/tablecast"
)

// snapshot is what the gate knows of one database at one TXID: the public
// tables and views, with the shape a read needs. It is loaded inside the
// read transaction that pins that TXID, so gate and rows always agree.
type snapshot struct {
	txid   tablecast.TXID
	tables map[string]*table // public tables and views only

	// txidHeader is the Tablecast-Txid value of answers at this snapshot.
	txidHeader []string

	// versions counts, per table, the tablecast write transactions that
	// changed it (data or publication); offset is the TXID minus the count
	// of all tablecast write transactions. A write that did not come
	// through tablecast moves the TXID alone and so the offset: two
	// snapshots with the same offset and the same version of a table hold
	// the same rows and gate for that table.
	versions map[string]int64
	offset   int64

	// The database-wide switches of _public_database at this snapshot:
	// every table and view public, and public SQL on.
	allTables, allowSQL bool

	// schemaVersion is SQLite's schema cookie: it moves with every change
	// of the schema.
	schemaVersion int64

	// hasVersions: the database has _table_versions (tablecast wrote to it).
	hasVersions bool

	// private is this snapshot with private tables too, for tokens with
	// the read scope (privateView); loaded on first use.
	private atomic.Pointer[snapshot]

	// isPrivate marks a private view (privateView): it lists private
	// tables, so nothing public (the response cache, public SQL's shadow,
	// verdicts and root pages) may be keyed on or built from it.
	isPrivate bool
}

// gateVersion counts tablecast's publish, unpublish and whole-database
// switches (0 for a database tablecast never published in).
func (s *snapshot) gateVersion() int64 { return s.versions[tablecast.PublicTablesTable] }

// sameGate reports whether s can reuse prev's gate: only tablecast wrote in
// between (same offset), none of it published, unpublished or switched (same
// gate version), and the schema did not change (same schema version). Then
// the public tables, their shapes and the switches are prev's.
func (s *snapshot) sameGate(prev *snapshot) bool {
	return prev != nil && s.gateVersion() > 0 && prev.gateVersion() == s.gateVersion() &&
		prev.offset == s.offset && prev.schemaVersion == s.schemaVersion
}

// visible reports whether a visitor may know the database exists: it has
// a public table or view, or public SQL.
func (s *snapshot) visible() bool { return len(s.tables) > 0 || s.allowSQL }

// hidden is the 404 of a route whose database or table a visitor may not
// see at this snapshot, nil when it may: the same error as a missing one.
// Public SQL on a database a visitor sees with SQL off is gateSQL's 403.
func (s *snapshot) hidden(rt route) error {
	switch rt.kind {
	case routeDB, routeQuery:
		if !s.visible() {
			return errDBNotFound(rt.db)
		}
	case routeTable, routeRow:
		if _, ok := s.allowed(rt.table); !ok {
			return errTableNotFound(rt.table)
		}
	}
	return nil
}

// table describes one public table or view.
type table struct {
	Name    string
	View    bool
	Columns []string
	PKs     []string // primary key columns, in key order; empty for views and rowid tables without one
	Rowid   bool     // has a rowid (rowid tables); pagination uses it
	DDL     string   // its CREATE statement, as in sqlite_master
}

// hasColumn reports whether rows of t can be filtered or sorted by c.
func (t *table) hasColumn(c string) bool {
	return containsString(t.Columns, c) || (c == "rowid" && t.Rowid)
}

// names lists the public tables in name order.
func (s *snapshot) names() []string {
	names := make([]string, 0, len(s.tables))
	for name := range s.tables {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// allowed is the gate: a table or view is readable only when it is listed
// in _public_tables at this snapshot.
func (s *snapshot) allowed(name string) (*table, bool) {
	t, ok := s.tables[name]
	return t, ok
}

// loadSnapshot reads the gate and the public tables' shapes inside tx.
// Its first statement pins the transaction's snapshot.
// When prev's gate still holds (sameGate), only the versions are read.
func loadSnapshot(ctx context.Context, tx *sql.Tx, txid tablecast.TXID, prev *snapshot) (*snapshot, error) {
	s := &snapshot{txid: txid, txidHeader: []string{txid.String()}, tables: map[string]*table{}, versions: map[string]int64{}, offset: int64(txid)}
	var gate, versions, whole bool
	fast := prev != nil && prev.hasVersions
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
			tablecast.PublicTablesTable, tablecast.TableVersionsTable, tablecast.PublicDatabaseTable).Scan(&gate, &versions, &whole, &s.schemaVersion)
		if err != nil {
			return nil, fmt.Errorf("find gate table: %w", err)
		}
		if versions {
			if err := loadVersions(ctx, tx, s); err != nil {
				return nil, err
			}
		}
	}
	s.hasVersions = versions
	if s.sameGate(prev) {
		s.tables, s.allTables, s.allowSQL = prev.tables, prev.allTables, prev.allowSQL
		return s, nil
	}
	if whole {
		if err := loadDatabaseFlags(ctx, tx, s); err != nil {
			return nil, err
		}
	}
	if !gate && !s.allTables {
		return s, nil
	}
	listed, err := loadListed(ctx, tx, s.allTables)
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
	return s, nil
}

// loadDatabaseFlags reads the database-wide switches; anything but a
// clear 1 is off.
func loadDatabaseFlags(ctx context.Context, tx *sql.Tx, s *snapshot) error {
	err := tx.QueryRowContext(ctx, `SELECT coalesce(all_tables = 1, 0), coalesce(allow_sql = 1, 0) FROM `+
		tablecast.QuoteIdent(tablecast.PublicDatabaseTable)+` WHERE id = 1`).Scan(&s.allTables, &s.allowSQL)
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
func loadListed(ctx context.Context, tx *sql.Tx, all bool) ([]*table, error) {
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
	var listed []*table
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
		listed = append(listed, &table{Name: name, View: view, Rowid: !view && !withoutRowid(ddl), DDL: ddl})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read gate: %w", err)
	}
	return listed, nil
}

// loadWithVersions reads, in one statement, the schema version, whether
// the gate tables exist, and _table_versions (which tablecast never drops:
// an error here is an error). It reports the gate tables found.
func loadWithVersions(ctx context.Context, tx *sql.Tx, s *snapshot) (gate, whole bool, err error) {
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
		if err := rows.Scan(&gate, &whole, &s.schemaVersion, &name, &v); err != nil {
			return false, false, fmt.Errorf("read table versions: %w", err)
		}
		s.setVersion(name, v)
	}
	s.hasVersions = true
	return gate, whole, rows.Err()
}

// setVersion records one row of _table_versions (none when !name.Valid).
func (s *snapshot) setVersion(name sql.NullString, v sql.NullInt64) {
	switch {
	case !name.Valid:
	case name.String == "":
		s.offset = int64(s.txid) - v.Int64
	default:
		s.versions[name.String] = v.Int64
	}
}

// loadVersions reads _table_versions; its ” row counts all tablecast writes.
func loadVersions(ctx context.Context, tx *sql.Tx, s *snapshot) error {
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

// cacheKey names the data a response on route was rendered from. Table and
// row answers depend on one table (its rows and whether it is public):
// they key on its version, the offset and the database-wide switches, and
// so survive writes to other tables. Database and query answers and
// public views key on the TXID.
func (s *snapshot) cacheKey(rt route) string {
	var buf [192]byte
	return string(s.appendCacheKey(buf[:0], rt))
}

// appendCacheKey appends cacheKey(rt) to dst: a hit looks up a key built
// on the stack, with no allocation.
func (s *snapshot) appendCacheKey(dst []byte, rt route) []byte {
	// A view's rows come from other tables: key public views on the TXID.
	if t, ok := s.tables[rt.table]; rt.kind == routeDB || rt.kind == routeQuery || (ok && t.View) {
		dst = append(append(append(dst, "D\x00"...), rt.canonical...), 0)
		return strconv.AppendUint(dst, uint64(s.txid), 10)
	}
	dst = append(append(append(append(append(dst, "T\x00"...), rt.db...), 0), rt.table...), 0)
	dst = append(strconv.AppendInt(dst, s.versions[rt.table], 10), 0)
	dst = append(strconv.AppendInt(dst, s.offset, 10), 0)
	return append(append(dst, s.switches()...), rt.canonical...)
}

// switches writes the database-wide switches for cache keys.
func (s *snapshot) switches() string {
	return [...]string{"00\x00", "01\x00", "10\x00", "11\x00"}[b2i(s.allTables)<<1|b2i(s.allowSQL)]
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func loadColumns(ctx context.Context, tx *sql.Tx, t *table) error {
	rows, err := tx.QueryContext(ctx, `SELECT name, pk FROM pragma_table_info(?) ORDER BY cid`, t.Name)
	if err != nil {
		return fmt.Errorf("columns of %s: %w", t.Name, err)
	}
	defer rows.Close()
	pks := map[int]string{}
	for rows.Next() {
		var name string
		var pk int
		if err := rows.Scan(&name, &pk); err != nil {
			return fmt.Errorf("columns of %s: %w", t.Name, err)
		}
		t.Columns = append(t.Columns, name)
		if pk > 0 {
			pks[pk] = name
		}
	}
	for i := 1; i <= len(pks); i++ {
		t.PKs = append(t.PKs, pks[i])
	}
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
