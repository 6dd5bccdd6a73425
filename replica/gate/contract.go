package gate

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tablecast/tablecast"
)

// The storage contract: the tables the gate reads, as the primary creates
// them. Every writer of them is in this file.
var (
	// PublicTablesDDL creates _public_tables: one row per table or view
	// listed as public, by its name as spelled in the schema.
	PublicTablesDDL = `CREATE TABLE IF NOT EXISTS ` + tablecast.QuoteIdent(tablecast.PublicTablesTable) + ` (
	table_name TEXT PRIMARY KEY,
	published_at TEXT NOT NULL,
	published_by TEXT NOT NULL
)`

	// PublicAuditDDL creates _public_audit: every publish and unpublish,
	// "*" for the database-wide switches.
	PublicAuditDDL = `CREATE TABLE IF NOT EXISTS ` + tablecast.QuoteIdent(tablecast.PublicAuditTable) + ` (
	id INTEGER PRIMARY KEY,
	at TEXT NOT NULL,
	action TEXT NOT NULL,
	table_name TEXT NOT NULL,
	token_name TEXT NOT NULL
)`

	// TableVersionsDDL creates _table_versions: per table, the tablecast
	// write transactions that changed it; the row named "" counts them all and
	// the _public_tables row counts the changes of the gate.
	TableVersionsDDL = `CREATE TABLE IF NOT EXISTS ` + tablecast.QuoteIdent(tablecast.TableVersionsTable) + ` (
	table_name TEXT PRIMARY KEY,
	version INTEGER NOT NULL
)`

	// PublicDatabaseDDL creates _public_database, made on the first
	// database-wide switch: one row (id 1), every table public
	// (all_tables) and public SQL (allow_sql).
	PublicDatabaseDDL = `CREATE TABLE IF NOT EXISTS ` + tablecast.QuoteIdent(tablecast.PublicDatabaseTable) + ` (
			id INTEGER PRIMARY KEY CHECK (id = 1),
			all_tables INTEGER NOT NULL DEFAULT 0,
			allow_sql INTEGER NOT NULL DEFAULT 0,
			updated_at TEXT NOT NULL,
			updated_by TEXT NOT NULL)`

	// DDL creates the tables tablecast keeps in every database.
	DDL = PublicTablesDDL + ";\n" + PublicAuditDDL + ";\n" + TableVersionsDDL + ";"
)

// The actions of _public_audit.
const (
	ActionPublish   = "publish"
	ActionUnpublish = "unpublish"
	ActionDrop      = "drop" // the table or view was dropped: its listing went with it
)

// CreateTables creates tablecast's own tables if they do not exist yet.
func CreateTables(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, DDL); err != nil {
		return fmt.Errorf("create tablecast tables: %w", err)
	}
	return nil
}

var bumpSQL = `INSERT INTO ` + tablecast.QuoteIdent(tablecast.TableVersionsTable) +
	` VALUES (?, 1) ON CONFLICT(table_name) DO UPDATE SET version = version + 1`

// BumpVersions adds one to the version of table and to the global counter
// (the row named ""). Every tablecast write transaction calls it once.
// A table with triggers (a full-text index's, or any made with execute)
// may have written other tables too: then every table's version moves.
func BumpVersions(ctx context.Context, tx *sql.Tx, table string) error {
	for _, name := range []string{table, ""} {
		if _, err := tx.ExecContext(ctx, bumpSQL, name); err != nil {
			return fmt.Errorf("bump table version: %w", err)
		}
	}
	var triggers bool
	if err := tx.QueryRowContext(ctx, hasTriggersSQL, table).Scan(&triggers); err != nil {
		return fmt.Errorf("look up triggers: %w", err)
	}
	if triggers {
		return bumpAll(ctx, tx)
	}
	return nil
}

var hasTriggersSQL = `SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? COLLATE NOCASE)`

// WriteCounterSQL reads the global write counter (the row named "" of
// _table_versions): after a COMMIT that reported an error, whether the
// counter moved tells whether the write committed.
var WriteCounterSQL = `SELECT version FROM ` + tablecast.QuoteIdent(tablecast.TableVersionsTable) + ` WHERE table_name = ''`

// bumpGate adds one to the gate's version (the _public_tables row of
// _table_versions): readers reload the gate only when it, the schema, or a
// write from outside tablecast moved. Not the global counter: the
// transaction's BumpVersions counts it once.
func bumpGate(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, bumpSQL, tablecast.PublicTablesTable); err != nil {
		return fmt.Errorf("bump gate version: %w", err)
	}
	return nil
}

// Publish lists name (as spelled in the schema) in _public_tables on
// behalf of token, audited and versioned in tx.
func Publish(ctx context.Context, tx *sql.Tx, name, token string) error {
	return setPublic(ctx, tx, name, true, token)
}

// Unpublish takes name off _public_tables on behalf of token, audited and
// versioned in tx.
func Unpublish(ctx context.Context, tx *sql.Tx, name, token string) error {
	return setPublic(ctx, tx, name, false, token)
}

// Drop takes name off _public_tables in tx, the transaction that drops
// the table or view name (or creates a new one of that name, whose old
// listing outlived a drop made outside tablecast): a name never comes
// back public with a new table. Every listing is matched as SQLite
// matches names, case-insensitively. A listing taken off is audited as a
// drop on behalf of token and bumps the gate's version; the caller bumps
// name's version (BumpVersions, once per transaction), and keeps its row
// of _table_versions: versions only grow, so a new table of that name
// never meets the cache keys of the old one.
func Drop(ctx context.Context, tx *sql.Tx, name, token string) error {
	q := "DELETE FROM " + tablecast.QuoteIdent(tablecast.PublicTablesTable) + " WHERE table_name = ? COLLATE NOCASE"
	res, err := tx.ExecContext(ctx, q, name)
	if err != nil {
		return fmt.Errorf("drop %s from the gate: %w", name, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("drop %s from the gate: %w", name, err)
	} else if n == 0 {
		return nil
	}
	if err := audit(ctx, tx, timestamp(), ActionDrop, name, token); err != nil {
		return err
	}
	return bumpGate(ctx, tx)
}

func setPublic(ctx context.Context, tx *sql.Tx, name string, public bool, token string) error {
	now := timestamp()
	action := ActionUnpublish
	q := "DELETE FROM " + tablecast.QuoteIdent(tablecast.PublicTablesTable) + " WHERE table_name = ?"
	args := []any{name}
	if public {
		action = ActionPublish
		q = "INSERT OR IGNORE INTO " + tablecast.QuoteIdent(tablecast.PublicTablesTable) +
			" (table_name, published_at, published_by) VALUES (?, ?, ?)"
		args = []any{name, now, token}
	}
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	if err := audit(ctx, tx, now, action, name, token); err != nil {
		return err
	}
	if err := bumpGate(ctx, tx); err != nil {
		return err
	}
	return BumpVersions(ctx, tx, name)
}

func audit(ctx context.Context, tx *sql.Tx, at, action, name, token string) error {
	q := "INSERT INTO " + tablecast.QuoteIdent(tablecast.PublicAuditTable) +
		" (at, action, table_name, token_name) VALUES (?, ?, ?, ?)"
	if _, err := tx.ExecContext(ctx, q, at, action, name, token); err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

// Change is one row of _public_audit: when, what and by which token.
type Change struct {
	At, Action, Token string
}

// LastChange is the last visibility change of table recorded in
// _public_audit; ok is false when there is none (or no audit table yet).
func LastChange(ctx context.Context, tx *sql.Tx, table string) (c Change, ok bool, err error) {
	q := "SELECT at, action, token_name FROM " + tablecast.QuoteIdent(tablecast.PublicAuditTable) +
		" WHERE table_name = ? ORDER BY id DESC LIMIT 1"
	err = tx.QueryRowContext(ctx, q, table).Scan(&c.At, &c.Action, &c.Token)
	if errors.Is(err, sql.ErrNoRows) || isNoSuchTable(err) {
		return Change{}, false, nil
	}
	if err != nil {
		return Change{}, false, fmt.Errorf("read the audit of %s: %w", table, err)
	}
	return c, true, nil
}

// SetDatabase sets the database-wide switches of _public_database (every
// table and view public; public SQL) on behalf of token, audited (as
// table "*") and versioned in tx.
func SetDatabase(ctx context.Context, tx *sql.Tx, all, allowSQL bool, token string) error {
	now := timestamp()
	if _, err := tx.ExecContext(ctx, PublicDatabaseDDL); err != nil {
		return fmt.Errorf("publish database: %w", err)
	}
	q := `INSERT INTO ` + tablecast.QuoteIdent(tablecast.PublicDatabaseTable) + ` VALUES (1, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET
			all_tables = excluded.all_tables, allow_sql = excluded.allow_sql,
			updated_at = excluded.updated_at, updated_by = excluded.updated_by`
	if _, err := tx.ExecContext(ctx, q, boolInt(all), boolInt(allowSQL), now, token); err != nil {
		return fmt.Errorf("publish database: %w", err)
	}
	action := ActionUnpublish
	if all || allowSQL {
		action = ActionPublish
	}
	if err := audit(ctx, tx, now, action, "*", token); err != nil {
		return err
	}
	if err := bumpGate(ctx, tx); err != nil {
		return err
	}
	return BumpVersions(ctx, tx, tablecast.PublicDatabaseTable)
}

// DatabaseSwitches reads the database-wide switches (both off when
// _public_database is absent).
func DatabaseSwitches(ctx context.Context, tx *sql.Tx) (all, allowSQL bool, err error) {
	q := "SELECT all_tables = 1, allow_sql = 1 FROM " + tablecast.QuoteIdent(tablecast.PublicDatabaseTable) + " WHERE id = 1"
	err = tx.QueryRowContext(ctx, q).Scan(&all, &allowSQL)
	if errors.Is(err, sql.ErrNoRows) || isNoSuchTable(err) {
		return false, false, nil
	}
	return all, allowSQL, err
}

// Listed returns the names listed in _public_tables, in name order
// (none when the table is absent). Some may name dropped tables.
func Listed(ctx context.Context, tx *sql.Tx) ([]string, error) {
	rows, err := tx.QueryContext(ctx, "SELECT table_name FROM "+tablecast.QuoteIdent(tablecast.PublicTablesTable)+" ORDER BY 1")
	if isNoSuchTable(err) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	return names, rows.Err()
}

// IsListed reports whether _public_tables lists exactly name.
func IsListed(ctx context.Context, tx *sql.Tx, name string) (bool, error) {
	var listed bool
	err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM "+tablecast.QuoteIdent(tablecast.PublicTablesTable)+
		" WHERE table_name = ?)", name).Scan(&listed)
	if isNoSuchTable(err) {
		return false, nil
	}
	return listed, err
}

// TablePublic reports whether anyone may read table (a table of the
// schema, as spelled there) in tx, as Snapshot.Visible decides it at the
// same TXID: not tablecast's or SQLite's, and listed in _public_tables
// (by its exact name) or the whole database is public.
func TablePublic(ctx context.Context, tx *sql.Tx, table string) (bool, error) {
	if tablecast.IsReservedTable(table) {
		return false, nil
	}
	all, _, err := DatabaseSwitches(ctx, tx)
	if err != nil {
		return false, fmt.Errorf("read database switches: %w", err)
	}
	if all {
		return true, nil
	}
	listed, err := IsListed(ctx, tx, table)
	if err != nil || !listed {
		return false, wrapErr("read public tables", err)
	}
	// An FTS index over a private content= table is not public (the
	// snapshot's dropFTSOverPrivate).
	var ddl string
	err = tx.QueryRowContext(ctx, `SELECT coalesce(sql, '') FROM sqlite_master WHERE name = ? AND type = 'table'`, table).Scan(&ddl)
	if errors.Is(err, sql.ErrNoRows) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("read the schema of %s: %w", table, err)
	}
	if f := ParseFTS(ddl); f != nil && f.Content != "" {
		content := f.Content
		var public bool
		err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM "+tablecast.QuoteIdent(tablecast.PublicTablesTable)+
			" WHERE table_name = ? COLLATE NOCASE)", content).Scan(&public)
		if err != nil {
			return false, fmt.Errorf("read public tables: %w", err)
		}
		return public, nil
	}
	return true, nil
}

func wrapErr(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

func isNoSuchTable(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no such table")
}

// timestamp is the current time, UTC, RFC 3339 with milliseconds.
func timestamp() string {
	return time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// Canned queries and metadata (issue 18): two more tables of the storage
// contract, reserved like the others (their names start with '_'), read
// by the gate with the public tables (canned.go), so that a snapshot knows
// which queries a visitor may run and which metadata it may read.
const (
	CannedQueriesTable = "_canned_queries"
	MetadataTable      = "_metadata"
)

var (
	// CannedQueriesDDL creates _canned_queries: one row per named query;
	// params and tables are JSON arrays found when it was defined (its
	// named parameters, the tables it reads); public is 0 or 1.
	CannedQueriesDDL = `CREATE TABLE IF NOT EXISTS ` + tablecast.QuoteIdent(CannedQueriesTable) + ` (
	name TEXT PRIMARY KEY,
	sql TEXT NOT NULL,
	title TEXT NOT NULL DEFAULT '',
	description TEXT NOT NULL DEFAULT '',
	description_html TEXT NOT NULL DEFAULT '',
	params TEXT NOT NULL DEFAULT '[]',
	tables TEXT NOT NULL DEFAULT '[]',
	public INTEGER NOT NULL DEFAULT 0,
	updated_at TEXT NOT NULL,
	updated_by TEXT NOT NULL
)`

	// MetadataDDL creates _metadata: one row per key of the database
	// (table_name ''), a table or view (column_name '') or a column.
	MetadataDDL = `CREATE TABLE IF NOT EXISTS ` + tablecast.QuoteIdent(MetadataTable) + ` (
	table_name TEXT NOT NULL,
	column_name TEXT NOT NULL,
	key TEXT NOT NULL,
	value TEXT NOT NULL,
	PRIMARY KEY (table_name, column_name, key)
)`
)

// Audit actions of canned queries and metadata (in _public_audit, the
// target named "query:NAME" or "metadata:TABLE.COLUMN").
const (
	ActionDefineQuery = "define-query"
	ActionDropQuery   = "drop-query"
	ActionSetMetadata = "set-metadata"
)

// CannedQuery is what DefineQuery stores.
type CannedQuery struct {
	Name, SQL, Title, Description, DescriptionHTML string
	Params, Tables                                 []string
}

// DefineQuery creates or replaces the canned query q (keeping whether it
// is public) on behalf of token, audited and versioned in tx.
func DefineQuery(ctx context.Context, tx *sql.Tx, q CannedQuery, token string) error {
	if _, err := tx.ExecContext(ctx, CannedQueriesDDL); err != nil {
		return fmt.Errorf("define query: %w", err)
	}
	params, _ := json.Marshal(nonNil(q.Params))
	tables, _ := json.Marshal(nonNil(q.Tables))
	now := timestamp()
	_, err := tx.ExecContext(ctx, `INSERT INTO `+tablecast.QuoteIdent(CannedQueriesTable)+`
		(name, sql, title, description, description_html, params, tables, public, updated_at, updated_by)
		VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?) ON CONFLICT (name) DO UPDATE SET
		sql = excluded.sql, title = excluded.title, description = excluded.description,
		description_html = excluded.description_html, params = excluded.params, tables = excluded.tables,
		updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
		q.Name, q.SQL, q.Title, q.Description, q.DescriptionHTML, string(params), string(tables), now, token)
	if err != nil {
		return fmt.Errorf("define query: %w", err)
	}
	return extrasChanged(ctx, tx, now, ActionDefineQuery, "query:"+q.Name, token)
}

// ErrNoQuery answers a change of a canned query that does not exist.
func ErrNoQuery(name string) error {
	return tablecast.Errorf(tablecast.ENOTFOUND, "Canned query not found: %s", name)
}

// DropQuery removes the canned query name, audited and versioned in tx.
func DropQuery(ctx context.Context, tx *sql.Tx, name, token string) error {
	res, err := tx.ExecContext(ctx, `DELETE FROM `+tablecast.QuoteIdent(CannedQueriesTable)+` WHERE name = ?`, name)
	if isNoSuchTable(err) {
		return ErrNoQuery(name)
	} else if err != nil {
		return fmt.Errorf("drop query: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNoQuery(name)
	}
	return extrasChanged(ctx, tx, timestamp(), ActionDropQuery, "query:"+name, token)
}

// SetQueryPublic makes the canned query name public or private, audited
// (publish, unpublish) and versioned in tx.
func SetQueryPublic(ctx context.Context, tx *sql.Tx, name string, public bool, token string) error {
	res, err := tx.ExecContext(ctx, `UPDATE `+tablecast.QuoteIdent(CannedQueriesTable)+
		` SET public = ?, updated_at = ?, updated_by = ? WHERE name = ?`, boolInt(public), timestamp(), token, name)
	if isNoSuchTable(err) {
		return ErrNoQuery(name)
	} else if err != nil {
		return fmt.Errorf("publish query: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNoQuery(name)
	}
	action := ActionUnpublish
	if public {
		action = ActionPublish
	}
	return extrasChanged(ctx, tx, timestamp(), action, "query:"+name, token)
}

// SetMetadata sets (value != nil) or removes (nil) keys of the metadata
// of the database (table ""), a table or view (column ""), or a column,
// audited and versioned in tx: the table's version moves, so its cached
// pages do.
func SetMetadata(ctx context.Context, tx *sql.Tx, table, column string, keys map[string]*string, token string) error {
	if _, err := tx.ExecContext(ctx, MetadataDDL); err != nil {
		return fmt.Errorf("set metadata: %w", err)
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		v := keys[k]
		var err error
		if v == nil {
			_, err = tx.ExecContext(ctx, `DELETE FROM `+tablecast.QuoteIdent(MetadataTable)+
				` WHERE table_name = ? AND column_name = ? AND key = ?`, table, column, k)
		} else {
			_, err = tx.ExecContext(ctx, `INSERT INTO `+tablecast.QuoteIdent(MetadataTable)+
				` VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET value = excluded.value`, table, column, k, *v)
		}
		if err != nil {
			return fmt.Errorf("set metadata: %w", err)
		}
	}
	target := "metadata:" + table
	if column != "" {
		target += "." + column
	}
	if err := extrasChanged(ctx, tx, timestamp(), ActionSetMetadata, target, token); err != nil {
		return err
	}
	if table != "" {
		// The table's pages (and their cache keys) move with it.
		if _, err := tx.ExecContext(ctx, bumpSQL, table); err != nil {
			return fmt.Errorf("bump table version: %w", err)
		}
	}
	return nil
}

// extrasChanged audits a change of the canned queries or metadata and
// moves the gate's version (readers reload them with the gate) and the
// global counter (BumpVersions) of the transaction.
func extrasChanged(ctx context.Context, tx *sql.Tx, now, action, target, token string) error {
	if _, err := tx.ExecContext(ctx, PublicAuditDDL); err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	if err := audit(ctx, tx, now, action, target, token); err != nil {
		return err
	}
	if err := bumpGate(ctx, tx); err != nil {
		return err
	}
	return BumpVersions(ctx, tx, tablecast.PublicTablesTable)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Reconcile brings the gate in step with the schema after a schema change,
// inside the transaction tx that made it: every _public_tables entry that
// names no table or view (by its exact name, as the gate reads it) is
// removed, and so is every entry named in replaced, the tables and views
// that the transaction dropped, renamed or created (a new object does not
// inherit the publicity of an old one of the same name, even when it
// took the name back within the transaction). A renamed public table is
// thus private under its new name, and a later object with the old name
// is private too. Each removal is audited in _public_audit as an
// unpublish by token, and the gate's version moves (readers reload it).
// It returns the names removed, in name order. Every schema change calls
// it: execute, create-view, enable-fts, drop.
func Reconcile(ctx context.Context, tx *sql.Tx, token string, replaced ...string) ([]string, error) {
	listed, err := Listed(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("reconcile: %w", err)
	}
	gone := map[string]bool{}
	for _, name := range replaced {
		gone[name] = true
	}
	var removed []string
	for _, name := range listed {
		if !gone[name] {
			var exists bool
			err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?)`, name).Scan(&exists)
			if err != nil {
				return nil, fmt.Errorf("reconcile %s: %w", name, err)
			}
			if exists {
				continue
			}
		}
		if err := setPublic(ctx, tx, name, false, token); err != nil {
			return nil, fmt.Errorf("reconcile: %w", err)
		}
		removed = append(removed, name)
	}
	return removed, nil
}

// BumpAllVersions adds one to the version of every table and view of the
// schema, and to the global counter: a transaction that may have changed
// any of them (execute runs any SQL) moves every table's cache keys.
func BumpAllVersions(ctx context.Context, tx *sql.Tx) error {
	if err := bumpAll(ctx, tx); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, bumpSQL, ""); err != nil {
		return fmt.Errorf("bump table version: %w", err)
	}
	return nil
}

// bumpAll adds one to the version of every table and view of the schema
// but tablecast's own (the gate's version moves only with the gate).
func bumpAll(ctx context.Context, tx *sql.Tx) error {
	q := `INSERT INTO ` + tablecast.QuoteIdent(tablecast.TableVersionsTable) + ` (table_name, version)
		SELECT name, 1 FROM sqlite_master WHERE type IN ('table', 'view') AND name <> '' AND substr(name, 1, 1) <> '_'
		ON CONFLICT(table_name) DO UPDATE SET version = version + 1`
	if _, err := tx.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("bump every table version: %w", err)
	}
	return nil
}
