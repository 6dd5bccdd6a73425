package gate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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
func BumpVersions(ctx context.Context, tx *sql.Tx, table string) error {
	for _, name := range []string{table, ""} {
		if _, err := tx.ExecContext(ctx, bumpSQL, name); err != nil {
			return fmt.Errorf("bump table version: %w", err)
		}
	}
	return nil
}

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
	if err != nil {
		return false, fmt.Errorf("read public tables: %w", err)
	}
	return listed, nil
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
