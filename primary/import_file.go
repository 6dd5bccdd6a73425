package primary

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/mattn/go-sqlite3"
	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/replica/gate"
)

// sqliteMagic starts every SQLite database file.
const sqliteMagic = "SQLite format 3\x00"

// The magic numbers of a SQLite WAL file (-wal).
const (
	walMagicLE = 0x377f0682
	walMagicBE = 0x377f0683
)

// checkSQLiteFile refuses (400) a file that is not a whole, sound SQLite
// database: no SQLite header (another file, an encrypted database), a WAL
// file alone, a truncated file, or one that fails PRAGMA integrity_check.
func checkSQLiteFile(ctx context.Context, path string, size int64) error {
	if err := checkHeader(path, size); err != nil {
		return err
	}
	db, err := openImportFile(path)
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "PRAGMA integrity_check(20)")
	if err != nil {
		return notSound(err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var msg string
		if err := rows.Scan(&msg); err != nil {
			return notSound(err)
		}
		if msg != "ok" {
			problems = append(problems, msg)
		}
	}
	if err := rows.Err(); err != nil {
		return notSound(err)
	}
	if len(problems) > 0 {
		return tablecast.Errorf(tablecast.EINVALID, "The file fails PRAGMA integrity_check: %s; nothing was imported", strings.Join(problems, "; "))
	}
	return nil
}

// notSound turns an error SQLite met reading the file into a 400.
func notSound(err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return tablecast.Errorf(tablecast.EINVALID, "The file is not a sound SQLite database (%s); nothing was imported", se.Error())
	}
	return fmt.Errorf("check import file: %w", err)
}

// checkHeader reads the 100-byte database header.
func checkHeader(path string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open import file: %w", err)
	}
	defer f.Close()
	hdr := make([]byte, 100)
	n, err := io.ReadFull(f, hdr)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read import file: %w", err)
	}
	hdr = hdr[:n]
	if len(hdr) >= 4 {
		if m := binary.BigEndian.Uint32(hdr); m == walMagicLE || m == walMagicBE {
			return tablecast.Errorf(tablecast.EINVALID, "The file is a SQLite WAL file (-wal), not a database: checkpoint it into its database (PRAGMA wal_checkpoint(TRUNCATE)) and import the database file; nothing was imported")
		}
	}
	if len(hdr) < 100 || !bytes.HasPrefix(hdr, []byte(sqliteMagic)) {
		return tablecast.Errorf(tablecast.EINVALID, "The file is not a SQLite database (no \"SQLite format 3\" header; an encrypted database cannot be imported); nothing was imported")
	}
	pageSize := int64(binary.BigEndian.Uint16(hdr[16:]))
	if pageSize == 1 {
		pageSize = 65536
	}
	if pageSize < 512 || pageSize&(pageSize-1) != 0 {
		return tablecast.Errorf(tablecast.EINVALID, "The file's SQLite header is damaged (page size %d); nothing was imported", pageSize)
	}
	pages := int64(binary.BigEndian.Uint32(hdr[28:]))
	// The header's page count holds when its version-valid-for number
	// matches the change counter (SQLite 3.7.0 and later).
	valid := bytes.Equal(hdr[24:28], hdr[92:96])
	if size%pageSize != 0 || valid && pages*pageSize > size {
		return tablecast.Errorf(tablecast.EINVALID, "The file is truncated: %d bytes, not a whole number of its %d-byte pages (or fewer than its header's %d pages); nothing was imported", size, pageSize, pages)
	}
	return nil
}

// openImportFile opens the temporary file with one connection, in
// rollback-journal mode while it is prepared (prepareImport puts it back
// in WAL mode at the end).
func openImportFile(path string) (*sql.DB, error) {
	u := url.URL{Path: path}
	db, err := sql.Open("sqlite3", "file:"+u.EscapedPath()+"?mode=rw&_busy_timeout=5000&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open import file: %w", err)
	}
	db.SetMaxOpenConns(1)
	if err := db.Ping(); err != nil {
		_ = db.Close()
		return nil, notSound(err)
	}
	return db, nil
}

// importPrep is what an imported file holds, and what became public.
type importPrep struct {
	Tables, Views       []string // user tables and views (tablecast's and SQLite's left out)
	Indexes, Triggers   int
	Public              []string // listed in the file's _public_tables and kept (keep_public)
	Skipped             []string // listed there, but no such table or view, or a reserved name
	AllTables, AllowSQL bool     // the file's database-wide switches, kept (keep_public)
}

// prepareImport makes the file a tablecast database: tablecast's own
// tables (replica/gate's contract) are made afresh; a _public_tables the
// file carries (datasette-public's shape, or tablecast's) is dropped, and
// with keepPublic its tables and views are published again through the
// gate (audited, as by token); everything else is private. The write
// counter starts at 0, so the cache's offset (TXID minus the counter) of
// the new file is above every offset of a file it replaces. The file is
// left in WAL mode, as tablecast's databases are.
func prepareImport(ctx context.Context, path string, keepPublic bool, token string) (*importPrep, error) {
	db, err := openImportFile(path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "PRAGMA journal_mode=DELETE"); err != nil {
		return nil, notSound(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, notSound(err)
	}
	defer func() { _ = tx.Rollback() }()
	prep, kinds, err := readImportSchema(ctx, tx)
	if err != nil {
		return nil, err
	}
	if err := checkImportRefs(ctx, tx); err != nil {
		return nil, err
	}
	var listed []string
	if keepPublic {
		if listed, err = readListed(ctx, tx, kinds); err != nil {
			return nil, err
		}
		if prep.AllTables, prep.AllowSQL, err = gate.DatabaseSwitches(ctx, tx); err != nil {
			return nil, tablecast.Errorf(tablecast.EINVALID, "The file's %s cannot be read (%s); nothing was imported", tablecast.PublicDatabaseTable, err)
		}
	}
	for _, t := range []string{tablecast.PublicTablesTable, tablecast.TableVersionsTable, tablecast.PublicDatabaseTable} {
		if kinds[t] == "view" {
			return nil, tablecast.Errorf(tablecast.EINVALID, "The file has a view named %s, a name tablecast keeps for its own table; nothing was imported", t)
		}
		if _, err := tx.ExecContext(ctx, "DROP TABLE IF EXISTS "+tablecast.QuoteIdent(t)); err != nil {
			return nil, notSound(err)
		}
	}
	if err := gate.CreateTables(ctx, tx); err != nil {
		return nil, notSound(err)
	}
	for _, name := range listed {
		k := kinds[name]
		if (k != "table" && k != "view") || tablecast.IsReservedTable(name) {
			prep.Skipped = append(prep.Skipped, name)
			continue
		}
		if err := gate.Publish(ctx, tx, name, token); err != nil {
			return nil, notSound(err)
		}
		prep.Public = append(prep.Public, name)
	}
	if prep.AllTables || prep.AllowSQL {
		if err := gate.SetDatabase(ctx, tx, prep.AllTables, prep.AllowSQL, token); err != nil {
			return nil, notSound(err)
		}
	}
	if !keepPublic && kinds[gate.CannedQueriesTable] == "table" {
		// The file's canned queries arrive private, as its tables do.
		if _, err := tx.ExecContext(ctx, "UPDATE "+tablecast.QuoteIdent(gate.CannedQueriesTable)+" SET public = 0"); err != nil {
			return nil, tablecast.Errorf(tablecast.EINVALID, "The file's %s cannot be read (%s); nothing was imported", gate.CannedQueriesTable, err)
		}
	}
	if err := resetVersions(ctx, tx); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, notSound(err)
	}
	if _, err := db.ExecContext(ctx, "PRAGMA journal_mode=WAL"); err != nil {
		return nil, notSound(err)
	}
	return prep, nil
}

// readImportSchema lists the file's tables, views, indexes and triggers;
// kinds maps every name to its type.
func readImportSchema(ctx context.Context, tx *sql.Tx) (*importPrep, map[string]string, error) {
	rows, err := tx.QueryContext(ctx, "SELECT type, name FROM sqlite_master ORDER BY name")
	if err != nil {
		return nil, nil, notSound(err)
	}
	defer rows.Close()
	prep, kinds := &importPrep{}, map[string]string{}
	for rows.Next() {
		var typ, name string
		if err := rows.Scan(&typ, &name); err != nil {
			return nil, nil, notSound(err)
		}
		kinds[name] = typ
		switch {
		case strings.HasPrefix(strings.ToLower(name), "sqlite_"): // SQLite's own (autoindexes, sequences, stats)
		case typ == "index":
			prep.Indexes++
		case typ == "trigger":
			prep.Triggers++
		case tablecast.IsReservedTable(name):
		case typ == "table":
			prep.Tables = append(prep.Tables, name)
		case typ == "view":
			prep.Views = append(prep.Views, name)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, notSound(err)
	}
	return prep, kinds, nil
}

// readListed reads the names in the file's _public_tables, if it has one:
// datasette-public 0.2's (table_name TEXT PRIMARY KEY) or tablecast's.
func readListed(ctx context.Context, tx *sql.Tx, kinds map[string]string) ([]string, error) {
	if kinds[tablecast.PublicTablesTable] != "table" {
		return nil, nil
	}
	rows, err := tx.QueryContext(ctx, "SELECT DISTINCT table_name FROM "+tablecast.QuoteIdent(tablecast.PublicTablesTable)+" WHERE table_name IS NOT NULL ORDER BY 1")
	if err != nil {
		return nil, tablecast.Errorf(tablecast.EINVALID, "The file's %s is not datasette-public's (a table_name column): %s; nothing was imported", tablecast.PublicTablesTable, err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, notSound(err)
		}
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		return nil, notSound(err)
	}
	return names, nil
}

// resetVersions starts _table_versions afresh: the write counter (row "")
// at 0, the gate's version at 1 (a reader reuses a gate only at a version
// above 0), every table at 0.
func resetVersions(ctx context.Context, tx *sql.Tx) error {
	versions := tablecast.QuoteIdent(tablecast.TableVersionsTable)
	if _, err := tx.ExecContext(ctx, "DELETE FROM "+versions); err != nil {
		return notSound(err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO "+versions+" VALUES ('', 0), (?, 1)", tablecast.PublicTablesTable); err != nil {
		return notSound(err)
	}
	return nil
}

// removeSQLiteFiles removes a temporary database and its companions.
func removeSQLiteFiles(path string) {
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		_ = os.Remove(path + suffix)
	}
}

// checkImportRefs refuses a file whose triggers or views refer to
// tablecast's own tables, as execute refuses to make them (checkWritten):
// a trigger fired later by a mere writer's insert would publish.
func checkImportRefs(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, "SELECT type, name, lower(coalesce(sql, '')) FROM sqlite_master WHERE type IN ('trigger', 'view') ORDER BY name")
	if err != nil {
		return notSound(err)
	}
	defer rows.Close()
	for rows.Next() {
		var typ, name, ddl string
		if err := rows.Scan(&typ, &name, &ddl); err != nil {
			return notSound(err)
		}
		for _, g := range gateNames {
			if strings.Contains(ddl, g) {
				return tablecast.Errorf(tablecast.EINVALID, "The file's %s %s refers to tablecast's own table %s; nothing was imported", typ, name, g)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return notSound(err)
	}
	return nil
}
