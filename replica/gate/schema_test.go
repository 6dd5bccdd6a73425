package gate

import (
	"context"
	"database/sql"
	"strings"
	"testing"
)

// withTx runs fn in a write transaction of db and commits.
func withTx(tb testing.TB, db *sql.DB, fn func(tx *sql.Tx) error) {
	tb.Helper()
	tx, err := db.Begin()
	if err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(tx); err != nil {
		tb.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
}

func TestReconcile(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t, `CREATE TABLE a (x)`, `CREATE TABLE b (x)`, `CREATE TABLE c (x)`, `CREATE VIEW v AS SELECT 1`, `CREATE TABLE Mixed (x)`)
	withTx(t, db, func(tx *sql.Tx) error {
		if err := CreateTables(ctx, tx); err != nil {
			return err
		}
		for _, name := range []string{"a", "b", "c", "v", "Mixed", "gone"} {
			if err := Publish(ctx, tx, name, "alice"); err != nil {
				return err
			}
		}
		return nil
	})
	// a renamed, v dropped, c dropped and made again, Mixed renamed.
	mustExec(t, db, `ALTER TABLE a RENAME TO a2`, `DROP VIEW v`, `DROP TABLE c`, `CREATE TABLE c (y)`, `ALTER TABLE Mixed RENAME TO other`)
	s := newReader(t, db).snapshot()
	gateBefore := s.gateVersion()
	var removed []string
	withTx(t, db, func(tx *sql.Tx) error {
		var err error
		removed, err = Reconcile(ctx, tx, "bob", "c")
		return err
	})
	if got, want := strings.Join(removed, ","), "Mixed,a,c,gone,v"; got != want {
		t.Errorf("removed %s, want %s", got, want)
	}
	s = newReader(t, db).snapshot()
	if got := strings.Join(s.Names(), ","); got != "b" {
		t.Errorf("public after: %s, want b", got)
	}
	if s.gateVersion() == gateBefore {
		t.Error("the gate's version did not move")
	}
	var audited int
	if err := db.QueryRow(`SELECT count(*) FROM _public_audit WHERE action = 'unpublish' AND token_name = 'bob'`).Scan(&audited); err != nil || audited != 5 {
		t.Errorf("audited %d (%v), want 5", audited, err)
	}
	// Nothing to do: nothing removed, the gate's version stays.
	withTx(t, db, func(tx *sql.Tx) error {
		var err error
		removed, err = Reconcile(ctx, tx, "bob")
		return err
	})
	if len(removed) != 0 {
		t.Errorf("second reconcile removed %v", removed)
	}
}

func TestBumpAllVersions(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t, `CREATE TABLE a (x)`, `CREATE VIEW v AS SELECT 1`)
	withTx(t, db, func(tx *sql.Tx) error {
		if err := CreateTables(ctx, tx); err != nil {
			return err
		}
		if err := BumpVersions(ctx, tx, "a"); err != nil {
			return err
		}
		return BumpAllVersions(ctx, tx)
	})
	rows, err := db.Query(`SELECT group_concat(table_name || '=' || version, ' ') FROM (SELECT * FROM _table_versions ORDER BY 1)`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got string
	for rows.Next() {
		if err := rows.Scan(&got); err != nil {
			t.Fatal(err)
		}
	}
	if want := "=2 a=2 v=1"; got != want {
		t.Errorf("versions %q, want %q", got, want)
	}
}

// Indexes made after the gate first looked serve public SQL on a public
// table; an index of a private table is as missing as a missing index;
// a full-text index of a public table, and its shadow tables, are as
// missing as a missing table until published.
func TestPublicSQL_SchemaObjects(t *testing.T) {
	module := "fts4"
	if hasModule(t, "fts5") {
		module = "fts5"
	}
	db := mustOpen(t, append([]string{DDL,
		`CREATE TABLE pub (id INTEGER PRIMARY KEY, n INTEGER, body TEXT)`,
		`INSERT INTO pub VALUES (1, 10, 'hello world'), (2, 20, 'bye')`,
		`CREATE TABLE priv (id INTEGER PRIMARY KEY, n INTEGER)`,
		publish("pub")}, publicDB(false, true)...)...)
	r := newReader(t, db)
	q := func(text string) string {
		t.Helper()
		out, err := r.query(false, text)
		if err != nil {
			return "error: " + err.Error()
		}
		return out
	}
	if got := q(`SELECT id FROM pub WHERE n > 15`); got != "2\n" {
		t.Fatalf("before the index: %q", got)
	}
	mustExec(t, db, `CREATE INDEX pub_n ON pub (n)`, `CREATE INDEX priv_n ON priv (n)`,
		`CREATE VIRTUAL TABLE pub_fts USING `+module+` (body, content=pub)`,
		`INSERT INTO pub_fts (rowid, body) SELECT id, body FROM pub`)
	var id, parent, unused int
	var plan string
	if err := db.QueryRow(`EXPLAIN QUERY PLAN SELECT id FROM pub WHERE n > 15`).Scan(&id, &parent, &unused, &plan); err != nil || !strings.Contains(plan, "pub_n") {
		t.Fatalf("the query does not use the index: %q %v", plan, err)
	}
	if got := q(`SELECT id FROM pub WHERE n > 15`); got != "2\n" {
		t.Errorf("with the index: %q", got)
	}
	if got := q(`SELECT id FROM pub INDEXED BY pub_n WHERE n > 15`); !strings.HasPrefix(got, "error: no such index: pub_n") {
		// The shadow schema has no index: INDEXED BY names none.
		t.Errorf("INDEXED BY a public table's index: %q", got)
	}
	missing := map[string]string{
		`SELECT id FROM pub INDEXED BY priv_n WHERE n > 15`: `SELECT id FROM pub INDEXED BY nosuch WHERE n > 15`,
	}
	for _, name := range []string{"pub_fts", "pub_fts_data", "pub_fts_idx", "pub_fts_docsize", "pub_fts_config", "pub_fts_content", "pub_fts_segments", "pub_fts_segdir", "pub_fts_stat"} {
		missing[`SELECT * FROM `+name] = `SELECT * FROM nosuch`
		missing[`SELECT count(*) FROM `+name] = `SELECT count(*) FROM nosuch`
	}
	missing[`SELECT rowid FROM pub_fts WHERE pub_fts MATCH 'hello'`] = `SELECT rowid FROM nosuch WHERE nosuch MATCH 'hello'`
	for text, other := range missing {
		name := strings.Fields(strings.TrimPrefix(strings.SplitN(text, "FROM ", 2)[1], "pub INDEXED BY "))[0]
		got, want := q(text), q(other)
		if !strings.HasPrefix(got, "error: ") || strings.ReplaceAll(got, name, "nosuch") != want {
			t.Errorf("%s: %q, want as missing: %q", text, got, want)
		}
	}
}

func hasModule(tb testing.TB, name string) bool {
	tb.Helper()
	db := mustOpen(tb)
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM pragma_module_list WHERE name = ?`, name).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n > 0
}

// A write to a table with triggers moves every table's version: the
// triggers may have written any of them.
func TestBumpVersions_Triggers(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t, `CREATE TABLE a (x)`, `CREATE TABLE b (x)`, `CREATE TABLE log (x)`,
		`CREATE TRIGGER a_log AFTER INSERT ON a BEGIN INSERT INTO log VALUES (new.x); END`)
	version := func(name string) (v int64) {
		t.Helper()
		_ = db.QueryRow(`SELECT version FROM _table_versions WHERE table_name = ?`, name).Scan(&v)
		return v
	}
	withTx(t, db, func(tx *sql.Tx) error {
		if err := CreateTables(ctx, tx); err != nil {
			return err
		}
		return BumpVersions(ctx, tx, "b")
	})
	if version("log") != 0 || version("b") != 1 {
		t.Fatalf("a write to b moved log: %d", version("log"))
	}
	withTx(t, db, func(tx *sql.Tx) error { return BumpVersions(ctx, tx, "a") })
	if version("log") != 1 || version("a") != 2 || version("b") != 2 || version("") != 2 {
		t.Errorf("after a write to a: log %d a %d b %d counter %d, want 1 2 2 2", version("log"), version("a"), version("b"), version(""))
	}
}
