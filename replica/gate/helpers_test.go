package gate

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"
	"github.com/tablecast/tablecast"
)

// publish lists name in _public_tables, as a test's outside write.
func publish(name string) string {
	return fmt.Sprintf(`INSERT OR IGNORE INTO _public_tables VALUES ('%s', 'now', 'test')`, name)
}

// publicDB sets the database-wide switches, as a test's outside write.
func publicDB(all, sql bool) []string {
	return []string{PublicDatabaseDDL,
		fmt.Sprintf(`INSERT OR REPLACE INTO _public_database VALUES (1, %d, %d, 'now', 'test')`, boolInt(all), boolInt(sql))}
}

// demoSQL is replica's seedSQL: public SQL on, public tables and views,
// private ones, and views that read private tables.
var demoSQL = append([]string{PublicTablesDDL,
	`CREATE TABLE cities (id INTEGER PRIMARY KEY, name TEXT, pop INTEGER)`,
	`INSERT INTO cities VALUES (1, 'London', 9), (2, 'Sydney', 5), (3, 'Oslo', 1)`,
	`CREATE TABLE secrets (id INTEGER PRIMARY KEY, secret TEXT)`,
	`INSERT INTO secrets VALUES (1, 'hunter2')`,
	`CREATE TABLE MixedCase (id INTEGER PRIMARY KEY, s TEXT)`,
	`INSERT INTO MixedCase VALUES (1, 'hunter3')`,
	`CREATE VIEW big AS SELECT name FROM cities WHERE pop > 2`,
	`CREATE VIEW leak AS SELECT secret FROM secrets`,
	`CREATE VIEW leak2 AS SELECT * FROM leak`,
	`CREATE VIEW privview AS SELECT name FROM cities`,
	`CREATE TRIGGER trg AFTER INSERT ON cities BEGIN INSERT INTO secrets VALUES (NULL, new.name); END`,
	`CREATE INDEX secrets_secret ON secrets (secret)`,
	publish("cities"), publish("big"), publish("leak"), publish("leak2")}, publicDB(false, true)...)

// confSQL is replica's seedConf (without its twin): demoSQL plus what the
// confinement attacks aim at.
var confSQL = append(append([]string{}, demoSQL...),
	`CREATE TABLE privnum (id INTEGER PRIMARY KEY, n INTEGER)`,
	`INSERT INTO privnum VALUES (1, 31337313)`,
	`CREATE TABLE privjson (id INTEGER PRIMARY KEY, json TEXT)`,
	`INSERT INTO privjson VALUES (1, '{"k":"MARKJSON"}')`,
	`CREATE TABLE _public_audit (id INTEGER PRIMARY KEY, what TEXT)`,
	`INSERT INTO _public_audit (what) VALUES ('hunter-a'), ('hunter-b'), ('hunter-c'), ('hunter-d'), ('hunter-e')`,
	`CREATE VIRTUAL TABLE privrt USING rtree(id, a, b)`,
	`INSERT INTO privrt VALUES (31337313, 1, 2)`,
	`CREATE TABLE pubjson (id INTEGER PRIMARY KEY, json TEXT)`,
	`INSERT INTO pubjson VALUES (1, '{"a":1}')`,
	`CREATE TRIGGER privtrg AFTER INSERT ON privnum BEGIN INSERT INTO secrets VALUES (NULL, 'x'); END`,
	publish("pubjson"),
	`CREATE INDEX cities_pop ON cities (pop)`,
	`CREATE TABLE wr (k TEXT PRIMARY KEY, v INTEGER) WITHOUT ROWID`,
	`INSERT INTO wr VALUES ('a', 1), ('b', 2)`,
	`CREATE VIRTUAL TABLE pubrt USING rtree(id, a, b)`,
	`INSERT INTO pubrt VALUES (1, 2, 3)`,
	publish("wr"), publish("pubrt"))

// mustOpen makes a database file of stmts, in WAL mode as on a node.
func mustOpen(tb testing.TB, stmts ...string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(tb.TempDir(), "t.db")+"?_journal_mode=WAL")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	mustExec(tb, db, stmts...)
	return db
}

func mustExec(tb testing.TB, db *sql.DB, stmts ...string) {
	tb.Helper()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			tb.Fatalf("%s: %v", s, err)
		}
	}
}

// reader reads one database as a node does: a pinned read transaction
// per read, the last snapshot kept, and the shadows of public SQL.
type reader struct {
	tb      testing.TB
	db      *sql.DB
	txid    tablecast.TXID
	last    *Snapshot
	shadows *Shadows
}

func newReader(tb testing.TB, db *sql.DB) *reader {
	r := &reader{tb: tb, db: db, shadows: NewShadows()}
	tb.Cleanup(r.shadows.Close)
	return r
}

// read runs fn in one read transaction, with the snapshot at the next
// TXID (private: the private view of it).
func (r *reader) read(private bool, fn func(conn *sql.Conn, tx *sql.Tx, s *Snapshot) error) error {
	r.tb.Helper()
	ctx := context.Background()
	conn, err := r.db.Conn(ctx)
	if err != nil {
		r.tb.Fatal(err)
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		r.tb.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	r.txid++
	s, err := Load(ctx, tx, r.txid, r.last)
	if err != nil {
		r.tb.Fatal(err)
	}
	r.last = s
	if private {
		if s, err = s.PrivateView(ctx, tx); err != nil {
			r.tb.Fatal(err)
		}
	}
	return fn(conn, tx, s)
}

// snapshot is the snapshot of the next read.
func (r *reader) snapshot() *Snapshot {
	var out *Snapshot
	_ = r.read(false, func(_ *sql.Conn, _ *sql.Tx, s *Snapshot) error { out = s; return nil })
	return out
}

// query runs text as SQL through every wall (CheckSQL, the shadow, Run)
// and returns its rows as text, or the error a visitor sees.
func (r *reader) query(private bool, text string) (string, error) {
	r.tb.Helper()
	var out strings.Builder
	err := r.read(private, func(conn *sql.Conn, tx *sql.Tx, s *Snapshot) error {
		ctx := context.Background()
		if err := s.CheckSQL("db"); err != nil {
			return err
		}
		sh, err := r.shadows.Get(ctx, tx, s)
		if err != nil {
			return err
		}
		if err := sh.Check(ctx, text); err != nil {
			return err
		}
		return sh.Run(ctx, conn, tx, s, text, testLimit, func(ctx context.Context, st *sqlite3.SQLiteStmt) error {
			rows, err := st.QueryContext(ctx, BindArgs(st.NumInput(), nil))
			if err != nil {
				return err
			}
			defer rows.Close()
			dest := make([]driver.Value, len(rows.Columns()))
			for {
				if err := rows.Next(dest); errors.Is(err, io.EOF) {
					return nil
				} else if err != nil {
					return err
				}
				for i, v := range dest {
					if i > 0 {
						out.WriteByte(' ')
					}
					fmt.Fprint(&out, v)
				}
				out.WriteByte('\n')
			}
		})
	})
	return out.String(), err
}

// testLimit is the time limit of the tests' queries.
const testLimit = 5 * time.Second
